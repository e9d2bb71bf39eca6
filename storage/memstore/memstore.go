// Package memstore is an in-memory storage driver, for tests, examples and
// single-process programs that do not need their photos to outlive them:
//
//	b := storage.NewBucket(memstore.New())
//
// Objects are held as immutable byte slices; a Put reads its whole input
// before it takes the lock, so readers never see a partial object and a
// failed read leaves the previous object in place.
package memstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/profilephoto/photo/storage/driver"
)

// Store is an in-memory driver.Bucket. The zero value is not usable: call
// New. A Store is safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	objects map[string]*object
	now     func() time.Time
}

type object struct {
	data  []byte
	gen   int // how many times the key was written before this object
	attrs driver.Attrs
}

// New returns an empty Store.
func New() *Store {
	return &Store{objects: make(map[string]*object), now: time.Now}
}

var _ driver.Bucket = (*Store)(nil)

// Put implements driver.Bucket.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *driver.PutOptions) (driver.Attrs, error) {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return driver.Attrs{}, err
	}
	data := buf.Bytes()
	sum := sha256.Sum256(data)

	s.mu.Lock()
	defer s.mu.Unlock()
	// The last moment to honour a cancellation: after this the write
	// happens.
	if err := ctx.Err(); err != nil {
		return driver.Attrs{}, err
	}
	cur, exists := s.objects[key]
	if opts.IfAbsent && exists || opts.IfMatch != "" && (!exists || cur.attrs.ETag != opts.IfMatch) {
		return driver.Attrs{}, driver.ErrPrecondition
	}
	// The ETag mixes in a write counter so that rewriting identical bytes
	// still changes it, as the contract asks.
	gen := 0
	if exists {
		gen = cur.gen + 1
	}
	o := &object{data: data, gen: gen, attrs: driver.Attrs{
		Key:         key,
		Size:        int64(len(data)),
		ETag:        fmt.Sprintf("%s-%d", hex.EncodeToString(sum[:12]), gen),
		ModTime:     s.now(),
		ContentType: opts.ContentType,
	}}
	s.objects[key] = o
	return o.attrs, nil
}

// Open implements driver.Bucket.
func (s *Store) Open(ctx context.Context, key string) (driver.Reader, error) {
	o, err := s.get(key)
	if err != nil {
		return nil, err
	}
	return &reader{Reader: bytes.NewReader(o.data), attrs: o.attrs}, nil
}

// Stat implements driver.Bucket.
func (s *Store) Stat(ctx context.Context, key string) (driver.Attrs, error) {
	o, err := s.get(key)
	if err != nil {
		return driver.Attrs{}, err
	}
	return o.attrs, nil
}

func (s *Store) get(key string) (*object, error) {
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, driver.ErrNotFound
	}
	return o, nil
}

// Delete implements driver.Bucket.
func (s *Store) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	delete(s.objects, key)
	s.mu.Unlock()
	return nil
}

// ListPage implements driver.Bucket. The page token is the last key of the
// previous page.
func (s *Store) ListPage(ctx context.Context, prefix, pageToken string, pageSize int) (driver.ListPage, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []string
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) && k > pageToken {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var page driver.ListPage
	if len(keys) > pageSize {
		keys = keys[:pageSize]
		page.NextPageToken = keys[pageSize-1]
	}
	page.Objects = make([]driver.Attrs, len(keys))
	for i, k := range keys {
		page.Objects[i] = s.objects[k].attrs
	}
	return page, nil
}

type reader struct {
	*bytes.Reader
	attrs driver.Attrs
}

func (r *reader) Close() error        { return nil }
func (r *reader) Attrs() driver.Attrs { return r.attrs }
