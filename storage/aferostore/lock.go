package aferostore

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"sync"

	"github.com/spf13/afero"
)

// Writers of one key take that key's lock for the short moment in which
// they check a precondition and rename their finished temporary file into
// place (or remove the object). Keys hash onto a fixed set of stripes so
// that the lock files never need removing: a lock file that is deleted
// while another process waits on it is the classic way to lose mutual
// exclusion.
//
// Within a process a stripe is a sync.Mutex. Across processes, when the
// file system is the operating system's (afero.OsFs, directly or under a
// BasePathFs), the stripe is also an flock(2) on the file /.locks/NN: the
// kernel drops the lock when its process dies, so a crash never leaves a
// stale lock behind. Other file systems (MemMapFs, ...) live inside one
// process, where the mutex is the whole story.

const (
	stripes  = 64
	locksDir = "/.locks"
)

type locker struct {
	fs      afero.Fs
	mu      [stripes]sync.Mutex
	osLocks bool // the fs hands out *os.File: use flock too
}

func newLocker(fsys afero.Fs) (*locker, error) {
	l := &locker{fs: fsys}
	f, err := l.openLockFile(0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if of := osFile(f); of != nil && flockSupported {
		l.osLocks = true
	}
	return l, nil
}

func stripeOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % stripes)
}

func (l *locker) openLockFile(stripe int) (afero.File, error) {
	name := fmt.Sprintf("%s/%02d", locksDir, stripe)
	f, err := l.fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err := l.fs.MkdirAll(locksDir, 0o755); err != nil {
			return nil, err
		}
		f, err = l.fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	}
	return f, err
}

// lock takes key's lock and returns the function that releases it.
func (l *locker) lock(key string) (unlock func(), err error) {
	i := stripeOf(key)
	l.mu[i].Lock()
	if !l.osLocks {
		return l.mu[i].Unlock, nil
	}
	f, err := l.openLockFile(i)
	if err != nil {
		l.mu[i].Unlock()
		return nil, err
	}
	if err := flock(osFile(f)); err != nil {
		f.Close()
		l.mu[i].Unlock()
		return nil, err
	}
	return func() {
		// Closing the file releases the flock.
		f.Close()
		l.mu[i].Unlock()
	}, nil
}

// osFile returns the *os.File under f, if there is one.
func osFile(f afero.File) *os.File {
	switch f := f.(type) {
	case *os.File:
		return f
	case *afero.BasePathFile:
		return osFile(f.File)
	}
	return nil
}
