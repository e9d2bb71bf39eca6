package avatar

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/profilephoto/photo/internal/jpegenc"
)

func TestDeterministic(t *testing.T) {
	for _, tc := range []struct{ seed, name string }{
		{"005xx000001Sv6AAAS", ""},
		{"U024BE7LH", "Ada Lovelace"},
		{"", ""},
		{"user-1", "王"},
	} {
		for _, size := range []int{16, 64, 200} {
			a, ctA, err := Encode(tc.seed, tc.name, size)
			if err != nil {
				t.Fatal(err)
			}
			b, ctB, err := Encode(tc.seed, tc.name, size)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) || ctA != ContentType || ctB != ContentType {
				t.Errorf("Encode(%q, %q, %d) differs between calls", tc.seed, tc.name, size)
			}
			m, err := png.Decode(bytes.NewReader(a))
			if err != nil {
				t.Fatalf("Encode(%q, %q, %d): %v", tc.seed, tc.name, size, err)
			}
			if m.Bounds() != image.Rect(0, 0, size, size) {
				t.Errorf("decoded bounds %v, want %dx%d", m.Bounds(), size, size)
			}
		}
	}
}

// TestGolden pins the drawing: a change to the pixels must come with a new
// Version (and new golden values here). PNG bytes are not pinned, since
// compress/flate may change between Go releases.
func TestGolden(t *testing.T) {
	if Version != 1 {
		t.Fatalf("Version %d: update the golden values below", Version)
	}
	for _, tc := range []struct{ name, want string }{
		{"", goldenIdenticon},
		{"Ada Lovelace", goldenInitials},
	} {
		m := Render("U024BE7LH", tc.name, 64).(*image.Paletted)
		h := sha256.New()
		h.Write(m.Pix)
		fmt.Fprint(h, m.Palette)
		if got := fmt.Sprintf("%x", h.Sum(nil)[:8]); got != tc.want {
			t.Errorf("Render(U024BE7LH, %q, 64) pixels hash %s, want %s", tc.name, got, tc.want)
		}
	}
}

const (
	goldenIdenticon = "35271371e267753a"
	goldenInitials  = "9174baf089ec3e84"
)

func TestETag(t *testing.T) {
	base := ETag("U1", "Ada Lovelace", 64)
	if !strings.HasPrefix(base, `"avatar-1-`) || !strings.HasSuffix(base, `"`) {
		t.Errorf("ETag %s is not a quoted strong tag", base)
	}
	for _, tc := range []struct {
		seed, name string
		size       int
		same       bool
	}{
		{"U1", "Ada Lovelace", 64, true},
		{"U1", "ada  king lovelace", 64, true}, // same initials, same picture
		{"U1", "Alan Turing", 64, false},
		{"U2", "Ada Lovelace", 64, false},
		{"U1", "Ada Lovelace", 65, false},
		{"U1", "", 64, false},
	} {
		if got := ETag(tc.seed, tc.name, tc.size); (got == base) != tc.same {
			t.Errorf("ETag(%q, %q, %d) = %s; same as base %v, want %v", tc.seed, tc.name, tc.size, got, got == base, tc.same)
		}
	}
	// Equal tags mean equal bytes.
	a, _, _ := Encode("U1", "Ada Lovelace", 64)
	b, _, _ := Encode("U1", "ada  king lovelace", 64)
	if !bytes.Equal(a, b) {
		t.Error("names with the same initials and the same ETag encode differently")
	}
}

