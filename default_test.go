package photo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"testing"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/thumbhash"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

// readDefault returns the bytes, decoded image and description of a
// default photo.
func readDefault(t *testing.T, m *photo.Manager, userID string, size int) ([]byte, image.Image, photo.Rendition) {
	t.Helper()
	b, err := m.Default(context.Background(), userID, size)
	if err != nil {
		t.Fatalf("Default(%q, %d): %v", userID, size, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b.ReadSeekCloser)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != b.Rendition.Bytes {
		t.Fatalf("Default(%q, %d): %d bytes, Rendition says %d", userID, size, len(data), b.Rendition.Bytes)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Default(%q, %d): %v", userID, size, err)
	}
	if bd := img.Bounds(); bd.Dx() != b.Rendition.Width || bd.Dy() != b.Rendition.Height {
		t.Fatalf("Default(%q, %d) is %v, Rendition says %dx%d", userID, size, bd, b.Rendition.Width, b.Rendition.Height)
	}
	return data, img, b.Rendition
}

// differingPixels returns the fraction of pixels of two images of the same
// size whose colours differ by more than a little.
func differingPixels(a, b image.Image) float64 {
	r := a.Bounds()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(x, y)).(color.NRGBA)
			d := absDiff(ca.R, cb.R) + absDiff(ca.G, cb.G) + absDiff(ca.B, cb.B)
			if d > 30 {
				n++
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy())
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestDefault(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	m, err := photo.New(storage.NewBucket(st), &photo.Options{Sizes: []int{32, 64, 200}, OnDemandSizes: []int{100}})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{32, 64, 100, 200} {
		da, a, ra := readDefault(t, m, "alice", size)
		db, b, rb := readDefault(t, m, "bob", size)
		if ra.Width != size || ra.Size != size || ra.ContentType != "image/png" {
			t.Errorf("size %d: %+v", size, ra)
		}
		if f := differingPixels(a, b); f < 0.15 {
			t.Errorf("size %d: alice's and bob's defaults differ in %.0f%% of their pixels", size, 100*f)
		}
		if ra.ETag == rb.ETag || bytes.Equal(da, db) {
			t.Errorf("size %d: alice and bob share an ETag %q or bytes", size, ra.ETag)
		}
		again, _, r2 := readDefault(t, m, "alice", size)
		if !bytes.Equal(again, da) || r2.ETag != ra.ETag {
			t.Errorf("size %d: alice's default changed between calls", size)
		}
		// A second Manager (another process) draws the same bytes.
		m2, err := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{32, 64, 200}, OnDemandSizes: []int{100}})
		if err != nil {
			t.Fatal(err)
		}
		if other, _, r3 := readDefault(t, m2, "alice", size); !bytes.Equal(other, da) || r3.ETag != ra.ETag {
			t.Errorf("size %d: another Manager draws alice's default differently", size)
		}
	}
	_, _, r64 := readDefault(t, m, "alice", 64)
	_, _, r200 := readDefault(t, m, "alice", 200)
	if r64.ETag == r200.ETag {
		t.Error("two sizes share an ETag")
	}
	if _, _, r0 := readDefault(t, m, "alice", 0); r0 != r200 {
		t.Errorf("size 0 is %+v, want the largest, %+v", r0, r200)
	}
	for _, size := range []int{1, 50, 512, -1} {
		if _, err := m.Default(ctx, "alice", size); !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("size %d: %v, want ErrNotFound", size, err)
		}
	}
	if _, err := m.Default(ctx, "", 64); photo.CodeOf(err) != photo.CodeBadUserID {
		t.Errorf("empty user ID: %v", err)
	}
	// Defaults are never stored.
	if n := len(allKeys(t, storage.NewBucket(st), "")); n != 0 {
		t.Errorf("Default stored %d objects", n)
	}
}

