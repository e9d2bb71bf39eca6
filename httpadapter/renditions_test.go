package httpadapter

import (
	"bytes"
	"fmt"
	"image"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

// versionedPath is the path of one rendition, as the adapter writes it.
func versionedPath(userID, versionID, size string) string {
	return "/photos/" + pathSegment(userID) + "/" + pathSegment(versionID) + "/" + size
}

// currentPath is the path that redirects to the current version.
func currentPath(userID, size string) string {
	return "/photos/" + pathSegment(userID) + "/" + size
}

// checkImage returns a Check that decodes the body and wants w by h.
func checkImage(w, h int) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("body is not an image: %v", err)
		}
		if cfg.Width != w || cfg.Height != h {
			t.Errorf("image is %dx%d, want %dx%d", cfg.Width, cfg.Height, w, h)
		}
	}
}

func TestRenditionServing(t *testing.T) {
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
			testRenditionServing(t, newTestEnv(t, envConfig{Store: st.open(t)}))
		})
	}
}

func testRenditionServing(t *testing.T, e *testEnv) {
	p := e.setPhoto(t, "alice", jpegImage(t, 300, 200))
	vid := p.VersionID
	r64, ok := rendition(p, 64)
	if !ok {
		t.Fatal("no 64 px rendition")
	}
	etag := `"` + r64.ETag + `"`
	u64 := versionedPath("alice", vid, "64")

	// The whole rendition, for the Range checks.
	_, full := e.do(t, http.MethodGet, u64, nil, nil, false)
	if int64(len(full)) != r64.Bytes {
		t.Fatalf("rendition is %d bytes, the record says %d", len(full), r64.Bytes)
	}

	runTests(t, e, []httpTest{
		{
			Name: "GET 64", URL: u64, Code: http.StatusOK,
			ResHeader: map[string]string{
				"Content-Type":           r64.ContentType,
				"ETag":                   etag,
				"Cache-Control":          "public, max-age=31536000, immutable",
				"X-Content-Type-Options": "nosniff",
				"Content-Length":         strconv.FormatInt(r64.Bytes, 10),
				"Last-Modified":          "*",
				"Accept-Ranges":          "bytes",
			},
			Check: checkImage(64, 64),
		},
		{
			Name: "HEAD 64", Method: http.MethodHead, URL: u64, Code: http.StatusOK,
			ResHeader: map[string]string{
				"ETag": etag, "Content-Length": strconv.FormatInt(r64.Bytes, 10),
				"X-Content-Type-Options": "nosniff",
			},
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				if len(body) != 0 {
					t.Errorf("HEAD answered %d body bytes", len(body))
				}
			},
		},
		{
			Name: "If-None-Match current", URL: u64, ReqHeader: map[string]string{"If-None-Match": etag},
			Code: http.StatusNotModified, ResHeader: map[string]string{"ETag": etag},
		},
		{
			Name: "If-None-Match star", URL: u64, ReqHeader: map[string]string{"If-None-Match": "*"},
			Code: http.StatusNotModified,
		},
		{
			Name: "If-None-Match weak, in a list", URL: u64, ReqHeader: map[string]string{"If-None-Match": `"other", W/` + etag},
			Code: http.StatusNotModified, ResHeader: map[string]string{"ETag": etag},
		},
		{
			Name: "If-Modified-Since later", URL: u64, ReqHeader: map[string]string{"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"},
			Code: http.StatusNotModified,
		},
		{
			Name: "If-Match other", URL: u64, ReqHeader: map[string]string{"If-Match": `"other"`},
			Code: http.StatusPreconditionFailed,
		},
		{
			Name: "If-None-Match other", URL: u64, ReqHeader: map[string]string{"If-None-Match": `"other"`},
			Code: http.StatusOK,
		},
		{
			Name: "Range first bytes", URL: u64, ReqHeader: map[string]string{"Range": "bytes=0-9"},
			Code: http.StatusPartialContent,
			ResHeader: map[string]string{
				"Content-Range": fmt.Sprintf("bytes 0-9/%d", len(full)), "Content-Length": "10",
				"ETag": etag, "X-Content-Type-Options": "nosniff",
			},
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				if !bytes.Equal(body, full[:10]) {
					t.Errorf("range body %x, want %x", body, full[:10])
				}
			},
		},
		{
			Name: "Range suffix", URL: u64, ReqHeader: map[string]string{"Range": "bytes=-5"},
			Code: http.StatusPartialContent,
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				if !bytes.Equal(body, full[len(full)-5:]) {
					t.Errorf("suffix range body %x, want %x", body, full[len(full)-5:])
				}
			},
		},
		{
			Name: "If-Range stale ETag gives the whole body", URL: u64,
			ReqHeader: map[string]string{"Range": "bytes=0-9", "If-Range": `"stale"`},
			Code:      http.StatusOK, ResHeader: map[string]string{"Content-Length": strconv.Itoa(len(full))},
		},
		{
			Name: "Range past the end", URL: u64, ReqHeader: map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(full)+10)},
			Code:      http.StatusRequestedRangeNotSatisfiable,
			ResHeader: map[string]string{"Cache-Control": "-", "ETag": "-"},
		},
		{Name: "original", URL: versionedPath("alice", vid, "original"), Code: http.StatusOK, Check: checkImage(300, 200)},
		{Name: "largest", URL: versionedPath("alice", vid, "1024"), Code: http.StatusOK, Check: checkImage(300, 300)},
		{
			Name: "on-demand size", URL: versionedPath("alice", vid, "100"), Code: http.StatusOK,
			ResHeader: map[string]string{"ETag": "*", "Cache-Control": "public, max-age=31536000, immutable"},
			Check:     checkImage(100, 100),
		},
		{Name: "on-demand size again, now stored", URL: versionedPath("alice", vid, "100"), Code: http.StatusOK, Check: checkImage(100, 100)},
		{Name: "size not offered", URL: versionedPath("alice", vid, "65"), Code: http.StatusNotFound, ResContains: []string{`"code":"not-found"`}},
		{Name: "size with leading zero", URL: versionedPath("alice", vid, "064"), Code: http.StatusNotFound},
		{Name: "size with sign", URL: versionedPath("alice", vid, "+64"), Code: http.StatusNotFound},
		{Name: "size zero", URL: versionedPath("alice", vid, "0"), Code: http.StatusNotFound},
		{Name: "size negative", URL: versionedPath("alice", vid, "-64"), Code: http.StatusNotFound},
		{Name: "size words", URL: versionedPath("alice", vid, "large"), Code: http.StatusNotFound},
		{Name: "size huge", URL: versionedPath("alice", vid, "99999999999999999999"), Code: http.StatusNotFound},
		{Name: "unknown version", URL: versionedPath("alice", "aaaaaaaaaaaaaaaa", "64"), Code: http.StatusNotFound},
		{Name: "malformed version", URL: versionedPath("alice", "../../etc", "64"), Code: http.StatusNotFound},
		{Name: "unknown user", URL: versionedPath("carol", vid, "64"), Code: http.StatusNotFound},
		{Name: "user ID too long", URL: versionedPath(strings.Repeat("x", 300), vid, "64"), Code: http.StatusNotFound},
		{Name: "POST is not allowed", Method: http.MethodPost, URL: u64, Code: http.StatusMethodNotAllowed, ResHeader: map[string]string{"Allow": "*"}},
		{
			Name: "current redirects", URL: currentPath("alice", "64"), Code: http.StatusFound,
			ResHeader: map[string]string{"Location": e.URL + u64, "Cache-Control": "public, max-age=60"},
		},
		{
			// The redirect carries no HTML: nothing the adapter serves is
			// a page.
			Name: "redirect has no HTML body", URL: currentPath("alice", "64"), Code: http.StatusFound,
			ResHeader: map[string]string{"X-Content-Type-Options": "nosniff", "Content-Length": "0"},
			Check: func(t *testing.T, res *http.Response, body []byte) {
				if ct := res.Header.Get("Content-Type"); strings.Contains(ct, "html") || len(body) != 0 {
					t.Errorf("redirect Content-Type %q, body %q", ct, body)
				}
			},
		},
		{
			Name: "current original", URL: currentPath("alice", "original"), Code: http.StatusFound,
			ResHeader: map[string]string{"Location": e.URL + versionedPath("alice", vid, "original")},
		},
		{
			Name: "current with a valid token", URL: currentPath("alice", "64"), ReqHeader: withAuth(bearerBob, nil),
			Code: http.StatusFound, ResHeader: map[string]string{"Location": e.URL + u64},
		},
		{Name: "current with a bad token", URL: currentPath("alice", "64"), ReqHeader: withAuth(bearerBad, nil), Code: http.StatusUnauthorized},
		{Name: "current of a user without photo", URL: currentPath("bob", "64"), Code: http.StatusNotFound, ResHeader: map[string]string{"Cache-Control": "no-cache"}},
		{Name: "current of an unknown size", URL: currentPath("alice", "65"), Code: http.StatusNotFound},
		{Name: "HEAD current", Method: http.MethodHead, URL: currentPath("alice", "64"), Code: http.StatusFound},
	})

	t.Run("a replaced version is gone", func(t *testing.T) {
		p2 := e.setPhoto(t, "alice", pngImage(t, 120, 120))
		if p2.VersionID == vid {
			t.Fatal("a new upload kept the version ID")
		}
		n64, _ := rendition(p2, 64)
		runTests(t, e, []httpTest{
			{Name: "old", URL: u64, Code: http.StatusNotFound},
			{Name: "new", URL: versionedPath("alice", p2.VersionID, "64"), Code: http.StatusOK, ResHeader: map[string]string{"Content-Type": n64.ContentType}, Check: checkImage(64, 64)},
			{Name: "current follows", URL: currentPath("alice", "64"), Code: http.StatusFound, ResHeader: map[string]string{"Location": e.URL + versionedPath("alice", p2.VersionID, "64")}},
		})
	})
}

