package httpadapter

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/webpenc"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

func TestWantsWebP(t *testing.T) {
	cases := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"image/webp"}, true},
		{[]string{"IMAGE/WebP"}, true},
		{[]string{"*/*"}, false},
		{[]string{"image/*"}, false},
		{[]string{"image/*,*/*;q=0.8"}, false},
		{[]string{"image/jpeg"}, false},
		// Chrome, Firefox and Safari.
		{[]string{"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"}, true},
		{[]string{"image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"}, true},
		{[]string{"image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"}, true},
		// An older Safari, which cannot show WebP.
		{[]string{"image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"}, false},
		{[]string{"image/webp;q=0"}, false},
		{[]string{"image/webp;q=0.000, */*"}, false},
		{[]string{"image/webp ; Q=0", "image/*"}, false},
		{[]string{"image/webp;q=0.5, image/jpeg"}, false},
		{[]string{"image/webp;q=0.5, image/*;q=0.4"}, true},
		{[]string{"image/webp;q=0.5, image/png;q=0.9, image/jpeg;q=0.1"}, false},
		{[]string{"image/webp;q=0.5", "image/jpeg;q=0.5"}, true}, // a tie: the smaller file
		{[]string{"image/jpeg", "image/webp"}, true},             // two header lines
		{[]string{"image/webp;q=1.0"}, true},
		{[]string{"image/webp;q=1.5"}, false}, // malformed: ignored
		{[]string{"image/webp;q=abc"}, false},
		{[]string{"image/webp;q=0.1234"}, false},
		{[]string{"image/webp;level=1;q=0.2, image/jpeg;q=0.1"}, true},
		{[]string{"image/webpx, image/web"}, false},
		{[]string{"text/html, application/xhtml+xml"}, false},
	}
	for _, c := range cases {
		if got := wantsWebP(c.accept); got != c.want {
			t.Errorf("wantsWebP(%q) = %v, want %v", c.accept, got, c.want)
		}
	}
}

const acceptChrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"

