package photo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/s3test"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
	"github.com/profilephoto/photo/storage/s3store"
)

// A backend opens one fresh store twice: two handles on the same data, as
// two processes would have (one handle for memstore, which has no other).
type backend struct {
	name string
	open func(t *testing.T) (a, b driver.Bucket)
}

func backends() []backend {
	return []backend{
		{"memstore", func(t *testing.T) (driver.Bucket, driver.Bucket) {
			st := memstore.New()
			return st, st
		}},
		{"aferostore-OsFs", func(t *testing.T) (driver.Bucket, driver.Bucket) {
			dir := t.TempDir()
			open := func() driver.Bucket {
				st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), dir), &aferostore.Options{NoSync: true})
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			return open(), open()
		}},
		{"s3store-versitygw", func(t *testing.T) (driver.Bucket, driver.Bucket) {
			srv := s3test.Start(t)
			open := func() driver.Bucket {
				st, err := s3store.New(srv.Client(), srv.Bucket, &s3store.Options{Prefix: "photos/"})
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			return open(), open()
		}},
	}
}

// Small renditions keep these tests about storage, not pixels.
var backendSizes = []int{16, 32, 64}

func newBackendManager(t *testing.T, d driver.Bucket) *photo.Manager {
	t.Helper()
	m, err := photo.New(storage.NewBucket(d), &photo.Options{
		Sizes:         backendSizes,
		OnDemandSizes: []int{},
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testJPEG makes a small JPEG whose content depends on n, so that every n
// is a new version.
func testJPEG(t testing.TB, n int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(n * 37), uint8(x * 4), uint8(y*4 + n), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkServed checks that p is complete: the original and every rendition
// open through m and hold the bytes p describes.
func checkServed(t *testing.T, m *photo.Manager, p *photo.Photo) {
	t.Helper()
	ctx := context.Background()
	for _, r := range append([]photo.Rendition{p.Original}, p.Renditions...) {
		b, err := m.OpenRendition(ctx, p.UserID, p.VersionID, r.Size, "")
		if err != nil {
			t.Errorf("user %q version %s size %d: %v", p.UserID, p.VersionID, r.Size, err)
			continue
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil || int64(len(data)) != r.Bytes {
			t.Errorf("user %q size %d: read %d bytes (%v), want %d", p.UserID, r.Size, len(data), err, r.Bytes)
			continue
		}
		if _, _, err := image.DecodeConfig(bytes.NewReader(data)); err != nil {
			t.Errorf("user %q size %d: not an image: %v", p.UserID, r.Size, err)
		}
	}
}

// allKeys lists every key under prefix.
func allKeys(t testing.TB, st *storage.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for a, err := range st.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	return keys
}

// checkNoGarbage checks that every blob under users/<h>/v/ belongs to a
// version its user's record names, current or kept. It reads the records'
// JSON itself, so that it does not trust the code under test to say what
// is referenced.
func checkNoGarbage(t *testing.T, st *storage.Bucket) {
	t.Helper()
	ctx := context.Background()
	referenced := map[string][]string{} // "users/<h>" -> blob prefixes
	keys := allKeys(t, st, "users/")
	for _, k := range keys {
		user, ok := strings.CutSuffix(k, "/record.json")
		if !ok {
			continue
		}
		r, err := st.Open(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		type version struct {
			Prefix string `json:"prefix"`
		}
		var rec struct {
			Current *version  `json:"current"`
			History []version `json:"history"`
		}
		err = json.NewDecoder(r).Decode(&rec)
		r.Close()
		if err != nil {
			t.Fatalf("record %s: %v", k, err)
		}
		vs := rec.History
		if rec.Current != nil {
			vs = append(vs, *rec.Current)
		}
		referenced[user] = []string{}
		for _, v := range vs {
			if !strings.HasPrefix(v.Prefix, user+"/v/") {
				t.Fatalf("record %s names blobs under %q", k, v.Prefix)
			}
			referenced[user] = append(referenced[user], v.Prefix)
		}
	}
	for _, k := range keys {
		parts := strings.SplitN(k, "/", 4) // users, <h>, v, <prefix>/<blob>
		if len(parts) < 4 || parts[2] != "v" {
			continue
		}
		prefixes := referenced[parts[0]+"/"+parts[1]]
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			t.Errorf("blob %s is referenced by no record (referenced: %q)", k, prefixes)
		}
	}
	for _, k := range allKeys(t, st, "files/") {
		t.Errorf("file blob %s left behind", k)
	}
}

// TestBackendsManyInstances runs two Managers, each over its own handle on
// one store, with concurrent Set, Delete and Get for the same few users.
func TestBackendsManyInstances(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			sa, sb := be.open(t)
			managers := []*photo.Manager{newBackendManager(t, sa), newBackendManager(t, sb)}
			users := []string{"alice", "bob", "../carol\x00"}
			images := make([][]byte, 4)
			for i := range images {
				images[i] = testJPEG(t, i)
			}
			const (
				workers = 6
				ops     = 8
			)
			ctx := context.Background()
			var wg sync.WaitGroup
			var sets, deletes atomic.Int64
			for w := range workers {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					m := managers[w%2]
					for range ops {
						user := users[rng.IntN(len(users))]
						switch op := rng.IntN(10); {
						case op < 6:
							p, err := m.Set(ctx, user, bytes.NewReader(images[rng.IntN(len(images))]), nil)
							if err != nil {
								t.Errorf("Set(%q): %v", user, err)
								continue
							}
							sets.Add(1)
							if p.VersionID == "" || len(p.Renditions) != len(backendSizes) {
								t.Errorf("Set(%q) returned %+v", user, p)
							}
						case op < 8:
							err := m.Delete(ctx, user, nil)
							if err != nil && !errors.Is(err, photo.ErrNotFound) {
								t.Errorf("Delete(%q): %v", user, err)
							}
							if err == nil {
								deletes.Add(1)
							}
						default:
							p, err := m.Get(ctx, user)
							if err != nil && !errors.Is(err, photo.ErrNotFound) {
								t.Errorf("Get(%q): %v", user, err)
							}
							if err == nil && p.Status != photo.StatusReady {
								t.Errorf("Get(%q): status %s", user, p.Status)
							}
						}
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			t.Logf("%d Sets and %d Deletes won", sets.Load(), deletes.Load())
			for _, user := range users {
				p1, err1 := managers[0].Get(ctx, user)
				p2, err2 := managers[1].Get(ctx, user)
				if errors.Is(err1, photo.ErrNotFound) && errors.Is(err2, photo.ErrNotFound) {
					continue
				}
				if err1 != nil || err2 != nil {
					t.Fatalf("Get(%q): %v / %v", user, err1, err2)
				}
				if diff := cmp.Diff(p1, p2); diff != "" {
					t.Errorf("the two instances disagree on %q (-first +second):\n%s", user, diff)
				}
				checkServed(t, managers[0], p1)
				checkServed(t, managers[1], p2)
			}
			checkNoGarbage(t, storage.NewBucket(sa))
		})
	}
}

// faultStore passes calls to a store, and at the call numbered at (from 1)
// fails it or cancels the caller's context before passing it on, or (lost)
// passes it on and then reports a failure: a write whose response was lost,
// as S3 clients see after a timeout or a cancellation that came too late.
type faultStore struct {
	driver.Bucket
	mu     sync.Mutex
	calls  int
	at     int
	cancel context.CancelFunc // nil: fail the call instead
	lost   bool               // make the call, then fail it
	hit    bool
}

var errInjected = errors.New("injected fault")

func (f *faultStore) arm(at int, cancel context.CancelFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.at, f.cancel, f.hit = 0, at, cancel, false
}

// fault counts a call and reports whether it must fail.
func (f *faultStore) fault() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls != f.at {
		return false
	}
	f.hit = true
	if f.cancel != nil {
		f.cancel()
		return false
	}
	return true
}

// faultAfter is fault for lost mode: whether the call, once made, must
// report a failure. In the other modes it is fault.
func (f *faultStore) faultAfter() (before, after bool) {
	hit := f.fault()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost {
		return false, hit
	}
	return hit, false
}

func (f *faultStore) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) (storage.Attrs, error) {
	before, after := f.faultAfter()
	if before {
		return storage.Attrs{}, errInjected
	}
	a, err := f.Bucket.Put(ctx, key, r, opts)
	if after && err == nil {
		return storage.Attrs{}, errInjected
	}
	return a, err
}

func (f *faultStore) Open(ctx context.Context, key string) (storage.Reader, error) {
	if f.fault() {
		return nil, errInjected
	}
	return f.Bucket.Open(ctx, key)
}

func (f *faultStore) Stat(ctx context.Context, key string) (storage.Attrs, error) {
	if f.fault() {
		return storage.Attrs{}, errInjected
	}
	return f.Bucket.Stat(ctx, key)
}

func (f *faultStore) Delete(ctx context.Context, key string) error {
	before, after := f.faultAfter()
	if before {
		return errInjected
	}
	err := f.Bucket.Delete(ctx, key)
	if after && err == nil {
		return errInjected
	}
	return err
}

func (f *faultStore) ListPage(ctx context.Context, prefix, token string, size int) (driver.ListPage, error) {
	if f.fault() {
		return driver.ListPage{}, errInjected
	}
	return f.Bucket.ListPage(ctx, prefix, token, size)
}

// TestBackendsFaults fails, cancels, or loses the response of each store
// call of a Set in turn, until a Set runs with no fault: after each, the
// user's photo is the previous one or, if the Set reported success, the new
// one, complete and served; a Sweep then leaves no blob that no record
// references.
func TestBackendsFaults(t *testing.T) {
	for _, be := range backends() {
		for _, mode := range []string{"fail", "cancel", "lost"} {
			t.Run(be.name+"/"+mode, func(t *testing.T) {
				st, _ := be.open(t)
				fs := &faultStore{Bucket: st, lost: mode == "lost"}
				m := newBackendManager(t, fs)
				observer := newBackendManager(t, st)
				ctx := context.Background()
				const user = "faulty"
				prev, err := m.Set(ctx, user, bytes.NewReader(testJPEG(t, 100)), nil)
				if err != nil {
					t.Fatal(err)
				}
				for n := 1; ; n++ {
					if n > 200 {
						t.Fatal("a Set makes more than 200 store calls")
					}
					sctx, cancel := context.WithCancel(ctx)
					if mode == "cancel" {
						fs.arm(n, cancel)
					} else {
						fs.arm(n, nil)
					}
					p, err := m.Set(sctx, user, bytes.NewReader(testJPEG(t, n)), nil)
					cancel()
					fs.mu.Lock()
					hit := fs.hit
					fs.mu.Unlock()
					fs.arm(0, nil)

					got, gerr := observer.Get(ctx, user)
					if gerr != nil {
						t.Fatalf("call %d: Get after the Set: %v", n, gerr)
					}
					switch {
					case err != nil:
						if !hit {
							t.Fatalf("call %d: Set failed without a fault: %v", n, err)
						}
						if mode != "cancel" && !errors.Is(err, errInjected) {
							t.Errorf("call %d: Set error %v does not wrap the fault", n, err)
						}
						if mode == "cancel" && !errors.Is(err, context.Canceled) {
							t.Errorf("call %d: Set error %v does not wrap context.Canceled", n, err)
						}
						if got.VersionID != prev.VersionID || got.Revision != prev.Revision {
							t.Fatalf("call %d: a failed Set changed the photo from %s (rev %d) to %s (rev %d)",
								n, prev.VersionID, prev.Revision, got.VersionID, got.Revision)
						}
					default:
						if got.VersionID != p.VersionID {
							t.Fatalf("call %d: Set succeeded with %s but Get says %s", n, p.VersionID, got.VersionID)
						}
						prev = p
					}
					checkServed(t, observer, got)
					if t.Failed() {
						return
					}
					if !hit {
						t.Logf("a Set made %d store calls; each failed in turn", n-1)
						break
					}
				}
				// Clean-up that the faults interrupted is Sweep's: with no
				// Set in progress, no grace period is needed.
				res, err := observer.Sweep(ctx, time.Nanosecond)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("Sweep removed %d blobs", res)
				checkNoGarbage(t, storage.NewBucket(st))
				got, err := observer.Get(ctx, user)
				if err != nil {
					t.Fatal(err)
				}
				checkServed(t, observer, got)
				if n := len(allKeys(t, storage.NewBucket(st), "users/")); n != 2+len(backendSizes) {
					t.Errorf("%d objects under users/, want the record, the original and %d renditions", n, len(backendSizes))
				}
			})
		}
	}
}

// TestBackendsUploads runs the resumable-upload tests on every backend:
// S3 has no append, so chunks are objects of their own there too.
func TestBackendsUploads(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			st, _ := be.open(t)
			testUploads(t, st)
		})
	}
}
