// Package avatar draws the default photo of a user who has none: an
// identicon derived from the user ID, or the user's initials on a coloured
// square when a display name is given and the bundled Go font has glyphs
// for them.
//
// The output is a pure function of (seed, name, size) and of the package's
// Version constant: the same arguments give the same pixels and the same
// encoded bytes on every machine and every call. Callers may therefore
// cache rendered defaults without bound on staleness and derive strong
// ETags from those four values (or from the bytes).
//
// ETag gives a tag for (seed, name, size) without drawing.
//
// An identicon is a 5x5 grid, mirrored left to right, whose 15 free cells
// are bits of SHA-256 of the seed; the foreground hue comes from the same
// digest, at a fixed OKLCH lightness and chroma so that every avatar has
// the same weight and contrast (never pale on white), on a light
// background tinted with the same hue. Cells are whole pixels wide with a
// margin of at least half a cell, so edges stay crisp at every size.
//
// Output is paletted: two colours for an identicon, sixteen shades between
// the colour and white for initials. That suits PNG, which stores such
// images in a few hundred bytes (see Encode); the package does not offer
// JPEG, which is larger at these sizes and blurs the flat edges.
package avatar

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/bits"
	"sync"
)

// Version identifies the drawing. It changes whenever a release changes
// the pixels produced for some arguments, so a cache key or ETag built
// from (Version, seed, name, size) stays valid exactly as long as it
// should. The initials are drawn with golang.org/x/image's rasterizer and
// Go Regular font: an upgrade of that module that moves a pixel needs a
// new Version too, which the package's golden test detects.
const Version = 1

// MinSize and MaxSize bound the side of a rendered avatar, in pixels.
const (
	MinSize = 8
	MaxSize = 4096
)

// ContentType is the media type of the bytes Encode returns.
const ContentType = "image/png"

// ErrSize is returned by Encode for a size outside [MinSize, MaxSize].
var ErrSize = errors.New("avatar: size out of range")

// grid is the number of cells on each side of an identicon.
const grid = 5

// Render draws the default photo for seed (a user ID) at size x size
// pixels. When name is not empty and its initials (see Initials) can all
// be drawn with the bundled font, they are drawn instead of the identicon,
// in the same colour; otherwise, for an empty name, emoji, or a script the
// font lacks, the identicon is drawn. A size outside [MinSize, MaxSize] is
// clamped to that range. The result is an *image.Paletted with its origin
// at (0, 0).
func Render(seed, name string, size int) image.Image {
	size = min(max(size, MinSize), MaxSize)
	d := digest(seed)
	fg, bg := colours(d)
	if name != "" {
		if m := renderInitials(Initials(name), fg, size); m != nil {
			return m
		}
	}
	return renderIdenticon(pattern(d), fg, bg, size)
}

// Encode renders like Render and returns the PNG bytes and their media
// type, ContentType. The bytes depend only on (seed, name, size, Version).
// It returns ErrSize for a size outside [MinSize, MaxSize]. Encode is
// shorthand for a new Encoder's Encode; a server encoding many avatars
// should keep one Encoder, which reuses the compressor's buffers.
func Encode(seed, name string, size int) ([]byte, string, error) {
	return new(Encoder).Encode(seed, name, size)
}

// Encoder encodes avatars as PNG, reusing compression buffers (about
// 800 KB per encode) between calls. The zero value is ready to use; an
// Encoder is safe for concurrent use and must not be copied after first
// use.
type Encoder struct {
	buffers bufferPool
}

// Encode is like the package function Encode.
func (e *Encoder) Encode(seed, name string, size int) ([]byte, string, error) {
	if size < MinSize || size > MaxSize {
		return nil, "", fmt.Errorf("%w: %d not in [%d, %d]", ErrSize, size, MinSize, MaxSize)
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression, BufferPool: &e.buffers}
	if err := enc.Encode(&buf, Render(seed, name, size)); err != nil {
		return nil, "", fmt.Errorf("avatar: encode %dpx: %w", size, err)
	}
	return buf.Bytes(), ContentType, nil
}

// bufferPool keeps png.EncoderBuffers for reuse.
type bufferPool struct{ p sync.Pool }

// Get returns a kept buffer or nil, which makes the encoder allocate one.
func (b *bufferPool) Get() *png.EncoderBuffer {
	e, _ := b.p.Get().(*png.EncoderBuffer)
	return e
}

// Put keeps e for a later Get.
func (b *bufferPool) Put(e *png.EncoderBuffer) { b.p.Put(e) }

// ETag returns a strong entity tag, quoted as HTTP wants it, for the bytes
// Encode returns for the same arguments. It is computed without drawing:
// from Version, seed, the initials of name (names with the same initials
// draw the same picture) and size, so a server can answer If-None-Match
// or look up a cache before rendering. A size outside [MinSize, MaxSize]
// gives the tag of the clamped size, as Render draws it.
func ETag(seed, name string, size int) string {
	size = min(max(size, MinSize), MaxSize)
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%d\x00%s\x00%s", Version, size, Initials(name), seed)
	return fmt.Sprintf(`"avatar-%d-%x"`, Version, h.Sum(nil)[:12])
}

// digest hashes the seed with a domain prefix, so that these bits are not
// the plain SHA-256 of a user ID that might be used elsewhere.
func digest(seed string) [sha256.Size]byte {
	return sha256.Sum256([]byte("profilephoto avatar v1\x00" + seed))
}

// pattern returns the 15 free cells (3 columns by 5 rows, bit 3*row+col;
// columns 3 and 4 mirror 1 and 0). A pattern with fewer than 4 cells set
// would read as an empty square, so it is mixed with later bytes of the
// digest until it has 4 to 12 cells.
func pattern(d [sha256.Size]byte) uint16 {
	const mask = 1<<15 - 1
	p := (uint16(d[0]) | uint16(d[1])<<8) & mask
	for i := 4; i+1 < len(d); i += 2 {
		if n := bits.OnesCount16(p); n >= 4 && n <= 12 {
			return p
		}
		p ^= (uint16(d[i]) | uint16(d[i+1])<<8) & mask
	}
	if n := bits.OnesCount16(p); n >= 4 && n <= 12 {
		return p
	}
	return 0b101_010_111_010_101 // odds of reaching this are below 1e-20
}

// hue returns the foreground hue in degrees, [0, 360).
func hue(d [sha256.Size]byte) float64 {
	return float64(uint16(d[2])|uint16(d[3])<<8) * 360 / 65536
}

// cellOn reports whether the cell at column c, row r (0..4) is drawn.
func cellOn(p uint16, c, r int) bool {
	if c > grid/2 {
		c = grid - 1 - c
	}
	return p&(1<<(3*r+c)) != 0
}

// renderIdenticon draws pattern p in fg on bg. The cell side is
// size/(grid+1) whole pixels, which leaves a margin of at least half a
// cell on every side; the grid is centred (an odd leftover pixel goes to
// the right and bottom margins).
func renderIdenticon(p uint16, fg, bg color.NRGBA, size int) *image.Paletted {
	m := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{bg, fg})
	cell := size / (grid + 1)
	off := (size - grid*cell) / 2
	row := make([]uint8, size)
	for r := range grid {
		clear(row)
		for c := range grid {
			if cellOn(p, c, r) {
				x0 := off + c*cell
				for x := x0; x < x0+cell; x++ {
					row[x] = 1
				}
			}
		}
		y0 := off + r*cell
		for y := y0; y < y0+cell; y++ {
			copy(m.Pix[y*m.Stride:y*m.Stride+size], row)
		}
	}
	return m
}
