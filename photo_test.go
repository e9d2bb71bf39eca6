package photo_test

import (
	"bytes"
	"context"
	"errors"

	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

// quadrants makes a w by h image whose four quadrants are red, green, blue
// and yellow (clockwise from top left), so that crops and fits can be
// checked by colour.
func quadrants(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var c color.NRGBA
			switch {
			case x < w/2 && y < h/2:
				c = color.NRGBA{220, 20, 20, 255}
			case y < h/2:
				c = color.NRGBA{20, 200, 20, 255}
			case x >= w/2:
				c = color.NRGBA{20, 20, 220, 255}
			default:
				c = color.NRGBA{230, 230, 20, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newManager(t testing.TB, opts *photo.Options) (*photo.Manager, *memstore.Store) {
	t.Helper()
	st := memstore.New()
	m, err := photo.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

// decodeRendition opens and decodes one rendition.
func decodeRendition(t testing.TB, m *photo.Manager, p *photo.Photo, size int) image.Image {
	t.Helper()
	b, err := m.OpenRendition(context.Background(), p.UserID, p.VersionID, size)
	if err != nil {
		t.Fatalf("open size %d: %v", size, err)
	}
	defer b.Close()
	img, _, err := image.Decode(b)
	if err != nil {
		t.Fatalf("decode size %d: %v", size, err)
	}
	return img
}

func near(a, b color.Color, tol int) bool {
	r1, g1, b1, _ := a.RGBA()
	r2, g2, b2, _ := b.RGBA()
	d := func(x, y uint32) bool { return abs(int(x>>8)-int(y>>8)) <= tol }
	return d(r1, r2) && d(g1, g2) && d(b1, b2)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestSetGetRoundTrip(t *testing.T) {
	is := is.New(t)
	m, _ := newManager(t, nil)
	ctx := context.Background()
	data := encodeJPEG(t, quadrants(600, 400))

	p, err := m.Set(ctx, "alice", bytes.NewReader(data), nil)
	is.NoErr(err)
	is.Equal(p.Status, photo.StatusReady)
	is.Equal(p.SourceType, "image/jpeg")
	is.Equal(p.Width, 600)
	is.Equal(p.Height, 400)
	is.Equal(p.Bytes, int64(len(data)))
	is.Equal(p.Revision, int64(1))
	is.Equal(len(p.VersionID), 16)
	is.Equal(p.Fit, photo.Letterbox)
	is.True(p.Crop == nil)
	is.Equal(p.Original.Width, 600)
	is.Equal(p.Original.Height, 400)

	var sizes []int
	for _, r := range p.Renditions {
		sizes = append(sizes, r.Size)
		want := min(r.Size, 600) // a letterboxed square is 600 a side
		is.Equal(r.Width, want)
		is.Equal(r.Height, want)
		is.Equal(r.ContentType, "image/jpeg")
		img := decodeRendition(t, m, p, r.Size)
		is.Equal(img.Bounds().Dx(), r.Width)
	}
	is.Equal(sizes, photo.DefaultSizes())

	got, err := m.Get(ctx, "alice")
	is.NoErr(err)
	is.Equal(got.VersionID, p.VersionID)
	is.Equal(got.Renditions, p.Renditions)

	_, err = m.Get(ctx, "bob")
	is.True(errors.Is(err, photo.ErrNotFound))
}

func TestVersionIDs(t *testing.T) {
	ctx := context.Background()
	a := encodeJPEG(t, quadrants(300, 300))
	b := encodeJPEG(t, quadrants(300, 200))
	crop := &photo.Crop{X: 10, Y: 10, Size: 100}
	tests := []struct {
		name       string
		first      []byte
		firstOpts  *photo.SetOptions
		second     []byte
		secondOpts *photo.SetOptions
		same       bool
	}{
		{"same bytes", a, nil, a, nil, true},
		{"same bytes and crop", a, &photo.SetOptions{Crop: crop}, a, &photo.SetOptions{Crop: &photo.Crop{X: 10, Y: 10, Size: 100}}, true},
		{"other bytes", a, nil, b, nil, false},
		{"crop added", a, nil, a, &photo.SetOptions{Crop: crop}, false},
		{"crop moved", a, &photo.SetOptions{Crop: crop}, a, &photo.SetOptions{Crop: &photo.Crop{X: 11, Y: 10, Size: 100}}, false},
		{"fit changed", b, nil, b, &photo.SetOptions{Fit: photo.Cover, FitSet: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			m, st := newManager(t, nil)
			p1, err := m.Set(ctx, "u", bytes.NewReader(tt.first), tt.firstOpts)
			is.NoErr(err)
			before := allKeys(t, st, "users/")
			p2, err := m.Set(ctx, "u", bytes.NewReader(tt.second), tt.secondOpts)
			is.NoErr(err)
			is.Equal(p1.VersionID == p2.VersionID, tt.same)
			if tt.same {
				// Idempotent: nothing was written, the revision stays.
				is.Equal(p2.Revision, p1.Revision)
				is.Equal(allKeys(t, st, "users/"), before)
			} else {
				is.Equal(p2.Revision, p1.Revision+1)
			}
		})
	}
}

func TestRevisionConflicts(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	m, _ := newManager(t, nil)
	p1, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(64, 64))), nil)
	is.NoErr(err)
	p2, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(80, 64))), &photo.SetOptions{IfRevision: p1.Revision})
	is.NoErr(err)
	is.Equal(p2.Revision, p1.Revision+1)

	_, err = m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(96, 64))), &photo.SetOptions{IfRevision: p1.Revision})
	is.True(errors.Is(err, photo.ErrConflict))
	err = m.Delete(ctx, "u", &photo.DeleteOptions{IfRevision: p1.Revision})
	is.True(errors.Is(err, photo.ErrConflict))

	got, err := m.Get(ctx, "u")
	is.NoErr(err)
	is.Equal(got.VersionID, p2.VersionID) // the losers changed nothing

	is.NoErr(m.Delete(ctx, "u", &photo.DeleteOptions{IfRevision: p2.Revision}))
	_, err = m.Get(ctx, "u")
	is.True(errors.Is(err, photo.ErrNotFound))
	is.True(errors.Is(m.Delete(ctx, "u", nil), photo.ErrNotFound))
}

