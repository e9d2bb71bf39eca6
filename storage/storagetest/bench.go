package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
)

// BenchSize is the object size of Benchmark: a typical large rendition.
const BenchSize = 50 << 10

// Benchmark measures a driver, through a storage.Bucket, with BenchSize objects: "Put" writes one
// (cycling over a few keys, so a long run does not fill the store) and
// "Open" opens one, reads it whole and closes it.
func Benchmark(b *testing.B, newDriver func(b *testing.B) driver.Bucket) {
	data := make([]byte, BenchSize)
	for i := range data {
		data[i] = byte(i*31 + i>>9)
	}
	ctx := context.Background()
	const keys = 64
	b.Run("Put", func(b *testing.B) {
		st := storage.NewBucket(newDriver(b))
		b.SetBytes(BenchSize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			key := fmt.Sprintf("bench/put/%02d.jpg", i%keys)
			if _, err := st.Put(ctx, key, bytes.NewReader(data), &storage.PutOptions{ContentType: "image/jpeg"}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Open", func(b *testing.B) {
		st := storage.NewBucket(newDriver(b))
		for i := range keys {
			if _, err := st.Put(ctx, fmt.Sprintf("bench/open/%02d.jpg", i), bytes.NewReader(data), &storage.PutOptions{ContentType: "image/jpeg"}); err != nil {
				b.Fatal(err)
			}
		}
		buf := make([]byte, 64<<10)
		b.SetBytes(BenchSize)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r, err := st.Open(ctx, fmt.Sprintf("bench/open/%02d.jpg", i%keys))
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
			r.Close()
			if err != nil || n != BenchSize {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			i++
		}
	})
}
