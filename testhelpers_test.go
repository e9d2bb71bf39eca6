package photo

import (
	"testing"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

// newBucket returns an empty bucket in memory for one test. Tests of the
// package photo_test reach it as NewTestBucket (export_test.go).
func newBucket(testing.TB) *storage.Bucket { return storage.NewBucket(memstore.New()) }