func TestDefaultOptions(t *testing.T) {
	ctx := context.Background()
	newManager := func(o photo.Options) *photo.Manager {
		t.Helper()
		o.Sizes, o.OnDemandSizes = []int{64, 128}, []int{}
		m, err := photo.New(photo.NewTestBucket(t), &o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Run("off", func(t *testing.T) {
		m := newManager(photo.Options{NoDefaultPhoto: true})
		if _, err := m.Default(ctx, "alice", 64); !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("Default with NoDefaultPhoto: %v", err)
		}
	})
	t.Run("display name", func(t *testing.T) {
		names := map[string]string{"alice": "Alice Liddell", "bob": "Alice Lamb"}
		m := newManager(photo.Options{DisplayName: func(_ context.Context, id string) (string, error) {
			if id == "broken" {
				return "", errors.New("directory down")
			}
			return names[id], nil
		}})
		plain := newManager(photo.Options{})
		_, a, ra := readDefault(t, m, "alice", 128)
		_, ia, ria := readDefault(t, plain, "alice", 128)
		if ra.ETag == ria.ETag || differingPixels(a, ia) < 0.05 {
			t.Errorf("initials and identicon look alike (ETags %q, %q)", ra.ETag, ria.ETag)
		}
		// The same initials on another user: the colour comes from the ID.
		_, b, rb := readDefault(t, m, "bob", 128)
		if rb.ETag == ra.ETag || differingPixels(a, b) < 0.15 {
			t.Errorf("alice's and bob's initials look alike")
		}
		// A new name is a new picture and a new ETag.
		names["alice"] = "Zoe Young"
		_, c, rc := readDefault(t, m, "alice", 128)
		if rc.ETag == ra.ETag || differingPixels(a, c) == 0 {
			t.Error("a new display name kept the picture")
		}
		// An unknown user gets the identicon.
		_, _, ru := readDefault(t, m, "carol", 128)
		_, _, rpu := readDefault(t, plain, "carol", 128)
		if ru.ETag != rpu.ETag {
			t.Error("an empty display name does not give the identicon")
		}
		if _, err := m.Default(ctx, "broken", 64); err == nil || errors.Is(err, photo.ErrNotFound) {
			t.Errorf("a failing DisplayName: %v", err)
		}
	})
	t.Run("own image", func(t *testing.T) {
		calls := 0
		m := newManager(photo.Options{
			DisplayName: func(context.Context, string) (string, error) { return "Ann", nil },
			DefaultImage: func(_ context.Context, id, name string, size int) (image.Image, error) {
				calls++
				if id == "none" {
					return nil, errors.New("no picture")
				}
				// Drawn at 16 px whatever the size: the library scales it.
				img := image.NewNRGBA(image.Rect(0, 0, 16, 16))
				c := color.NRGBA{200, 20, 20, 255}
				if name != "Ann" {
					c = color.NRGBA{0, 0, 0, 255}
				}
				for i := range 16 * 16 {
					img.SetNRGBA(i%16, i/16, c)
				}
				img.SetNRGBA(0, 0, color.NRGBA{0, 0, 255, 128})
				return img, nil
			},
		})
		data, img, r := readDefault(t, m, "alice", 128)
		if r.Width != 128 || r.ContentType != "image/png" {
			t.Errorf("own default: %+v", r)
		}
		if c := color.NRGBAModel.Convert(img.At(100, 100)).(color.NRGBA); c.R < 180 || c.G > 40 {
			t.Errorf("own default: pixel %v, want the host's red", c)
		}
		again, _, r2 := readDefault(t, m, "alice", 128)
		if calls != 1 || !bytes.Equal(again, data) || r2.ETag != r.ETag {
			t.Errorf("own default: %d calls for two Defaults, or different bytes", calls)
		}
		if _, err := m.Default(ctx, "none", 64); err == nil || errors.Is(err, photo.ErrNotFound) {
			t.Errorf("a failing DefaultImage: %v", err)
		}
	})
	t.Run("cache bound", func(t *testing.T) {
		const bound = 20 << 10
		m := newManager(photo.Options{DefaultCacheBytes: bound})
		for i := range 200 {
			readDefault(t, m, fmt.Sprint("user-", i), 64)
		}
		n, used := photo.DefaultCacheLen(m)
		if used > bound || n == 0 || n >= 200 {
			t.Errorf("cache holds %d defaults in %d bytes, bound %d", n, used, bound)
		}
		none := newManager(photo.Options{DefaultCacheBytes: -1})
		readDefault(t, none, "alice", 64)
		if n, _ := photo.DefaultCacheLen(none); n != 0 {
			t.Errorf("a negative DefaultCacheBytes kept %d", n)
		}
	})
}

// TestPlaceholder checks the placeholder of every way to set a photo: it
// is there, it decodes, and its average colour is the image's.
func TestPlaceholder(t *testing.T) {
	ctx := context.Background()
	m, err := photo.New(photo.NewTestBucket(t), &photo.Options{Sizes: []int{32, 64}, OnDemandSizes: []int{}})
	if err != nil {
		t.Fatal(err)
	}
	solid := func(c color.NRGBA) image.Image {
		img := image.NewNRGBA(image.Rect(0, 0, 80, 80))
		for i := range 80 * 80 {
			img.SetNRGBA(i%80, i/80, c)
		}
		return img
	}
	check := func(t *testing.T, p *photo.Photo, want color.NRGBA) {
		t.Helper()
		if p.Placeholder == "" {
			t.Fatal("no placeholder")
		}
		hash, err := thumbhash.Encoding.DecodeString(p.Placeholder)
		if err != nil {
			t.Fatal(err)
		}
		got, err := thumbhash.AverageColor(hash)
		if err != nil {
			t.Fatal(err)
		}
		if absDiff(got.R, want.R) > 20 || absDiff(got.G, want.G) > 20 || absDiff(got.B, want.B) > 20 || absDiff(got.A, want.A) > 20 {
			t.Errorf("placeholder's average colour %v, want about %v", got, want)
		}
		g, err := m.Get(ctx, p.UserID)
		if err != nil || g.Placeholder != p.Placeholder {
			t.Errorf("Get: placeholder %q (%v), Set said %q", g.Placeholder, err, p.Placeholder)
		}
	}
	t.Run("Set", func(t *testing.T) {
		c := color.NRGBA{30, 140, 220, 255}
		p, err := m.Set(ctx, "set", bytes.NewReader(encodeJPEG(t, solid(c))), nil)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, c)
	})
	t.Run("Set PNG with alpha", func(t *testing.T) {
		c := color.NRGBA{220, 40, 40, 100}
		var buf bytes.Buffer
		if err := png.Encode(&buf, solid(c)); err != nil {
			t.Fatal(err)
		}
		p, err := m.Set(ctx, "alpha", &buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, c)
	})
	t.Run("SetFromFile", func(t *testing.T) {
		c := color.NRGBA{200, 200, 40, 255}
		f, err := m.CreateFile(ctx, "file", "a.jpg", bytes.NewReader(encodeJPEG(t, solid(c))))
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.SetFromFile(ctx, "file", f.ID, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, c)
	})
	t.Run("SetFromUpload", func(t *testing.T) {
		c := color.NRGBA{40, 160, 60, 255}
		data := encodeJPEG(t, solid(c))
		L := int64(len(data))
		u, err := m.CreateUpload(ctx, "upload", "image/jpeg", L, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: L, Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		p, err := m.SetFromUpload(ctx, "upload", u.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, c)
	})
	t.Run("URL import", func(t *testing.T) {
		c := color.NRGBA{120, 60, 160, 255}
		im, err := m.StartImport(ctx, "import", "https://example.com/a.jpg")
		if err != nil {
			t.Fatal(err)
		}
		p, err := im.Finish(ctx, bytes.NewReader(encodeJPEG(t, solid(c))), nil)
		if err != nil {
			t.Fatal(err)
		}
		check(t, p, c)
	})
}

// TestBackendsDefaultAndPlaceholder runs on every store: a user without a
// photo has a default and nothing is stored for it; a Set's placeholder is
// in the record, so another handle (another process) reads it.
func TestBackendsDefaultAndPlaceholder(t *testing.T) {
	ctx := context.Background()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			a, b := be.open(t)
			ma, mb := newBackendManager(t, a), newBackendManager(t, b)
			if _, err := ma.Get(ctx, "nobody"); !errors.Is(err, photo.ErrNotFound) {
				t.Fatalf("Get of a new user: %v", err)
			}
			_, img, r := readDefault(t, ma, "nobody", 64)
			_, img2, r2 := readDefault(t, mb, "nobody", 64)
			if r != r2 || differingPixels(img, img2) != 0 {
				t.Error("two handles draw different defaults")
			}
			if keys := allKeys(t, storage.NewBucket(a), ""); len(keys) != 0 {
				t.Errorf("a default stored %v", keys)
			}
			p, err := ma.Set(ctx, "someone", bytes.NewReader(testJPEG(t, 3)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := thumbhash.DecodeString(p.Placeholder); err != nil {
				t.Fatalf("placeholder %q: %v", p.Placeholder, err)
			}
			g, err := mb.Get(ctx, "someone")
			if err != nil || g.Placeholder != p.Placeholder {
				t.Errorf("the other handle reads placeholder %q (%v), want %q", g.Placeholder, err, p.Placeholder)
			}
			// The default stays served once the user has a photo.
			if _, _, r3 := readDefault(t, mb, "someone", 64); r3.Width != 64 {
				t.Errorf("default of a user with a photo: %+v", r3)
			}
		})
	}
}
