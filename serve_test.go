package photo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

// TestServingAfterChanges checks that a versioned rendition is served
// exactly while its version is current, whichever of two instances made
// the change, including the case where an instance remembers a version
// that was replaced and then set again (same version ID, new blobs).
func TestServingAfterChanges(t *testing.T) {
	ctx := context.Background()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			sa, sb := be.open(t)
			a, b := newBackendManager(t, sa), newBackendManager(t, sb)
			imgA, imgB := testJPEG(t, 1), testJPEG(t, 2)
			served := func(m *photo.Manager, p *photo.Photo) error {
				bl, err := m.OpenRendition(ctx, "alice", p.VersionID, backendSizes[0], "")
				if err != nil {
					return err
				}
				defer bl.Close()
				data, err := io.ReadAll(bl)
				if err == nil && int64(len(data)) != bl.Rendition.Bytes {
					t.Errorf("read %d bytes, want %d", len(data), bl.Rendition.Bytes)
				}
				return err
			}
			steps := []struct {
				name    string
				change  func() *photo.Photo // nil: no change
				by      *photo.Manager
				pA, pB  bool // whether version A and B are current afterwards
				deleted bool
			}{
				{name: "a sets A", by: a, pA: true},
				{name: "b sets B", by: b, pB: true},
				{name: "a sets A again", by: a, pA: true},
				{name: "b deletes", by: b, deleted: true},
				{name: "b sets A once more", by: b, pA: true},
			}
			var verA, verB *photo.Photo
			for _, st := range steps {
				var err error
				switch {
				case st.deleted:
					err = st.by.Delete(ctx, "alice", nil)
				case st.pA:
					verA, err = st.by.Set(ctx, "alice", bytes.NewReader(imgA), nil)
				default:
					verB, err = st.by.Set(ctx, "alice", bytes.NewReader(imgB), nil)
				}
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				for _, m := range []*photo.Manager{a, b, a, b} { // twice each: cached and not
					for _, c := range []struct {
						p       *photo.Photo
						current bool
					}{{verA, st.pA}, {verB, st.pB}} {
						if c.p == nil {
							continue
						}
						err := served(m, c.p)
						switch {
						case c.current && err != nil:
							t.Errorf("after %s: version %s not served: %v", st.name, c.p.VersionID, err)
						case !c.current && !errors.Is(err, photo.ErrNotFound):
							t.Errorf("after %s: replaced version %s: got %v, want ErrNotFound", st.name, c.p.VersionID, err)
						}
					}
				}
			}
		})
	}
}

// hookStore runs hook once, before the first Put of a key ending in
// suffix.
type hookStore struct {
	driver.Bucket
	mu     sync.Mutex
	suffix string
	hook   func()
}

func (s *hookStore) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) (storage.Attrs, error) {
	s.mu.Lock()
	var hook func()
	if s.hook != nil && strings.HasSuffix(key, s.suffix) {
		hook, s.hook = s.hook, nil
	}
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return s.Bucket.Put(ctx, key, r, opts)
}

