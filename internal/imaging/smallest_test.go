package imaging

import (
	"context"
	"image"
	"image/color"
	"testing"
)

// TestResultSmallest checks that Result.Smallest holds the pixels of the
// smallest rendition, upright, as they were encoded: its decoded bytes are
// close to it, for every pixel type, with and without alpha, and for a
// source smaller than every size (the renditions are then the original).
func TestResultSmallest(t *testing.T) {
	translucent := photo(60, 40)
	for i := 3; i < len(translucent.Pix); i += 8 {
		translucent.Pix[i] = 90
	}
	cases := map[string]struct {
		img  image.Image
		spec Spec
		side int
	}{
		"ycbcr420":    {forms(photo(300, 200))["ycbcr420"], Spec{Sizes: []int{128, 32, 64}, Orientation: 6}, 32},
		"nrgba":       {photo(300, 200), Spec{Sizes: []int{64, 48}}, 48},
		"gray":        {image.NewGray(image.Rect(0, 0, 90, 90)), Spec{Sizes: []int{40, 20}}, 20},
		"alpha":       {translucent, Spec{Sizes: []int{16, 24}}, 16},
		"small":       {photo(12, 12), Spec{Sizes: []int{24, 32}}, 12},
		"single size": {photo(100, 100), Spec{Sizes: []int{50}}, 50},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			res, err := Render(context.Background(), c.img, c.spec)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Smallest
			if m == nil {
				t.Fatal("no Smallest")
			}
			if b := m.Bounds(); b.Dx() != c.side || b.Dy() != c.side {
				t.Fatalf("Smallest is %v, want %dx%[2]d", b, c.side)
			}
			var enc Encoded
			for _, e := range res.Renditions {
				if enc.Data == nil || e.Width < enc.Width {
					enc = e
				}
			}
			// A 12 px JPEG of a detailed pattern loses more to compression.
			floor := 30.0
			if name == "small" {
				floor = 18
			}
			if p := psnr(t, decoded(t, enc), m); p < floor {
				t.Errorf("Smallest differs from the smallest rendition's bytes: PSNR %.1f dB", p)
			}
			if name == "alpha" {
				translucent := false
				for y := range c.side {
					for x := range c.side {
						translucent = translucent || color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA).A < 255
					}
				}
				if !translucent {
					t.Error("Smallest lost the transparency")
				}
			}
		})
	}
	res, err := Render(context.Background(), photo(10, 10), Spec{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Smallest != nil {
		t.Error("Smallest without renditions")
	}
}
