package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	_ "image/jpeg"

	"github.com/profilephoto/photo/internal/imaging/testimage"
)

// testdata returns the path of a file of the shared test images, which sit
// beside the repository (../shared/testdata from its root). When they are
// absent the test skips, saying so; in CI (CI=true) it fails instead, so
// that a broken checkout cannot pass by testing nothing.
func testdata(tb testing.TB, name string) string {
	tb.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "testdata")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("the shared test images are missing (%v); CI clones shared/ beside the repository", err)
		}
		tb.Skipf("skipping: the shared test images are not at %s (%v)", dir, err)
	}
	return filepath.Join(dir, filepath.FromSlash(name))
}

func decodeFile(tb testing.TB, path string) image.Image {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return img
}

func decodeBytes(tb testing.TB, data []byte) image.Image {
	tb.Helper()
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// decoded decodes an output and checks that its type and size are what
// the Encoded says.
func decoded(tb testing.TB, e Encoded) image.Image {
	tb.Helper()
	img, format, err := image.Decode(bytes.NewReader(e.Data))
	if err != nil {
		tb.Fatalf("size %d: %v", e.Size, err)
	}
	if "image/"+format != e.ContentType {
		tb.Fatalf("size %d: content type %s, data is %s", e.Size, e.ContentType, format)
	}
	if b := img.Bounds(); b.Dx() != e.Width || b.Dy() != e.Height {
		tb.Fatalf("size %d: says %dx%d, is %dx%d", e.Size, e.Width, e.Height, b.Dx(), b.Dy())
	}
	return img
}

// rgba converts any image to premultiplied 8-bit RGBA at origin 0: the
// colour as it shows, so that the colour of a nearly transparent pixel
// counts for as little as it is seen.
func rgba(img image.Image) *image.RGBA {
	b := img.Bounds()
	m := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, img, b.Min, draw.Src)
	return m
}

// nrgba converts any image to straight-alpha 8-bit RGBA at origin 0.
func nrgba(img image.Image) *image.NRGBA {
	b := img.Bounds()
	m := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, img, b.Min, draw.Src)
	return m
}

// psnr compares two images of the same size over premultiplied R, G, B
// and A, in dB; +Inf when they are equal.
func psnr(tb testing.TB, a, b image.Image) float64 {
	tb.Helper()
	x, y := rgba(a), rgba(b)
	if x.Rect != y.Rect {
		tb.Fatalf("psnr: sizes differ: %v and %v", x.Rect, y.Rect)
	}
	var se float64
	for i := range x.Pix {
		d := float64(x.Pix[i]) - float64(y.Pix[i])
		se += d * d
	}
	if se == 0 {
		return math.Inf(1)
	}
	mse := se / float64(len(x.Pix))
	return 10 * math.Log10(255*255/mse)
}

// psnrLuma compares the luma of two images of the same size, in dB.
func psnrLuma(tb testing.TB, a, b image.Image) float64 {
	tb.Helper()
	ga, gb := image.NewGray(a.Bounds()), image.NewGray(b.Bounds())
	draw.Draw(ga, ga.Rect, a, a.Bounds().Min, draw.Src)
	draw.Draw(gb, gb.Rect, b, b.Bounds().Min, draw.Src)
	return psnr(tb, ga, gb)
}

// at returns the colour of (x, y) as 8-bit straight alpha.
func at(img image.Image, x, y int) color.NRGBA {
	b := img.Bounds()
	return color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
}