func TestDeleteRemovesBlobs(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	m, st := newManager(t, nil)
	p, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(64, 64))), nil)
	is.NoErr(err)
	b, err := m.OpenRendition(ctx, "u", p.VersionID, 100) // an on-demand size
	is.NoErr(err)
	b.Close()
	is.NoErr(m.Delete(ctx, "u", nil))
	for _, k := range allKeys(t, st, "users/") {
		is.True(strings.HasSuffix(k, "/record.json")) // only the tombstone is left
	}
	_, err = m.OpenRendition(ctx, "u", p.VersionID, 64)
	is.True(errors.Is(err, photo.ErrNotFound))
}

func TestConcurrentSets(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	m, st := newManager(t, &photo.Options{Sizes: []int{32, 64}})
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		data := encodeJPEG(t, quadrants(64+i, 64))
		wg.Go(func() {
			_, err := m.Set(ctx, "shared", bytes.NewReader(data), nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		is.NoErr(err) // without IfRevision every Set succeeds; the last commit wins
	}
	p, err := m.Get(ctx, "shared")
	is.NoErr(err)
	is.Equal(p.Revision, int64(n))
	prefixes := map[string]bool{}
	for _, k := range allKeys(t, st, "users/") {
		if i := strings.Index(k, "/v/"); i >= 0 {
			prefixes[k[:strings.LastIndexByte(k, '/')]] = true
		}
	}
	is.Equal(len(prefixes), 1) // exactly one version's blobs are left
	for _, r := range p.Renditions {
		decodeRendition(t, m, p, r.Size)
	}
}

func TestConcurrentSetsWithRevision(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	m, st := newManager(t, &photo.Options{Sizes: []int{32}})
	p0, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(40, 40))), nil)
	is.NoErr(err)
	const n = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range n {
		data := encodeJPEG(t, quadrants(50+i, 40))
		wg.Go(func() {
			_, err := m.Set(ctx, "u", bytes.NewReader(data), &photo.SetOptions{IfRevision: p0.Revision})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, photo.ErrConflict):
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	is.Equal(wins, 1)
	prefixes := map[string]bool{}
	for _, k := range allKeys(t, st, "users/") {
		if strings.Contains(k, "/v/") {
			prefixes[k[:strings.LastIndexByte(k, '/')]] = true
		}
	}
	is.Equal(len(prefixes), 1)
}

func TestCropAndFit(t *testing.T) {
	red := color.NRGBA{220, 20, 20, 255}
	green := color.NRGBA{20, 200, 20, 255}
	blue := color.NRGBA{20, 20, 220, 255}
	yellow := color.NRGBA{230, 230, 20, 255}
	white := color.NRGBA{255, 255, 255, 255}
	type probe struct {
		x, y float64 // fractions of the rendition side
		c    color.Color
	}
	tests := []struct {
		name   string
		w, h   int
		opts   *photo.SetOptions
		probes []probe
		code   photo.Code
	}{
		{"crop top left quadrant", 400, 300, &photo.SetOptions{Crop: &photo.Crop{X: 0, Y: 0, Size: 150}},
			[]probe{{0.5, 0.5, red}}, ""},
		{"crop at the bottom right edge", 400, 300, &photo.SetOptions{Crop: &photo.Crop{X: 250, Y: 150, Size: 150}},
			[]probe{{0.5, 0.5, blue}}, ""},
		{"crop across the centre", 400, 300, &photo.SetOptions{Crop: &photo.Crop{X: 100, Y: 50, Size: 200}},
			[]probe{{0.2, 0.2, red}, {0.8, 0.2, green}, {0.8, 0.8, blue}, {0.2, 0.8, yellow}}, ""},
		{"whole square image", 300, 300, &photo.SetOptions{Crop: &photo.Crop{X: 0, Y: 0, Size: 300}},
			[]probe{{0.2, 0.2, red}}, ""},
		{"crop past the right edge", 400, 300, &photo.SetOptions{Crop: &photo.Crop{X: 251, Y: 0, Size: 150}}, nil, photo.CodeBadCrop},
		{"crop past the bottom edge", 400, 300, &photo.SetOptions{Crop: &photo.Crop{X: 0, Y: 151, Size: 150}}, nil, photo.CodeBadCrop},
		{"crop larger than the image", 400, 300, &photo.SetOptions{Crop: &photo.Crop{X: 0, Y: 0, Size: 301}}, nil, photo.CodeBadCrop},
		{"negative crop origin", 400, 300, &photo.SetOptions{Crop: &photo.Crop{X: -1, Y: 0, Size: 10}}, nil, photo.CodeBadCrop},
		{"zero crop size", 400, 300, &photo.SetOptions{Crop: &photo.Crop{X: 0, Y: 0, Size: 0}}, nil, photo.CodeBadCrop},
		{"letterbox wide", 400, 200, nil,
			[]probe{{0.5, 0.05, white}, {0.5, 0.95, white}, {0.2, 0.4, red}, {0.8, 0.6, blue}}, ""},
		{"letterbox tall", 200, 400, nil,
			[]probe{{0.05, 0.5, white}, {0.95, 0.5, white}, {0.4, 0.2, red}, {0.6, 0.8, blue}}, ""},
		{"cover wide", 400, 200, &photo.SetOptions{Fit: photo.Cover, FitSet: true},
			[]probe{{0.05, 0.05, red}, {0.95, 0.95, blue}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			m, st := newManager(t, &photo.Options{Sizes: []int{64, 128}})
			p, err := m.Set(context.Background(), "u", bytes.NewReader(encodeJPEG(t, quadrants(tt.w, tt.h))), tt.opts)
			if tt.code != "" {
				var pe *photo.Error
				is.True(errors.As(err, &pe))
				is.Equal(pe.Code, tt.code)
				is.True(errors.Is(err, photo.ErrBadCrop))
				is.Equal(len(allKeys(t, st, "")), 0) // nothing stored
				return
			}
			is.NoErr(err)
			img := decodeRendition(t, m, p, 128)
			side := img.Bounds().Dx()
			is.Equal(side, img.Bounds().Dy())
			for _, pr := range tt.probes {
				got := img.At(int(pr.x*float64(side)), int(pr.y*float64(side)))
				if !near(got, pr.c, 40) {
					t.Errorf("at (%.2f, %.2f) got %v, want about %v", pr.x, pr.y, got, pr.c)
				}
			}
		})
	}
}

func TestTransparentLetterboxKeepsAlpha(t *testing.T) {
	is := is.New(t)
	img := image.NewNRGBA(image.Rect(0, 0, 200, 100))
	for y := range 100 {
		for x := range 200 {
			img.SetNRGBA(x, y, color.NRGBA{10, 120, 200, uint8(x)})
		}
	}
	m, _ := newManager(t, &photo.Options{Sizes: []int{64}})
	p, err := m.Set(context.Background(), "u", bytes.NewReader(encodePNG(t, img)), nil)
	is.NoErr(err)
	is.Equal(p.Renditions[0].ContentType, "image/png")
	out := decodeRendition(t, m, p, 64)
	_, _, _, a := out.At(32, 2).RGBA()
	is.Equal(a, uint32(0)) // the bars are transparent, not white or black
}

func TestUserIDs(t *testing.T) {
	data := encodeJPEG(t, quadrants(40, 40))
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"plain", "alice", true},
		{"dots", "..", true},
		{"slashes", "../../etc/passwd", true},
		{"nul", "a\x00b", true},
		{"unicode", "Zoë 🙂", true},
		{"longest", strings.Repeat("x", photo.MaxUserIDLen), true},
		{"too long", strings.Repeat("x", photo.MaxUserIDLen+1), false},
		{"empty", "", false},
		{"invalid utf-8", "\xff\xfe", false},
	}
	m, st := newManager(t, &photo.Options{Sizes: []int{32}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			p, err := m.Set(context.Background(), tt.id, bytes.NewReader(data), nil)
			if !tt.ok {
				is.True(errors.Is(err, photo.ErrInvalidUserID))
				return
			}
			is.NoErr(err)
			is.Equal(p.UserID, tt.id)
			got, err := m.Get(context.Background(), tt.id)
			is.NoErr(err)
			is.Equal(got.UserID, tt.id)
		})
	}
	for _, k := range allKeys(t, st, "") {
		if err := storage.ValidateKey(k); err != nil {
			t.Errorf("key %q: %v", k, err)
		}
		if strings.Contains(k, "..") || strings.Contains(k, "alice") || strings.Contains(k, "passwd") {
			t.Errorf("a user ID reached key %q", k)
		}
	}
}

