package photo_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/memstore"
)

// hookStores are the stores the hook tests run on.
func hookStores() []struct {
	name string
	open func(t *testing.T) *storage.Bucket
} {
	return []struct {
		name string
		open func(t *testing.T) *storage.Bucket
	}{
		{"memstore", func(*testing.T) *storage.Bucket { return storage.NewBucket(memstore.New()) }},
		{"aferostore", func(t *testing.T) *storage.Bucket {
			st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()), &aferostore.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			return storage.NewBucket(st)
		}},
	}
}

// grid samples img at n by n points spread over it, as grey levels.
func grid(img image.Image, n int) []int {
	b := img.Bounds()
	out := make([]int, 0, n*n)
	for j := range n {
		for i := range n {
			x := b.Min.X + (2*i+1)*b.Dx()/(2*n)
			y := b.Min.Y + (2*j+1)*b.Dy()/(2*n)
			r, g, bl, _ := img.At(x, y).RGBA()
			out = append(out, int((r+g+bl)/3>>8))
		}
	}
	return out
}

// TestBeforeCommitSeesUprightImage: the hook sees a phone photo stored
// sideways (EXIF orientation 6) upright, as the same photo stored upright
// (orientation 1) looks, and a PNG whole.
func TestBeforeCommitSeesUprightImage(t *testing.T) {
	dir := filepath.Join(photo.TestdataDir(t), "exif-orientation-examples")
	type seen struct {
		bounds image.Rectangle
		grid   []int
	}
	var got []seen
	m, _ := newManager(t, &photo.Options{Sizes: []int{64}, BeforeCommit: func(_ context.Context, _ string, img image.Image) error {
		got = append(got, seen{img.Bounds(), grid(img, 12)})
		return nil
	}})
	for _, name := range []string{"Landscape_1.jpg", "Landscape_6.jpg"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Set(context.Background(), "u-"+name, bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Width != 1800 || p.Height != 1200 {
			t.Fatalf("%s: photo is %dx%d, want 1800x1200", name, p.Width, p.Height)
		}
	}
	if len(got) != 2 {
		t.Fatalf("the hook ran %d times, want 2", len(got))
	}
	for i, s := range got {
		if b := s.bounds; b.Dx()*2 != b.Dy()*3 || b.Dx() < b.Dy() {
			t.Errorf("image %d: the hook saw %v, want the 3:2 landscape upright", i, b)
		}
	}
	if got[0].bounds != got[1].bounds {
		t.Errorf("bounds differ: %v and %v", got[0].bounds, got[1].bounds)
	}
	var diff int
	for i := range got[0].grid {
		diff += abs(got[0].grid[i] - got[1].grid[i])
	}
	if mean := diff / len(got[0].grid); mean > 12 {
		t.Errorf("the orientation-6 image differs from the upright one by %d grey levels on average", mean)
	}

	// An AVIF turned by its HEIF irot transform: coded 1024x722.
	got = nil
	avif, err := os.ReadFile(filepath.Join(photo.TestdataDir(t), "avif-sample-images", "kimono.rotate90.avif"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set(context.Background(), "avif", bytes.NewReader(avif), nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].bounds != image.Rect(0, 0, 722, 1024) {
		t.Fatalf("the hook saw %v, want one 722x1024 image", got)
	}

	// A PNG, which the renderer would otherwise read row by row.
	got = nil
	if _, err := m.Set(context.Background(), "png", bytes.NewReader(encodePNG(t, quadrants(60, 40))), nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].bounds != image.Rect(0, 0, 60, 40) {
		t.Fatalf("the hook saw %v, want one 60x40 image", got)
	}
}

// objects lists every key of the bucket.
func objects(t *testing.T, b *storage.Bucket) []string {
	t.Helper()
	var keys []string
	for a, err := range b.List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	return keys
}

// TestBeforeCommitRefusal: a refusing hook leaves the previous photo and
// stores nothing, through every Set path, and its error becomes the
// documented answer.
func TestBeforeCommitRefusal(t *testing.T) {
	own := errors.New("the moderation service said no")
	cases := []struct {
		name  string
		hook  func(context.Context) error
		check func(t *testing.T, err error)
	}{
		{"own *Error", func(context.Context) error {
			return &photo.Error{Code: photo.ErrInvalidInput, Message: "faces only, please", Err: own}
		}, func(t *testing.T, err error) {
			var pe *photo.Error
			if !errors.As(err, &pe) || pe.Code != photo.CodeRefused || pe.SafeMessage() != "faces only, please" || !errors.Is(err, own) {
				t.Errorf("got %#v", err)
			}
		}},
		{"plain error", func(context.Context) error { return own }, func(t *testing.T, err error) {
			var pe *photo.Error
			if !errors.As(err, &pe) || pe.Code != photo.CodeRefused || pe.SafeMessage() != "the image was refused" ||
				!errors.Is(err, own) || !errors.Is(err, photo.ErrInvalidInput) {
				t.Errorf("got %#v", err)
			}
		}},
		{"busy", func(context.Context) error { return &photo.Error{Code: photo.ErrBusy} }, func(t *testing.T, err error) {
			if photo.CodeOf(err) != photo.ErrBusy {
				t.Errorf("got %v, want ErrBusy passed on", err)
			}
		}},
		{"panic", func(context.Context) error { panic("hook bug") }, func(t *testing.T, err error) {
			if err == nil || photo.CodeOf(err) != "" || !strings.Contains(err.Error(), "hook bug") {
				t.Errorf("got %v, want a failure of the service", err)
			}
		}},
	}
	paths := []struct {
		name string
		set  func(ctx context.Context, m *photo.Manager, user string, data []byte) (*photo.Photo, error)
	}{
		{"Set", func(ctx context.Context, m *photo.Manager, user string, data []byte) (*photo.Photo, error) {
			return m.Set(ctx, user, bytes.NewReader(data), nil)
		}},
		{"SetFromFile", func(ctx context.Context, m *photo.Manager, user string, data []byte) (*photo.Photo, error) {
			f, err := m.CreateFile(ctx, user, "a.jpg", bytes.NewReader(data))
			if err != nil {
				return nil, err
			}
			return m.SetFromFile(ctx, user, f.ID, 0, nil)
		}},
		{"SetFromUpload", func(ctx context.Context, m *photo.Manager, user string, data []byte) (*photo.Photo, error) {
			u, err := m.CreateUpload(ctx, user, "image/jpeg", int64(len(data)), nil)
			if err != nil {
				return nil, err
			}
			if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Size: int64(len(data)), Body: bytes.NewReader(data)}); err != nil {
				return nil, err
			}
			return m.SetFromUpload(ctx, user, u.Key, nil)
		}},
		{"Import.Finish", func(ctx context.Context, m *photo.Manager, user string, data []byte) (*photo.Photo, error) {
			im, err := m.StartImport(ctx, user, "https://example.com/a.jpg")
			if err != nil {
				return nil, err
			}
			return im.Finish(ctx, bytes.NewReader(data), nil)
		}},
	}
	first := encodeJPEG(t, quadrants(40, 30))
	second := encodeJPEG(t, quadrants(30, 40))
	for _, st := range hookStores() {
		for _, c := range cases {
			for _, p := range paths {
				t.Run(st.name+"/"+c.name+"/"+p.name, func(t *testing.T) {
					ctx := context.Background()
					var refuse bool
					var calls int
					b := st.open(t)
					m, err := photo.New(b, &photo.Options{Sizes: []int{32}, Logger: discardLogger(),
						BeforeCommit: func(ctx context.Context, _ string, _ image.Image) error {
							calls++
							if refuse {
								return c.hook(ctx)
							}
							return nil
						}})
					if err != nil {
						t.Fatal(err)
					}
					before, err := m.Set(ctx, "bob", bytes.NewReader(first), nil)
					if err != nil {
						t.Fatal(err)
					}
					refuse = true
					blobs := func() string {
						var v []string
						for _, k := range objects(t, b) {
							if strings.Contains(k, "/v/") {
								v = append(v, k)
							}
						}
						return strings.Join(v, ",")
					}
					keys := blobs()
					_, err = p.set(ctx, m, "bob", second)
					if calls != 2 {
						t.Fatalf("the hook ran %d times, want 2", calls)
					}
					c.check(t, err)
					if after := blobs(); after != keys {
						t.Errorf("photo blobs changed:\n before %v\n after  %v", keys, after)
					}
					now, err := m.Get(ctx, "bob")
					if err != nil {
						t.Fatal(err)
					}
					if now.VersionID != before.VersionID {
						t.Errorf("the photo is %s, want the previous %s", now.VersionID, before.VersionID)
					}
				})
			}
		}
	}
}

// TestBeforeCommitContext: a hook that fails because the caller's context
// ended is the context's error, not a refusal.
func TestBeforeCommitContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	m, _ := newManager(t, &photo.Options{Sizes: []int{32}, BeforeCommit: func(ctx context.Context, _ string, _ image.Image) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}})
	_, err := m.Set(ctx, "bob", bytes.NewReader(encodeJPEG(t, quadrants(40, 30))), nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, photo.ErrInvalidInput) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestOnChangeEvents: set, delete and set again of two users arrive in
