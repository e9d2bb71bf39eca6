package photo_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

// loseStore makes the next Put of a key ending in suffix happen, then
// report a failure: the response of a write that was applied got lost, as
// an S3 client sees after a timeout, or when the SDK retries a conditional
// write whose first attempt was applied (the retry reports a lost
// precondition).
type loseStore struct {
	driver.Bucket
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
	a, err := s.Bucket.Put(ctx, key, r, opts)
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
			st := &loseStore{Bucket: memstore.New()}
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
			if _, err := m.Sweep(ctx, time.Nanosecond); err != nil {
				t.Fatal(err)
			}
			checkNoGarbage(t, storage.NewBucket(st))
		})

		t.Run("upload/"+le.name, func(t *testing.T) {
			st := &loseStore{Bucket: memstore.New()}
			m := newBackendManager(t, st)
			u, err := m.CreateUpload(ctx, "u", "image/jpeg", int64(len(img)), &photo.UploadOptions{Name: "a.jpg", TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			half := int64(len(img) / 2)
			st.arm("/meta.json", le.err)
			_, err = m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: int64(len(img)), Size: half, Body: bytes.NewReader(img[:half])})
			t.Logf("append whose record was written: %v", err)
			// The client resumes from what the server says it holds.
			at, err := m.Upload(ctx, u.Key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: at.Received, Total: int64(len(img)), Size: int64(len(img)) - at.Received, Body: bytes.NewReader(img[at.Received:])}); err != nil {
				t.Fatalf("resuming at %d: %v", at.Received, err)
			}
			p, err := m.SetFromUpload(ctx, "u", u.Key, nil)
			if err != nil {
				t.Fatalf("SetFromUpload: %v", err)
			}
			checkServed(t, m, p)
		})

		t.Run("file/"+le.name, func(t *testing.T) {
			st := &loseStore{Bucket: memstore.New()}
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
				r, err := photo.OpenFileVersion(m, ctx, f.ID, v.Number)
				if err != nil {
					t.Errorf("version %d of %d: %v", v.Number, len(f.Versions), err)
					continue
				}
				r.Close()
			}
		})
	}
}
