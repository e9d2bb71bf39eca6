package photo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

// quotaManagers returns two Managers over two handles on one fresh store
// of backend be (two processes sharing the store), with quotas q and the
// clock c.
func quotaManagers(t *testing.T, be backend, q photo.Quotas, c *uploadClock) (a, b *photo.Manager, st *storage.Bucket) {
	t.Helper()
	sa, sb := be.open(t)
	mk := func(d driver.Bucket) *photo.Manager {
		m, err := photo.New(storage.NewBucket(d), &photo.Options{
			Sizes: backendSizes, OnDemandSizes: []int{}, Quotas: q, Now: c.Now,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	return mk(sa), mk(sb), storage.NewBucket(sa)
}

// quotaUnits are the words with which a refusal's message names each
// quota.
var quotaUnits = map[string]string{
	"uploads":       "open uploads per user",
	"upload_bytes":  "bytes of open uploads per user",
	"files":         "files per user",
	"file_versions": "versions per file",
	"file_bytes":    "bytes of files per user",
}

// isQuotaError reports whether err is the refusal of quota at limit: an
// *Error with ErrQuotaExceeded whose message names both.
func isQuotaError(err error, quota string, limit int64) bool {
	var pe *photo.Error
	return errors.As(err, &pe) && pe.Code == photo.ErrQuotaExceeded &&
		pe.SafeMessage() == fmt.Sprintf("quota exceeded: at most %d %s", limit, quotaUnits[quota])
}

// wantQuotaError checks that err is the refusal of quota at limit.
func wantQuotaError(t *testing.T, err error, quota string, limit int64) {
	t.Helper()
	if !isQuotaError(err, quota, limit) {
		t.Fatalf("error %v, want the refusal of quota %s at %d", err, quota, limit)
	}
}

// TestQuotaUploads has one user create 200 resumable uploads of 20 MiB at
// once, through two Managers sharing the store, and checks that exactly
// as many are accepted as the quotas allow (never more than 50), that
// every refusal is a QuotaError, and that using, deleting or the expiry of
// an upload frees its share.
func TestQuotaUploads(t *testing.T) {
	const size = 20 << 20
	tests := []struct {
		name   string
		quotas photo.Quotas
		accept int    // how many of the 200 are accepted
		quota  string // the quota that refuses the others
		limit  int64
	}{
		{"defaults", photo.Quotas{}, 10, "uploads", 10},
		{"count", photo.Quotas{Uploads: 3}, 3, "uploads", 3},
		{"bytes", photo.Quotas{Uploads: 100, UploadBytes: 50 << 20}, 2, "upload_bytes", 50 << 20},
		{"bytes alone", photo.Quotas{Uploads: -1, UploadBytes: 100 << 20}, 5, "upload_bytes", 100 << 20},
		{"count alone", photo.Quotas{Uploads: 40, UploadBytes: -1}, 40, "uploads", 40},
		{"off", photo.Quotas{Uploads: -1, UploadBytes: -1}, 200, "", 0},
	}
	for _, be := range backends() {
		for _, tc := range tests {
			if be.name != "memstore" && tc.name != "defaults" {
				continue // the arithmetic is the same; the race is the store's
			}
			t.Run(be.name+"/"+tc.name, func(t *testing.T) {
				clock := &uploadClock{t: time.Now().UTC()}
				ma, mb, st := quotaManagers(t, be, tc.quotas, clock)
				ctx := context.Background()
				const user = "greedy"
				var (
					wg       sync.WaitGroup
					mu       sync.Mutex
					accepted []string
					next     atomic.Int32
				)
				for w := range 16 {
					m := ma
					if w%2 == 1 {
						m = mb
					}
					wg.Go(func() {
						for next.Add(1) <= 200 {
							u, err := m.CreateUpload(ctx, user, "image/png", size, &photo.UploadOptions{Name: "big.png", TTL: time.Hour})
							if err != nil {
								if !isQuotaError(err, tc.quota, tc.limit) {
									t.Errorf("CreateUpload: %v, want the refusal of quota %q at %d", err, tc.quota, tc.limit)
								}
								continue
							}
							mu.Lock()
							accepted = append(accepted, u.Key)
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				if len(accepted) != tc.accept || len(accepted) > 50 && tc.quota != "" {
					t.Fatalf("%d uploads accepted, want %d", len(accepted), tc.accept)
				}
				if tc.quota == "" {
					if keys := allKeys(t, st, "quotas/"); len(keys) != 0 {
						t.Errorf("quotas off, yet the store holds %q", keys)
					}
					return
				}
				// Another user is not affected.
				if u, err := mb.CreateUpload(ctx, "modest", "image/png", size, &photo.UploadOptions{Name: "a.png", TTL: time.Hour}); err != nil {
					t.Fatalf("another user's CreateUpload: %v", err)
				} else {
					mb.DeleteUpload(ctx, u.Key)
				}

				// Deleting one frees its share, on the other Manager too.
				if err := ma.DeleteUpload(ctx, accepted[0]); err != nil {
					t.Fatal(err)
				}
				u, err := mb.CreateUpload(ctx, user, "image/png", size, &photo.UploadOptions{Name: "again.png", TTL: time.Hour})
				if err != nil {
					t.Fatalf("CreateUpload after a delete: %v", err)
				}
				_, err = ma.CreateUpload(ctx, user, "image/png", size, &photo.UploadOptions{Name: "more.png", TTL: time.Hour})
				wantQuotaError(t, err, tc.quota, tc.limit)

				// Setting a photo from one frees its share.
				img := testJPEG(t, 7)
				if err := ma.DeleteUpload(ctx, u.Key); err != nil {
					t.Fatal(err)
				}
				small, err := ma.CreateUpload(ctx, user, "image/jpeg", int64(len(img)), &photo.UploadOptions{Name: "me.jpg", TTL: time.Hour})
				if err != nil {
					t.Fatalf("CreateUpload of a small one: %v", err)
				}
				if _, err := ma.AppendUpload(ctx, small.Key, photo.Chunk{Offset: 0, Size: int64(len(img)), Body: bytes.NewReader(img)}); err != nil {
					t.Fatal(err)
				}
				if _, err := ma.SetFromUpload(ctx, user, small.Key, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := mb.CreateUpload(ctx, user, "image/png", size, &photo.UploadOptions{Name: "after-set.png", TTL: time.Hour}); err != nil {
					t.Fatalf("CreateUpload after SetFromUpload: %v", err)
				}

				// Expiry frees them all, whether or not Sweep ran.
				clock.Advance(time.Hour)
				for i := range tc.accept {
					if _, err := ma.CreateUpload(ctx, user, "image/png", size, &photo.UploadOptions{Name: "later.png", TTL: time.Hour}); err != nil {
						t.Fatalf("CreateUpload %d after expiry: %v", i, err)
					}
				}
				_, err = mb.CreateUpload(ctx, user, "image/png", size, &photo.UploadOptions{Name: "more.png", TTL: time.Hour})
				wantQuotaError(t, err, tc.quota, tc.limit)
			})
		}
	}
}

// failStore fails the Puts of the keys fail matches, as a crash between
// two writes would leave them unwritten.
type failStore struct {
	driver.Bucket
	mu   sync.Mutex
	fail func(key string) bool
}

var errCrash = errors.New("injected crash")

func (s *failStore) set(fail func(string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

func (s *failStore) Put(ctx context.Context, key string, r io.Reader, o *storage.PutOptions) (storage.Attrs, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail != nil && fail(key) {
		return storage.Attrs{}, errCrash
	}
	return s.Bucket.Put(ctx, key, r, o)
}

// TestQuotaCrashLeavesNoLockOut plays the crashes that leave a quota
// index out of step with what it counts, and checks that the user is never
// locked out for longer than a minute: an entry whose object never came
// (a crash after the index write) or is gone (a crash before the index
// was updated) is dropped when a refusal checks it.
func TestQuotaCrashLeavesNoLockOut(t *testing.T) {
	img := testJPEG(t, 3)
	tests := []struct {
		name string
		// leave makes the user hold a full quota of entries whose objects
		// are missing, through m over fs.
		leave func(t *testing.T, m *photo.Manager, fs *failStore)
		// create is the create that must be refused, then accepted.
		create func(m *photo.Manager) error
	}{
		{
			"upload records never written",
			func(t *testing.T, m *photo.Manager, fs *failStore) {
				fs.set(func(k string) bool { return strings.HasPrefix(k, "uploads/") })
				for range 2 {
					if _, err := m.CreateUpload(context.Background(), "u", "image/png", 100, &photo.UploadOptions{Name: "a.png", TTL: time.Hour}); !errors.Is(err, errCrash) {
						t.Fatalf("CreateUpload: %v, want the crash", err)
					}
				}
			},
			func(m *photo.Manager) error {
				_, err := m.CreateUpload(context.Background(), "u", "image/png", 100, &photo.UploadOptions{Name: "a.png", TTL: time.Hour})
				return err
			},
		},
		{
			"uploads deleted, index not updated",
			func(t *testing.T, m *photo.Manager, fs *failStore) {
				for range 2 {
					u, err := m.CreateUpload(context.Background(), "u", "image/png", 100, &photo.UploadOptions{Name: "a.png", TTL: time.Hour})
					if err != nil {
						t.Fatal(err)
					}
					fs.set(func(k string) bool { return strings.HasPrefix(k, "quotas/") })
					if err := m.DeleteUpload(context.Background(), u.Key); err != nil {
						t.Fatal(err)
					}
					fs.set(nil)
				}
			},
			func(m *photo.Manager) error {
				_, err := m.CreateUpload(context.Background(), "u", "image/png", 100, &photo.UploadOptions{Name: "a.png", TTL: time.Hour})
				return err
			},
		},
		{
			"file records never written",
			func(t *testing.T, m *photo.Manager, fs *failStore) {
				fs.set(func(k string) bool { return strings.HasSuffix(k, "/meta.json") })
				for range 2 {
					if _, err := m.CreateFile(context.Background(), "u", "a.jpg", bytes.NewReader(img)); !errors.Is(err, errCrash) {
						t.Fatalf("CreateFile: %v, want the crash", err)
					}
				}
			},
			func(m *photo.Manager) error {
				_, err := m.CreateFile(context.Background(), "u", "a.jpg", bytes.NewReader(img))
				return err
			},
		},
		{
			"files deleted, index not updated",
			func(t *testing.T, m *photo.Manager, fs *failStore) {
				for range 2 {
					f, err := m.CreateFile(context.Background(), "u", "a.jpg", bytes.NewReader(img))
					if err != nil {
						t.Fatal(err)
					}
					fs.set(func(k string) bool { return strings.HasPrefix(k, "quotas/") })
					if err := m.DeleteFile(context.Background(), f.ID); err != nil {
						t.Fatal(err)
					}
					fs.set(nil)
				}
			},
			func(m *photo.Manager) error {
				_, err := m.CreateFile(context.Background(), "u", "a.jpg", bytes.NewReader(img))
				return err
			},
		},
	}
	for _, be := range backends() {
		for _, tc := range tests {
			t.Run(be.name+"/"+tc.name, func(t *testing.T) {
				st, _ := be.open(t)
				fs := &failStore{Bucket: st}
				clock := &uploadClock{t: time.Now().UTC()}
				m, err := photo.New(storage.NewBucket(fs), &photo.Options{
					Sizes: backendSizes, OnDemandSizes: []int{}, Now: clock.Now,
					Quotas: photo.Quotas{Uploads: 2, Files: 2}, Logger: slog.New(slog.DiscardHandler),
				})
				if err != nil {
					t.Fatal(err)
				}
				tc.leave(t, m, fs)
				fs.set(nil)
				// At once, the entries may stand for writes in progress.
				if err := tc.create(m); !errors.Is(err, photo.ErrQuotaExceeded) {
					t.Fatalf("create right after the crash: %v, want ErrQuotaExceeded", err)
				}
				clock.Advance(time.Minute)
				for i := range 2 {
					if err := tc.create(m); err != nil {
						t.Fatalf("create %d a minute after the crash: %v", i, err)
					}
				}
				if err := tc.create(m); !errors.Is(err, photo.ErrQuotaExceeded) {
					t.Fatalf("create beyond the quota: %v, want ErrQuotaExceeded", err)
				}
			})
		}
	}
}

// TestQuotaFiles checks the file quotas, on every backend: files per
// user, their bytes, DeleteFile and expiry freeing them, and that only
// images that Set would take are stored.
func TestQuotaFiles(t *testing.T) {
	img := testJPEG(t, 5)
	size := int64(len(img))
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			clock := &uploadClock{t: time.Now().UTC()}
			ma, mb, st := quotaManagers(t, be, photo.Quotas{Files: 3, FileBytes: 4 * size, FileTTL: 2 * time.Hour}, clock)
			ctx := context.Background()

			// Not images: refused as Set refuses them, nothing stored.
			for _, tc := range []struct {
				name string
				data []byte
				want error
			}{
				{"random bytes", bytes.Repeat([]byte{0x9b, 0x13, 0xe7, 0x42}, 4096), photo.CodeNotImage},
				{"HTML", []byte("<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"), photo.CodeNotImage},
				{"truncated JPEG", img[:len(img)/2], photo.CodeTruncated},
				{"empty", nil, photo.CodeNotImage},
			} {
				_, err := ma.CreateFile(ctx, "owner", tc.name, bytes.NewReader(tc.data))
				if !errors.Is(err, tc.want) {
					t.Errorf("CreateFile of %s: %v, want %v", tc.name, err, tc.want)
				}
			}
			if keys := append(allKeys(t, st, "files/"), allKeys(t, st, "quotas/")...); len(keys) != 0 {
				t.Fatalf("refused files left %q", keys)
			}

			// Files per user, then bytes.
			var files []*photo.File
			for i := range 3 {
				f, err := []*photo.Manager{ma, mb}[i%2].CreateFile(ctx, "owner", "a.jpg", bytes.NewReader(img))
				if err != nil {
					t.Fatalf("file %d: %v", i, err)
				}
				if want := clock.Now().Add(2 * time.Hour); !f.Expires.Equal(want) {
					t.Errorf("file expires %v, want %v", f.Expires, want)
				}
				files = append(files, f)
			}
			_, err := mb.CreateFile(ctx, "owner", "a.jpg", bytes.NewReader(img))
			wantQuotaError(t, err, "files", 3)
			if _, err := ma.AddFileVersion(ctx, files[0].ID, bytes.NewReader(img)); err != nil {
				t.Fatalf("AddFileVersion within the bytes: %v", err)
			}
			_, err = mb.AddFileVersion(ctx, files[1].ID, bytes.NewReader(img))
			wantQuotaError(t, err, "file_bytes", 4*size)
			if _, err := ma.AddFileVersion(ctx, files[1].ID, strings.NewReader("<html></html>")); !errors.Is(err, photo.CodeNotImage) {
				t.Errorf("AddFileVersion of HTML: %v, want CodeNotImage", err)
			}

			// A photo set from a file outlives the file.
			p, err := ma.SetFromFile(ctx, "owner", files[0].ID, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := mb.DeleteFile(ctx, files[0].ID); err != nil {
				t.Fatalf("DeleteFile: %v", err)
			}
			if err := ma.DeleteFile(ctx, files[0].ID); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("second DeleteFile: %v, want ErrNotFound", err)
			}
			if _, err := ma.File(ctx, files[0].ID); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("File after DeleteFile: %v, want ErrNotFound", err)
			}
			for _, k := range allKeys(t, st, "files/") {
				if strings.HasPrefix(k, "files/"+files[0].ID+"/") {
					t.Errorf("DeleteFile left %s", k)
				}
			}
			got, err := mb.Get(ctx, "owner")
			if err != nil || got.VersionID != p.VersionID {
				t.Fatalf("Get after DeleteFile = %v, %v; want version %s", got, err, p.VersionID)
			}
			checkServed(t, mb, got)

			// The delete freed a file and its two versions' bytes.
			f, err := mb.CreateFile(ctx, "owner", "b.jpg", bytes.NewReader(img))
			if err != nil {
				t.Fatalf("CreateFile after DeleteFile: %v", err)
			}
			if _, err := ma.AddFileVersion(ctx, files[1].ID, bytes.NewReader(img)); err != nil {
				t.Fatalf("AddFileVersion after DeleteFile: %v", err)
			}
			_, err = ma.CreateFile(ctx, "owner", "c.jpg", bytes.NewReader(img))
			wantQuotaError(t, err, "files", 3)

			// Expiry: FileTTL after the latest version; a new version
			// renews it.
			clock.Advance(time.Hour)
			if _, err := ma.AddFileVersion(ctx, files[2].ID, bytes.NewReader(testJPEG(t, 6))); err == nil {
				t.Fatal("AddFileVersion beyond the bytes accepted")
			}
			if err := ma.DeleteFile(ctx, f.ID); err != nil {
				t.Fatal(err)
			}
			renewed, err := ma.AddFileVersion(ctx, files[2].ID, bytes.NewReader(img))
			if err != nil {
				t.Fatalf("AddFileVersion: %v", err)
			}
			clock.Advance(time.Hour)
			if _, err := mb.File(ctx, files[1].ID); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("File of an expired file: %v, want ErrNotFound", err)
			}
			if _, err := mb.SetFromFile(ctx, "owner", files[1].ID, 0, nil); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("SetFromFile of an expired file: %v, want ErrNotFound", err)
			}
			if got, err := mb.File(ctx, renewed.ID); err != nil || len(got.Versions) != 2 {
				t.Fatalf("File of a renewed file: %v, %v", got, err)
			}
			n, err := mb.Sweep(ctx, 0)
			if err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want 1 file removed", n, err)
			}
			for _, k := range allKeys(t, st, "files/") {
				if !strings.HasPrefix(k, "files/"+renewed.ID+"/") {
					t.Errorf("Sweep left %s", k)
				}
			}
			// The expired file's share is free again.
			for i := range 2 {
				if _, err := ma.CreateFile(ctx, "owner", "d.jpg", bytes.NewReader(img)); err != nil {
					t.Fatalf("CreateFile %d after expiry: %v", i, err)
				}
			}
			clock.Advance(2 * time.Hour)
			if n, err := ma.Sweep(ctx, 0); err != nil || n != 3 {
				t.Fatalf("Sweep = %d, %v; want 3 files removed", n, err)
			}
			if keys := allKeys(t, st, "files/"); len(keys) != 0 {
				t.Errorf("expired files left %q", keys)
			}
			got, err = ma.Get(ctx, "owner")
			if err != nil || got.VersionID != p.VersionID {
				t.Fatalf("Get after the files expired = %v, %v", got, err)
			}
			checkServed(t, ma, got)
		})
	}
}

// TestQuotaDefaults checks the documented defaults and that negative
// fields turn quotas off.
func TestQuotaDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   photo.Quotas
		want photo.Quotas
	}{
		{"zero", photo.Quotas{}, photo.Quotas{Uploads: 10, UploadBytes: 200 << 20, Files: 20, FileVersions: 10, FileBytes: 200 << 20, FileTTL: 24 * time.Hour}},
		{"set", photo.Quotas{Uploads: 1, UploadBytes: 2, Files: 3, FileVersions: 4, FileBytes: 5, FileTTL: time.Minute},
			photo.Quotas{Uploads: 1, UploadBytes: 2, Files: 3, FileVersions: 4, FileBytes: 5, FileTTL: time.Minute}},
		{"off", photo.Quotas{Uploads: -1, UploadBytes: -1, Files: -1, FileVersions: -1, FileBytes: -1, FileTTL: -1},
			photo.Quotas{Uploads: -1, UploadBytes: -1, Files: -1, FileVersions: 250, FileBytes: -1, FileTTL: -1}},
		{"versions beyond the bound", photo.Quotas{FileVersions: 1000},
			photo.Quotas{Uploads: 10, UploadBytes: 200 << 20, Files: 20, FileVersions: 250, FileBytes: 200 << 20, FileTTL: 24 * time.Hour}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newManager(t, &photo.Options{Quotas: tc.in})
			if got := m.Options().Quotas; got != tc.want {
				t.Errorf("Quotas() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// openCounter counts the Opens of keys under a prefix.
type openCounter struct {
	driver.Bucket
	prefix string
	n      atomic.Int64
}

func (s *openCounter) Open(ctx context.Context, key string) (storage.Reader, error) {
	if strings.HasPrefix(key, s.prefix) {
		s.n.Add(1)
	}
	return s.Bucket.Open(ctx, key)
}

// TestQuotaChecksAreBounded checks that a user who keeps creating at a
// full quota makes the Manager read each upload's record at most once a
// minute, not once per refusal.
func TestQuotaChecksAreBounded(t *testing.T) {
	oc := &openCounter{Bucket: memstore.New(), prefix: "uploads/"}
	clock := &uploadClock{t: time.Now().UTC()}
	m, err := photo.New(storage.NewBucket(oc), &photo.Options{Now: clock.Now, Quotas: photo.Quotas{Uploads: 4}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	create := func() error {
		_, err := m.CreateUpload(ctx, "u", "image/png", 100, &photo.UploadOptions{Name: "a.png", TTL: time.Hour})
		return err
	}
	for range 4 {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		advance time.Duration
		reads   int64 // upload records read by 20 refusals
	}{
		{0, 0},                // young entries are not checked
		{time.Minute, 4},      // settled entries are checked once
		{30 * time.Second, 0}, // and not again within the minute
		{30 * time.Second, 4},
	} {
		clock.Advance(step.advance)
		oc.n.Store(0)
		for range 20 {
			if err := create(); !errors.Is(err, photo.ErrQuotaExceeded) {
				t.Fatalf("create at a full quota: %v", err)
			}
		}
		if got := oc.n.Load(); got != step.reads {
			t.Errorf("after %v more: 20 refusals read %d upload records, want %d", step.advance, got, step.reads)
		}
	}
}

// TestFileUsedIsKept checks that a file a photo was set from stops
// expiring, a new version included, and still counts against the quota
// until it is deleted.
func TestFileUsedIsKept(t *testing.T) {
	img := testJPEG(t, 8)
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			clock := &uploadClock{t: time.Now().UTC()}
			ma, mb, _ := quotaManagers(t, be, photo.Quotas{Files: 2, FileTTL: time.Hour}, clock)
			ctx := context.Background()
			create := func(m *photo.Manager) (*photo.File, error) {
				return m.CreateFile(ctx, "owner", "a.jpg", bytes.NewReader(img))
			}
			used, err := create(ma)
			if err != nil {
				t.Fatal(err)
			}
			unused, err := create(mb)
			if err != nil {
				t.Fatal(err)
			}
			if f, err := ma.File(ctx, used.ID); err != nil || f.Expires.IsZero() {
				t.Fatalf("a new file: %+v, %v; want unused with an expiry", f, err)
			}
			// An admin may set another user's photo from the file: the
			// owner's file is used all the same.
			if _, err := mb.SetFromFile(ctx, "someone-else", used.ID, 0, nil); err != nil {
				t.Fatal(err)
			}
			if f, err := ma.File(ctx, used.ID); err != nil || !f.Expires.IsZero() {
				t.Fatalf("a used file: %+v, %v; want used without an expiry", f, err)
			}

			clock.Advance(2 * time.Hour)
			if n, err := mb.Sweep(ctx, 0); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want the unused file removed", n, err)
			}
			if _, err := ma.File(ctx, unused.ID); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("the unused file after its expiry: %v, want ErrNotFound", err)
			}
			if _, err := ma.File(ctx, used.ID); err != nil {
				t.Fatalf("the used file after the expiry pass: %v", err)
			}
			// The used file still counts.
			fresh, err := create(ma)
			if err != nil {
				t.Fatal(err)
			}
			_, err = create(mb)
			wantQuotaError(t, err, "files", 2)
			// A new version does not make it expire again.
			if f, err := mb.AddFileVersion(ctx, used.ID, bytes.NewReader(testJPEG(t, 9))); err != nil || !f.Expires.IsZero() {
				t.Fatalf("a new version of a used file: %+v, %v; want it used without an expiry", f, err)
			}
			clock.Advance(2 * time.Hour)
			if n, err := ma.Sweep(ctx, 0); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want only %s removed", n, err, fresh.ID)
			}
			if f, err := ma.File(ctx, used.ID); err != nil || len(f.Versions) != 2 {
				t.Fatalf("the used file: %+v, %v", f, err)
			}
			// Deleting it frees its share.
			if err := mb.DeleteFile(ctx, used.ID); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := create(ma); err != nil {
					t.Fatalf("create after the delete: %v", err)
				}
			}
		})
	}
}
