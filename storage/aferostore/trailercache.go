package aferostore

import (
	"io/fs"
	"sync"

	"github.com/spf13/afero"
)

// trailerCacheEntries bounds the trailers a Store remembers.
const trailerCacheEntries = 8192

// trailerCache remembers the trailers of object files recently opened, so
// that opening one again costs an fstat instead of two reads and a JSON
// parse. An entry is used only when the file is the very one it was read
// from: the same inode on the same device with the same size, modification
// time. A Put renames a new file over the key and so makes a
// new inode; nothing rewrites an object file in place. File systems that
// tell no inode (MemMapFs) are not cached.
type trailerCache struct {
	mu sync.Mutex
	m  map[string]cachedTrailer // by the file's path
}

// fileID identifies one file's content.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64 // in nanoseconds
}

type cachedTrailer struct {
	id   fileID
	t    trailer
	size int64 // the object's length, before the trailer
}

// idOf returns the identity of the file fi describes, if it has one.
func idOf(fi fs.FileInfo) (fileID, bool) {
	dev, ino, ok := inode(fi)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}, true
}

// readTrailer returns the trailer of the object file f at p and the
// object's length.
func (c *trailerCache) readTrailer(f afero.File, p string) (trailer, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return trailer{}, 0, err
	}
	id, ok := idOf(fi)
	if ok {
		c.mu.Lock()
		e, hit := c.m[p]
		c.mu.Unlock()
		if hit && e.id == id {
			return e.t, e.size, nil
		}
	}
	t, size, err := parseTrailer(f, fi)
	if err != nil || !ok {
		return t, size, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]cachedTrailer)
	}
	if len(c.m) >= trailerCacheEntries {
		for k := range c.m { // drop an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[p] = cachedTrailer{id: id, t: t, size: size}
	c.mu.Unlock()
	return t, size, nil
}
