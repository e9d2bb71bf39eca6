package webpenc

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// gradient returns a w x h photo-like NRGBA image; alpha makes its left
// half transparent.
func gradient(w, h int, alpha bool) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 0
			}
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) * 127 / (w + h)), a})
		}
	}
	return m
}

func ycbcr(src *image.NRGBA) *image.YCbCr {
	r := src.Bounds()
	m := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	for y := range r.Dy() {
		for x := range r.Dx() {
			c := src.NRGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			m.Y[m.YOffset(x, y)] = yy
			m.Cb[m.COffset(x, y)] = cb
			m.Cr[m.COffset(x, y)] = cr
		}
	}
	return m
}

// TestEncode encodes each input type, concurrently, decodes the result
// and checks its size, its alpha and a pixel's colour.
func TestEncode(t *testing.T) {
	opaque := gradient(67, 45, false) // odd sides: chroma planes round up
	gray := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range gray.Pix {
		gray.Pix[i] = 90
	}
	rgba := image.NewRGBA(opaque.Rect)
	copy(rgba.Pix, opaque.Pix)
	// A saturated flat colour: full-range planes handed over unchanged
	// would come back about (7, 129, 255).
	flat := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(flat.Pix); i += 4 {
		copy(flat.Pix[i:], []uint8{20, 128, 240, 255})
	}
	cases := []struct {
		name  string
		m     image.Image
		alpha bool
		at    image.Point
		want  color.NRGBA
	}{
		{"ycbcr", ycbcr(opaque), false, image.Pt(33, 22), opaque.NRGBAAt(33, 22)},
		{"ycbcr-range", ycbcr(flat), false, image.Pt(8, 8), color.NRGBA{20, 128, 240, 255}},
		{"gray", gray, false, image.Pt(5, 5), color.NRGBA{90, 90, 90, 255}},
		{"rgba", rgba, false, image.Pt(33, 22), opaque.NRGBAAt(33, 22)},
		{"nrgba-alpha", gradient(64, 64, true), true, image.Pt(48, 32), gradient(64, 64, true).NRGBAAt(48, 32)},
		{"subimage", opaque.SubImage(image.Rect(10, 10, 40, 30)), false, image.Pt(23, 10), opaque.NRGBAAt(33, 20)},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		for range 2 {
			wg.Go(func() {
				data, err := Encode(t.Context(), c.m, 90)
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					return
				}
				if !bytes.HasPrefix(data, []byte("RIFF")) || string(data[8:12]) != "WEBP" {
					t.Errorf("%s: not a WebP: % x", c.name, data[:min(16, len(data))])
					return
				}
				img, err := Decode(data)
				if err != nil {
					t.Errorf("%s: decoding the output: %v", c.name, err)
					return
				}
				b := c.m.Bounds()
				if img.Bounds().Dx() != b.Dx() || img.Bounds().Dy() != b.Dy() {
					t.Errorf("%s: %v, want %dx%d", c.name, img.Bounds(), b.Dx(), b.Dy())
					return
				}
				got := color.NRGBAModel.Convert(img.At(c.at.X, c.at.Y)).(color.NRGBA)
				if d := diff(got, c.want); d > 6 {
					t.Errorf("%s: pixel %v is %v, want about %v", c.name, c.at, got, c.want)
				}
				if c.alpha {
					if a := color.NRGBAModel.Convert(img.At(3, 3)).(color.NRGBA).A; a != 0 {
						t.Errorf("%s: a transparent pixel has alpha %d", c.name, a)
					}
				}
			})
		}
	}
	wg.Wait()
}

func diff(a, b color.NRGBA) int {
	d := 0
	for _, p := range [][2]uint8{{a.R, b.R}, {a.G, b.G}, {a.B, b.B}, {a.A, b.A}} {
		d = max(d, max(int(p[0])-int(p[1]), int(p[1])-int(p[0])))
	}
	return d
}

func TestEncodeRefuses(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Encode(ctx, gradient(8, 8, false), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Encode on a cancelled context = %v", err)
	}
	if _, err := Encode(t.Context(), image.NewNRGBA(image.Rect(0, 0, 0, 5)), 0); err == nil {
		t.Errorf("Encode of an empty image succeeded")
	}
}

