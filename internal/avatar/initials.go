package avatar

import (
	"image"
	"image/color"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/text/unicode/norm"
)

// Initials returns the initials of a display name: the first letter of
// its first word and of its last word (one letter for a one-word name),
// upper-cased, each with any combining marks that follow it, in NFC.
// Words are separated by spaces and hyphens; characters before a word's
// first letter (quotes, digits, emoji) are skipped, and a word without a
// letter does not count. It returns "" when the name has no letter.
func Initials(name string) string {
	var firsts []string
	for _, w := range strings.FieldsFunc(norm.NFC.String(name), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.Is(unicode.Dash, r)
	}) {
		if l := firstLetter(w); l != "" {
			firsts = append(firsts, l)
		}
	}
	switch len(firsts) {
	case 0:
		return ""
	case 1:
		return firsts[0]
	}
	return firsts[0] + firsts[len(firsts)-1]
}

// firstLetter returns the first letter of w with the combining marks that
// follow it, upper-cased and composed, or "" if w has no letter.
func firstLetter(w string) string {
	for i, r := range w {
		if !unicode.IsLetter(r) {
			continue
		}
		end := i + utf8.RuneLen(r)
		for end < len(w) {
			m, n := utf8.DecodeRuneInString(w[end:])
			if !unicode.Is(unicode.M, m) {
				break
			}
			end += n
		}
		return norm.NFC.String(strings.ToUpper(w[i:end]))
	}
	return ""
}

// goRegular parses the bundled Go Regular font once; the parsed font is
// only read afterwards, so it is safe to share.
var goRegular = sync.OnceValues(func() (*opentype.Font, error) {
	return opentype.Parse(goregular.TTF)
})

// Text geometry, as fractions of the avatar's side.
const (
	capHeight = 0.38 // height of a capital letter
	maxWidth  = 0.70 // widest the initials may be
)

// shades is the number of palette entries between the background colour
// and white used to anti-alias the initials.
const shades = 16

// renderInitials draws text in white on bg, centred, or returns nil when
// text is empty or the font lacks a glyph for one of its characters (the
// caller then draws the identicon).
func renderInitials(text string, bg color.NRGBA, size int) *image.Paletted {
	if text == "" {
		return nil
	}
	f, err := goRegular()
	if err != nil {
		return nil
	}
	var buf sfnt.Buffer
	for _, r := range text {
		if unicode.Is(unicode.M, r) {
			continue // marks are drawn when the font has them; absent ones are not worth an identicon
		}
		if gi, err := f.GlyphIndex(&buf, r); err != nil || gi == 0 {
			return nil
		}
	}
	// Size the face so that capitals are capHeight of the side, then
	// shrink it if the initials would be wider than maxWidth.
	const ref = 1000.0
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: ref, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil
	}
	capRef := float64(face.Metrics().CapHeight) / 64
	bRef, _ := font.BoundString(face, text)
	wRef := float64(bRef.Max.X-bRef.Min.X) / 64
	_ = face.Close()
	if capRef <= 0 || wRef <= 0 {
		return nil
	}
	s := float64(size)
	pt := ref * min(capHeight*s/capRef, maxWidth*s/wRef)
	face, err = opentype.NewFace(f, &opentype.FaceOptions{Size: pt, DPI: 72, Hinting: font.HintingNone})
	if err != nil {
		return nil
	}
	defer face.Close()
	b, _ := font.BoundString(face, text)
	capH := face.Metrics().CapHeight
	sz := fixed.I(size)
	// Centre the ink box horizontally and the capital height vertically,
	// so every name sits on the same baseline at a given size.
	dot := fixed.Point26_6{
		X: (sz-(b.Max.X-b.Min.X))/2 - b.Min.X,
		Y: (sz + capH) / 2,
	}
	mask := image.NewAlpha(image.Rect(0, 0, size, size))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: dot}
	d.DrawString(text)

	pal := make(color.Palette, shades)
	white := color.NRGBA{255, 255, 255, 255}
	for i := range pal {
		pal[i] = mix(bg, white, i, shades-1)
	}
	m := image.NewPaletted(mask.Rect, pal)
	for i, a := range mask.Pix {
		m.Pix[i] = uint8((int(a)*(shades-1) + 127) / 255)
	}
	return m
}

// mix returns a + (b-a)*num/den per channel, rounded.
func mix(a, b color.NRGBA, num, den int) color.NRGBA {
	f := func(x, y uint8) uint8 {
		return uint8((int(x)*(den-num) + int(y)*num + den/2) / den)
	}
	return color.NRGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 255}
}
