package photo_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
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

func newManager(t testing.TB, opts *photo.Options) (*photo.Manager, *storage.Bucket) {
	t.Helper()
	st := photo.NewTestBucket(t)
	m, err := photo.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

// decodeRendition opens and decodes one rendition.
func decodeRendition(t testing.TB, m *photo.Manager, p *photo.Photo, size int) image.Image {
	t.Helper()
	b, err := m.OpenRendition(context.Background(), p.UserID, p.VersionID, size, "")
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
	m, _ := newManager(t, nil)
	ctx := context.Background()
	data := encodeJPEG(t, quadrants(600, 400))

	p, err := m.Set(ctx, "alice", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(photo.StatusReady, p.Status); diff != "" {
		t.Fatalf("p.Status (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("image/jpeg", p.SourceType); diff != "" {
		t.Fatalf("p.SourceType (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(600, p.Width); diff != "" {
		t.Fatalf("p.Width (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(400, p.Height); diff != "" {
		t.Fatalf("p.Height (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(int64(len(data)), p.Bytes); diff != "" {
		t.Fatalf("p.Bytes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(int64(1), p.Revision); diff != "" {
		t.Fatalf("p.Revision (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(16, len(p.VersionID)); diff != "" {
		t.Fatalf("len(p.VersionID) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(photo.Letterbox, p.Fit); diff != "" {
		t.Fatalf("p.Fit (-want +got):\n%s", diff)
	}
	if !(p.Crop == nil) {
		t.Fatal("want p.Crop == nil")
	}
	if diff := cmp.Diff(600, p.Original.Width); diff != "" {
		t.Fatalf("p.Original.Width (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(400, p.Original.Height); diff != "" {
		t.Fatalf("p.Original.Height (-want +got):\n%s", diff)
	}

	var sizes []int
	for _, r := range p.Renditions {
		sizes = append(sizes, r.Size)
		want := min(r.Size, 600) // a letterboxed square is 600 a side
		if diff := cmp.Diff(want, r.Width); diff != "" {
			t.Fatalf("r.Width (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, r.Height); diff != "" {
			t.Fatalf("r.Height (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff("image/jpeg", r.ContentType); diff != "" {
			t.Fatalf("r.ContentType (-want +got):\n%s", diff)
		}
		img := decodeRendition(t, m, p, r.Size)
		if diff := cmp.Diff(r.Width, img.Bounds().Dx()); diff != "" {
			t.Fatalf("img.Bounds().Dx() (-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff([]int{24, 32, 48, 64, 72, 160, 192, 200, 512, 1024}, sizes); diff != "" {
		t.Fatalf("sizes (-want +got):\n%s", diff)
	}

	got, err := m.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p.VersionID, got.VersionID); diff != "" {
		t.Fatalf("got.VersionID (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(p.Renditions, got.Renditions); diff != "" {
		t.Fatalf("got.Renditions (-want +got):\n%s", diff)
	}

	_, err = m.Get(ctx, "bob")
	if !errors.Is(err, photo.ErrNotFound) {
		t.Fatal("want errors.Is(err, photo.ErrNotFound)")
	}
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
		{"fit changed", b, nil, b, &photo.SetOptions{Fit: photo.Cover}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, st := newManager(t, nil)
			p1, err := m.Set(ctx, "u", bytes.NewReader(tt.first), tt.firstOpts)
			if err != nil {
				t.Fatal(err)
			}
			before := allKeys(t, st, "users/")
			p2, err := m.Set(ctx, "u", bytes.NewReader(tt.second), tt.secondOpts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.same, p1.VersionID == p2.VersionID); diff != "" {
				t.Fatalf("p1.VersionID == p2.VersionID (-want +got):\n%s", diff)
			}
			if tt.same {
				// Idempotent: nothing was written, the revision stays.
				if diff := cmp.Diff(p1.Revision, p2.Revision); diff != "" {
					t.Fatalf("p2.Revision (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(before, allKeys(t, st, "users/")); diff != "" {
					t.Fatalf("allKeys(t, st, \"users/\") (-want +got):\n%s", diff)
				}
			} else {
				if diff := cmp.Diff(p1.Revision+1, p2.Revision); diff != "" {
					t.Fatalf("p2.Revision (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRevisionConflicts(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, nil)
	p1, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(64, 64))), nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(80, 64))), &photo.SetOptions{IfRevision: p1.Revision})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p1.Revision+1, p2.Revision); diff != "" {
		t.Fatalf("p2.Revision (-want +got):\n%s", diff)
	}

	_, err = m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(96, 64))), &photo.SetOptions{IfRevision: p1.Revision})
	if !errors.Is(err, photo.ErrConflict) {
		t.Fatal("want errors.Is(err, photo.ErrConflict)")
	}
	err = m.Delete(ctx, "u", &photo.DeleteOptions{IfRevision: p1.Revision})
	if !errors.Is(err, photo.ErrConflict) {
		t.Fatal("want errors.Is(err, photo.ErrConflict)")
	}

	got, err := m.Get(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	// the losers changed nothing
	if diff := cmp.Diff(p2.VersionID, got.VersionID); diff != "" {
		t.Fatalf("got.VersionID (-want +got):\n%s", diff)
	}

	if err := m.Delete(ctx, "u", &photo.DeleteOptions{IfRevision: p2.Revision}); err != nil {
		t.Fatal(err)
	}
	_, err = m.Get(ctx, "u")
	if !errors.Is(err, photo.ErrNotFound) {
		t.Fatal("want errors.Is(err, photo.ErrNotFound)")
	}
	if !errors.Is(m.Delete(ctx, "u", nil), photo.ErrNotFound) {
		t.Fatal("want errors.Is(m.Delete(ctx, \"u\", nil), photo.ErrNotFound)")
	}
}

func TestDeleteRemovesBlobs(t *testing.T) {
	ctx := context.Background()
	m, st := newManager(t, nil)
	p, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(64, 64))), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.OpenRendition(ctx, "u", p.VersionID, 100, "") // an on-demand size
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := m.Delete(ctx, "u", nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range allKeys(t, st, "users/") {
		// only the tombstone is left
		if !strings.HasSuffix(k, "/record.json") {
			t.Fatal("want strings.HasSuffix(k, \"/record.json\")")
		}
	}
	_, err = m.OpenRendition(ctx, "u", p.VersionID, 64, "")
	if !errors.Is(err, photo.ErrNotFound) {
		t.Fatal("want errors.Is(err, photo.ErrNotFound)")
	}
}

func TestConcurrentSets(t *testing.T) {
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
		// without IfRevision every Set succeeds; the last commit wins
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := m.Get(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(int64(n), p.Revision); diff != "" {
		t.Fatalf("p.Revision (-want +got):\n%s", diff)
	}
	prefixes := map[string]bool{}
	for _, k := range allKeys(t, st, "users/") {
		if i := strings.Index(k, "/v/"); i >= 0 {
			prefixes[k[:strings.LastIndexByte(k, '/')]] = true
		}
	}
	// exactly one version's blobs are left
	if diff := cmp.Diff(1, len(prefixes)); diff != "" {
		t.Fatalf("len(prefixes) (-want +got):\n%s", diff)
	}
	for _, r := range p.Renditions {
		decodeRendition(t, m, p, r.Size)
	}
}

func TestConcurrentSetsWithRevision(t *testing.T) {
	ctx := context.Background()
	m, st := newManager(t, &photo.Options{Sizes: []int{32}})
	p0, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(40, 40))), nil)
	if err != nil {
		t.Fatal(err)
	}
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
	if diff := cmp.Diff(1, wins); diff != "" {
		t.Fatalf("wins (-want +got):\n%s", diff)
	}
	prefixes := map[string]bool{}
	for _, k := range allKeys(t, st, "users/") {
		if strings.Contains(k, "/v/") {
			prefixes[k[:strings.LastIndexByte(k, '/')]] = true
		}
	}
	if diff := cmp.Diff(1, len(prefixes)); diff != "" {
		t.Fatalf("len(prefixes) (-want +got):\n%s", diff)
	}
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
		{"cover wide", 400, 200, &photo.SetOptions{Fit: photo.Cover},
			[]probe{{0.05, 0.05, red}, {0.95, 0.95, blue}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, st := newManager(t, &photo.Options{Sizes: []int{64, 128}})
			p, err := m.Set(context.Background(), "u", bytes.NewReader(encodeJPEG(t, quadrants(tt.w, tt.h))), tt.opts)
			if tt.code != "" {
				var pe *photo.Error
				if !errors.As(err, &pe) {
					t.Fatal("want errors.As(err, &pe)")
				}
				if diff := cmp.Diff(tt.code, pe.Code); diff != "" {
					t.Fatalf("pe.Code (-want +got):\n%s", diff)
				}
				if !errors.Is(err, photo.CodeBadCrop) {
					t.Fatal("want errors.Is(err, photo.CodeBadCrop)")
				}
				// nothing stored
				if diff := cmp.Diff(0, len(allKeys(t, st, ""))); diff != "" {
					t.Fatalf("len(allKeys(t, st, \"\")) (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img := decodeRendition(t, m, p, 128)
			side := img.Bounds().Dx()
			if diff := cmp.Diff(img.Bounds().Dy(), side); diff != "" {
				t.Fatalf("side (-want +got):\n%s", diff)
			}
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
	img := image.NewNRGBA(image.Rect(0, 0, 200, 100))
	for y := range 100 {
		for x := range 200 {
			img.SetNRGBA(x, y, color.NRGBA{10, 120, 200, uint8(x)})
		}
	}
	m, _ := newManager(t, &photo.Options{Sizes: []int{64}})
	p, err := m.Set(context.Background(), "u", bytes.NewReader(encodePNG(t, img)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("image/png", p.Renditions[0].ContentType); diff != "" {
		t.Fatalf("p.Renditions[0].ContentType (-want +got):\n%s", diff)
	}
	out := decodeRendition(t, m, p, 64)
	_, _, _, a := out.At(32, 2).RGBA()
	// the bars are transparent, not white or black
	if diff := cmp.Diff(uint32(0), a); diff != "" {
		t.Fatalf("a (-want +got):\n%s", diff)
	}
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
		{"longest", strings.Repeat("x", 256), true},
		{"too long", strings.Repeat("x", 256+1), false},
		{"empty", "", false},
		{"invalid utf-8", "\xff\xfe", false},
	}
	m, st := newManager(t, &photo.Options{Sizes: []int{32}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := m.Set(context.Background(), tt.id, bytes.NewReader(data), nil)
			if !tt.ok {
				if !errors.Is(err, photo.CodeBadUserID) {
					t.Fatal("want errors.Is(err, photo.CodeBadUserID)")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.id, p.UserID); diff != "" {
				t.Fatalf("p.UserID (-want +got):\n%s", diff)
			}
			got, err := m.Get(context.Background(), tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.id, got.UserID); diff != "" {
				t.Fatalf("got.UserID (-want +got):\n%s", diff)
			}
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
			_, err := photo.New(photo.NewTestBucket(t), tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) = %v", tt.opts, err)
			}
		})
	}
	if _, err := photo.New(nil, nil); err == nil {
		t.Fatal("New(nil store) succeeded")
	}
}
