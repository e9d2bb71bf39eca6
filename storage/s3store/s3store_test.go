package s3store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/profilephoto/photo/internal/s3test"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/s3store"
	"github.com/profilephoto/photo/storage/storagetest"
)

// newStores returns a function that makes a Store with a prefix of its own
// in srv's bucket, so every subtest starts empty.
func newStores(srv *s3test.Server) func(t testing.TB) driver.Bucket {
	var n atomic.Int64
	return func(t testing.TB) driver.Bucket {
		st, err := s3store.Open(context.Background(), s3store.Config{
			Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.Bucket, PathStyle: true,
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
			Prefix: fmt.Sprintf("store-%d/", n.Add(1)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
}

func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	newStore := newStores(srv)
	storagetest.Run(t, func(t *testing.T) driver.Bucket { return newStore(t) },
		&storagetest.Options{ContentETag: true, KeysAreFiles: true})
}

func BenchmarkStore(b *testing.B) {
	srv := s3test.Start(b)
	newStore := newStores(srv)
	storagetest.Benchmark(b, func(b *testing.B) driver.Bucket { return newStore(b) })
}
