package httpadapter

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/profilephoto/photo"
)

// manyFrames returns an animated GIF of n tiny frames.
func manyFrames(t *testing.T, n int) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White}
	var g gif.GIF
	for i := range n {
		f := image.NewPaletted(image.Rect(0, 0, 4, 4), pal)
		f.SetColorIndex(i%4, 0, 1)
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 1)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, &g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const piPath = "/v1/users/%s/profile/profile-image"

func piURL(user string) string { return fmt.Sprintf(piPath, user) }

// wantFieldError checks a 400 validation-failure about one field.
func wantFieldError(field, code string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		b := decodeJSON[struct {
			Code        string       `json:"code"`
			FieldErrors []fieldError `json:"fieldErrors"`
		}](t, body)
		if b.Code != "validation-failure" || len(b.FieldErrors) != 1 ||
			b.FieldErrors[0].Field != field || b.FieldErrors[0].Code != code {
			t.Errorf("body %s, want validation-failure with field %s: %s", abbrev(body), field, code)
		}
	}
}

// wantCode checks the code of an error body, and that it is the only
// required field besides message.
func wantCode(code string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		b := decodeJSON[map[string]any](t, body)
		if b["code"] != code || b["message"] == "" {
			t.Errorf("body %s, want code %q and a message", abbrev(body), code)
		}
	}
}

// wantImage checks an image body: ready, for user, every rendition an
// absolute URL of its version, url the largest.
func wantImage(e *testEnv, user string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		b := decodeJSON[imageBody](t, body)
		checkImageBody(t, e, user, b)
	}
}

func checkImageBody(t *testing.T, e *testEnv, user string, b imageBody) {
	t.Helper()
	p := e.getPhoto(t, user)
	if p == nil {
		t.Fatalf("%s has no photo", user)
	}
	if b.Status != "ready" || b.UserID != user || b.VersionID != p.VersionID || b.Error != nil || b.Created == nil {
		t.Errorf("body %+v, want %s's ready photo %s", b, user, p.VersionID)
	}
	if len(b.Renditions) != len(p.Renditions) || len(b.Renditions) == 0 {
		t.Fatalf("renditions %+v, want %d", b.Renditions, len(p.Renditions))
	}
	for i, r := range b.Renditions {
		want := p.Renditions[i]
		if r.Size != want.Size || r.Width != want.Width || r.Height != want.Height || r.MimeType != want.ContentType ||
			r.URL != e.URL+"/photos/"+pathSegment(user)+"/"+p.VersionID+"/"+strconv.Itoa(want.Size) {
			t.Errorf("rendition %+v, want %+v", r, want)
		}
	}
	l := b.Renditions[len(b.Renditions)-1]
	if b.URL != l.URL || b.Width != l.Width || b.Height != l.Height || b.MimeType != l.MimeType {
		t.Errorf("url %s %dx%d %s, want the largest rendition %+v", b.URL, b.Width, b.Height, b.MimeType, l)
	}
	if b.Original == nil || b.Original.Width != p.Original.Width || !strings.HasSuffix(b.Original.URL, "/original") {
		t.Errorf("original %+v, want %+v", b.Original, p.Original)
	}
}

