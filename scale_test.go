package photo

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"testing"
)

func TestDecodeScale(t *testing.T) {
	sizes := []int{24, 32, 48, 64, 72, 160, 192, 200, 512, 1024} // the default; largest 1024
	tests := []struct {
		name       string
		w, h       int
		crop       *Crop
		fit        Fit
		sizes      []int
		originalMx int
		want       int
	}{
		{"12 MP phone photo, centre crop", 4000, 3000, &Crop{500, 0, 3000}, Letterbox, sizes, 2048, 2},
		{"12 MP, letterbox", 4000, 3000, nil, Letterbox, sizes, 2048, 2},
		{"12 MP, cover", 4000, 3000, nil, Cover, sizes, 2048, 2},
		{"24 MP, crop", 6000, 4000, &Crop{0, 0, 4000}, Letterbox, sizes, 2048, 2},
		{"48 MP, crop: the original bound decides", 8000, 6000, &Crop{0, 0, 6000}, Letterbox, sizes, 2048, 4},
		{"small crop keeps full size", 4000, 3000, &Crop{0, 0, 2000}, Letterbox, sizes, 2048, 1},
		{"1 MP", 1000, 1000, nil, Letterbox, sizes, 2048, 1},
		{"small renditions, the original bound decides", 4000, 3000, &Crop{0, 0, 3000}, Letterbox, []int{64, 256}, 2048, 2},
		{"no original bound", 4000, 3000, &Crop{0, 0, 3000}, Letterbox, []int{64}, 0, 1},
		{"small bound, small sizes", 4000, 3000, nil, Letterbox, []int{64}, 256, 8},
		{"crop outside the image", 4000, 3000, &Crop{2000, 0, 3000}, Letterbox, sizes, 2048, 1},
	}
	for _, tt := range tests {
		src := &source{width: tt.w, height: tt.h}
		if got := decodeScale(src, tt.crop, tt.fit, tt.sizes, tt.originalMx); got != tt.want {
			t.Errorf("%s: scale 1/%d, want 1/%d", tt.name, got, tt.want)
		}
	}
}

func TestScaleCrop(t *testing.T) {
	tests := []struct {
		r    image.Rectangle
		s    int
		w, h int
		want image.Rectangle
	}{
		{image.Rect(500, 0, 3500, 3000), 1, 4000, 3000, image.Rect(500, 0, 3500, 3000)},
		{image.Rect(500, 0, 3500, 3000), 2, 4000, 3000, image.Rect(250, 0, 1750, 1500)},
		{image.Rect(501, 3, 3502, 3004), 2, 4001, 3005, image.Rect(251, 2, 1751, 1502)},
		{image.Rect(7, 7, 10, 10), 4, 10, 10, image.Rect(2, 2, 3, 3)},
		{image.Rect(0, 0, 3, 3), 8, 3, 3, image.Rect(0, 0, 1, 1)},
	}
	for _, tt := range tests {
		got := scaleCrop(tt.r, tt.s, tt.w, tt.h)
		if got != tt.want {
			t.Errorf("scaleCrop(%v, %d, %d, %d) = %v, want %v", tt.r, tt.s, tt.w, tt.h, got, tt.want)
		}
		sw, sh := (tt.w+tt.s-1)/tt.s, (tt.h+tt.s-1)/tt.s
		if !got.In(image.Rect(0, 0, sw, sh)) || got.Dx() != got.Dy() {
			t.Errorf("scaleCrop(%v, %d): %v is not a square inside %dx%d", tt.r, tt.s, got, sw, sh)
		}
	}
}

// TestDecodeSourceScaled: a JPEG decodes at the scale asked for, other
// formats (and no scale function) at full size.
func TestDecodeSourceScaled(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, gradient(403, 301), nil); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	for _, s := range []int{1, 2, 4, 8} {
		src, err := decodeSource(context.Background(), data, Limits{}.withDefaults(), func(*source) int { return s })
		if err != nil {
			t.Fatal(err)
		}
		want := image.Rect(0, 0, (403+s-1)/s, (301+s-1)/s)
		if src.img.Bounds() != want || src.scale != s || src.width != 403 || src.height != 301 {
			t.Errorf("scale %d: bounds %v, scale %d, size %dx%d", s, src.img.Bounds(), src.scale, src.width, src.height)
		}
	}
	src, err := decodeSource(context.Background(), data, Limits{}.withDefaults(), nil)
	if err != nil || src.img.Bounds() != image.Rect(0, 0, 403, 301) {
		t.Fatalf("no scale: %v, %v", err, src)
	}
}
