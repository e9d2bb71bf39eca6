package imaging

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"testing"

	"github.com/profilephoto/photo/internal/imaging/testimage"
)

// planeRows serves the rows of a plane as a Rows.
type planeRows struct {
	p   plane
	y   int
	err error // returned for row failAt
	at  int
}

func (r *planeRows) Size() (int, int) { return r.p.w, r.p.h }
func (r *planeRows) Channels() int    { return r.p.ch }
func (r *planeRows) ReadRow(dst []byte) error {
	if r.err != nil && r.y == r.at {
		return r.err
	}
	copy(dst, r.p.row(r.y))
	r.y++
	return nil
}

// rowsOf returns the working plane that Render would make of img.
func rowsOf(t *testing.T, img image.Image) *planeRows {
	t.Helper()
	ras, err := newRaster(nil, img)
	if err != nil {
		t.Fatal(err)
	}
	return &planeRows{p: ras.planes[0].levels[0].plane}
}

func TestRowsRasterIsPyramidLevel(t *testing.T) {
	for _, size := range [][2]int{{37, 23}, {64, 64}, {9, 130}} {
		for _, ch := range []int{1, 4} {
			src := newPlane(size[0], size[1], ch)
			for i := range src.pix {
				src.pix[i] = uint8(i*7919 + i/3)
			}
			for shift := 0; shift <= 3; shift++ {
				ras, err := rowsRaster(context.Background(), nil, &planeRows{p: src}, src.w, src.h, ch, shift)
				if err != nil {
					t.Fatal(err)
				}
				want := level{plane: src, gx: unit, gy: unit}
				for l := 1; l <= shift; l++ {
					want, _, _ = halve(nil, want, l%2 == 0)
				}
				got := ras.planes[0].levels[0]
				if got.w != want.w || got.h != want.h || got.gx != want.gx || got.gy != want.gy {
					t.Fatalf("%v ch%d shift %d: level %dx%d %v, want %dx%d %v", size, ch, shift, got.w, got.h, got.gx, want.w, want.h, want.gx)
				}
				for y := range got.h {
					if !bytes.Equal(got.row(y), want.row(y)) {
						t.Fatalf("%v ch%d shift %d: row %d differs", size, ch, shift, y)
					}
				}
			}
		}
	}
}

func TestRenderRowsMatchesRender(t *testing.T) {
	spec := Spec{Sizes: []int{32, 200, 512}, OriginalMaxSide: 600, Background: color.NRGBA{255, 255, 255, 255}}
	translucent := func(m *image.RGBA) *image.RGBA {
		// A transparent band: PNG output with transparent bars.
		for y := 10; y < 40; y++ {
			for x := range m.Rect.Dx() {
				i := m.PixOffset(x, y)
				m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = 0, 0, 0, 0
			}
		}
		return m
	}
	gray := func(m *image.RGBA) image.Image {
		g := image.NewGray(m.Rect)
		for i := range g.Pix {
			g.Pix[i] = m.Pix[4*i+1]
		}
		return g
	}
	cases := []struct {
		name   string
		img    image.Image
		orient int
		exact  bool // small enough that no halving happens
	}{
		{"small opaque", testimage.Photo(500, 300, 1), 1, true},
		{"small translucent turned", translucent(testimage.Photo(300, 500, 2)), 6, true},
		{"small gray", gray(testimage.Photo(400, 400, 3)), 1, true},
		{"large opaque", testimage.Photo(2600, 1900, 4), 1, false},
		{"large translucent turned", translucent(testimage.Photo(1900, 2600, 5)), 8, false},
		{"large gray", gray(testimage.Photo(2500, 2500, 6)), 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spec
			s.Orientation = c.orient
			want, err := Render(context.Background(), c.img, s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := RenderRows(context.Background(), rowsOf(t, c.img), s)
			if err != nil {
				t.Fatal(err)
			}
			all := func(r *Result) []Encoded { return append([]Encoded{r.Original}, r.Renditions...) }
			for i, g := range all(got) {
				w := all(want)[i]
				if g.Width != w.Width || g.Height != w.Height || g.ContentType != w.ContentType {
					t.Fatalf("output %d: %dx%d %s, want %dx%d %s", i, g.Width, g.Height, g.ContentType, w.Width, w.Height, w.ContentType)
				}
				if c.exact {
					if !bytes.Equal(g.Data, w.Data) {
						t.Errorf("output %d (size %d) differs from Render's", i, g.Size)
					}
					continue
				}
				p := psnr(t, decoded(t, g), decoded(t, w))
				t.Logf("output %d (size %d): %.1f dB against Render's", i, g.Size, p)
				if p < 30 {
					t.Errorf("output %d (size %d): %.1f dB against Render's, want 30 or more", i, g.Size, p)
				}
			}
		})
	}
}

func TestRenderRowsReadError(t *testing.T) {
	bad := errors.New("bad row")
	r := rowsOf(t, testimage.Photo(100, 80, 7))
	r.err, r.at = bad, 40
	_, err := RenderRows(context.Background(), r, Spec{Sizes: []int{32}})
	var re *ReadError
	if !errors.As(err, &re) || re.Row != 40 || !errors.Is(err, bad) {
		t.Fatalf("got %v, want a *ReadError for row 40 wrapping the decoder's error", err)
	}
}

// TestNoOriginal: Spec.NoOriginal leaves the original out, of Render, of
// RenderRows and of Footprint, and changes no rendition of an image the
// original would not shrink (the renditions then come from the same
// pyramid either way).
func TestNoOriginal(t *testing.T) {
	img := testimage.Photo(700, 500, 7)
	spec := Spec{Sizes: []int{64, 300}, Fit: Cover, Crop: image.Rect(100, 50, 500, 450), Orientation: 6}
	only := spec
	only.NoOriginal = true
	for _, rows := range []bool{false, true} {
		run := func(s Spec) *Result {
			var (
				res *Result
				err error
			)
			if rows {
				res, err = RenderRows(context.Background(), rowsOf(t, img), s)
			} else {
				res, err = Render(context.Background(), img, s)
			}
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		want, got := run(spec), run(only)
		if got.Original.Data != nil || got.Original.Width != 0 {
			t.Errorf("rows %v: an original of %dx%d was made", rows, got.Original.Width, got.Original.Height)
		}
		if len(got.Renditions) != len(want.Renditions) {
			t.Fatalf("rows %v: %d renditions, want %d", rows, len(got.Renditions), len(want.Renditions))
		}
		for i, g := range got.Renditions {
			w := want.Renditions[i]
			if g.Size != w.Size || g.Width != w.Width || !bytes.Equal(g.Data, w.Data) {
				t.Errorf("rows %v: rendition %d is %dx%d (size %d), want Render's %dx%d, byte for byte", rows, i, g.Width, g.Height, g.Size, w.Width, w.Height)
			}
		}
	}
	for _, rows := range []bool{false, true} {
		with, without := Footprint(700, 500, 4, spec, rows), Footprint(700, 500, 4, only, rows)
		if without <= 0 || without >= with {
			t.Errorf("rows %v: Footprint %d without the original, %d with it", rows, without, with)
		}
	}
}