// near reports whether two colours differ by at most tol in every channel.
func near(a, b color.NRGBA, tol int) bool {
	d := func(p, q uint8) bool { return abs(int(p)-int(q)) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// photo returns an asymmetric photo-like test image: the generator's
// gradients and texture with a red block at the top-left corner and a
// blue bar along the bottom, so that every orientation looks different.
func photo(w, h int) *image.NRGBA {
	src := testimage.Photo(w, h, 7)
	m := image.NewNRGBA(src.Rect)
	copy(m.Pix, src.Pix) // opaque: premultiplied equals straight
	draw.Draw(m, image.Rect(0, 0, max(1, w/4), max(1, h/5)), image.NewUniform(color.NRGBA{220, 20, 20, 255}), image.Point{}, draw.Src)
	draw.Draw(m, image.Rect(w/3, h-max(1, h/8), w, h), image.NewUniform(color.NRGBA{20, 40, 230, 255}), image.Point{}, draw.Src)
	return m
}

// toYCbCr converts m to an *image.YCbCr with the given subsampling, the
// chroma of each block being the average of its pixels, as an encoder
// would store it.
func toYCbCr(m *image.NRGBA, ratio image.YCbCrSubsampleRatio) *image.YCbCr {
	r := m.Rect
	y := image.NewYCbCr(r, ratio)
	sx, sy, _ := subsampling(ratio)
	sum := make(map[int][3]int)
	for py := r.Min.Y; py < r.Max.Y; py++ {
		for px := r.Min.X; px < r.Max.X; px++ {
			c := m.NRGBAAt(px, py)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			y.Y[y.YOffset(px, py)] = yy
			i := y.COffset(px, py)
			s := sum[i]
			sum[i] = [3]int{s[0] + int(cb), s[1] + int(cr), s[2] + 1}
		}
	}
	_ = sx * sy
	for i, s := range sum {
		y.Cb[i] = uint8((s[0] + s[2]/2) / s[2])
		y.Cr[i] = uint8((s[1] + s[2]/2) / s[2])
	}
	return y
}

// stored returns the pixels a camera would store for the upright image up
// under EXIF orientation o: the inverse of the transform that a viewer
// applies to display it. It is written with whole-image rotations and
// mirrors, independently of the package's per-axis tables.
func stored(up *image.NRGBA, o int) *image.NRGBA {
	switch o {
	case 2: // displayed mirrored: mirror back
		return mirror(up)
	case 3: // displayed turned 180 degrees
		return turnCW(turnCW(up))
	case 4: // displayed flipped vertically
		return turnCW(turnCW(mirror(up)))
	case 5: // displayed transposed (its own inverse)
		return mirror(turnCW(up))
	case 6: // displayed after a clockwise turn: turn anticlockwise
		return turnCW(turnCW(turnCW(up)))
	case 7: // displayed transversed (its own inverse)
		return turnCW(mirror(up))
	case 8: // displayed after an anticlockwise turn: turn clockwise
		return turnCW(up)
	}
	return up
}

// display returns what a viewer shows for stored pixels s with EXIF
// orientation o: the inverse of stored.
func display(s *image.NRGBA, o int) *image.NRGBA {
	switch o {
	case 6:
		return stored(s, 8)
	case 8:
		return stored(s, 6)
	}
	return stored(s, o)
}

// turnCW turns m by 90 degrees clockwise.
func turnCW(m *image.NRGBA) *image.NRGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	t := image.NewNRGBA(image.Rect(0, 0, h, w))
	for y := range h {
		for x := range w {
			t.SetNRGBA(h-1-y, x, m.NRGBAAt(x, y))
		}
	}
	return t
}

// mirror flips m left to right.
func mirror(m *image.NRGBA) *image.NRGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	t := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			t.SetNRGBA(w-1-x, y, m.NRGBAAt(x, y))
		}
	}
	return t
}

// areaAverage shrinks m by an integer factor with exact box averages: the
// reference for the aliasing test.
func areaAverage(m *image.Gray, f int) *image.Gray {
	w, h := m.Rect.Dx()/f, m.Rect.Dy()/f
	r := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			s := 0
			for j := range f {
				for i := range f {
					s += int(m.GrayAt(x*f+i, y*f+j).Y)
				}
			}
			r.SetGray(x, y, color.Gray{Y: uint8((s + f*f/2) / (f * f))})
		}
	}
	return r
}

// savePNG writes img for a person to look at when a test fails, if
// IMAGING_TEST_OUT names a folder.
func savePNG(tb testing.TB, name string, img image.Image) {
	dir := os.Getenv("IMAGING_TEST_OUT")
	if dir == "" {
		return
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), buf.Bytes(), 0o644)
	}
}
