package photo_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/imaging/testimage"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

// benchmarkSet measures a whole Set of a photo-like JPEG upload with the
// default options: read, validate, decode (image/jpeg dominates at 12 MP),
// render the original and ten renditions, store them in memory and commit.
func benchmarkSet(b *testing.B, w, h int) {
	data, err := testimage.PhotoJPEG(w, h, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// A fresh store each time: a Set of the same bytes for the same
		// user is otherwise recognised as a no-op.
		m, err := photo.New(storage.NewBucket(memstore.New()), nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Set(ctx, "bench", bytes.NewReader(data), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet1MP(b *testing.B) { benchmarkSet(b, 1000, 1000) }

func BenchmarkSet12MP(b *testing.B) { benchmarkSet(b, 4000, 3000) }
