package photo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/imaging/testimage"
	"github.com/profilephoto/photo/internal/webpenc"
	"github.com/profilephoto/photo/storage"
)

// webpManager is a Manager on a fresh store of the backend with a few
// sizes: 32, 64 and 128 stored, 48 on demand.
func webpManager(t *testing.T, be backend, opts photo.Options) (*photo.Manager, *storage.Bucket) {
	t.Helper()
	d, _ := be.open(t)
	st := storage.NewBucket(d)
	opts.Sizes = []int{32, 64, 128}
	opts.OnDemandSizes = []int{48}
	opts.Logger = slog.New(slog.DiscardHandler)
	m, err := photo.New(st, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

// readBlob opens a rendition and returns it with its bytes.
func readBlob(t *testing.T, m *photo.Manager, p *photo.Photo, size int, format string) (photo.Rendition, []byte) {
	t.Helper()
	b, err := m.OpenRendition(t.Context(), p.UserID, p.VersionID, size, format)
	if err != nil {
		t.Fatalf("OpenRendition(%d, %q): %v", size, format, err)
	}
	defer b.Close()
	data, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != b.Rendition.Bytes {
		t.Errorf("size %d %q: %d bytes, Rendition.Bytes %d", size, format, len(data), b.Rendition.Bytes)
	}
	return b.Rendition, data
}

// webpKeys lists the stored WebP blobs under users/.
func webpKeys(t *testing.T, st *storage.Bucket) []string {
	t.Helper()
	var keys []string
	for _, k := range allKeys(t, st, "users/") {
		if i := strings.LastIndexByte(k, '/'); strings.HasPrefix(k[i+1:], "w") {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestWebPRenditions(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			m, st := webpManager(t, be, photo.Options{})
			p, err := m.Set(t.Context(), "u", bytes.NewReader(encodeJPEG(t, testimage.Photo(200, 150, 3))), nil)
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name   string
				size   int
				format string
				want   string // content type
				side   int    // width and height (0: the original's 200x150)
			}{
				{"stored JPEG", 64, "", "image/jpeg", 64},
				{"stored size as WebP", 64, "image/webp", "image/webp", 64},
				{"smallest as WebP", 32, "image/webp", "image/webp", 32},
				// No stored rendition twice as large, nor the original
				// (200x150): WebP clients get the JPEG.
				{"largest stays as stored", 128, "image/webp", "image/jpeg", 128},
				{"on-demand size as WebP", 48, "image/webp", "image/webp", 48},
				{"on-demand size as JPEG", 48, "", "image/jpeg", 48},
				{"the original stays as stored", 0, "image/webp", "image/jpeg", 0},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					r, data := readBlob(t, m, p, c.size, c.format)
					if r.ContentType != c.want || r.Size != c.size {
						t.Fatalf("ContentType %q size %d, want %q %d", r.ContentType, r.Size, c.want, c.size)
					}
					cfg, typ, err := image.DecodeConfig(bytes.NewReader(data))
					if err != nil {
						t.Fatal(err)
					}
					w, h := c.side, c.side
					if c.side == 0 {
						w, h = 200, 150
					}
					if "image/"+typ != c.want || cfg.Width != w || cfg.Height != h || r.Width != w || r.Height != h {
						t.Errorf("bytes are %s %dx%d, Rendition says %dx%d; want %s %dx%d", typ, cfg.Width, cfg.Height, r.Width, r.Height, c.want, w, h)
					}
					stored, _ := readBlob(t, m, p, c.size, "")
					if c.want != "image/webp" {
						if r != stored {
							t.Errorf("served %+v, want the stored %+v", r, stored)
						}
						return
					}
					if r.ETag == "" || r.ETag == stored.ETag {
						t.Errorf("WebP ETag %q, stored ETag %q: want distinct", r.ETag, stored.ETag)
					}
					// The second request serves the stored WebP.
					again, data2 := readBlob(t, m, p, c.size, c.format)
					if again.ETag != r.ETag || !bytes.Equal(data, data2) {
						t.Errorf("second request: ETag %q and %d bytes, first %q and %d", again.ETag, len(data2), r.ETag, len(data))
					}
				})
			}
			if n := len(webpKeys(t, st)); n != 3 {
				t.Errorf("%d WebP blobs stored, want 3 (sizes 32, 48, 64): %v", n, webpKeys(t, st))
			}
			for _, f := range []string{"image/gif", "webp", "image/WebP", "image/jpeg", " image/webp"} {
				_, err := m.OpenRendition(t.Context(), "u", p.VersionID, 64, f)
				var e *photo.Error
				if !errors.As(err, &e) || e.Code != photo.CodeBadArgument || !errors.Is(err, photo.ErrInvalidInput) {
					t.Errorf("format %q: %v, want an *Error %s", f, err, photo.CodeBadArgument)
				}
			}
			for _, size := range []int{65, 256} {
				if _, err := m.OpenRendition(t.Context(), "u", p.VersionID, size, "image/webp"); !errors.Is(err, photo.ErrNotFound) {
					t.Errorf("WebP of size %d: %v, want ErrNotFound", size, err)
				}
			}
			// The WebPs go with their version.
			p2, err := m.Set(t.Context(), "u", bytes.NewReader(encodeJPEG(t, testimage.Photo(200, 150, 4))), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.OpenRendition(t.Context(), "u", p.VersionID, 64, "image/webp"); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("WebP of a replaced version: %v, want ErrNotFound", err)
			}
			if keys := webpKeys(t, st); len(keys) != 0 {
				t.Errorf("WebP blobs left after the version was replaced: %v", keys)
			}
			readBlob(t, m, p2, 64, "image/webp")
			if err := m.Delete(t.Context(), "u", nil); err != nil {
				t.Fatal(err)
			}
			if keys := webpKeys(t, st); len(keys) != 0 {
				t.Errorf("WebP blobs left after Delete: %v", keys)
			}
		})
	}
}