// TestEncoderReuse checks that an Encoder reused across goroutines gives
// the bytes a fresh one gives.
func TestEncoderReuse(t *testing.T) {
	var enc Encoder
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				seed, size := fmt.Sprint("u", g, "-", i), 32+i*7
				got, _, err := enc.Encode(seed, "", size)
				want, _, _ := Encode(seed, "", size)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("Encoder.Encode(%s, %d) differs from Encode: %v", seed, size, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestSizes(t *testing.T) {
	for size := 16; size <= 1024; size++ {
		m := Render("user-42", "", size)
		if m.Bounds() != image.Rect(0, 0, size, size) {
			t.Fatalf("Render at %d: bounds %v", size, m.Bounds())
		}
		if size%7 == 0 || size == 1024 {
			if n := Render("user-42", "Ada Lovelace", size); n.Bounds() != image.Rect(0, 0, size, size) {
				t.Fatalf("Render initials at %d: bounds %v", size, n.Bounds())
			}
		}
	}
	for _, tc := range []struct{ in, want int }{{-5, MinSize}, {0, MinSize}, {MaxSize + 1, MaxSize}} {
		if got := Render("x", "", tc.in).Bounds().Dx(); got != tc.want {
			t.Errorf("Render size %d: got %d, want clamp to %d", tc.in, got, tc.want)
		}
		if _, _, err := Encode("x", "", tc.in); !errors.Is(err, ErrSize) {
			t.Errorf("Encode size %d: err %v, want ErrSize", tc.in, err)
		}
	}
}

// TestCrisp checks that identicon cells are whole pixels: every cell is
// one colour, the margins are background and at least half a cell.
func TestCrisp(t *testing.T) {
	for _, size := range []int{16, 17, 64, 100, 200, 511, 512} {
		d := digest("crisp")
		p := pattern(d)
		m := Render("crisp", "", size).(*image.Paletted)
		cell := size / (grid + 1)
		off := (size - grid*cell) / 2
		if off < cell/2 {
			t.Errorf("size %d: margin %d < half cell %d", size, off, cell)
		}
		for y := range size {
			for x := range size {
				want := uint8(0)
				c, r := (x-off)/cell, (y-off)/cell
				if x >= off && y >= off && c < grid && r < grid && cellOn(p, c, r) {
					want = 1
				}
				if got := m.ColorIndexAt(x, y); got != want {
					t.Fatalf("size %d: pixel (%d,%d) = %d, want %d", size, x, y, got, want)
				}
			}
		}
		// Mirror symmetry about the vertical axis of the grid.
		for y := range size {
			for x := off; x < off+grid*cell; x++ {
				if m.ColorIndexAt(x, y) != m.ColorIndexAt(2*off+grid*cell-1-x, y) {
					t.Fatalf("size %d: not symmetric at (%d,%d)", size, x, y)
				}
			}
		}
	}
}

func TestPatternDensity(t *testing.T) {
	for i := range 5000 {
		n := bits.OnesCount16(pattern(digest(fmt.Sprint(i))))
		if n < 4 || n > 12 {
			t.Fatalf("seed %d: %d cells set", i, n)
		}
	}
}

// TestDistinct measures how often two of 1000 user IDs get avatars that
// are not visibly different: the same cell pattern and hues closer than
// 30 degrees. The expected count is about 1000*999/2 / 2^15 * 60/360 ≈ 2.5
// (patterns are a little less uniform after the density fix).
func TestDistinct(t *testing.T) {
	const n = 1000
	pats := make([]uint16, n)
	hues := make([]float64, n)
	for i := range n {
		d := digest(fmt.Sprintf("005xx00000%07d", i))
		pats[i], hues[i] = pattern(d), hue(d)
	}
	samePattern, alike := 0, 0
	for i := range n {
		for j := i + 1; j < n; j++ {
			if pats[i] != pats[j] {
				continue
			}
			samePattern++
			dh := math.Abs(hues[i] - hues[j])
			if min(dh, 360-dh) < 30 {
				alike++
			}
		}
	}
	t.Logf("%d IDs: %d pairs share a pattern, %d of them with hues within 30°", n, samePattern, alike)
	if samePattern > 40 || alike > 10 {
		t.Errorf("too many look-alikes: %d same pattern, %d alike", samePattern, alike)
	}
	// And the pixels of two neighbouring IDs differ.
	a := Render("user-1", "", 64).(*image.Paletted)
	b := Render("user-2", "", 64).(*image.Paletted)
	if bytes.Equal(a.Pix, b.Pix) && a.Palette[1] == b.Palette[1] {
		t.Error("user-1 and user-2 render the same")
	}
}

func TestContrast(t *testing.T) {
	white := color.NRGBA{255, 255, 255, 255}
	for h := 0.0; h < 360; h += 1 {
		fg, bg := oklch(fgLightness, fgChroma, h), oklch(bgLightness, bgChroma, h)
		if c := contrast(fg, bg); c < 3 {
			t.Errorf("hue %v: foreground %v on background %v: contrast %.2f < 3", h, fg, bg, c)
		}
		if c := contrast(fg, white); c < 3 {
			t.Errorf("hue %v: white initials on %v: contrast %.2f < 3", h, fg, c)
		}
		if l := luminance(bg); l < 0.8 {
			t.Errorf("hue %v: background %v too dark (luminance %.2f)", h, bg, l)
		}
	}
}

func TestInitials(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Ada Lovelace", "AL"},
		{"ada king lovelace", "AL"},
		{"Jean-Luc Picard", "JP"},
		{"  'bob'  ", "B"},
		{"Анна Каренина", "АК"},
		{"Σωκράτης", "Σ"},
		{"王", "王"},
		{"王小明", "王"},
		{"e\u0301mile zola", "ÉZ"},
		{"", ""},
		{"😀", ""},
		{"😀 Smile", "S"},
		{"123 456", ""},
	} {
		if got := Initials(tc.name); got != tc.want {
			t.Errorf("Initials(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRenderInitials(t *testing.T) {
	const seed, size = "U024BE7LH", 128
	identicon := Render(seed, "", size).(*image.Paletted)
	for _, tc := range []struct {
		name      string
		initials  bool
		wantShape string // for the record in failures
	}{
		{"Ada Lovelace", true, "AL"},
		{"Анна Каренина", true, "АК"},
		{"Émile Zola", true, "ÉZ"},
		{"王", false, "identicon: Go Regular has no CJK"},
		{"😀", false, "identicon: no letter"},
		{"", false, "identicon"},
	} {
		m := Render(seed, tc.name, size).(*image.Paletted)
		same := bytes.Equal(m.Pix, identicon.Pix) && len(m.Palette) == len(identicon.Palette)
		if same == tc.initials {
			t.Errorf("Render(%q): initials drawn = %v, want %v (%s)", tc.name, !same, tc.initials, tc.wantShape)
			continue
		}
		if !tc.initials {
			continue
		}
		// Ink is present, roughly centred, and within the square.
		minX, minY, maxX, maxY, ink := size, size, -1, -1, 0
		for y := range size {
			for x := range size {
				if m.ColorIndexAt(x, y) >= shades/2 {
					ink++
					minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
				}
			}
		}
		if ink < size*size/50 {
			t.Errorf("Render(%q): only %d ink pixels", tc.name, ink)
			continue
		}
		cx, cy := (minX+maxX+1)/2, (minY+maxY+1)/2
		if abs(cx-size/2) > size/20 || (tc.name != "Émile Zola" && abs(cy-size/2) > size/20) {
			t.Errorf("Render(%q): ink box (%d,%d)-(%d,%d) not centred", tc.name, minX, minY, maxX, maxY)
		}
		if maxX-minX > size*3/4 {
			t.Errorf("Render(%q): ink %d px wide, over 3/4 of %d", tc.name, maxX-minX, size)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// toYCbCr converts m to 4:2:0 for jpegenc.
func toYCbCr(m image.Image) *image.YCbCr {
	b := m.Bounds()
	y := image.NewYCbCr(b, image.YCbCrSubsampleRatio420)
	for py := b.Min.Y; py < b.Max.Y; py++ {
		for px := b.Min.X; px < b.Max.X; px++ {
			c := color.NRGBAModel.Convert(m.At(px, py)).(color.NRGBA)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			y.Y[y.YOffset(px, py)] = yy
			if px%2 == 0 && py%2 == 0 {
				y.Cb[y.COffset(px, py)], y.Cr[y.COffset(px, py)] = cb, cr
			}
		}
	}
	return y
}

// TestFormatSizes records why Encode writes PNG: for this flat art it is
// smaller than a quality-85 JPEG at every size, and lossless.
func TestFormatSizes(t *testing.T) {
	for _, name := range []string{"", "Ada Lovelace"} {
		for _, size := range []int{64, 200, 512} {
			p, _, err := Encode("U024BE7LH", name, size)
			if err != nil {
				t.Fatal(err)
			}
			var j bytes.Buffer
			if err := jpegenc.Encode(&j, toYCbCr(Render("U024BE7LH", name, size)), &jpegenc.Options{Quality: 85}); err != nil {
				t.Fatal(err)
			}
			t.Logf("name %q size %d: PNG %d bytes, JPEG q85 %d bytes", name, size, len(p), j.Len())
			if len(p) >= j.Len() {
				t.Errorf("name %q size %d: PNG %d bytes not smaller than JPEG %d", name, size, len(p), j.Len())
			}
		}
	}
}

// TestWriteSamples writes sample avatars for a person to look at when
// AVATAR_SAMPLES names a directory.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("AVATAR_SAMPLES")
	if dir == "" {
		t.Skip("set AVATAR_SAMPLES=dir to write sample PNGs")
	}
	for i, name := range []string{"", "", "", "", "Ada Lovelace", "Анна Каренина", "王", "jean-luc picard"} {
		for _, size := range []int{16, 64, 200} {
			b, _, err := Encode(fmt.Sprintf("user-%d", i), name, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("u%d-%d.png", i, size)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"", "Ada Lovelace"} {
		for _, size := range []int{64, 200, 512} {
			kind := "identicon"
			if name != "" {
				kind = "initials"
			}
			b.Run(fmt.Sprintf("%s/%d", kind, size), func(b *testing.B) {
				var n int
				var enc Encoder
				for i := 0; b.Loop(); i++ {
					p, _, err := enc.Encode(fmt.Sprint("user-", i), name, size)
					if err != nil {
						b.Fatal(err)
					}
					n = len(p)
				}
				b.ReportMetric(float64(n), "bytes")
			})
		}
	}
}

// luminance is the WCAG relative luminance of an 8-bit sRGB colour.
func luminance(c color.NRGBA) float64 {
	lin := func(u uint8) float64 {
		v := float64(u) / 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// contrast is the WCAG contrast ratio of two colours, 1 to 21.
func contrast(a, b color.NRGBA) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func BenchmarkRender(b *testing.B) {
	for _, name := range []string{"", "Ada Lovelace"} {
		for _, size := range []int{64, 200, 512} {
			kind := "identicon"
			if name != "" {
				kind = "initials"
			}
			b.Run(fmt.Sprintf("%s/%d", kind, size), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					Render(fmt.Sprint("user-", i), name, size)
				}
			})
		}
	}
}