func TestProfileImage(t *testing.T) {
	e := newTestEnv(t, envConfig{Photo: &photo.Options{Limits: photo.Limits{MaxBytes: 64 << 10}}})
	hat := testdataFile(t, "wuffs/hat.jpeg")
	big := testdataFile(t, "pillow/junk_jpeg_header.jpg") // 107 KB
	file := func(data []byte) part { return filePart("file", "me.jpg", "image/jpeg", data) }
	// mp is a multipart POST; its headers and body come from one build,
	// since the boundary is random.
	mp := func(name, user, auth string, code int, check func(*testing.T, *http.Response, []byte), parts ...part) httpTest {
		h, b := multipartReq(t, nil, parts...)
		return httpTest{Name: name, Method: http.MethodPost, URL: piURL(user), ReqHeader: withAuth(auth, h), ReqBody: b,
			Code: code, Check: check}
	}
	var first imageBody
	runTests(t, e, []httpTest{
		{Name: "GET before any image", URL: piURL("alice"), Code: 404, Check: wantCode("not-found")},
		mp("POST", "alice", bearerAlice, 201, func(t *testing.T, res *http.Response, body []byte) {
			first = decodeJSON[imageBody](t, body)
			checkImageBody(t, e, "alice", first)
		}, fieldPart("note", "hello"), file(hat)),
		{Name: "GET", URL: piURL("alice"), Code: 200, ResHeader: map[string]string{"Cache-Control": "no-cache"}, Check: wantImage(e, "alice")},
		{Name: "GET with a token", URL: piURL("alice"), ReqHeader: withAuth(bearerBob, nil), Code: 200, Check: wantImage(e, "alice")},
		{Name: "GET with a bad token", URL: piURL("alice"), ReqHeader: withAuth(bearerBad, nil), Code: 401, Check: wantCode("invalid-credentials")},
		mp("POST without credentials", "alice", "", 401, wantCode("unauthorized"), file(hat)),
		mp("POST with bad credentials", "alice", bearerBad, 401, wantCode("invalid-credentials"), file(hat)),
		mp("POST for another user", "bob", bearerAlice, 403, wantCode("forbidden"), file(hat)),
		mp("POST by an admin for another user", "bob", bearerAdmin, 201, wantImage(e, "bob"), file(jpegImage(t, 50, 70))),
		mp("no file field", "alice", bearerAlice, 400, wantFieldError("file", "field-missing"), fieldPart("image", "x")),
		mp("file under another name", "alice", bearerAlice, 400, wantFieldError("file", "field-missing"), filePart("image", "a.jpg", "image/jpeg", hat)),
		mp("file too large", "alice", bearerAlice, 400, wantFieldError("file", "file-too-large"), file(big)),
		mp("empty file", "alice", bearerAlice, 400, wantFieldError("file", "invalid-file-format"), file(nil)),
		mp("text", "alice", bearerAlice, 400, wantFieldError("file", "invalid-file-format"), file([]byte("just some text, not a picture"))),
		mp("html declared as jpeg", "alice", bearerAlice, 400, wantFieldError("file", "invalid-file-format"), file(testdataFile(t, "payloadsallthethings/xss.html"))),
		mp("svg", "alice", bearerAlice, 400, wantFieldError("file", "invalid-file-format"), file(testdataFile(t, "payloadsallthethings/SVG_XSS1.svg"))),
		mp("tiff", "alice", bearerAlice, 400, wantFieldError("file", "invalid-file-format"), file(testdataFile(t, "wuffs/bricks-color.tiff"))),
		mp("truncated jpeg", "alice", bearerAlice, 400, wantFieldError("file", "invalid-file-format"), file(testdataFile(t, "wuffs/peacock.default.truncated.jpeg"))),
		mp("corrupt png", "alice", bearerAlice, 400, wantFieldError("file", "invalid-file-format"), file(testdataFile(t, "pillow/broken.png"))),
		mp("too many frames", "alice", bearerAlice, 400, wantFieldError("file", "invalid-file-format"), file(manyFrames(t, 101))),
		mp("decompression bomb", "alice", bearerAlice, 400, wantFieldError("file", "file-too-large"), file(testdataFile(t, "pillow/decompression_bomb.gif"))),
		{Name: "no body", Method: http.MethodPost, URL: piURL("alice"), ReqHeader: withAuth(bearerAlice, nil), Code: 400, Check: wantFieldError("file", "field-missing")},
		{Name: "a urlencoded form", Method: http.MethodPost, URL: piURL("alice"),
			ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}),
			ReqBody:   "file=abc", Code: 400, Check: wantFieldError("file", "field-missing")},
		{Name: "multipart without a boundary", Method: http.MethodPost, URL: piURL("alice"),
			ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Type": "multipart/form-data"}),
			ReqBody:   "x", Code: 400, Check: wantCode("bad-request")},
		{Name: "the refused uploads changed nothing", URL: piURL("alice"), Code: 200,
			Check: func(t *testing.T, res *http.Response, body []byte) {
				if b := decodeJSON[imageBody](t, body); b.VersionID != first.VersionID {
					t.Errorf("version %s, want %s", b.VersionID, first.VersionID)
				}
			}},
		{Name: "DELETE without credentials", Method: http.MethodDelete, URL: piURL("alice"), Code: 401, Check: wantCode("unauthorized")},
		{Name: "DELETE with bad credentials", Method: http.MethodDelete, URL: piURL("alice"), ReqHeader: withAuth(bearerBad, nil), Code: 401, Check: wantCode("invalid-credentials")},
		{Name: "DELETE another user's", Method: http.MethodDelete, URL: piURL("alice"), ReqHeader: withAuth(bearerBob, nil), Code: 403, Check: wantCode("forbidden")},
		{Name: "DELETE", Method: http.MethodDelete, URL: piURL("alice"), ReqHeader: withAuth(bearerAlice, nil), Code: 204, ResBody: ""},
		{Name: "GET after DELETE", URL: piURL("alice"), Code: 404, Check: wantCode("not-found")},
		{Name: "the old rendition is gone", URL: strings.TrimPrefix(first.URL, e.URL), Code: 404},
		{Name: "DELETE again", Method: http.MethodDelete, URL: piURL("alice"), ReqHeader: withAuth(bearerAlice, nil), Code: 404, Check: wantCode("not-found")},
		{Name: "DELETE by an admin", Method: http.MethodDelete, URL: piURL("bob"), ReqHeader: withAuth(bearerAdmin, nil), Code: 204},
		{Name: "user ID too long", URL: piURL(strings.Repeat("u", 300)), Code: 400, Check: wantCode("bad-request")},
		{Name: "wrong method", Method: http.MethodPut, URL: piURL("alice"), Code: 405},
	})
	if objs := e.Store.list(t, "users/"); len(objs) > 2 {
		t.Errorf("objects left after every photo was deleted: %d", len(objs))
	}
}

