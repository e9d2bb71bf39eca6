package photo_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/profilephoto/photo"
)

// FuzzSet feeds arbitrary bytes through the whole of Set: whatever the
// input, Set never panics, refuses with an *Error and stores nothing, or
// accepts and stores renditions that decode to the sizes it reports. The
// seeds are the small files of the shared test images.
func FuzzSet(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "shared", "testdata", "*", "*"))
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Size() <= 16<<10 {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		st := photo.NewTestBucket(t)
		// Small limits keep each run fast; the checks are the same.
		m, err := photo.New(st, &photo.Options{
			Sizes:  []int{16, 48},
			Limits: photo.Limits{MaxSide: 2048, MaxPixels: 1 << 20, MaxFrames: 20, MaxMetadataBytes: 64 << 10},
		})
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Set(ctx, "u", bytes.NewReader(data), nil)
		if err != nil {
			var pe *photo.Error
			if !errors.As(err, &pe) {
				t.Fatalf("a refusal that is not a *photo.Error: %v", err)
			}
			for a, lerr := range st.List(ctx, "") {
				t.Fatalf("a refused upload left %s (%v)", a.Key, lerr)
			}
			return
		}
		for _, r := range p.Renditions {
			b, err := m.OpenRendition(ctx, "u", p.VersionID, r.Size, "")
			if err != nil {
				t.Fatalf("open %d: %v", r.Size, err)
			}
			cfg, _, err := image.DecodeConfig(b)
			b.Close()
			if err != nil || cfg.Width != r.Width || cfg.Height != r.Height {
				t.Fatalf("rendition %d: %dx%d (%v), reported %dx%d", r.Size, cfg.Width, cfg.Height, err, r.Width, r.Height)
			}
		}
	})
}
