package httpadapter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/s3test"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
	"github.com/profilephoto/photo/storage/s3store"
)

// defaultPath is the path of a user's default photo at size.
func defaultPath(userID, size string) string {
	return "/photos/" + pathSegment(userID) + "/default/" + size
}

// checkDefaultPhotoBody checks a Chatter Photo body of a user without a
// photo: every URL is the default's, there is no photoVersionId, and the
// URLs serve images of their sizes.
func checkDefaultPhotoBody(e *testEnv, user, resourceURL string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatalf("not a Photo: %v: %s", err, body)
		}
		if _, ok := raw["photoVersionId"]; ok {
			t.Errorf("a default has a photoVersionId: %s", body)
		}
		want := map[string]any{
			"smallPhotoUrl":         e.URL + defaultPath(user, "64"),
			"standardEmailPhotoUrl": e.URL + defaultPath(user, "64"),
			"mediumPhotoUrl":        e.URL + defaultPath(user, "160"),
			"largePhotoUrl":         e.URL + defaultPath(user, "200"),
			"fullEmailPhotoUrl":     e.URL + defaultPath(user, "200"),
			"url":                   resourceURL,
		}
		if len(raw) != len(want) {
			t.Errorf("Photo body %s, want the fields of %v", body, want)
		}
		for k, v := range want {
			if raw[k] != v {
				t.Errorf("%s = %v, want %v", k, raw[k], v)
			}
		}
		for _, k := range []string{"smallPhotoUrl", "mediumPhotoUrl", "largePhotoUrl"} {
			u := want[k].(string)
			img, res := e.fetchImage(t, u)
			size, _ := strconv.Atoi(u[strings.LastIndexByte(u, '/')+1:])
			if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
				t.Errorf("%s serves %v", u, b)
			}
			if ct := res.Header.Get("Content-Type"); ct != "image/png" {
				t.Errorf("%s: Content-Type %q", u, ct)
			}
		}
	}
}

// differing returns the fraction of pixels whose colours differ by more
// than a little.
func differing(a, b image.Image) float64 {
	r := a.Bounds()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(x, y)).(color.NRGBA)
			d := 0
			for _, p := range [][2]uint8{{ca.R, cb.R}, {ca.G, cb.G}, {ca.B, cb.B}} {
				d += max(int(p[0])-int(p[1]), int(p[1])-int(p[0]))
			}
			if d > 30 {
				n++
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy())
}

// TestDefaultPhotoRoute checks the default photo's URL on every store:
// the bytes, the validators and caching, HEAD, Range, and what is not
// found.
func TestDefaultPhotoRoute(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) driver.Bucket
	}{
		{"memstore", func(*testing.T) driver.Bucket { return memstore.New() }},
		{"aferostore", func(t *testing.T) driver.Bucket {
			st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()), &aferostore.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
		{"s3store", func(t *testing.T) driver.Bucket {
			srv := s3test.Start(t)
			st, err := s3store.New(srv.Client(), srv.Bucket, nil)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	}
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			e := newTestEnv(t, envConfig{Store: sc.open(t), Options: &Options{PrivateReads: true}})
			alice, res := e.fetchImage(t, e.URL+defaultPath("alice", "200"))
			bob, _ := e.fetchImage(t, e.URL+defaultPath("bob", "200"))
			if f := differing(alice, bob); f < 0.15 {
				t.Errorf("alice's and bob's defaults differ in %.0f%% of their pixels", 100*f)
			}
			etag := res.Header.Get("ETag")
			if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
				t.Errorf("ETag %q is not a strong tag", etag)
			}
			len200 := res.Header.Get("Content-Length")
			runTests(t, e, []httpTest{
				{
					Name: "GET, public whatever PrivateReads says", URL: defaultPath("alice", "200"), Code: http.StatusOK,
					ResHeader: map[string]string{
						"Content-Type": "image/png", "ETag": etag, "Cache-Control": "public, max-age=3600",
						"X-Content-Type-Options": "nosniff", "Content-Length": len200,
					},
				},
				{Name: "HEAD", Method: http.MethodHead, URL: defaultPath("alice", "200"), Code: http.StatusOK, ResBody: "", ResHeader: map[string]string{"ETag": etag, "Content-Length": len200}},
				{Name: "If-None-Match", URL: defaultPath("alice", "200"), ReqHeader: map[string]string{"If-None-Match": `"x", ` + etag}, Code: http.StatusNotModified, ResHeader: map[string]string{"ETag": etag, "Cache-Control": "public, max-age=3600"}},
				{Name: "another user's tag", URL: defaultPath("bob", "200"), ReqHeader: map[string]string{"If-None-Match": etag}, Code: http.StatusOK},
				{Name: "Range", URL: defaultPath("alice", "200"), ReqHeader: map[string]string{"Range": "bytes=0-7"}, Code: http.StatusPartialContent, ResBody: "\x89PNG\r\n\x1a\n"},
				{Name: "on-demand size", URL: defaultPath("alice", "100"), Code: http.StatusOK},
				{Name: "size not served", URL: defaultPath("alice", "201"), Code: http.StatusNotFound},
				{Name: "size not canonical", URL: defaultPath("alice", "0200"), Code: http.StatusNotFound},
				{Name: "no original", URL: defaultPath("alice", "original"), Code: http.StatusNotFound},
				{Name: "POST", Method: http.MethodPost, URL: defaultPath("alice", "200"), Code: http.StatusMethodNotAllowed},
				// The redirect keeps its documented 404 without a photo.
				{Name: "redirect without a photo", URL: "/photos/alice/200", ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound},
			})
			// The default URL keeps serving once the user has a photo; the
			// dialects just stop linking to it.
			p := e.setPhoto(t, "alice", jpegImage(t, 80, 80))
			if _, res := e.fetchImage(t, e.URL+defaultPath("alice", "200")); res.Header.Get("ETag") != etag {
				t.Error("setting a photo changed the default")
			}
			// The placeholder is stored with the photo in this store.
			res, body := e.do(t, http.MethodGet, fmt.Sprintf(piPath, "alice"), withAuth(bearerAlice, nil), nil, false)
			if got := decodeJSON[imageBody](t, body); res.StatusCode != http.StatusOK || got.Placeholder == "" || got.Placeholder != p.Placeholder {
				t.Errorf("profile-image GET: %d, placeholder %q, want %q", res.StatusCode, got.Placeholder, p.Placeholder)
			}
		})
	}
}

