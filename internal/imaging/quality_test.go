package imaging

import (
	"context"
	"fmt"
	"image"
	"math"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// lanczos3 is the Lanczos kernel with three lobes.
func lanczos3(x float64) float64 {
	x = math.Abs(x)
	if x == 0 {
		return 1
	}
	if x >= 3 {
		return 0
	}
	px := math.Pi * x
	return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
}

// lanczosReference reduces a w by h float image to dw by dh with a
// separable Lanczos-3 filter, in floating point and from full resolution:
// the reference of TestQualityAgainstLanczos.
func lanczosReference(src []float64, w, h, dw, dh int) []float64 {
	pass := func(in []float64, iw, ih, ow int) []float64 { // horizontal, returns ow x ih
		out := make([]float64, ow*ih)
		r := float64(iw) / float64(ow)
		st := max(r, 1)
		for j := range ow {
			u := (float64(j) + 0.5) * r
			var ws []float64
			var is []int
			tot := 0.0
			for k := int(u - 3*st - 1); k <= int(u+3*st+1); k++ {
				wt := lanczos3((float64(k) + 0.5 - u) / st)
				if wt == 0 {
					continue
				}
				ws = append(ws, wt)
				is = append(is, min(max(k, 0), iw-1))
				tot += wt
			}
			for y := range ih {
				s := 0.0
				for t, wt := range ws {
					s += wt * in[y*iw+is[t]]
				}
				out[y*ow+j] = s / tot
			}
		}
		return out
	}
	transpose := func(in []float64, iw, ih int) []float64 {
		out := make([]float64, iw*ih)
		for y := range ih {
			for x := range iw {
				out[x*ih+y] = in[y*iw+x]
			}
		}
		return out
	}
	a := pass(src, w, h, dw)                  // dw x h
	b := pass(transpose(a, dw, h), h, dw, dh) // dh x dw
	return transpose(b, dh, dw)
}

// TestQualityAgainstLanczos compares renditions of a real photo with a
// float Lanczos-3 reduction computed from full resolution: the pyramid,
// with or without the reduced original in between, must stay close to it
// (x/image/draw's full-resolution Catmull-Rom scores 41.6 to 48.5 dB here,
// ours 40 to 48), while bilinear sampling, which aliases, scores 21 to 36.
func TestQualityAgainstLanczos(t *testing.T) {
	img := decodeFile(t, testdata(t, "exif-orientation-examples/Landscape_1.jpg"))
	b := img.Bounds()
	side := min(b.Dx(), b.Dy())
	g := image.NewGray(image.Rect(0, 0, side, side))
	xdraw.Draw(g, g.Rect, img, image.Pt(b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2), xdraw.Src)
	src := make([]float64, side*side)
	for i, v := range g.Pix {
		src[i] = float64(v)
	}
	sizes := []int{512, 256, 128, 64, 24}
	for _, from := range reductionSources {
		res, err := Render(context.Background(), g, Spec{Sizes: sizes, JPEGQuality: 100, OriginalMaxSide: from.originalMaxSide(side)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Renditions {
			t.Run(fmt.Sprintf("%d/%s", r.Width, from.name), func(t *testing.T) {
				d := r.Width
				ref := image.NewGray(image.Rect(0, 0, d, d))
				for k, v := range lanczosReference(src, side, side, d, d) {
					ref.Pix[k] = uint8(min(max(math.Round(v), 0), 255))
				}
				bl := image.NewGray(ref.Rect)
				xdraw.ApproxBiLinear.Scale(bl, bl.Rect, g, g.Rect, xdraw.Src, nil)
				p, pbl := psnr(t, decoded(t, r), ref), psnr(t, bl, ref)
				t.Logf("PSNR against Lanczos-3 from full resolution: %.1f dB (bilinear %.1f dB)", p, pbl)
				if p < 38 {
					t.Errorf("PSNR %.1f dB < 38 dB", p)
				}
			})
		}
	}
}
