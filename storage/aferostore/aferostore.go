// Package aferostore is a storage.Store over any afero.Fs: the local disk
// (afero.OsFs, confined to a directory with afero.NewBasePathFs), memory
// (afero.MemMapFs), or any other afero file system.
//
//	fsys := afero.NewBasePathFs(afero.NewOsFs(), "/var/lib/photos")
//	st, err := aferostore.New(fsys, nil)
//	if err != nil { ... }
//	m, err := photo.New(st, nil)
//
// # Layout
//
// Objects live at the root of the Fs. Each key's segments become nested
// names, escaped so that any valid key is a valid, portable path that can
// never leave the root: see the mapping described in path.go. An object's
// file holds its bytes followed by a small trailer (the ETag, the content
// type and the write time, then a length and a magic number), so that data
// and metadata change together in one rename. The store's own files start
// with '.': ".locks/NN" and ".tmp-*" temporary files.
//
// # Consistency
//
// A Put streams into a temporary file in the key's directory, syncs it
// (unless Options.NoSync), then renames it over the key: readers see the
// old object or the new one, never a part, and a failed, cancelled or
// crashed Put leaves the previous object as it was (a crash may leave a
// ".tmp-*" file behind, which List never shows and Store.Tidy removes). An
// open Reader keeps the file it opened, so a later Put or Delete never
// changes what it reads.
//
// Every write of a key (Put, with or without a precondition, and Delete)
// takes the key's lock for the moment it checks the precondition and
// renames, so IfAbsent and IfMatch are atomic compare-and-swaps across
// goroutines and, on the operating system's file system, across processes
// sharing the directory (flock(2) on a fixed set of lock files, which the
// kernel releases when a process dies: no stale locks). Other file systems
// live in one process; there, all writers must share one *Store. Network
// file systems are only as safe as their flock and rename.
//
// The ETag is part of the content's SHA-256 and a random nonce, so it
// changes on every write, identical bytes included.
package aferostore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
)

// Options configure a Store. A nil *Options is the zero value.
type Options struct {
	// NoSync skips fsync of new files and their directories. Writes get
	// faster, but a power loss (not a process crash) may lose or truncate
	// recent objects. The default syncs.
	NoSync bool
	// Now returns the time recorded as an object's ModTime; nil means
	// time.Now.
	Now func() time.Time
}

// Store is a storage.Store over an afero.Fs. It is safe for concurrent use.
type Store struct {
	fs    afero.Fs
	sync  bool
	now   func() time.Time
	locks *locker
	// dirs orders the removal of empty directories against writers that
	// are creating a temporary file in one: a MemMapFs removes a directory
	// whatever it holds. Across processes (OsFs) rmdir refuses a non-empty
	// directory, and a writer that loses its directory makes it again.
	dirs sync.RWMutex
	// trailers caches the trailers of files opened (see trailerCache).
	trailers trailerCache
}

var _ storage.Store = (*Store)(nil)