// TestQualityOrders checks that quality reaches the encoder: a higher
// quality makes more bytes.
func TestQualityOrders(t *testing.T) {
	m := ycbcr(gradient(256, 256, false))
	lo, err := Encode(t.Context(), m, 20)
	if err != nil {
		t.Fatal(err)
	}
	hi, err := Encode(t.Context(), m, 95)
	if err != nil {
		t.Fatal(err)
	}
	if len(lo) >= len(hi) {
		t.Errorf("quality 20 made %d bytes, quality 95 %d", len(lo), len(hi))
	}
}

// TestFootprint checks Footprint against what an encode allocates
// (runtime.MemStats.TotalAlloc) for the largest rendition side and a
// small one, after the module is compiled: planes of a gradient, and
// NRGBA of noise with noisy alpha (the worst case measured).
func TestFootprint(t *testing.T) {
	if !WebAssembly() {
		t.Skip("a system libwebp allocates outside Go's heap: build with -tags nodynamic")
	}
	Warm()
	noise := func(side int) *image.NRGBA {
		m := image.NewNRGBA(image.Rect(0, 0, side, side))
		s := uint32(1)
		for i := 0; i < len(m.Pix); i += 4 {
			s = s*1664525 + 1013904223
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(s>>24), uint8(s>>16), uint8(s>>8), uint8(i/4%251)
		}
		return m
	}
	for _, side := range []int{200, 1024} {
		for _, c := range []struct {
			m    image.Image
			rgba bool
		}{{gradient(side, side, true), true}, {noise(side), true}, {ycbcr(gradient(side, side, false)), false}} {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := Encode(t.Context(), c.m, 0); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			got := int64(after.TotalAlloc - before.TotalAlloc)
			est := Footprint(side, side, c.rgba)
			t.Logf("%dx%d %T: allocated %d KiB, estimate %d KiB", side, side, c.m, got>>10, est>>10)
			if got > est {
				t.Errorf("%dx%d %T: allocated %d bytes, above the estimate %d", side, side, c.m, got, est)
			}
			n, ok := c.m.(*image.NRGBA)
			if !ok {
				continue
			}
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			if _, err := EncodeLossless(t.Context(), n); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			got = int64(after.TotalAlloc - before.TotalAlloc)
			est = LosslessFootprint(side, side)
			t.Logf("%dx%d lossless: allocated %d KiB, estimate %d KiB, %v", side, side, got>>10, est>>10, took)
			if got > est {
				t.Errorf("%dx%d lossless: allocated %d bytes, above the estimate %d", side, side, got, est)
			}
		}
	}
}

// TestDecodeFootprint checks DecodeFootprint against what a Decode
// allocates, and that Decode gives back the pixels a straight-alpha
// image was encoded from (nearly: lossy colour, lossless alpha).
func TestDecodeFootprint(t *testing.T) {
	if !WebAssembly() {
		t.Skip("a system libwebp allocates outside Go's heap: build with -tags nodynamic")
	}
	Warm()
	for _, side := range []int{64, 1024} {
		for _, alpha := range []bool{false, true} {
			data, err := Encode(t.Context(), gradient(side, side, alpha), 0)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			m, err := Decode(data)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			got := int64(after.TotalAlloc - before.TotalAlloc)
			est := DecodeFootprint(side, side)
			t.Logf("%dx%d alpha %v: allocated %d KiB, estimate %d KiB", side, side, alpha, got>>10, est>>10)
			if got > est {
				t.Errorf("%dx%d: allocated %d bytes, above the estimate %d", side, side, got, est)
			}
			if m.Rect.Dx() != side || m.Rect.Dy() != side {
				t.Fatalf("decoded %v", m.Rect)
			}
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, side := range []int{64, 200, 512} {
		m := ycbcr(gradient(side, side, false))
		b.Run(strconv.Itoa(side), func(b *testing.B) {
			for b.Loop() {
				if _, err := Encode(b.Context(), m, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