func TestWebPServing(t *testing.T) {
	for _, st := range []struct {
		name string
		open func(t *testing.T) driver.Bucket
	}{
		{"memstore", func(*testing.T) driver.Bucket { return memstore.New() }},
		// The filesystem store hands its files to the connection (sendfile).
		{"aferostore-OsFs", func(t *testing.T) driver.Bucket {
			st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()), &aferostore.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	} {
		t.Run(st.name, func(t *testing.T) {
			testWebPServing(t, newTestEnv(t, envConfig{Store: st.open(t)}))
		})
	}
}

func testWebPServing(t *testing.T, e *testEnv) {
	p := e.setPhoto(t, "alice", jpegImage(t, 300, 200))
	vid := p.VersionID
	r64, _ := rendition(p, 64)
	jpegTag := strconv.Quote(r64.ETag)
	u64 := versionedPath("alice", vid, "64")
	r160, _ := rendition(p, 160)
	r160Tag := strconv.Quote(r160.ETag)
	webp := map[string]string{"Accept": acceptChrome}

	// The WebP as the library opens it, for its ETag and bytes.
	b, err := e.M.OpenRendition(t.Context(), "alice", vid, 64, "image/webp")
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	webpTag := strconv.Quote(b.Rendition.ETag)
	if webpTag == jpegTag {
		t.Fatalf("the WebP and the JPEG share the ETag %s", webpTag)
	}
	_, full := e.do(t, http.MethodGet, u64, webp, nil, false)
	if !bytes.HasPrefix(full, []byte("RIFF")) || int64(len(full)) != b.Rendition.Bytes {
		t.Fatalf("the WebP body is %d bytes starting %q, want %d bytes of RIFF", len(full), full[:min(4, len(full))], b.Rendition.Bytes)
	}
	size := strconv.Itoa(len(full))
	isWebP := func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		if _, err := webpenc.Decode(body); err != nil {
			t.Errorf("the body is not a WebP: %v", err)
		}
	}
	immutable := "public, max-age=31536000, immutable"

	runTests(t, e, []httpTest{
		{
			Name: "GET WebP", URL: u64, ReqHeader: webp, Code: http.StatusOK,
			ResHeader: map[string]string{
				"Content-Type": "image/webp", "ETag": webpTag, "Vary": "Accept", "Content-Length": size,
				"Cache-Control": immutable, "X-Content-Type-Options": "nosniff", "Accept-Ranges": "bytes",
			},
			Check: isWebP,
		},
		{
			Name: "GET without Accept: JPEG", URL: u64, Code: http.StatusOK,
			ResHeader: map[string]string{"Content-Type": "image/jpeg", "ETag": jpegTag, "Vary": "Accept"},
			Check:     checkImage(64, 64),
		},
		{
			Name: "*/* alone: JPEG", URL: u64, ReqHeader: map[string]string{"Accept": "*/*"}, Code: http.StatusOK,
			ResHeader: map[string]string{"Content-Type": "image/jpeg", "ETag": jpegTag, "Vary": "Accept"},
		},
		{
			Name: "WebP refused with q=0", URL: u64, ReqHeader: map[string]string{"Accept": "image/webp;q=0, */*"}, Code: http.StatusOK,
			ResHeader: map[string]string{"Content-Type": "image/jpeg", "ETag": jpegTag, "Vary": "Accept"},
		},
		{
			Name: "HEAD WebP", Method: http.MethodHead, URL: u64, ReqHeader: webp, Code: http.StatusOK,
			ResHeader: map[string]string{"Content-Type": "image/webp", "ETag": webpTag, "Vary": "Accept", "Content-Length": size},
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				if len(body) != 0 {
					t.Errorf("HEAD answered %d body bytes", len(body))
				}
			},
		},
		{
			Name: "HEAD JPEG", Method: http.MethodHead, URL: u64, Code: http.StatusOK,
			ResHeader: map[string]string{"Content-Type": "image/jpeg", "ETag": jpegTag, "Vary": "Accept", "Content-Length": strconv.FormatInt(r64.Bytes, 10)},
		},
		{
			Name: "If-None-Match WebP tag, WebP wanted", URL: u64, ReqHeader: map[string]string{"Accept": acceptChrome, "If-None-Match": webpTag},
			Code: http.StatusNotModified, ResHeader: map[string]string{"ETag": webpTag, "Vary": "Accept"},
		},
		{
			Name: "If-None-Match JPEG tag, WebP wanted", URL: u64, ReqHeader: map[string]string{"Accept": acceptChrome, "If-None-Match": jpegTag},
			Code: http.StatusOK, ResHeader: map[string]string{"Content-Type": "image/webp", "ETag": webpTag, "Vary": "Accept"},
		},
		{
			Name: "If-None-Match WebP tag, JPEG wanted", URL: u64, ReqHeader: map[string]string{"If-None-Match": webpTag},
			Code: http.StatusOK, ResHeader: map[string]string{"Content-Type": "image/jpeg", "ETag": jpegTag, "Vary": "Accept"},
		},
		{
			Name: "If-None-Match JPEG tag, JPEG wanted", URL: u64, ReqHeader: map[string]string{"If-None-Match": jpegTag},
			Code: http.StatusNotModified, ResHeader: map[string]string{"ETag": jpegTag, "Vary": "Accept"},
		},
		{
			Name: "Range of the WebP", URL: u64, ReqHeader: map[string]string{"Accept": acceptChrome, "Range": "bytes=0-9"},
			Code: http.StatusPartialContent,
			ResHeader: map[string]string{
				"Content-Range": "bytes 0-9/" + size, "Content-Length": "10", "Content-Type": "image/webp",
				"ETag": webpTag, "Vary": "Accept",
			},
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				if !bytes.Equal(body, full[:10]) {
					t.Errorf("range body %q, want %q", body, full[:10])
				}
			},
		},
		{
			Name: "If-Range WebP tag", URL: u64, ReqHeader: map[string]string{"Accept": acceptChrome, "Range": "bytes=4-7", "If-Range": webpTag},
			Code: http.StatusPartialContent, ResHeader: map[string]string{"Content-Range": "bytes 4-7/" + size, "Vary": "Accept"},
		},
		{
			Name: "If-Range JPEG tag, WebP wanted: the whole WebP", URL: u64, ReqHeader: map[string]string{"Accept": acceptChrome, "Range": "bytes=4-7", "If-Range": jpegTag},
			Code: http.StatusOK, ResHeader: map[string]string{"Content-Length": size, "Content-Type": "image/webp", "Vary": "Accept"},
		},
		{
			Name: "Range past the WebP's end", URL: u64, ReqHeader: map[string]string{"Accept": acceptChrome, "Range": fmt.Sprintf("bytes=%d-", len(full))},
			Code:      http.StatusRequestedRangeNotSatisfiable,
			ResHeader: map[string]string{"Content-Range": "bytes */" + size, "Vary": "Accept", "ETag": "-"},
		},
		{
			Name: "on-demand size as WebP", URL: versionedPath("alice", vid, "100"), ReqHeader: webp, Code: http.StatusOK,
			ResHeader: map[string]string{"Content-Type": "image/webp", "Vary": "Accept", "ETag": "*"},
			Check:     checkImage(100, 100),
		},
		{
			Name: "the original is not negotiated", URL: versionedPath("alice", vid, "original"), ReqHeader: webp, Code: http.StatusOK,
			ResHeader: map[string]string{"Content-Type": "image/jpeg", "Vary": "-"},
		},
		{
			Name: "redirect varies on Accept", URL: currentPath("alice", "64"), ReqHeader: webp, Code: http.StatusFound,
			ResHeader: map[string]string{"Location": e.URL + u64, "Vary": "Accept"},
		},
		{
			Name: "HEAD redirect varies on Accept", Method: http.MethodHead, URL: currentPath("alice", "64"), Code: http.StatusFound,
			ResHeader: map[string]string{"Location": e.URL + u64, "Vary": "Accept"},
		},
		{Name: "unknown size as WebP", URL: versionedPath("alice", vid, "65"), ReqHeader: webp, Code: http.StatusNotFound},
		// No source twice as large as 160 (the photo is 300x200): no
		// WebP is as close as the JPEG, which WebP clients get, varying.
		{
			Name: "no WebP for the size: the JPEG", URL: versionedPath("alice", vid, "160"), ReqHeader: webp, Code: http.StatusOK,
			ResHeader: map[string]string{"Content-Type": "image/jpeg", "ETag": r160Tag, "Vary": "Accept"},
			Check:     checkImage(160, 160),
		},
		{
			Name: "no WebP for the size: 304 on the JPEG's tag", URL: versionedPath("alice", vid, "160"),
			ReqHeader: map[string]string{"Accept": acceptChrome, "If-None-Match": r160Tag},
			Code:      http.StatusNotModified, ResHeader: map[string]string{"ETag": r160Tag, "Vary": "Accept"},
		},
	})

	t.Run("alpha", func(t *testing.T) {
		img := image.NewNRGBA(image.Rect(0, 0, 96, 96))
		for y := range 96 {
			for x := range 96 {
				img.SetNRGBA(x, y, color.NRGBA{200, uint8(y), 40, uint8(min(255, 4*x))})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		pa := e.setPhoto(t, "carol", buf.Bytes())
		u := versionedPath("carol", pa.VersionID, "64")
		runTests(t, e, []httpTest{
			{Name: "PNG without Accept", URL: u, Code: http.StatusOK, ResHeader: map[string]string{"Content-Type": "image/png", "Vary": "Accept"}},
			{
				Name: "WebP with alpha", URL: u, ReqHeader: webp, Code: http.StatusOK,
				ResHeader: map[string]string{"Content-Type": "image/webp", "Vary": "Accept"},
				Check: func(t *testing.T, _ *http.Response, body []byte) {
					m, err := webpenc.Decode(body)
					if err != nil {
						t.Fatal(err)
					}
					if a0, a1 := m.NRGBAAt(0, 32).A, m.NRGBAAt(63, 32).A; a0 > 10 || a1 < 245 {
						t.Errorf("alpha %d at the left edge, %d at the right: want about 0 and 255", a0, a1)
					}
				},
			},
		})
	})

	t.Run("concurrent first requests", func(t *testing.T) {
		u := versionedPath("alice", vid, "48")
		const n = 6
		bodies := make([][]byte, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				req, _ := http.NewRequest(http.MethodGet, e.URL+u, nil)
				req.Header.Set("Accept", acceptChrome)
				res, err := e.Client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				var b bytes.Buffer
				if _, err := b.ReadFrom(res.Body); err != nil {
					t.Error(err)
				}
				if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/webp" {
					t.Errorf("status %d, %s", res.StatusCode, res.Header.Get("Content-Type"))
				}
				bodies[i] = b.Bytes()
			})
		}
		wg.Wait()
		for i := range n {
			if len(bodies[i]) == 0 || !bytes.Equal(bodies[i], bodies[0]) {
				t.Fatalf("response %d has %d bytes, response 0 %d: want the same WebP", i, len(bodies[i]), len(bodies[0]))
			}
		}
	})
}