// New returns a Store keeping its objects at the root of fsys. A bare
// *afero.OsFs is refused, as its root is the system's: confine it to a
// directory with afero.NewBasePathFs.
func New(fsys afero.Fs, opts *Options) (*Store, error) {
	if fsys == nil {
		return nil, errors.New("aferostore: New: nil Fs")
	}
	if _, ok := fsys.(*afero.OsFs); ok {
		// Objects live at the root of the Fs: on a bare OsFs that is "/".
		return nil, errors.New("aferostore: New: a bare OsFs would store at /; use afero.NewBasePathFs(afero.NewOsFs(), dir)")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l, err := newLocker(fsys)
	if err != nil {
		return nil, fmt.Errorf("aferostore: New: lock files: %w", clean(err))
	}
	return &Store{fs: fsys, sync: !o.NoSync, now: o.Now, locks: l}, nil
}

// fail wraps err for op on key, without the file system's paths: a
// BasePathFs puts the real path in its errors, and a store's errors may
// reach a log or a client.
func fail(op, key string, err error) error {
	return fmt.Errorf("aferostore: %s %q: %w", op, key, clean(err))
}

// clean strips the path errors from err, keeping what they wrap (so that
// errors.Is(err, fs.ErrNotExist) and the like still hold).
func clean(err error) error {
	for {
		var pe *fs.PathError
		var le *os.LinkError
		switch {
		case errors.As(err, &pe):
			err = pe.Err
		case errors.As(err, &le):
			err = le.Err
		default:
			return err
		}
	}
}

// trailer is the metadata stored after an object's bytes.
type trailer struct {
	ETag        string    `json:"etag"`
	ContentType string    `json:"type,omitempty"`
	ModTime     time.Time `json:"time"`
}

// The trailer's last bytes: the JSON's length, then the magic number.
const (
	trailerMagic = "\x00afobj1\n"
	trailerFixed = 4 + len(trailerMagic)
	maxTrailer   = 64 << 10
	// MaxContentTypeLen is the longest content type Put accepts.
	MaxContentTypeLen = 4096
)

var errCorrupt = errors.New("not an object file (bad trailer)")

// readTrailer reads the metadata of the object file f and returns it with
// the length of the object's bytes.
func parseTrailer(f io.ReaderAt, fi fs.FileInfo) (trailer, int64, error) {
	var t trailer
	if fi.IsDir() {
		return t, 0, fs.ErrNotExist
	}
	size := fi.Size()
	if size < int64(trailerFixed) {
		return t, 0, errCorrupt
	}
	var fixed [trailerFixed]byte
	if _, err := f.ReadAt(fixed[:], size-int64(trailerFixed)); err != nil && !errors.Is(err, io.EOF) {
		return t, 0, err
	}
	if string(fixed[4:]) != trailerMagic {
		return t, 0, errCorrupt
	}
	n := int64(binary.BigEndian.Uint32(fixed[:4]))
	if n > maxTrailer || n > size-int64(trailerFixed) {
		return t, 0, errCorrupt
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-int64(trailerFixed)-n); err != nil && !errors.Is(err, io.EOF) {
		return t, 0, err
	}
	if err := json.Unmarshal(buf, &t); err != nil || t.ETag == "" {
		return t, 0, errCorrupt
	}
	return t, size - int64(trailerFixed) - n, nil
}

func (t trailer) attrs(key string, size int64) storage.Attrs {
	return storage.Attrs{Key: key, Size: size, ETag: t.ETag, ModTime: t.ModTime, ContentType: t.ContentType}
}

// notFound reports whether err means that no object file is there: a
// missing file or directory, or a file where a directory was expected.
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// stat returns the attributes of the object at key and whether it exists.
func (s *Store) stat(key string) (storage.Attrs, bool, error) {
	dir, name := keyPath(key)
	f, err := s.fs.Open(path.Join(dir, name))
	if notFound(err) {
		return storage.Attrs{}, false, nil
	}
	if err != nil {
		return storage.Attrs{}, false, err
	}
	defer f.Close()
	t, size, err := s.trailers.readTrailer(f, path.Join(dir, name))
	if notFound(err) {
		return storage.Attrs{}, false, nil
	}
	if err != nil {
		return storage.Attrs{}, false, err
	}
	return t.attrs(key, size), true, nil
}

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) (storage.Attrs, error) {
	o, err := storage.PutArgs(ctx, key, opts)
	if err != nil {
		return storage.Attrs{}, fail("put", key, err)
	}
	if len(o.ContentType) > MaxContentTypeLen {
		return storage.Attrs{}, fail("put", key, fmt.Errorf("content type longer than %d bytes", MaxContentTypeLen))
	}
	dir, name := keyPath(key)
	tmp, f, err := s.createTemp(dir)
	if err != nil {
		return storage.Attrs{}, fail("put", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			s.fs.Remove(tmp)
		}
	}()

	// Stream the bytes, hashing them for the ETag.
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), storage.ContextReader(ctx, r), make([]byte, 64<<10))
	if err != nil {
		return storage.Attrs{}, fail("put", key, err)
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	t := trailer{
		ETag:        hex.EncodeToString(h.Sum(nil)[:12]) + "-" + hex.EncodeToString(nonce[:]),
		ContentType: o.ContentType,
		ModTime:     s.now().UTC(),
	}
	meta, _ := json.Marshal(t)
	meta = binary.BigEndian.AppendUint32(meta, uint32(len(meta)))
	meta = append(meta, trailerMagic...)
	if _, err := f.Write(meta); err != nil {
		return storage.Attrs{}, fail("put", key, err)
	}
	if s.sync {
		if err := f.Sync(); err != nil {
			return storage.Attrs{}, fail("put", key, err)
		}
	}
	if err := f.Close(); err != nil {
		return storage.Attrs{}, fail("put", key, err)
	}

	unlock, err := s.locks.lock(key)
	if err != nil {
		return storage.Attrs{}, fail("put", key, err)
	}
	err = s.commit(ctx, key, tmp, path.Join(dir, name), &o)
	unlock()
	if err != nil {
		return storage.Attrs{}, err
	}
	committed = true
	if s.sync {
		s.syncDir(dir)
	}
	return t.attrs(key, n), nil
}