// TestRenditionUserIDs checks that any user ID survives in a URL: "/"
// (%2F inside one segment), dot segments, unicode, spaces, reserved
// characters.
func TestRenditionUserIDs(t *testing.T) {
	e := newTestHandler(t, nil)
	img := jpegImage(t, 80, 80)
	for _, id := range []string{"a/b", "/leading", "trailing/", "..", ".", "../../etc/passwd", "ünïcødé 🙂", "with space", "q?x#y", "100%", "a%2Fb", "me", "photos", "a\\b", "タロウ"} {
		t.Run(id, func(t *testing.T) {
			p := e.setPhoto(t, id, img)
			runTests(t, e, []httpTest{
				{Name: "versioned", URL: versionedPath(id, p.VersionID, "48"), Code: http.StatusOK, Check: checkImage(48, 48)},
				{Name: "current", URL: currentPath(id, "48"), Code: http.StatusFound, ResHeader: map[string]string{"Location": e.URL + versionedPath(id, p.VersionID, "48")}},
			})
			// The URL the adapter makes is the one that works.
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/", nil)
			req.Host = strings.TrimPrefix(e.Srv.URL, "http://")
			got := e.H.renditionURL(req, id, p.VersionID, 48)
			if want := e.URL + versionedPath(id, p.VersionID, "48"); got != want {
				t.Errorf("renditionURL = %q, want %q", got, want)
			}
		})
	}
	// Another user's ID that a decoded path would confuse with this one.
	e.setPhoto(t, "a", jpegImage(t, 90, 90)) // another image: another version ID
	p := e.getPhoto(t, "a/b")
	httpTest{Name: "a/b is not a", URL: versionedPath("a", p.VersionID, "48"), Code: http.StatusNotFound}.run(t, e)
}