// TestOnDemandRacesRemoval makes an on-demand rendition of a version that
// a Delete or a Set removes while the rendition is being made: the blob it
// stores under the removed version is garbage that Sweep must remove.
func TestOnDemandRacesRemoval(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		remove func(m *photo.Manager) error
	}{
		{"delete", func(m *photo.Manager) error { return m.Delete(ctx, "u", nil) }},
		{"set", func(m *photo.Manager) error {
			_, err := m.Set(ctx, "u", bytes.NewReader(testJPEG(t, 9)), nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &hookStore{Bucket: memstore.New()}
			m, err := photo.New(storage.NewBucket(st), &photo.Options{Sizes: []int{16, 32, 64}, OnDemandSizes: []int{48}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := m.Set(ctx, "u", bytes.NewReader(testJPEG(t, 1)), nil)
			if err != nil {
				t.Fatal(err)
			}
			st.mu.Lock()
			st.suffix = "/d48" // the on-demand blob, once made
			st.hook = func() {
				if err := tc.remove(m); err != nil {
					t.Error(err)
				}
			}
			st.mu.Unlock()
			b, err := m.OpenRendition(ctx, "u", p.VersionID, 48, "")
			if err == nil {
				b.Close()
			}
			t.Logf("OpenRendition during the removal: %v", err)
			if _, err := m.Sweep(ctx, time.Nanosecond); err != nil {
				t.Fatal(err)
			}
			checkNoGarbage(t, storage.NewBucket(st))
		})
	}
}

func TestOnDemandSizes(t *testing.T) {
	ctx := context.Background()
	m, st := newManager(t, nil)
	p, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(500, 500))), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := len(allKeys(t, st, "users/"))
	b, err := m.OpenRendition(ctx, "u", p.VersionID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(100, b.Rendition.Width); diff != "" {
		t.Fatalf("b.Rendition.Width (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(100, b.Rendition.Height); diff != "" {
		t.Fatalf("b.Rendition.Height (-want +got):\n%s", diff)
	}
	first, _ := io.ReadAll(b)
	b.Close()
	// stored once
	if diff := cmp.Diff(n+1, len(allKeys(t, st, "users/"))); diff != "" {
		t.Fatalf("len(allKeys(t, st, \"users/\")) (-want +got):\n%s", diff)
	}

	b, err = m.OpenRendition(ctx, "u", p.VersionID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := io.ReadAll(b)
	b.Close()
	if diff := cmp.Diff(again, first); diff != "" {
		t.Fatalf("first (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		version string
		size    int
	}{{p.VersionID, 101}, {p.VersionID, 4096}, {"aaaaaaaaaaaaaaaa", 64}, {"../../x", 64}} {
		_, err = m.OpenRendition(ctx, "u", tc.version, tc.size, "")
		if !errors.Is(err, photo.ErrNotFound) {
			t.Fatal("want errors.Is(err, photo.ErrNotFound)")
		}
	}
}

// openFailStore fails the Opens of blobs (but for on-demand sizes, which
// are then missing) with a failure that is not "not found", as a network
// or permission problem would.
type openFailStore struct {
	driver.Bucket
	fail atomic.Bool
}

var errOutage = errors.New("injected outage")

func (s *openFailStore) Open(ctx context.Context, key string) (storage.Reader, error) {
	if s.fail.Load() && strings.Contains(key, "/v/") {
		if strings.HasSuffix(key, "/d16") {
			return nil, driver.ErrNotFound
		}
		return nil, errOutage
	}
	return s.Bucket.Open(ctx, key)
}

// TestServingFailuresAreNotNotFound checks that a storage failure while
// serving is reported as one (no Code, so a 5xx), never as ErrNotFound, and
// that an unreadable stored on-demand rendition is an error, not a 0x0
// rendition.
func TestServingFailuresAreNotNotFound(t *testing.T) {
	ctx := context.Background()
	d := &openFailStore{Bucket: memstore.New()}
	st := storage.NewBucket(d)
	m, err := photo.New(st, &photo.Options{Sizes: []int{32}, OnDemandSizes: []int{16}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(40, 40))), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.fail.Store(true)
	for _, size := range []int{0, 32, 16} {
		_, err := m.OpenRendition(ctx, "u", p.VersionID, size, "")
		if err == nil || errors.Is(err, photo.ErrNotFound) || photo.CodeOf(err) != "" || !errors.Is(err, errOutage) {
			t.Errorf("size %d during an outage: %v, want the outage without a Code", size, err)
		}
	}
	d.fail.Store(false)

	// The stored copy of an on-demand size is damaged.
	var key string
	for _, k := range allKeys(t, st, "users/") {
		if strings.HasSuffix(k, "/original.jpg") {
			key = strings.TrimSuffix(k, "original.jpg") + "d16"
		}
	}
	if _, err := st.Put(ctx, key, strings.NewReader("not an image"), nil); err != nil {
		t.Fatal(err)
	}
	if b, err := m.OpenRendition(ctx, "u", p.VersionID, 16, ""); err == nil {
		b.Close()
		t.Errorf("a damaged on-demand rendition opened as %+v", b.Rendition)
	} else if photo.CodeOf(err) != "" {
		t.Errorf("a damaged on-demand rendition: %v, want a failure without a Code", err)
	}
}
