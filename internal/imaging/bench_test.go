package imaging

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/profilephoto/photo/internal/imaging/testimage"
)

// benchSpec is what photo.Manager asks for with its default options.
func benchSpec() Spec {
	return Spec{
		Fit:             Letterbox,
		Background:      color.NRGBA{255, 255, 255, 255},
		Sizes:           []int{24, 32, 48, 64, 72, 160, 192, 200, 512, 1024},
		OriginalMaxSide: 2048,
		JPEGQuality:     85,
	}
}

// decodedPhoto returns a photo-like image as image/jpeg decodes it: an
// *image.YCbCr with 4:2:0 subsampling.
func decodedPhoto(tb testing.TB, w, h int) image.Image {
	tb.Helper()
	data, err := testimage.PhotoJPEG(w, h, 1)
	if err != nil {
		tb.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

func benchmarkRender(b *testing.B, w, h int, spec Spec) {
	img := decodedPhoto(b, w, h)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Render(ctx, img, spec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender1MP(b *testing.B) { benchmarkRender(b, 1000, 1000, benchSpec()) }

func BenchmarkRender12MP(b *testing.B) { benchmarkRender(b, 4000, 3000, benchSpec()) }
