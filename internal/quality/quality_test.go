package quality

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"testing"
)

// photo is a smooth w x h test image with some texture.
func photo(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := 128 + 60*math.Sin(float64(x)/7) + 40*math.Cos(float64(y)/5)
			m.SetNRGBA(x, y, color.NRGBA{uint8(v), uint8(255 - v), uint8(x * 255 / w), 255})
		}
	}
	return m
}

func TestSSIMAndPSNRCanTell(t *testing.T) {
	a := photo(64, 64)
	if s, p := SSIM(Luma(a), Luma(a)), PSNR(a, a); s != 1 || p != 99 {
		t.Errorf("an image against itself: SSIM %v, PSNR %v", s, p)
	}
	noisy := image.NewNRGBA(a.Rect)
	copy(noisy.Pix, a.Pix)
	for i := range noisy.Pix {
		if i%4 != 3 && i%7 == 0 {
			noisy.Pix[i] ^= 0x1f
		}
	}
	flat := image.NewNRGBA(a.Rect)
	draw.Draw(flat, flat.Rect, image.NewUniform(color.NRGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	if s1, s2 := SSIM(Luma(a), Luma(noisy)), SSIM(Luma(a), Luma(flat)); !(s1 < 0.99 && s2 < s1) {
		t.Errorf("SSIM against noise %v, against a flat image %v: want both below 1, flat lowest", s1, s2)
	}
	if p := PSNR(a, noisy); p > 40 {
		t.Errorf("PSNR against noise %v dB", p)
	}
	if s := SSIM(Luma(a), Luma(photo(32, 64))); s != 0 {
		t.Errorf("SSIM of different sizes %v, want 0", s)
	}
}

// TestLumaTypes: the fast paths read the same luma as the colour model.
func TestLumaTypes(t *testing.T) {
	n := photo(33, 17)
	n.Pix[3], n.Pix[7] = 0, 100 // transparency: premultiplied
	rgba := image.NewRGBA(n.Rect)
	draw.Draw(rgba, rgba.Rect, n, image.Point{}, draw.Src)
	ycc := image.NewYCbCr(n.Rect, image.YCbCrSubsampleRatio420)
	for y := range 17 {
		for x := range 33 {
			c := n.NRGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
		}
	}
	gray := image.NewGray(n.Rect)
	draw.Draw(gray, gray.Rect, n, image.Point{}, draw.Src)
	generic := func(m image.Image) *Plane { return Luma(struct{ image.Image }{m}) }
	for _, c := range []struct {
		name string
		m    image.Image
		tol  float32
	}{{"NRGBA", n, 1}, {"RGBA", rgba, 0}, {"YCbCr", ycc, 0}, {"Gray", gray, 0.001}} {
		fast, slow := Luma(c.m), generic(c.m)
		for i := range fast.Pix {
			if d := fast.Pix[i] - slow.Pix[i]; d > c.tol || -d > c.tol {
				t.Fatalf("%s: sample %d is %v, the colour model's %v", c.name, i, fast.Pix[i], slow.Pix[i])
			}
		}
	}
}
