package thumbhash_test

import (
	"fmt"
	"image"
	"image/color"

	"github.com/profilephoto/photo/internal/thumbhash"
)

func ExampleEncodeToString() {
	// A 64x48 rendition: orange on top, blue below.
	m := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			c := color.NRGBA{240, 140, 30, 255}
			if y >= 24 {
				c = color.NRGBA{30, 80, 200, 255}
			}
			m.SetNRGBA(x, y, c)
		}
	}
	s, err := thumbhash.EncodeToString(m)
	if err != nil {
		panic(err)
	}
	b, _ := thumbhash.Encoding.DecodeString(s)
	avg, _ := thumbhash.AverageColor(b)
	ratio, _ := thumbhash.AspectRatio(b)
	placeholder, _ := thumbhash.DecodeString(s)
	fmt.Println(len(s), avg, ratio, placeholder.Rect.Size())
	// Output: 28 {137 109 119 255} 1.4 (32,23)
}
