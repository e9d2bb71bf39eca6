package imaging

import (
	"context"
	"errors"
	"image"
	"image/color"
	"testing"
)

// FuzzRender renders small images of every working form, size and
// subsampling with arbitrary specs: Render must return an error or
// outputs of the promised sizes, never panic.
func FuzzRender(f *testing.F) {
	f.Add(uint8(0), uint8(3), uint8(2), uint8(0), uint8(1), uint8(24), uint8(0), uint8(0), uint8(0), int8(0), int8(0), uint8(0))
	f.Add(uint8(2), uint8(1), uint8(40), uint8(5), uint8(6), uint8(7), uint8(1), uint8(3), uint8(1), int8(1), int8(2), uint8(3))
	f.Add(uint8(5), uint8(33), uint8(1), uint8(3), uint8(8), uint8(1), uint8(0), uint8(9), uint8(2), int8(-1), int8(5), uint8(20))
	f.Fuzz(func(t *testing.T, kind, w, h, ratio, o, size, fit, maxSide, cropSide uint8, cx, cy int8, seed uint8) {
		iw, ih := int(w%70), int(h%70)
		r := image.Rect(int(seed%3), int(seed%5), int(seed%3)+iw, int(seed%5)+ih)
		var img image.Image
		switch kind % 6 {
		case 0:
			m := image.NewYCbCr(r, image.YCbCrSubsampleRatio(ratio%6))
			fill(m.Y, seed)
			fill(m.Cb, seed+1)
			fill(m.Cr, seed+2)
			img = m
		case 1:
			m := image.NewGray(r)
			fill(m.Pix, seed)
			img = m
		case 2:
			m := image.NewNRGBA(r)
			fill(m.Pix, seed)
			img = m
		case 3:
			m := image.NewPaletted(r, color.Palette{color.Black, color.NRGBA{1, 2, 3, 4}})
			fill(m.Pix, seed)
			img = m
		case 4:
			m := image.NewNYCbCrA(r, image.YCbCrSubsampleRatio(ratio%6))
			fill(m.Y, seed)
			fill(m.A, seed+3)
			img = m
		default:
			m := image.NewRGBA64(r)
			fill(m.Pix, seed)
			img = m
		}
		spec := Spec{
			Orientation:     int(o % 10),
			Fit:             Fit(fit % 2),
			Sizes:           []int{int(size%80) + 1, 3},
			OriginalMaxSide: int(maxSide % 50),
			Background:      color.NRGBA{seed, 255 - seed, 7, 255},
		}
		if cropSide > 0 {
			spec.Crop = image.Rect(int(cx), int(cy), int(cx)+int(cropSide%40), int(cy)+int(cropSide%40))
		}
		res, err := Render(context.Background(), img, spec)
		if err != nil {
			// Only an empty image or a crop that does not fit may fail.
			if !errors.Is(err, ErrInvalid) || (iw > 0 && ih > 0 && spec.Crop.Empty()) {
				t.Fatalf("%T %v, spec %+v: %v", img, r, spec, err)
			}
			return
		}
		uw, uh := iw, ih
		if spec.Orientation >= 5 && spec.Orientation <= 8 {
			uw, uh = uh, uw
		}
		if res.Original.Width > uw || res.Original.Height > uh || res.Original.Width < 1 || res.Original.Height < 1 {
			t.Fatalf("original %dx%d from %dx%d", res.Original.Width, res.Original.Height, uw, uh)
		}
		for i, e := range res.Renditions {
			if e.Width != e.Height || e.Width > spec.Sizes[i] || e.Width < 1 {
				t.Fatalf("rendition %d: %dx%d", spec.Sizes[i], e.Width, e.Height)
			}
			decoded(t, e)
		}
		decoded(t, res.Original)
	})
}

// fill writes a deterministic pattern.
func fill(p []uint8, seed uint8) {
	for i := range p {
		p[i] = uint8(i*int(seed|1)) ^ seed
	}
}