func TestOnDemandSizes(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	m, st := newManager(t, nil)
	p, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(500, 500))), nil)
	is.NoErr(err)
	n := len(allKeys(t, st, "users/"))
	b, err := m.OpenRendition(ctx, "u", p.VersionID, 100)
	is.NoErr(err)
	is.Equal(b.Rendition.Width, 100)
	is.Equal(b.Rendition.Height, 100)
	first, _ := io.ReadAll(b)
	b.Close()
	is.Equal(len(allKeys(t, st, "users/")), n+1) // stored once

	b, err = m.OpenRendition(ctx, "u", p.VersionID, 100)
	is.NoErr(err)
	again, _ := io.ReadAll(b)
	b.Close()
	is.Equal(first, again)

	for _, tc := range []struct {
		version string
		size    int
	}{{p.VersionID, 101}, {p.VersionID, 4096}, {"aaaaaaaaaaaaaaaa", 64}, {"../../x", 64}} {
		_, err = m.OpenRendition(ctx, "u", tc.version, tc.size)
		is.True(errors.Is(err, photo.ErrNotFound))
	}
}

func TestImports(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	m, _ := newManager(t, &photo.Options{Sizes: []int{32}})
	old, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(40, 40))), nil)
	is.NoErr(err)

	id, p, err := m.BeginImport(ctx, "u", "https://example.com/a.jpg")
	is.NoErr(err)
	is.Equal(p.Status, photo.StatusDownloading)
	is.Equal(p.VersionID, old.VersionID) // the old photo is still served

	// A newer import supersedes this one.
	id2, _, err := m.BeginImport(ctx, "u", "https://example.com/b.jpg")
	is.NoErr(err)
	_, err = m.CompleteImport(ctx, "u", id, bytes.NewReader(encodeJPEG(t, quadrants(50, 40))), nil)
	is.True(errors.Is(err, photo.ErrConflict))
	got, err := m.Get(ctx, "u")
	is.NoErr(err)
	is.Equal(got.Status, photo.StatusDownloading)
	is.Equal(got.VersionID, old.VersionID)

	// Refused bytes fail the import and keep the old photo.
	_, err = m.CompleteImport(ctx, "u", id2, strings.NewReader("not an image"), nil)
	is.True(errors.Is(err, photo.ErrNotImage))
	got, err = m.Get(ctx, "u")
	is.NoErr(err)
	is.Equal(got.Status, photo.StatusFailed)
	is.Equal(got.Error.Code, photo.ImportCode(photo.CodeNotImage))
	is.True(!strings.HasPrefix(got.Error.Message, "photo:")) // shown as it is
	is.Equal(got.VersionID, old.VersionID)

	id3, _, err := m.BeginImport(ctx, "u", "https://example.com/c.jpg")
	is.NoErr(err)
	p, err = m.CompleteImport(ctx, "u", id3, bytes.NewReader(encodeJPEG(t, quadrants(60, 40))), nil)
	is.NoErr(err)
	is.Equal(p.Status, photo.StatusReady)
	is.True(p.VersionID != old.VersionID)

	id4, _, err := m.BeginImport(ctx, "new", "https://example.com/d.jpg")
	is.NoErr(err)
	first, err := m.Get(ctx, "new")
	is.NoErr(err)
	is.Equal(first.Status, photo.StatusDownloading)
	is.Equal(first.VersionID, "")
	is.NoErr(m.FailImport(ctx, "new", id4, &photo.ImportError{Code: photo.ImportNotAllowed, Message: "no"}))
	first, err = m.Get(ctx, "new")
	is.NoErr(err)
	is.Equal(first.Status, photo.StatusFailed)
	is.Equal(first.Error.Code, photo.ImportNotAllowed)
}