// TestProfileImageRequestTooLarge checks that a body past
// Options.MaxRequestBytes is file-too-large too.
func TestProfileImageRequestTooLarge(t *testing.T) {
	e := newTestHandler(t, &Options{MaxRequestBytes: 32 << 10})
	h, body := multipartReq(t, nil, filePart("file", "a.jpg", "image/jpeg", testdataFile(t, "pillow/junk_jpeg_header.jpg")))
	runTests(t, e, []httpTest{{Name: "POST", Method: http.MethodPost, URL: piURL("alice"), ReqHeader: withAuth(bearerAlice, h),
		ReqBody: body, Code: 400, Check: wantFieldError("file", "file-too-large")}})
}

// TestProfileImagePrivateReads checks Options.PrivateReads.
func TestProfileImagePrivateReads(t *testing.T) {
	e := newTestHandler(t, &Options{PrivateReads: true})
	e.setPhoto(t, "alice", jpegImage(t, 40, 40))
	runTests(t, e, []httpTest{
		{Name: "no credentials", URL: piURL("alice"), Code: 401, Check: wantCode("unauthorized")},
		{Name: "bad credentials", URL: piURL("alice"), ReqHeader: withAuth(bearerBad, nil), Code: 401, Check: wantCode("invalid-credentials")},
		{Name: "any principal", URL: piURL("alice"), ReqHeader: withAuth(bearerBob, nil), Code: 200, Check: wantImage(e, "alice")},
	})
}

