package memstore_test

import (
	"testing"

	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
	"github.com/profilephoto/photo/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) driver.Bucket { return memstore.New() }, &storagetest.Options{InMemory: true})
}

func BenchmarkStore(b *testing.B) {
	storagetest.Benchmark(b, func(*testing.B) driver.Bucket { return memstore.New() })
}
