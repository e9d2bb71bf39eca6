// Package quality measures how close an encoded image is to its
// reference pixels: SSIM on luma (structure, what the eye notices first)
// and PSNR on colour. Both read colours premultiplied by alpha, so that
// the colour under a transparent pixel, which encoders may change freely,
// does not count.
package quality

import (
	"image"
	"image/color"
	"math"
)

// Plane is an image's luma (BT.601 weights of premultiplied R, G and B,
// 0 to 255), row by row, W*H samples.
type Plane struct {
	W, H int
	Pix  []float32
}

// Luma returns m's luma plane. *image.YCbCr, *image.NRGBA, *image.RGBA
// and *image.Gray are read directly; other images through their colour
// model.
func Luma(m image.Image) *Plane {
	r := m.Bounds()
	w, h := r.Dx(), r.Dy()
	p := &Plane{W: w, H: h, Pix: make([]float32, w*h)}
	luma := func(r, g, b uint8) float32 {
		return 0.299*float32(r) + 0.587*float32(g) + 0.114*float32(b)
	}
	switch m := m.(type) {
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				px, py := r.Min.X+x, r.Min.Y+y
				ci := m.COffset(px, py)
				cr, cg, cb := color.YCbCrToRGB(m.Y[m.YOffset(px, py)], m.Cb[ci], m.Cr[ci])
				p.Pix[y*w+x] = luma(cr, cg, cb)
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):][:4*w]
			for x := range w {
				s := row[4*x : 4*x+4 : 4*x+4]
				l := luma(s[0], s[1], s[2])
				if s[3] != 255 {
					l = l * float32(s[3]) / 255
				}
				p.Pix[y*w+x] = l
			}
		}
	case *image.RGBA:
		for y := range h {
			row := m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):][:4*w]
			for x := range w {
				p.Pix[y*w+x] = luma(row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.Gray:
		for y := range h {
			row := m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):][:w]
			for x, v := range row {
				p.Pix[y*w+x] = float32(v)
			}
		}
	default:
		for y := range h {
			for x := range w {
				cr, cg, cb, _ := m.At(r.Min.X+x, r.Min.Y+y).RGBA()
				p.Pix[y*w+x] = luma(uint8(cr>>8), uint8(cg>>8), uint8(cb>>8))
			}
		}
	}
	return p
}

// SSIM is the mean structural similarity of two luma planes of the same
// size over 8x8 windows placed every 4 pixels (Wang, Bovik, Sheikh and
// Simoncelli 2004, with their constants for 8-bit samples and a uniform
// window; smaller planes use one window as large as they allow). 1 means
// identical; planes of different sizes give 0.
func SSIM(a, b *Plane) float64 {
	if a.W != b.W || a.H != b.H || a.W == 0 || a.H == 0 {
		return 0
	}
	w, h := a.W, a.H
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	win := min(8, w, h)
	step := max(win/2, 1)
	k := float64(win * win)
	var sum float64
	n := 0
	for y0 := 0; y0+win <= h; y0 += step {
		for x0 := 0; x0+win <= w; x0 += step {
			var sa, sb, saa, sbb, sab float64
			for y := y0; y < y0+win; y++ {
				ra, rb := a.Pix[y*w+x0:][:win], b.Pix[y*w+x0:][:win]
				for i := range ra {
					va, vb := float64(ra[i]), float64(rb[i])
					sa += va
					sb += vb
					saa += va * va
					sbb += vb * vb
					sab += va * vb
				}
			}
			ma, mb := sa/k, sb/k
			// Sample variances and covariance (divided by k-1).
			va := (saa - sa*ma) / (k - 1)
			vb := (sbb - sb*mb) / (k - 1)
			cov := (sab - sa*mb) / (k - 1)
			sum += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}

// PSNR is the peak signal-to-noise ratio of b against a (same size) over
// premultiplied R, G and B, in dB; identical images give 99, images of
// different sizes 0.
func PSNR(a, b image.Image) float64 {
	ra, rb := a.Bounds(), b.Bounds()
	if ra.Size() != rb.Size() || ra.Empty() {
		return 0
	}
	var se float64
	for y := range ra.Dy() {
		for x := range ra.Dx() {
			r1, g1, b1, _ := a.At(ra.Min.X+x, ra.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(rb.Min.X+x, rb.Min.Y+y).RGBA()
			for _, d := range [3]float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
				se += d * d
			}
		}
	}
	if se == 0 {
		return 99
	}
	return 10 * math.Log10(255*255/(se/float64(3*ra.Dx()*ra.Dy())))
}
