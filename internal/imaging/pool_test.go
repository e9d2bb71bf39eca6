package imaging

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"sync"
	"testing"

	"github.com/profilephoto/photo/internal/sched"
)

// TestSharedPool renders several images at once through one shared pool
// and checks that every output is byte for byte what a Render of its own
// makes (the split of work never changes a result), and that every token
// comes back.
func TestSharedPool(t *testing.T) {
	imgs := []image.Image{
		toYCbCr(photo(900, 700), image.YCbCrSubsampleRatio420),
		photo(640, 480),
		toYCbCr(photo(333, 500), image.YCbCrSubsampleRatio444),
	}
	spec := Spec{Sizes: []int{24, 64, 200, 512}, OriginalMaxSide: 2048, Fit: Letterbox}
	want := make([]*Result, len(imgs))
	for i, img := range imgs {
		var err error
		if want[i], err = Render(context.Background(), img, spec); err != nil {
			t.Fatal(err)
		}
	}
	for _, tokens := range []int{1, 2, 5} {
		t.Run(fmt.Sprintf("%d tokens", tokens), func(t *testing.T) {
			pool := sched.New(tokens)
			s := spec
			s.Pool = pool
			var wg sync.WaitGroup
			for round := range 2 {
				for i, img := range imgs {
					wg.Go(func() {
						if err := pool.Acquire(context.Background()); err != nil {
							t.Error(err)
							return
						}
						defer pool.Release()
						got, err := Render(context.Background(), img, s)
						if err != nil {
							t.Error(err)
							return
						}
						if !bytes.Equal(got.Original.Data, want[i].Original.Data) {
							t.Errorf("round %d image %d: the original differs", round, i)
						}
						for j := range got.Renditions {
							if !bytes.Equal(got.Renditions[j].Data, want[i].Renditions[j].Data) {
								t.Errorf("round %d image %d: rendition %d differs", round, i, got.Renditions[j].Size)
							}
						}
					})
				}
			}
			wg.Wait()
			if n := pool.TryAcquire(tokens); n != tokens {
				t.Errorf("%d of %d tokens came back", n, tokens)
			}
		})
	}
}