func TestImportTimesOut(t *testing.T) {
	is := is.New(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m, _ := newManager(t, &photo.Options{Now: clock, ImportTimeout: time.Minute})
	_, _, err := m.BeginImport(context.Background(), "u", "https://example.com/a.jpg")
	is.NoErr(err)
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	p, err := m.Get(context.Background(), "u")
	is.NoErr(err)
	is.Equal(p.Status, photo.StatusFailed)
	is.Equal(p.Error.Code, photo.ImportInterrupted)
}

func TestFiles(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	m, _ := newManager(t, &photo.Options{Sizes: []int{32}})
	v1 := encodeJPEG(t, quadrants(40, 40))
	v2 := encodeJPEG(t, quadrants(80, 40))
	f, err := m.CreateFile(ctx, "alice", "me.jpg", bytes.NewReader(v1))
	is.NoErr(err)
	is.Equal(len(f.ID), 18)
	is.True(strings.HasPrefix(f.ID, "069"))
	f, err = m.AddFileVersion(ctx, f.ID, bytes.NewReader(v2))
	is.NoErr(err)
	is.Equal(len(f.Versions), 2)

	latest, err := m.SetFromFile(ctx, "alice", f.ID, 0, nil)
	is.NoErr(err)
	is.Equal(latest.Width, 80)
	is.Equal(*latest.Source, photo.FileRef{FileID: f.ID, Version: 2})
	first, err := m.SetFromFile(ctx, "alice", f.ID, 1, &photo.SetOptions{Crop: &photo.Crop{X: 0, Y: 0, Size: 20}})
	is.NoErr(err)
	is.Equal(first.Width, 40)
	is.Equal(*first.Crop, photo.Crop{X: 0, Y: 0, Size: 20})

	for _, tc := range []struct {
		id      string
		version int
	}{{f.ID, 3}, {f.ID, -1}, {"069000000000000000", 0}, {"../../x", 0}} {
		_, err = m.SetFromFile(ctx, "alice", tc.id, tc.version, nil)
		is.True(errors.Is(err, photo.ErrFileNotFound))
	}
	got, err := m.Get(ctx, "alice")
	is.NoErr(err)
	is.Equal(got.VersionID, first.VersionID)
}

func TestSweep(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m, st := newManager(t, &photo.Options{Sizes: []int{32}, Now: clock})
	p, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(40, 40))), nil)
	is.NoErr(err)
	live := allKeys(t, st, "users/")

	// What a crashed Set leaves: blobs under a prefix no record names.
	rec := strings.TrimSuffix(live[0], "/record.json") // "users/<hash>"
	is.True(rec != live[0])
	for _, name := range []string{"original.jpg", "32.jpg"} {
		_, err := st.Put(ctx, rec+"/v/orphanorphanorph.aaaaaaaa/"+name, strings.NewReader("x"), nil)
		is.NoErr(err)
	}
	_, err = st.Put(ctx, "files/069AAAAAAAAAAAAAAA/zzzzzzzz", strings.NewReader("x"), nil)
	is.NoErr(err)

	// Young orphans are left alone: a Set may be about to commit them.
	res, err := m.Sweep(ctx, nil)
	is.NoErr(err)
	is.Equal(res.Removed, 0)

	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	res, err = m.Sweep(ctx, &photo.SweepOptions{DryRun: true})
	is.NoErr(err)
	is.Equal(res.Removed, 3)
	res, err = m.Sweep(ctx, nil)
	is.NoErr(err)
	is.Equal(res.Removed, 3)
	is.Equal(allKeys(t, st, "users/"), live)
	is.Equal(len(allKeys(t, st, "files/")), 0)
	for _, r := range p.Renditions {
		decodeRendition(t, m, p, r.Size)
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name string
		opts *photo.Options
		ok   bool
	}{
		{"nil", nil, true},
		{"sizes", &photo.Options{Sizes: []int{10, 20}}, true},
		{"zero size", &photo.Options{Sizes: []int{0}}, false},
		{"huge size", &photo.Options{Sizes: []int{5000}}, false},
		{"empty sizes", &photo.Options{Sizes: []int{}}, false},
		{"quality", &photo.Options{JPEGQuality: 101}, false},
		{"fit", &photo.Options{Fit: photo.Fit(7)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := photo.New(memstore.New(), tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) = %v", tt.opts, err)
			}
		})
	}
	if _, err := photo.New(nil, nil); err == nil {
		t.Fatal("New(nil store) succeeded")
	}
}
