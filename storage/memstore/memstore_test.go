package memstore_test

import (
	"testing"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
	"github.com/profilephoto/photo/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.RunOptions(t, func(*testing.T) storage.Store { return memstore.New() },
		&storagetest.Options{InMemory: true})
}

func BenchmarkStore(b *testing.B) {
	storagetest.Benchmark(b, func(*testing.B) storage.Store { return memstore.New() })
}
