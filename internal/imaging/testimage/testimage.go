// Package testimage generates deterministic images for the tests and
// benchmarks of the image pipeline: nothing here reads files or the network.
package testimage

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// Photo returns a w by h opaque image that behaves like a photograph for a
// resampler and a JPEG encoder: smooth colour gradients, a band-limited
// texture of a few sinusoids and per-pixel noise. The same arguments give the
// same pixels.
func Photo(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fw, fh := float64(max(w, 1)), float64(max(h, 1))
	// Per-row and per-column terms are computed once: the image is large
	// and the generator should not dominate a benchmark's set-up.
	colA := make([]float64, w)
	colB := make([]float64, w)
	for x := range w {
		fx := float64(x)
		colA[x] = math.Sin(fx / fw * math.Pi)
		colB[x] = 18 * math.Sin(fx*0.21+3*math.Sin(fx/97))
	}
	for y := range h {
		fy := float64(y)
		rowA := math.Cos(fy / fh * math.Pi / 2)
		rowB := 14 * math.Sin(fy*0.17+2*math.Cos(fy/61))
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := range w {
			tex := colB[x]*0.6 + rowB*0.7 + colB[x]*rowB/30
			n := float64(rng.IntN(17) - 8)
			r := 60 + 150*colA[x]*rowA + tex + n
			g := 40 + 120*(float64(y)/fh) + 60*colA[x] + tex*0.8 + n
			b := 200 - 140*(float64(x)/fw) + tex*0.5 + n
			row[4*x+0] = clamp(r)
			row[4*x+1] = clamp(g)
			row[4*x+2] = clamp(b)
			row[4*x+3] = 255
		}
	}
	return img
}

// PhotoJPEG returns Photo(w, h, seed) encoded by image/jpeg at quality 90
// (baseline, 4:2:0), like a camera or phone upload.
func PhotoJPEG(w, h int, seed uint64) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Photo(w, h, seed), &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func clamp(v float64) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v + 0.5)
}