// TestWebPConcurrentFirstRequests opens the same WebP from many
// goroutines at once: every one gets the same complete bytes and one blob
// is stored.
func TestWebPConcurrentFirstRequests(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			m, st := webpManager(t, be, photo.Options{})
			p, err := m.Set(t.Context(), "u", bytes.NewReader(encodeJPEG(t, testimage.Photo(160, 160, 5))), nil)
			if err != nil {
				t.Fatal(err)
			}
			const n = 8
			got := make([][]byte, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					b, err := m.OpenRendition(context.Background(), "u", p.VersionID, 48, "image/webp")
					if err != nil {
						t.Error(err)
						return
					}
					defer b.Close()
					got[i], err = io.ReadAll(b)
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			for i := range n {
				if !bytes.Equal(got[i], got[0]) {
					t.Fatalf("request %d got %d bytes, request 0 %d: not the same", i, len(got[i]), len(got[0]))
				}
			}
			if _, err := webpenc.Decode(got[0]); err != nil {
				t.Errorf("the WebP does not decode: %v", err)
			}
			if keys := webpKeys(t, st); len(keys) != 1 {
				t.Errorf("WebP blobs %v, want one", keys)
			}
		})
	}
}

// TestWebPRefused: where no WebP is both smaller than the stored JPEG and
// as close (the largest rendition of a synthetic photo, made from its
// original: TestWebPFromOriginal's "cover"), WebP clients get the JPEG
// with its own ETag; the
// verdict is made once, by concurrent first requests too, stored as one
// small marker at the WebP's key, and goes with the version.
func TestWebPRefused(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			m, st := webpManager(t, be, photo.Options{OriginalMaxSide: 400, Fit: photo.Cover})
			p, err := m.Set(t.Context(), "u", bytes.NewReader(encodeJPEG(t, testimage.Photo(560, 400, 5))), nil)
			if err != nil {
				t.Fatal(err)
			}
			stored, data := readBlob(t, m, p, 128, "")
			const n = 8
			got := make([]photo.Rendition, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					b, err := m.OpenRendition(context.Background(), "u", p.VersionID, 128, "image/webp")
					if err != nil {
						t.Error(err)
						return
					}
					defer b.Close()
					body, err := io.ReadAll(b)
					if err != nil {
						t.Error(err)
					}
					if !bytes.Equal(body, data) {
						t.Errorf("request %d: %d bytes, not the stored JPEG's %d", i, len(body), len(data))
					}
					got[i] = b.Rendition
				})
			}
			wg.Wait()
			for i, r := range got {
				if r != stored {
					t.Errorf("request %d: %+v, want the stored %+v", i, r, stored)
				}
			}
			keys := webpKeys(t, st)
			if len(keys) != 1 {
				t.Fatalf("WebP keys %v, want one marker", keys)
			}
			r, err := st.Open(t.Context(), keys[0])
			if err != nil {
				t.Fatal(err)
			}
			marker, err := io.ReadAll(r)
			r.Close()
			if err != nil || len(marker) > 16 || bytes.HasPrefix(marker, []byte("RIFF")) {
				t.Errorf("the marker is %q (%v), want a few bytes, not a WebP", marker, err)
			}
			// Later requests read the marker: the same answer.
			if again, _ := readBlob(t, m, p, 128, "image/webp"); again != stored {
				t.Errorf("again: %+v", again)
			}
			if keys := webpKeys(t, st); len(keys) != 1 {
				t.Errorf("WebP keys %v after a later request, want the one marker", keys)
			}
			if _, err := m.Set(t.Context(), "u", bytes.NewReader(encodeJPEG(t, testimage.Photo(560, 400, 6))), nil); err != nil {
				t.Fatal(err)
			}
			if keys := webpKeys(t, st); len(keys) != 0 {
				t.Errorf("WebP keys %v left after the version was replaced", keys)
			}
		})
	}
}