func TestProfileImageURLValidation(t *testing.T) {
	e := newTestHandler(t, nil)
	post := func(name, body string, code int, check func(*testing.T, *http.Response, []byte)) httpTest {
		return httpTest{Name: name, Method: http.MethodPost, URL: piURL("alice"),
			ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"}), ReqBody: body, Code: code, Check: check}
	}
	runTests(t, e, []httpTest{
		post("no url", `{}`, 400, wantFieldError("url", "field-missing")),
		post("null url", `{"url": null}`, 400, wantFieldError("url", "field-missing")),
		post("empty url", `{"url": ""}`, 400, wantFieldError("url", "field-missing")),
		post("blank url", `{"url": "  "}`, 400, wantFieldError("url", "field-missing")),
		post("url not a string", `{"url": 5}`, 400, wantFieldError("url", "invalid-url")),
		post("relative url", `{"url": "/a.jpg"}`, 400, wantFieldError("url", "invalid-url")),
		post("not a url", `{"url": "http://[::1"}`, 400, wantFieldError("url", "invalid-url")),
		post("no host", `{"url": "http:///a.jpg"}`, 400, wantFieldError("url", "invalid-url")),
		post("bad port", `{"url": "http://example.com:99999/a.jpg"}`, 400, wantFieldError("url", "invalid-url")),
		post("too long", `{"url": "https://example.com/`+strings.Repeat("a", 9000)+`"}`, 400, wantFieldError("url", "invalid-url")),
		post("not JSON", `{"url": `, 400, wantCode("bad-request")),
		{Name: "JSON with a charset", Method: http.MethodPost, URL: piURL("alice"),
			ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Type": "application/json; charset=utf-8"}), ReqBody: `{}`,
			Code: 400, Check: wantFieldError("url", "field-missing")},
		{Name: "no credentials", Method: http.MethodPost, URL: piURL("alice"),
			ReqHeader: map[string]string{"Content-Type": "application/json"}, ReqBody: `{"url": "https://example.com/a.jpg"}`, Code: 401, Check: wantCode("unauthorized")},
		{Name: "another user", Method: http.MethodPost, URL: piURL("bob"),
			ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"}), ReqBody: `{"url": "https://example.com/a.jpg"}`, Code: 403, Check: wantCode("forbidden")},
	})
	if e.getPhoto(t, "alice") != nil {
		t.Error("a refused request changed the photo")
	}
}

// source is a loopback image server for URL imports.
type source struct {
	*httptest.Server
	hits    atomic.Int32
	mu      sync.Mutex
	release chan struct{} // /block waits for it to close
	arrived chan struct{} // /block sends on it when a request arrives
}

func newSource(t *testing.T) *source {
	t.Helper()
	hopper := testdataFile(t, "pillow/hopper.jpg")
	hat := testdataFile(t, "wuffs/hat.jpeg")
	s := &source{release: make(chan struct{}), arrived: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/hopper.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(hopper)
	})
	mux.HandleFunc("/hat", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream") // never trusted either way
		w.Write(hat)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png") // a lie
		fmt.Fprint(w, "this is not a picture at all")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(200<<10))
		w.Write(bytes.Repeat([]byte{0xff}, 200<<10))
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 50 {
			if _, err := w.Write(bytes.Repeat([]byte{0xff}, 4<<10)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		s.arrived <- struct{}{}
		s.mu.Lock()
		rel := s.release
		s.mu.Unlock()
		select {
		case <-rel:
		case <-r.Context().Done():
			return
		}
		w.Write(hopper)
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		s.unblock()
		s.Close()
	})
	return s
}

// unblock lets every /block request, present and future, answer.
func (s *source) unblock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

var loopbackOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// importFrom POSTs {"url": url} for user as auth and returns the 202
// body.
func importFrom(t *testing.T, e *testEnv, auth, user, url string) imageBody {
	t.Helper()
	res, body := e.do(t, http.MethodPost, piURL(user), withAuth(auth, map[string]string{"Content-Type": "application/json"}),
		fmt.Sprintf(`{"url": %q}`, url), false)
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("POST url: %d %s", res.StatusCode, body)
	}
	if res.Header.Get("Location") != e.URL+piURL(user) {
		t.Errorf("Location %q", res.Header.Get("Location"))
	}
	b := decodeJSON[imageBody](t, body)
	if b.Status != "downloading" {
		t.Errorf("status %q, want downloading", b.Status)
	}
	return b
}

// settle polls GET until the import is no longer downloading. Imports
// finish on their own; the bound only keeps a broken one from hanging the
// test run.
func settle(t *testing.T, e *testEnv, user string) imageBody {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, body := e.do(t, http.MethodGet, piURL(user), nil, nil, false)
		if res.StatusCode != 200 {
			t.Fatalf("GET while importing: %d %s", res.StatusCode, body)
		}
		b := decodeJSON[imageBody](t, body)
		if b.Status != "downloading" {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import of %s never ended", user)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProfileImageURLImport(t *testing.T) {
	src := newSource(t)
	e := newTestEnv(t, envConfig{
		Options: &Options{URLImport: URLImportOptions{Allow: loopbackOnly}},
		Photo:   &photo.Options{Limits: photo.Limits{MaxBytes: 100 << 10}},
	})
	tests := []struct {
		name, path string
		code       string // "" for ready
	}{
		{"a real photo", "/hopper.jpg", ""},
		{"whatever type the server claims", "/hat", ""},
		{"not found at the source", "/missing", "download-failed"},
		{"not an image", "/text", "invalid-file-format"},
		{"declared too large", "/big", "file-too-large"},
		{"too large without a declared length", "/big-chunked", "file-too-large"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user := "import-" + strconv.Itoa(i)
			b := importFrom(t, e, bearerAdmin, user, src.URL+tc.path)
			if b.VersionID != "" || b.URL != "" {
				t.Errorf("a first import answered %+v, want no image yet", b)
			}
			got := settle(t, e, user)
			if tc.code == "" {
				checkImageBody(t, e, user, got)
				if img, _ := e.fetchImage(t, got.URL); img.Bounds().Dx() != got.Width {
					t.Errorf("the url serves %v, the body says %d wide", img.Bounds(), got.Width)
				}
				return
			}
			if got.Status != "failed" || got.Error == nil || got.Error.Code != tc.code || got.Error.Message == "" || got.VersionID != "" {
				t.Errorf("GET = %+v (error %+v), want failed with %s", got, got.Error, tc.code)
			}
			if got.Error != nil {
				checkNoLeak(t, []byte(got.Error.Message))
			}
		})
	}
}