func TestRenditionPrefixAndBaseURL(t *testing.T) {
	t.Run("StripPrefix", func(t *testing.T) {
		e := newTestEnv(t, envConfig{Prefix: "/avatars"})
		p := e.setPhoto(t, "a/b", jpegImage(t, 64, 64))
		want := e.URL + versionedPath("a/b", p.VersionID, "64")
		if !strings.Contains(want, "/avatars/photos/") {
			t.Fatalf("test URL %q lacks the prefix", want)
		}
		runTests(t, e, []httpTest{
			{Name: "redirect keeps the prefix", URL: currentPath("a/b", "64"), Code: http.StatusFound, ResHeader: map[string]string{"Location": want}},
			{Name: "bytes under the prefix", URL: versionedPath("a/b", p.VersionID, "64"), Code: http.StatusOK, Check: checkImage(64, 64)},
		})
		if _, res := e.fetchImage(t, e.URL+currentPath("a/b", "64")); res.Request.URL.String() != want {
			t.Errorf("followed to %s, want %s", res.Request.URL, want)
		}
		res, _ := e.do(t, http.MethodGet, e.Srv.URL+currentPath("a/b", "64"), nil, nil, false)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("outside the prefix: status %d, want 404", res.StatusCode)
		}
	})
	t.Run("BaseURL", func(t *testing.T) {
		e := newTestHandler(t, &Options{BaseURL: "https://img.example.com/base/"})
		p := e.setPhoto(t, "alice", jpegImage(t, 64, 64))
		httpTest{
			Name: "redirect", URL: currentPath("alice", "64"), Code: http.StatusFound,
			ResHeader: map[string]string{"Location": "https://img.example.com/base" + versionedPath("alice", p.VersionID, "64")},
		}.run(t, e)
	})
	t.Run("Host header", func(t *testing.T) {
		e := newTestHandler(t, nil)
		p := e.setPhoto(t, "alice", jpegImage(t, 64, 64))
		httpTest{
			Name: "redirect", URL: currentPath("alice", "64"), ReqHeader: map[string]string{"Host": "photos.test:8443"}, Code: http.StatusFound,
			ResHeader: map[string]string{"Location": "http://photos.test:8443" + versionedPath("alice", p.VersionID, "64")},
		}.run(t, e)
	})
}

