package photo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

// loseStore makes the next Put of a key ending in suffix happen, then
// report a failure: the response of a write that was applied got lost, as
// an S3 client sees after a timeout, or when the SDK retries a conditional
// write whose first attempt was applied (the retry reports a lost
// precondition).
type loseStore struct {
	storage.Store
	mu     sync.Mutex
	suffix string
	err    error // what the lost Put reports
	hit    bool
}

func (s *loseStore) arm(suffix string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.suffix, s.err, s.hit = suffix, err, false
}

func (s *loseStore) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) (storage.Attrs, error) {
	a, err := s.Store.Put(ctx, key, r, opts)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.suffix != "" && strings.HasSuffix(key, s.suffix) {
		s.suffix = ""
		s.hit = true
		return storage.Attrs{}, s.err
	}
	return a, err
}

// TestLostResponses loses the response of each compare-and-swap write the
// library makes (a user's record, an upload's record, a file's record):
// whatever the call then reports, nothing that a record references may be
// removed, and the data stays usable.
func TestLostResponses(t *testing.T) {
	lostErrs := []struct {
		name string
		err  error
	}{
		{"timeout", context.DeadlineExceeded},
		{"retried precondition", storage.ErrPrecondition},
	}
	ctx := context.Background()
	img := testJPEG(t, 1)
	for _, le := range lostErrs {
		t.Run("set/"+le.name, func(t *testing.T) {
			st := &loseStore{Store: memstore.New()}
			m := newBackendManager(t, st)
			if _, err := m.Set(ctx, "u", bytes.NewReader(testJPEG(t, 0)), nil); err != nil {
				t.Fatal(err)
			}
			for _, rev := range []int64{0, 2} { // without and with IfRevision
				st.arm("/record.json", le.err)
				p, err := m.Set(ctx, "u", bytes.NewReader(testJPEG(t, int(rev)+5)), &photo.SetOptions{IfRevision: rev})
				if err != nil {
					t.Fatalf("IfRevision %d: Set whose record was written reports %v", rev, err)
				}
				got, err := m.Get(ctx, "u")
				if err != nil || got.VersionID != p.VersionID {
					t.Fatalf("IfRevision %d: Get = %v, %v; want version %s", rev, got, err, p.VersionID)
				}
				checkServed(t, m, got)
			}
			if _, err := m.Sweep(ctx, &photo.SweepOptions{GracePeriod: time.Nanosecond}); err != nil {
				t.Fatal(err)
			}
			checkNoGarbage(t, st)
		})

		t.Run("upload/"+le.name, func(t *testing.T) {
			st := &loseStore{Store: memstore.New()}
			m := newBackendManager(t, st)
			u, err := m.CreateUpload(ctx, "u", "a.jpg", "image/jpeg", int64(len(img)), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			half := int64(len(img) / 2)
			st.arm("/meta.json", le.err)
			_, err = m.AppendUpload(ctx, u.Key, 0, int64(len(img)), bytes.NewReader(img[:half]), half)
			t.Logf("append whose record was written: %v", err)
			// The client resumes from what the server says it holds.
			at, err := m.Upload(ctx, u.Key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.AppendUpload(ctx, u.Key, at.Received, int64(len(img)), bytes.NewReader(img[at.Received:]), int64(len(img))-at.Received); err != nil {
				t.Fatalf("resuming at %d: %v", at.Received, err)
			}
			p, err := m.SetFromUpload(ctx, "u", u.Key, nil)
			if err != nil {
				t.Fatalf("SetFromUpload: %v", err)
			}
			checkServed(t, m, p)
		})

		t.Run("file/"+le.name, func(t *testing.T) {
			st := &loseStore{Store: memstore.New()}
			m := newBackendManager(t, st)
			f, err := m.CreateFile(ctx, "u", "a.jpg", bytes.NewReader(img))
			if err != nil {
				t.Fatal(err)
			}
			st.arm("/meta.json", le.err)
			_, err = m.AddFileVersion(ctx, f.ID, bytes.NewReader(testJPEG(t, 2)))
			t.Logf("version whose record was written: %v", err)
			f, err = m.File(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range f.Versions {
				r, _, err := m.OpenFile(ctx, f.ID, v.Number)
				if err != nil {
					t.Errorf("version %d of %d: %v", v.Number, len(f.Versions), err)
					continue
				}
				r.Close()
			}
		})
	}
}

// TestFileLimits checks that a file's name and its number of versions are
// bounded: its record is read back with a size limit, and a record that
// grew past it would make the file, and Sweep, fail. The versions are
// bounded by Quotas.FileVersions, and never beyond MaxFileVersions.
func TestFileLimits(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, nil)
	img := testJPEG(t, 1)
	tests := []struct {
		name     string
		fileName string
		ok       bool
	}{
		{"plain", "me.jpg", true},
		{"unicode", "fötö 写真.jpg", true},
		{"empty", "", true},
		{"longest", strings.Repeat("a", photo.MaxFileNameLen), true},
		{"too long", strings.Repeat("a", photo.MaxFileNameLen+1), false},
		{"huge", strings.Repeat("a", 2<<20), false},
		{"control character", "a\x00b", false},
		{"bad UTF-8", "a\xffb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.CreateFile(ctx, "u", tt.fileName, bytes.NewReader(img))
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, photo.ErrInvalidInput)) {
				t.Fatalf("CreateFile(name of %d bytes) = %v, want ok %v or ErrInvalidInput", len(tt.fileName), err, tt.ok)
			}
		})
	}
	unlimited, _ := newManager(t, &photo.Options{Quotas: photo.Quotas{FileVersions: -1, FileBytes: -1}})
	for _, tc := range []struct {
		name string
		m    *photo.Manager
		max  int
	}{
		{"versions by default", m, photo.DefaultQuotaFileVersions},
		{"versions at most MaxFileVersions", unlimited, photo.MaxFileVersions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Quotas().FileVersions; got != tc.max {
				t.Fatalf("Quotas().FileVersions = %d, want %d", got, tc.max)
			}
			f, err := tc.m.CreateFile(ctx, "versions", "a", bytes.NewReader(img))
			if err != nil {
				t.Fatal(err)
			}
			for i := 2; i <= tc.max; i++ {
				if _, err := tc.m.AddFileVersion(ctx, f.ID, bytes.NewReader(img)); err != nil {
					t.Fatalf("version %d: %v", i, err)
				}
			}
			_, err = tc.m.AddFileVersion(ctx, f.ID, bytes.NewReader(img))
			var qe *photo.QuotaError
			if !errors.As(err, &qe) || !errors.Is(err, photo.ErrQuotaExceeded) || *qe != (photo.QuotaError{Quota: "file_versions", Limit: int64(tc.max)}) {
				t.Fatalf("version %d: %v, want a file_versions QuotaError", tc.max+1, err)
			}
			if f, err = tc.m.File(ctx, f.ID); err != nil || len(f.Versions) != tc.max {
				t.Fatalf("File after the limit: %v", err)
			}
			if _, err := tc.m.Sweep(ctx, nil); err != nil {
				t.Fatalf("Sweep: %v", err)
			}
		})
	}
}