// TestProfileImageURLRefusedByDefault: without Options.URLImport.Allow a
// loopback source is refused, and never contacted.
func TestProfileImageURLRefusedByDefault(t *testing.T) {
	src := newSource(t)
	e := newTestHandler(t, nil)
	for _, u := range []string{src.URL + "/hopper.jpg", strings.Replace(src.URL, "127.0.0.1", "localhost", 1) + "/hopper.jpg"} {
		importFrom(t, e, bearerAlice, "alice", u)
		got := settle(t, e, "alice")
		if got.Status != "failed" || got.Error == nil || got.Error.Code != "url-not-allowed" {
			t.Errorf("%s: GET = %+v, want failed with url-not-allowed", u, got)
		}
	}
	if n := src.hits.Load(); n != 0 {
		t.Errorf("the refused source got %d requests", n)
	}
}

// TestProfileImageKeepsServingWhileDownloading: the previous photo stays
// described and served until the new one is ready, and after a failure.
func TestProfileImageKeepsServingWhileDownloading(t *testing.T) {
	src := newSource(t)
	e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly}})
	old := e.setPhoto(t, "alice", jpegImage(t, 80, 60))

	b := importFrom(t, e, bearerAlice, "alice", src.URL+"/block")
	if b.VersionID != old.VersionID || b.URL == "" || len(b.Renditions) != len(old.Renditions) {
		t.Fatalf("the 202 body %+v does not describe the previous photo %s", b, old.VersionID)
	}
	oldURL := b.URL
	<-src.arrived // the download has begun, and waits
	res, body := e.do(t, http.MethodGet, piURL("alice"), nil, nil, false)
	during := decodeJSON[imageBody](t, body)
	if res.StatusCode != 200 || during.Status != "downloading" || during.VersionID != old.VersionID {
		t.Errorf("GET while downloading: %d %+v, want downloading with version %s", res.StatusCode, during, old.VersionID)
	}
	if _, res := e.fetchImage(t, oldURL); res.StatusCode != 200 {
		t.Errorf("the previous rendition is not served while downloading")
	}
	src.unblock()
	got := settle(t, e, "alice")
	checkImageBody(t, e, "alice", got)
	if got.VersionID == old.VersionID {
		t.Errorf("the import did not replace version %s", old.VersionID)
	}
	if res, _ := e.do(t, http.MethodGet, oldURL, nil, nil, false); res.StatusCode != 404 {
		t.Errorf("the replaced rendition answers %d, want 404", res.StatusCode)
	}

	// A failed import leaves the photo as it was, and says why.
	current := got.VersionID
	importFrom(t, e, bearerAlice, "alice", src.URL+"/text")
	failed := settle(t, e, "alice")
	if failed.Status != "failed" || failed.Error == nil || failed.Error.Code != "invalid-file-format" || failed.VersionID != current || failed.URL == "" {
		t.Errorf("GET after a failed import: %+v, want failed, still describing %s", failed, current)
	}
	if _, res := e.fetchImage(t, failed.URL); res.StatusCode != 200 {
		t.Errorf("the photo is not served after a failed import")
	}
	// A multipart upload clears the failure.
	h, mb := multipartReq(t, nil, filePart("file", "a.jpg", "image/jpeg", jpegImage(t, 30, 30)))
	if res, body := e.do(t, http.MethodPost, piURL("alice"), withAuth(bearerAlice, h), mb, false); res.StatusCode != 201 {
		t.Fatalf("POST: %d %s", res.StatusCode, body)
	}
	res, body = e.do(t, http.MethodGet, piURL("alice"), nil, nil, false)
	if b := decodeJSON[imageBody](t, body); b.Status != "ready" || b.Error != nil {
		t.Errorf("GET after a new upload: %d %+v", res.StatusCode, b)
	}
}