// commit checks the preconditions and renames tmp to final; the caller
// holds key's lock.
func (s *Store) commit(ctx context.Context, key, tmp, final string, o *storage.PutOptions) error {
	// The last moment to honour a cancellation: after the rename the write
	// has happened.
	if err := ctx.Err(); err != nil {
		return fail("put", key, err)
	}
	if o.IfAbsent || o.IfMatch != "" {
		cur, exists, err := s.stat(key)
		if err != nil {
			return fail("put", key, err)
		}
		if o.IfAbsent && exists || o.IfMatch != "" && (!exists || cur.ETag != o.IfMatch) {
			return storage.PreconditionFailed("aferostore: put", key)
		}
	}
	if err := s.fs.Rename(tmp, final); err != nil {
		return fail("put", key, err)
	}
	return nil
}

// createTemp makes dir and a new temporary file in it. A concurrent Delete
// may remove dir once it is empty, between the two steps, in another
// process: then it tries again.
func (s *Store) createTemp(dir string) (string, afero.File, error) {
	s.dirs.RLock()
	defer s.dirs.RUnlock()
	var err error
	for range 10 {
		if err = s.fs.MkdirAll(dir, 0o755); err != nil {
			return "", nil, err
		}
		var b [12]byte
		rand.Read(b[:])
		name := path.Join(dir, ".tmp-"+hex.EncodeToString(b[:]))
		var f afero.File
		f, err = s.fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return name, f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, err
		}
	}
	return "", nil, err
}

// syncDir makes a rename in dir durable. Failure only weakens durability,
// which the file's own sync already bounds, so it is ignored.
func (s *Store) syncDir(dir string) {
	if d, err := s.fs.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Open implements storage.Store. The Reader keeps the file it opened: a
// later Put or Delete of the key does not change what it reads.
func (s *Store) Open(ctx context.Context, key string) (storage.Reader, error) {
	if err := storage.KeyArgs(ctx, key); err != nil {
		return nil, fmt.Errorf("aferostore: open: %w", err)
	}
	dir, name := keyPath(key)
	f, err := s.fs.Open(path.Join(dir, name))
	if notFound(err) {
		return nil, storage.NotFound("aferostore: open", key)
	}
	if err != nil {
		return nil, fail("open", key, err)
	}
	t, size, err := s.trailers.readTrailer(f, path.Join(dir, name))
	if err != nil {
		f.Close()
		if notFound(err) {
			return nil, storage.NotFound("aferostore: open", key)
		}
		return nil, fail("open", key, err)
	}
	return &reader{SectionReader: io.NewSectionReader(f, 0, size), f: f, key: key, attrs: t.attrs(key, size)}, nil
}

type reader struct {
	*io.SectionReader
	f     afero.File
	key   string
	attrs storage.Attrs
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.SectionReader.Read(p)
	if err != nil && err != io.EOF {
		err = fail("read", r.key, err)
	}
	return n, err
}

// WriteTo writes the rest of the object to w. On the operating system's
// file system it hands w the open file itself, limited to the object's
// bytes, so that a network connection can send them with sendfile(2)
// without copying them through user space.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	pos, _ := r.SectionReader.Seek(0, io.SeekCurrent)
	rest := r.SectionReader.Size() - pos
	if rest <= 0 {
		return 0, nil
	}
	var n int64
	var err error
	if f := osFile(r.f); f != nil {
		if _, err = f.Seek(pos, io.SeekStart); err == nil {
			n, err = io.Copy(w, &io.LimitedReader{R: f, N: rest})
		}
	} else {
		n, err = io.Copy(w, io.NewSectionReader(r.SectionReader, pos, rest))
	}
	r.SectionReader.Seek(pos+n, io.SeekStart)
	if err != nil {
		err = fail("read", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error {
	if err := r.f.Close(); err != nil {
		return fail("close", r.key, err)
	}
	return nil
}

func (r *reader) Attrs() storage.Attrs { return r.attrs }

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Attrs, error) {
	if err := storage.KeyArgs(ctx, key); err != nil {
		return storage.Attrs{}, fmt.Errorf("aferostore: stat: %w", err)
	}
	a, ok, err := s.stat(key)
	if err != nil {
		return storage.Attrs{}, fail("stat", key, err)
	}
	if !ok {
		return storage.Attrs{}, storage.NotFound("aferostore: stat", key)
	}
	return a, nil
}

// Delete implements storage.Store. It also removes the directories that
// the object leaves empty.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.KeyArgs(ctx, key); err != nil {
		return fmt.Errorf("aferostore: delete: %w", err)
	}
	dir, name := keyPath(key)
	unlock, err := s.locks.lock(key)
	if err != nil {
		return fail("delete", key, err)
	}
	err = s.fs.Remove(path.Join(dir, name))
	unlock()
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fail("delete", key, err)
	}
	if s.sync {
		s.syncDir(dir)
	}
	s.removeEmptyDirs(dir)
	return nil
}