// TestDefaultsInDialects checks what each dialect answers for a user
// without a photo, with defaults on and off, and the placeholder of a
// photo in the profile-image and Slack bodies.
func TestDefaultsInDialects(t *testing.T) {
	names := map[string]string{"carol": "Carol Danvers"}
	e := newTestEnv(t, envConfig{Photo: &photo.Options{DisplayName: func(_ context.Context, id string) (string, error) { return names[id], nil }}})
	piGet := fmt.Sprintf(piPath, "bob")
	runTests(t, e, []httpTest{
		{Name: "Chatter", URL: chatterPath("bob"), Code: http.StatusOK, ResHeader: map[string]string{"Cache-Control": "no-cache", "ETag": "-"}, Check: checkDefaultPhotoBody(e, "bob", e.URL+chatterPath("bob"))},
		{Name: "profile-image keeps its 404", URL: piGet, Code: http.StatusNotFound},
	})
	// Initials: a new display name is a new picture under the same URL.
	_, r1 := e.fetchImage(t, e.URL+defaultPath("carol", "64"))
	names["carol"] = "Zed"
	_, r2 := e.fetchImage(t, e.URL+defaultPath("carol", "64"))
	if r1.Header.Get("ETag") == r2.Header.Get("ETag") {
		t.Error("a new display name kept the ETag")
	}

	p := e.setPhoto(t, "bob", jpegImage(t, 120, 90))
	if p.Placeholder == "" {
		t.Fatal("no placeholder")
	}
	res, body := e.do(t, http.MethodGet, piGet, nil, nil, false)
	if got := decodeJSON[imageBody](t, body); res.StatusCode != http.StatusOK || got.Placeholder != p.Placeholder {
		t.Errorf("profile-image GET: %d, placeholder %q, want %q", res.StatusCode, got.Placeholder, p.Placeholder)
	}
	h, mp := multipartReq(t, withAuth(bearerBob, nil), filePart("file", "b.png", "image/png", pngImage(t, 50, 70)))
	res, body = e.do(t, http.MethodPost, piGet, h, mp, false)
	got := decodeJSON[imageBody](t, body)
	if now := e.getPhoto(t, "bob"); res.StatusCode != http.StatusCreated || got.Placeholder == "" || got.Placeholder != now.Placeholder || got.Placeholder == p.Placeholder {
		t.Errorf("profile-image POST: %d, placeholder %q, the photo's %q", res.StatusCode, got.Placeholder, now.Placeholder)
	}
	// Chatter's body stays Salesforce's: no placeholder.
	_, body = e.do(t, http.MethodGet, chatterPath("bob"), nil, nil, false)
	if bytes.Contains(body, []byte("placeholder")) {
		t.Errorf("Chatter's Photo has a placeholder: %s", body)
	}

	off := newTestEnv(t, envConfig{Photo: &photo.Options{NoDefaultPhoto: true}})
	runTests(t, off, []httpTest{
		{Name: "off: Chatter", URL: chatterPath("bob"), Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")},
		{Name: "off: Slack", URL: "/api/users.profile.get?user=bob", ReqHeader: withAuth(bearerAlice, nil), Code: slackStatus, ResBody: `{"ok":true,"profile":{"is_custom_image":false}}`},
		{Name: "off: the route", URL: defaultPath("bob", "64"), Code: http.StatusNotFound, ResHeader: map[string]string{"Cache-Control": "no-cache"}},
	})
}

// BenchmarkDefaultPhoto measures a GET of a default photo through the
// handler (in process, no network): from the Manager's cache, and drawn
// anew each time (the cache off), at three sizes.
func BenchmarkDefaultPhoto(b *testing.B) {
	for _, cached := range []bool{true, false} {
		for _, size := range []int{64, 200, 512} {
			name := fmt.Sprintf("cached=%v/%dpx", cached, size)
			b.Run(name, func(b *testing.B) {
				po := &photo.Options{}
				if !cached {
					po.DefaultCacheBytes = -1
				}
				m, err := photo.New(storage.NewBucket(memstore.New()), po)
				if err != nil {
					b.Fatal(err)
				}
				h, err := New(m, nil)
				if err != nil {
					b.Fatal(err)
				}
				req := httptest.NewRequest(http.MethodGet, defaultPath("bench-user", strconv.Itoa(size)), nil)
				b.ReportAllocs()
				for b.Loop() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		}
	}
}