func TestRenditionPrivateReads(t *testing.T) {
	e := newTestHandler(t, &Options{PrivateReads: true})
	p := e.setPhoto(t, "alice", jpegImage(t, 64, 64))
	runTests(t, e, []httpTest{
		{Name: "bytes stay public", URL: versionedPath("alice", p.VersionID, "64"), Code: http.StatusOK},
		{Name: "redirect needs credentials", URL: currentPath("alice", "64"), Code: http.StatusUnauthorized, ResContains: []string{`"code":"unauthorized"`}},
		{Name: "redirect refuses a bad token", URL: currentPath("alice", "64"), ReqHeader: withAuth(bearerBad, nil), Code: http.StatusUnauthorized},
		{
			Name: "redirect with a token", URL: currentPath("alice", "64"), ReqHeader: withAuth(bearerBob, nil), Code: http.StatusFound,
			ResHeader: map[string]string{"Cache-Control": "private, max-age=60", "Vary": "Authorization"},
		},
	})
}

func TestSignedPhotoURLs(t *testing.T) {
	e := newTestHandler(t, &Options{PrivateReads: true, SigningKey: []byte("test key"), EmailURLTTL: time.Hour})
	p := e.setPhoto(t, "a/b", jpegImage(t, 300, 300))
	exp := e.Clock.Now().Add(time.Hour).Unix()
	signed := func(user, size string, exp int64) string {
		return currentPath(user, size) + "?expires=" + strconv.FormatInt(exp, 10) + "&sig=" + e.H.photoSignature(user, size, exp)
	}
	good := signed("a/b", "200", exp)
	runTests(t, e, []httpTest{
		{
			Name: "valid without credentials", URL: good, Code: http.StatusFound,
			ResHeader: map[string]string{"Location": e.URL + versionedPath("a/b", p.VersionID, "200")},
		},
		{Name: "valid with a bad token", URL: good, ReqHeader: withAuth(bearerBad, nil), Code: http.StatusUnauthorized},
		{Name: "tampered signature", URL: good[:len(good)-2] + "AA", Code: http.StatusForbidden, ResContains: []string{`"code":"invalid-signature"`}},
		{Name: "extended expiry", URL: strings.Replace(good, strconv.FormatInt(exp, 10), strconv.FormatInt(exp+3600, 10), 1), Code: http.StatusForbidden},
		{Name: "other size", URL: strings.Replace(good, "/200?", "/64?", 1), Code: http.StatusForbidden},
		{Name: "other user", URL: strings.Replace(good, "a%2Fb", "alice", 1), Code: http.StatusForbidden},
		{Name: "sig without expires", URL: currentPath("a/b", "200") + "?sig=" + e.H.photoSignature("a/b", "200", exp), Code: http.StatusForbidden},
		{Name: "expires without sig", URL: currentPath("a/b", "200") + "?expires=" + strconv.FormatInt(exp, 10), Code: http.StatusForbidden},
		{Name: "malformed expires", URL: currentPath("a/b", "200") + "?expires=soon&sig=x", Code: http.StatusForbidden},
		{Name: "signed by another key", URL: currentPath("a/b", "200") + "?expires=" + strconv.FormatInt(exp, 10) + "&sig=" + otherKeySignature(t, "a/b", "200", exp), Code: http.StatusForbidden},
	})
	e.Clock.Advance(time.Hour + time.Second)
	httpTest{Name: "expired", URL: good, Code: http.StatusGone, ResContains: []string{`"code":"link-expired"`, "expired"}}.run(t, e)
}

// otherKeySignature signs with a handler that has another key.
func otherKeySignature(t *testing.T, user, size string, exp int64) string {
	other := newTestHandler(t, &Options{SigningKey: []byte("another key")})
	return other.H.photoSignature(user, size, exp)
}

func TestRenditionStorageFailure(t *testing.T) {
	e := newTestHandler(t, nil)
	p := e.setPhoto(t, "alice", jpegImage(t, 64, 64))
	e.Store.failOpen.Store(true)
	runTests(t, e, []httpTest{
		{Name: "bytes", URL: versionedPath("alice", p.VersionID, "64"), Code: http.StatusInternalServerError, ResContains: []string{`"code":"internal-error"`}},
		{Name: "redirect", URL: currentPath("alice", "64"), Code: http.StatusInternalServerError},
	})
}

func TestServedSize(t *testing.T) {
	e := newTestEnv(t, envConfig{Photo: &photo.Options{Sizes: []int{50, 150}, OnDemandSizes: []int{}}})
	for _, c := range []struct{ want, got int }{{24, 50}, {50, 50}, {64, 150}, {150, 150}, {1024, 150}} {
		if got := e.H.servedSize(c.want); got != c.got {
			t.Errorf("servedSize(%d) = %d, want %d", c.want, got, c.got)
		}
	}
}