// removeEmptyDirs removes dir and its parents while they are empty. It is
// tidying only: it stops quietly at the first it cannot remove.
func (s *Store) removeEmptyDirs(dir string) {
	for dir != "/" && dir != "" && s.removeEmptyDir(dir) {
		dir = path.Dir(dir)
	}
}

// List implements storage.Store. It walks only the directories that can
// hold keys of the page, in key order, and stops as soon as the page is
// full, so a page costs about what it returns whatever the store holds.
func (s *Store) List(ctx context.Context, prefix string, opts *storage.ListOptions) (storage.ListPage, error) {
	o, err := storage.ListArgs(ctx, prefix, opts)
	if err != nil {
		return storage.ListPage{}, fmt.Errorf("aferostore: list: %w", err)
	}
	w := &walker{ctx: ctx, s: s, prefix: prefix, token: o.PageToken, size: o.PageSize}
	dir, keyPrefix := prefixDir(prefix)
	if err := w.walk(dir, keyPrefix); err != nil && !errors.Is(err, errPageFull) {
		return storage.ListPage{}, fmt.Errorf("aferostore: list %q: %w", prefix, clean(err))
	}
	var page storage.ListPage
	keys := w.keys
	if len(keys) > o.PageSize {
		keys = keys[:o.PageSize]
		page.NextPageToken = keys[len(keys)-1]
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return storage.ListPage{}, fmt.Errorf("aferostore: list: %w", err)
		}
		a, ok, err := s.stat(k)
		if errors.Is(err, errCorrupt) {
			// Not written by a Store (Open and Stat report it): a listing
			// that stopped at it would hide every object after it.
			continue
		}
		if err != nil {
			return storage.ListPage{}, fail("list", k, err)
		}
		if ok { // else deleted since the walk saw it
			page.Objects = append(page.Objects, a)
		}
	}
	return page, nil
}

var errPageFull = errors.New("page full")

// walker collects, in order, the first size+1 keys after token that start
// with prefix; the extra key tells whether another page follows.
type walker struct {
	ctx           context.Context
	s             *Store
	prefix, token string
	size          int
	keys          []string // sorted, at most size+1
}

type dirEntry struct {
	name string // in the file system
	kind int
	from string // every key under it is >= from; a file's key is from
}

func (w *walker) walk(dir, keyPrefix string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	d, err := w.s.fs.Open(dir)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil && err != io.EOF {
		return err
	}
	entries := make([]dirEntry, 0, len(names))
	for _, n := range names {
		piece, kind, ok := decodeName(n)
		if !ok {
			continue
		}
		from := keyPrefix + piece
		if kind == kindDir {
			from += "/"
		}
		entries = append(entries, dirEntry{name: n, kind: kind, from: from})
	}
	slices.SortFunc(entries, func(a, b dirEntry) int { return strings.Compare(a.from, b.from) })
	for _, e := range entries {
		// Every key from here on is >= e.from: once the page and its
		// look-ahead key are all smaller, the rest cannot make the page.
		if len(w.keys) > w.size && e.from > w.keys[w.size] {
			return errPageFull
		}
		if e.kind == kindFile {
			if strings.HasPrefix(e.from, w.prefix) && e.from > w.token {
				w.add(e.from)
			}
			continue
		}
		// A directory's keys all start with e.from: skip it when that
		// cannot start with prefix, or when all of them are <= token.
		if !strings.HasPrefix(e.from, w.prefix) && !strings.HasPrefix(w.prefix, e.from) {
			continue
		}
		if e.from <= w.token && !strings.HasPrefix(w.token, e.from) {
			continue
		}
		if err := w.walk(path.Join(dir, e.name), e.from); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) add(key string) {
	i, found := slices.BinarySearch(w.keys, key)
	if found {
		return
	}
	w.keys = slices.Insert(w.keys, i, key)
	if len(w.keys) > w.size+1 {
		w.keys = w.keys[:w.size+1]
	}
}

var _ driver.Bucket = (*Store)(nil)

// ListPage implements driver.Bucket with List.
func (s *Store) ListPage(ctx context.Context, prefix, pageToken string, pageSize int) (driver.ListPage, error) {
	p, err := s.List(ctx, prefix, &storage.ListOptions{PageToken: pageToken, PageSize: pageSize})
	if err != nil {
		return driver.ListPage{}, err
	}
	return driver.ListPage{Objects: p.Objects, NextPageToken: p.NextPageToken}, nil
}