// TestSweepSkipsUnreadableRecords checks that one record Sweep cannot read
// protects its own blobs but does not stop the sweep of everything else.
func TestSweepSkipsUnreadableRecords(t *testing.T) {
	ctx := context.Background()
	m, st := newManager(t, &photo.Options{Sizes: []int{32}})
	orphans := []string{
		"users/00000000000000000000000000000000/v/aaaaaaaaaaaaaaaa.aaaaaaaa/32.jpg", // no record
		"users/ffffffffffffffffffffffffffffffff/v/aaaaaaaaaaaaaaaa.aaaaaaaa/32.jpg", // no record
		"files/069zzzzzzzzzzzzzzz/aaaaaaaa",                                         // no record
	}
	protected := []string{
		"users/11111111111111111111111111111111/record.json",
		"users/11111111111111111111111111111111/v/aaaaaaaaaaaaaaaa.aaaaaaaa/32.jpg",
		"files/069000000000000000/meta.json",
		"files/069000000000000000/aaaaaaaa",
	}
	for _, k := range append(slices.Clone(orphans), protected...) {
		if _, err := st.Put(ctx, k, strings.NewReader("{not json"), nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := m.Sweep(ctx, &photo.SweepOptions{GracePeriod: time.Nanosecond})
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if res.Removed != len(orphans) {
		t.Errorf("Sweep removed %d objects, want %d", res.Removed, len(orphans))
	}
	left := append(allKeys(t, st, "files/"), allKeys(t, st, "users/")...)
	slices.Sort(left)
	want := slices.Sorted(slices.Values(protected))
	if !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
}

// hookStore runs hook once, before the first Put of a key ending in
// suffix.
type hookStore struct {
	storage.Store
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
	return s.Store.Put(ctx, key, r, opts)
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
			st := &hookStore{Store: memstore.New()}
			m, err := photo.New(st, &photo.Options{Sizes: []int{16, 32, 64}, OnDemandSizes: []int{48}})
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
			b, err := m.OpenRendition(ctx, "u", p.VersionID, 48)
			if err == nil {
				b.Close()
			}
			t.Logf("OpenRendition during the removal: %v", err)
			if _, err := m.Sweep(ctx, &photo.SweepOptions{GracePeriod: time.Nanosecond}); err != nil {
				t.Fatal(err)
			}
			checkNoGarbage(t, st)
		})
	}
}
