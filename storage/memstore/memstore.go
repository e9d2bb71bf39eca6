// Package memstore is an in-memory storage.Store, for tests, examples and
// single-process programs that do not need their photos to outlive them.
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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
)

// Store is an in-memory storage.Store. The zero value is not usable: call
// New. A Store is safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	objects map[string]*object
	now     func() time.Time
}

type object struct {
	data  []byte
	gen   int // how many times the key was written before this object
	attrs storage.Attrs
}

// New returns an empty Store.
func New() *Store {
	return &Store{objects: make(map[string]*object), now: time.Now}
}

var _ storage.Store = (*Store)(nil)

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) (storage.Attrs, error) {
	po, err := storage.PutArgs(ctx, key, opts)
	if err != nil {
		return storage.Attrs{}, fmt.Errorf("memstore: put %q: %w", key, err)
	}
	opts = &po
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, storage.ContextReader(ctx, r)); err != nil {
		return storage.Attrs{}, fmt.Errorf("memstore: put %q: %w", key, err)
	}
	data := buf.Bytes()
	sum := sha256.Sum256(data)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return storage.Attrs{}, fmt.Errorf("memstore: put %q: %w", key, err)
	}
	cur, exists := s.objects[key]
	if opts.IfAbsent && exists {
		return storage.Attrs{}, storage.PreconditionFailed("memstore: put", key)
	}
	if opts.IfMatch != "" && (!exists || cur.attrs.ETag != opts.IfMatch) {
		return storage.Attrs{}, storage.PreconditionFailed("memstore: put", key)
	}
	// The ETag mixes in a write counter so that rewriting identical bytes
	// still changes it, as the contract asks.
	gen := 0
	if exists {
		gen = cur.gen + 1
	}
	o := &object{data: data, gen: gen, attrs: storage.Attrs{
		Key:         key,
		Size:        int64(len(data)),
		ETag:        fmt.Sprintf("%s-%d", hex.EncodeToString(sum[:12]), gen),
		ModTime:     s.now(),
		ContentType: opts.ContentType,
	}}
	s.objects[key] = o
	return o.attrs, nil
}

// Open implements storage.Store.
func (s *Store) Open(ctx context.Context, key string) (storage.Reader, error) {
	o, err := s.get(ctx, "open", key)
	if err != nil {
		return nil, err
	}
	return &reader{Reader: bytes.NewReader(o.data), attrs: o.attrs}, nil
}

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Attrs, error) {
	o, err := s.get(ctx, "stat", key)
	if err != nil {
		return storage.Attrs{}, err
	}
	return o.attrs, nil
}

func (s *Store) get(ctx context.Context, op, key string) (*object, error) {
	if err := storage.KeyArgs(ctx, key); err != nil {
		return nil, fmt.Errorf("memstore: %s: %w", op, err)
	}
	s.mu.RLock()
	o, ok := s.objects[key]
	s.mu.RUnlock()
	if !ok {
		return nil, storage.NotFound("memstore: "+op, key)
	}
	return o, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.KeyArgs(ctx, key); err != nil {
		return fmt.Errorf("memstore: delete: %w", err)
	}
	s.mu.Lock()
	delete(s.objects, key)
	s.mu.Unlock()
	return nil
}

// List implements storage.Store.
func (s *Store) List(ctx context.Context, prefix string, opts *storage.ListOptions) (storage.ListPage, error) {
	o, err := storage.ListArgs(ctx, prefix, opts)
	if err != nil {
		return storage.ListPage{}, fmt.Errorf("memstore: list: %w", err)
	}
	s.mu.RLock()
	var keys []string
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) && k > o.PageToken {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var page storage.ListPage
	for i, k := range keys {
		if i == o.PageSize {
			page.NextPageToken = keys[i-1]
			break
		}
		page.Objects = append(page.Objects, s.objects[k].attrs)
	}
	s.mu.RUnlock()
	return page, nil
}

type reader struct {
	*bytes.Reader
	attrs storage.Attrs
}

func (r *reader) Close() error         { return nil }
func (r *reader) Attrs() storage.Attrs { return r.attrs }

var _ driver.Bucket = (*Store)(nil)

// ListPage implements driver.Bucket with List.
func (s *Store) ListPage(ctx context.Context, prefix, pageToken string, pageSize int) (driver.ListPage, error) {
	p, err := s.List(ctx, prefix, &storage.ListOptions{PageToken: pageToken, PageSize: pageSize})
	if err != nil {
		return driver.ListPage{}, err
	}
	return driver.ListPage{Objects: p.Objects, NextPageToken: p.NextPageToken}, nil
}