// order with their fields.
func TestOnChangeEvents(t *testing.T) {
	for _, st := range hookStores() {
		t.Run(st.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []photo.Event
			clock := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
			m, err := photo.New(st.open(t), &photo.Options{Sizes: []int{32}, Now: func() time.Time { return clock },
				OnChange: func(_ context.Context, e photo.Event) error {
					mu.Lock()
					got = append(got, e)
					mu.Unlock()
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a, err := m.Set(ctx, "ann", bytes.NewReader(encodeJPEG(t, quadrants(40, 30))), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.Set(ctx, "ben", bytes.NewReader(encodeJPEG(t, quadrants(30, 40))), nil)
			if err != nil {
				t.Fatal(err)
			}
			// The same bytes again commit nothing: no event.
			if _, err := m.Set(ctx, "ann", bytes.NewReader(encodeJPEG(t, quadrants(40, 30))), nil); err != nil {
				t.Fatal(err)
			}
			if err := m.Delete(ctx, "ann", nil); err != nil {
				t.Fatal(err)
			}
			a2, err := m.Set(ctx, "ann", bytes.NewReader(encodeJPEG(t, quadrants(50, 30))), nil)
			if err != nil {
				t.Fatal(err)
			}
			photo.WaitEvents(m)
			type short struct {
				Kind, User, Version string
				Rev                 int64
				HasPhoto            bool
			}
			want := []short{
				{"set", "ann", a.VersionID, 1, true},
				{"set", "ben", b.VersionID, 1, true},
				{"delete", "ann", a.VersionID, 2, false},
				{"set", "ann", a2.VersionID, 3, true},
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != len(want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
			}
			for i, e := range got {
				s := short{e.Kind, e.UserID, e.VersionID, e.Revision, e.Photo != nil}
				if s != want[i] {
					t.Errorf("event %d: %+v, want %+v", i, s, want[i])
				}
				if !e.Time.Equal(clock) || e.Dropped != 0 || e.ID == "" {
					t.Errorf("event %d: time %v dropped %d id %q", i, e.Time, e.Dropped, e.ID)
				}
				if i > 0 && e.ID == got[i-1].ID {
					t.Errorf("events %d and %d share the ID %s", i-1, i, e.ID)
				}
				if e.Photo != nil && (e.Photo.VersionID != e.VersionID || e.Photo.Revision != e.Revision) {
					t.Errorf("event %d: photo %s rev %d", i, e.Photo.VersionID, e.Photo.Revision)
				}
			}
		})
	}
}

// TestOnChangeNeverBlocks: a callback that does not return delays no
// Set; a full queue leaves events in the record for Sweep, which
// delivers them once they are old enough; a panic in the callback stops
// nothing and the event is retried.
func TestOnChangeNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	delivered := make(chan photo.Event, 16)
	first := true
	var mu sync.Mutex
	clock := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	b := photo.NewTestBucket(t)
	m, err := photo.New(b, &photo.Options{Sizes: []int{32}, EventQueue: 2, Logger: discardLogger(), Now: now,
		OnChange: func(_ context.Context, e photo.Event) error {
			delivered <- e
			if first {
				first = false
				<-release
				panic("callback bug")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	photo.SetEventBackoff(m, time.Millisecond)
	ctx := context.Background()
	done := make(chan error)
	go func() {
		for i := range 5 {
			if _, err := m.Set(ctx, "ann", bytes.NewReader(encodeJPEG(t, quadrants(40+i, 30))), nil); err != nil {
				done <- err
				return
			}
			if i == 0 {
				<-delivered // the first event is being delivered: the queue is empty
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the Sets waited for OnChange")
	}
	close(release)
	photo.WaitEvents(m)
	revisions := func() []int64 {
		var revs []int64
		for {
			select {
			case e := <-delivered:
				if e.Dropped != 0 {
					t.Errorf("revision %d: dropped %d", e.Revision, e.Dropped)
				}
				revs = append(revs, e.Revision)
			default:
				return revs
			}
		}
	}
	// Revision 1 panicked and was retried after 2 and 3; 4 and 5 found
	// the queue full and wait in the record.
	if got, want := revisions(), []int64{2, 3, 1}; !slices.Equal(got, want) {
		t.Fatalf("delivered revisions %v, want %v", got, want)
	}
	if got := photo.OutboxRevisions(t, b, "ann"); !slices.Equal(got, []int64{4, 5}) {
		t.Fatalf("the record holds events %v, want [4 5]", got)
	}
	// Too young for Sweep.
	if _, err := m.Sweep(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := revisions(); len(got) != 0 {
		t.Fatalf("Sweep delivered %v before RedeliverAfter", got)
	}
	mu.Lock()
	clock = clock.Add(time.Minute + time.Second)
	mu.Unlock()
	if _, err := m.Sweep(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := revisions(), []int64{4, 5}; !slices.Equal(got, want) {
		t.Fatalf("Sweep delivered %v, want %v", got, want)
	}
	if got := photo.OutboxRevisions(t, b, "ann"); len(got) != 0 {
		t.Fatalf("the record still holds events %v", got)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestBeforeCommitFreesTheCPU: a hook that waits (on a moderation
// service, say) gives its CPU token back, so another Set renders
// meanwhile even when there is a single token.
func TestBeforeCommitFreesTheCPU(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the Manager takes one CPU token per core
	waiting := make(chan struct{})
	release := make(chan struct{})
	m, _ := newManager(t, &photo.Options{Sizes: []int{32}, MaxConcurrent: 2,
		BeforeCommit: func(_ context.Context, user string, _ image.Image) error {
			if user == "slow" {
				close(waiting)
				<-release
			}
			return nil
		}})
	ctx := context.Background()
	slow := make(chan error, 1)
	go func() {
		_, err := m.Set(ctx, "slow", bytes.NewReader(encodeJPEG(t, quadrants(40, 30))), nil)
		slow <- err
	}()
	<-waiting
	fast := make(chan error, 1)
	go func() {
		_, err := m.Set(ctx, "fast", bytes.NewReader(encodeJPEG(t, quadrants(30, 40))), nil)
		fast <- err
	}()
	select {
	case err := <-fast:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a Set waited for another Set's hook")
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}
