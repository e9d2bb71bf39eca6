package photo

import (
	"context"
	"testing"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/imaging/testimage"
)

// BenchmarkPlaceholder measures what Set adds to compute the placeholder:
// the ThumbHash of the smallest rendition (24 px by default), from the
// pixels the render keeps.
func BenchmarkPlaceholder(b *testing.B) {
	img := testimage.Photo(1000, 1000, 1)
	res, err := imaging.Render(context.Background(), img, imaging.Spec{Sizes: []int{24, 32, 64}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if placeholderOf(res.Smallest) == "" {
			b.Fatal("no placeholder")
		}
	}
}
