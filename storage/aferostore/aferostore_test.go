package aferostore_test

import (
	"testing"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/storagetest"
)

func newStore(t testing.TB, fsys afero.Fs, opts *aferostore.Options) *aferostore.Store {
	t.Helper()
	st, err := aferostore.New(fsys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newBucket returns a storage.Bucket over a new Store, as applications use
// one.
func newBucket(t testing.TB, fsys afero.Fs, opts *aferostore.Options) *storage.Bucket {
	return storage.NewBucket(newStore(t, fsys, opts))
}

func TestConformanceMemMapFs(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) driver.Bucket { return newStore(t, afero.NewMemMapFs(), nil) },
		&storagetest.Options{InMemory: true})
}

func TestConformanceOsFs(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) driver.Bucket {
		return newStore(t, afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()), nil)
	}, nil)
}

func BenchmarkMemMapFs(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) driver.Bucket { return newStore(b, afero.NewMemMapFs(), nil) })
}

func BenchmarkOsFs(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) driver.Bucket {
		return newStore(b, afero.NewBasePathFs(afero.NewOsFs(), b.TempDir()), nil)
	})
}

func BenchmarkOsFsNoSync(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) driver.Bucket {
		return newStore(b, afero.NewBasePathFs(afero.NewOsFs(), b.TempDir()), &aferostore.Options{NoSync: true})
	})
}

func TestNewRefusesBareOsFs(t *testing.T) {
	for name, fsys := range map[string]afero.Fs{"nil": nil, "bare OsFs": afero.NewOsFs()} {
		if st, err := aferostore.New(fsys, nil); err == nil {
			t.Errorf("New(%s) = %v, want an error", name, st)
		}
	}
}