// TestWebPOff checks that with WebP turned off the routes serve the stored
// format to every client, still with Vary: Accept.
func TestWebPOff(t *testing.T) {
	e := newTestEnv(t, envConfig{Photo: &photo.Options{WebPQuality: -1}})
	p := e.setPhoto(t, "alice", jpegImage(t, 300, 200))
	r64, _ := rendition(p, 64)
	runTests(t, e, []httpTest{{
		Name: "WebP wanted, JPEG served", URL: versionedPath("alice", p.VersionID, "64"), ReqHeader: map[string]string{"Accept": acceptChrome},
		Code: http.StatusOK, ResHeader: map[string]string{"Content-Type": "image/jpeg", "ETag": strconv.Quote(r64.ETag), "Vary": "Accept"},
	}})
}

// busyWebP is a Service with no room to make WebPs.
type busyWebP struct{ Service }

func (s busyWebP) OpenRendition(ctx context.Context, userID, versionID string, size int, format string) (*photo.Blob, error) {
	if format != "" {
		return nil, &photo.Error{Code: photo.ErrBusy}
	}
	return s.Service.OpenRendition(ctx, userID, versionID, size, format)
}

// TestWebPBusy checks that a WebP that cannot be made now (ErrBusy) gives
// way to the stored format, cached briefly rather than for a year.
func TestWebPBusy(t *testing.T) {
	e := newTestEnv(t, envConfig{})
	p := e.setPhoto(t, "alice", jpegImage(t, 300, 200))
	h, err := New(busyWebP{e.M}, &Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	req := httptest.NewRequest(http.MethodGet, versionedPath("alice", p.VersionID, "64"), nil)
	req.Header.Set("Accept", acceptChrome)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/jpeg" ||
		res.Header.Get("Vary") != "Accept" || res.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("status %d, Content-Type %q, Vary %q, Cache-Control %q; want 200 image/jpeg, Accept, public, max-age=60",
			res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Vary"), res.Header.Get("Cache-Control"))
	}
}