// TestWebPAlpha checks that a photo with transparency (stored as PNG)
// gets a WebP with the same transparency.
func TestWebPAlpha(t *testing.T) {
	m, _ := webpManager(t, backends()[0], photo.Options{})
	img := image.NewNRGBA(image.Rect(0, 0, 128, 128))
	for y := range 128 {
		for x := range 128 {
			a := uint8(255)
			if x < 64 {
				a = 0
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(2 * x), uint8(2 * y), 90, a})
		}
	}
	p, err := m.Set(t.Context(), "u", bytes.NewReader(encodePNG(t, img)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{64, 48} {
		stored, _ := readBlob(t, m, p, size, "")
		if stored.ContentType != "image/png" {
			t.Fatalf("size %d stored as %s, want PNG", size, stored.ContentType)
		}
		r, data := readBlob(t, m, p, size, "image/webp")
		if r.ContentType != "image/webp" {
			t.Fatalf("size %d: %s, want WebP", size, r.ContentType)
		}
		w, err := webpenc.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		left, right := w.NRGBAAt(size/8, size/2), w.NRGBAAt(size-size/8, size/2)
		if left.A != 0 || right.A != 255 {
			t.Errorf("size %d: alpha %d on the transparent side, %d on the opaque one", size, left.A, right.A)
		}
	}
}

// TestWebPQualityOption checks Options.WebPQuality: it is the quality
// the encoder starts from (at 20, four encodes reach 29, never as close
// as the JPEG, so WebP clients get the JPEG; at the default they get a
// WebP), negative turns WebP off, and above 100 is refused.
func TestWebPQualityOption(t *testing.T) {
	src := encodeJPEG(t, testimage.Photo(200, 200, 6))
	for _, c := range []struct {
		quality int
		want    string
	}{{20, "image/jpeg"}, {0, "image/webp"}} {
		m, _ := webpManager(t, backends()[0], photo.Options{WebPQuality: c.quality})
		p, err := m.Set(t.Context(), "u", bytes.NewReader(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := readBlob(t, m, p, 32, "image/webp"); r.ContentType != c.want {
			t.Errorf("WebPQuality %d: served %s, want %s", c.quality, r.ContentType, c.want)
		}
	}

	m, st := webpManager(t, backends()[0], photo.Options{WebPQuality: -1})
	p, err := m.Set(t.Context(), "u", bytes.NewReader(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := readBlob(t, m, p, 64, "image/webp")
	stored, _ := readBlob(t, m, p, 64, "")
	if r != stored {
		t.Errorf("with WebP off: %+v, want the stored %+v", r, stored)
	}
	if keys := webpKeys(t, st); len(keys) != 0 {
		t.Errorf("WebP off stored %v", keys)
	}
	if _, err := photo.New(photo.NewTestBucket(t), &photo.Options{WebPQuality: 101}); err == nil {
		t.Error("WebPQuality 101 was accepted")
	}
}

// meanAbsDiff is the mean absolute difference of a and b (same size) over
// the premultiplied R, G, B and A samples, so that the colour of a
// transparent pixel does not count.
func meanAbsDiff(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("%v against %v", a.Bounds(), b.Bounds())
	}
	ra, rb := a.Bounds(), b.Bounds()
	var sum float64
	for y := range ra.Dy() {
		for x := range ra.Dx() {
			ca := color.RGBAModel.Convert(a.At(ra.Min.X+x, ra.Min.Y+y)).(color.RGBA)
			cb := color.RGBAModel.Convert(b.At(rb.Min.X+x, rb.Min.Y+y)).(color.RGBA)
			for _, d := range []int{int(ca.R) - int(cb.R), int(ca.G) - int(cb.G), int(ca.B) - int(cb.B), int(ca.A) - int(cb.A)} {
				sum += float64(max(d, -d))
			}
		}
	}
	return sum / float64(4*ra.Dx()*ra.Dy())
}

// TestWebPFromOriginal: the WebP of the largest size, which no stored
// rendition is twice as large as, is made from the normalised original
// with the version's geometry (the crop box scaled to the original, the
// letterbox with its bars, the cover square) when the original's square
// is at least twice its side, and judged against the stored JPEG like
// any other; else WebP clients get the stored JPEG. A PNG rendition
// (transparency) gets a lossless WebP of its own pixels, whatever the
// original. Which source served is told by deleting the original of a
// second user's same version first.
func TestWebPFromOriginal(t *testing.T) {
	translucent := func(m *image.RGBA) *image.NRGBA {
		n := image.NewNRGBA(m.Rect)
		for y := range m.Rect.Dy() {
			for x := range m.Rect.Dx() {
				c := m.RGBAAt(x, y)
				a := uint8(255)
				if (x/40+y/40)%3 == 0 {
					a = 0
				} else if x < 60 {
					a = 128
				}
				n.SetNRGBA(x, y, color.NRGBA{c.R, c.G, c.B, a})
			}
		}
		return n
	}
	big := testimage.Photo(560, 400, 5) // the original (at most 400 a side) is 400x286
	cases := []struct {
		name     string
		upload   []byte
		opts     *photo.SetOptions
		want     string // served to WebP clients
		original bool   // made from the original
	}{
		// 380 upload pixels are 271 of the original's, at least 2x128.
		{"crop", encodePNG(t, big), &photo.SetOptions{Crop: &photo.Crop{X: 100, Y: 10, Size: 380}}, "image/webp", true},
		// Judged from the original, and refused: no WebP of these
		// synthetic squares is both smaller than the JPEG and as close.
		{"letterbox", encodePNG(t, big), &photo.SetOptions{Fit: photo.Letterbox}, "image/jpeg", true},
		{"cover", encodeJPEG(t, big), &photo.SetOptions{Fit: photo.Cover}, "image/jpeg", true},
		{"transparent letterbox: lossless from the PNG", encodePNG(t, translucent(testimage.Photo(300, 200, 6))), nil, "image/webp", false},
		{"small", encodeJPEG(t, testimage.Photo(110, 90, 7)), &photo.SetOptions{Fit: photo.Cover}, "image/jpeg", false},
		// 170 upload pixels are 121 of the original's.
		{"crop the original cannot serve", encodePNG(t, big), &photo.SetOptions{Crop: &photo.Crop{X: 200, Y: 100, Size: 170}}, "image/jpeg", false},
	}
	for _, be := range backends() {
		if strings.HasPrefix(be.name, "s3") {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			m, st := webpManager(t, be, photo.Options{OriginalMaxSide: 400})
			for i, c := range cases {
				user := fmt.Sprintf("u%d", i)
				p, err := m.Set(t.Context(), user, bytes.NewReader(c.upload), c.opts)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				r, data := readBlob(t, m, p, 128, "")
				w, wdata := readBlob(t, m, p, 128, "image/webp")
				if w.ContentType != c.want {
					t.Fatalf("%s: served %s, want %s", c.name, w.ContentType, c.want)
				}
				if c.want != "image/webp" {
					if w != r {
						t.Errorf("%s: served %+v, want the stored %+v", c.name, w, r)
					}
				} else if w.Width != r.Width || w.Height != r.Height || w.Bytes >= r.Bytes {
					t.Fatalf("%s: WebP %dx%d %d bytes, stored %dx%d %d bytes", c.name, w.Width, w.Height, w.Bytes, r.Width, r.Height, r.Bytes)
				}
				if c.want == "image/webp" {
					stored, _, err := image.Decode(bytes.NewReader(data))
					if err != nil {
						t.Fatal(err)
					}
					webp, err := webpenc.Decode(wdata)
					if err != nil {
						t.Fatal(err)
					}
					d := meanAbsDiff(t, webp, stored)
					t.Logf("%s: %dx%d, %d bytes (stored %d), mean absolute difference %.2f", c.name, w.Width, w.Height, w.Bytes, r.Bytes, d)
					if d > 3 {
						t.Errorf("%s: mean absolute difference %.2f from the rendition, want at most 3", c.name, d)
					}
				}
				// The same upload for another user, whose original is
				// gone before the WebP is asked for.
				before := allKeys(t, st, "users/")
				p2, err := m.Set(t.Context(), user+"-again", bytes.NewReader(c.upload), c.opts)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, k := range allKeys(t, st, "users/") {
					if strings.Contains(k, "/original.") && !slices.Contains(before, k) {
						if err := st.Delete(t.Context(), k); err != nil {
							t.Fatal(err)
						}
						n++
					}
				}
				if n != 1 {
					t.Fatalf("%s: %d originals", c.name, n)
				}
				_, err = m.OpenRendition(t.Context(), p2.UserID, p2.VersionID, 128, "image/webp")
				if c.original && !errors.Is(err, photo.ErrNotFound) {
					t.Errorf("%s: without the original: %v, want ErrNotFound", c.name, err)
				}
				if !c.original && err != nil {
					t.Errorf("%s: without the original: %v", c.name, err)
				}
			}
		})
	}
}
