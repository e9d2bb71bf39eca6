package httpadapter

// The shared test harness of the adapter's HTTP tests: a handler over a
// memstore Manager served by a real loopback server, a token
// authenticator, generated images, multipart builders and a tusd-style
// table runner.
//
// Tokens of the test authenticator:
//
//	alice-token -> alice
//	bob-token   -> bob
//	admin-token -> admin (Admin)
//
// "Authorization: Bearer <token>" and Salesforce's "Authorization: OAuth
// <token>" are both accepted; no Authorization header is
// ErrNoCredentials; any other value is refused.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

// Tokens and the principals they stand for.
var testTokens = map[string]Principal{
	"alice-token": {ID: "alice"},
	"bob-token":   {ID: "bob"},
	"admin-token": {ID: "admin", Admin: true},
}

// Authorization header values for the test principals.
const (
	bearerAlice = "Bearer alice-token"
	bearerBob   = "Bearer bob-token"
	bearerAdmin = "Bearer admin-token"
	bearerBad   = "Bearer nobody-token"
)

// errBadToken is what the test authenticator returns for an unknown token.
// Its text must never reach a response body.
var errBadToken = errors.New("test authenticator: unknown token SECRET-DETAIL")

// tokenAuth is the test Authenticator.
func tokenAuth(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, ErrNoCredentials
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "OAuth")) {
		return Principal{}, errBadToken
	}
	p, ok := testTokens[strings.TrimSpace(tok)]
	if !ok {
		return Principal{}, errBadToken
	}
	return p, nil
}

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// faultStore is a real driver (memstore) whose operations can be made to
// fail, to check that storage failures answer a clean 5xx without
// internal detail. Its errors carry a fake internal path on purpose. It
// fails at the driver, as a backend would: the portable storage.Bucket's
// checks still run above it.
type faultStore struct {
	driver.Bucket
	failPut, failOpen, failDelete, failList atomic.Bool
}

// errStorageFault is the failure faultStore injects; its text must never
// reach a response body.
var errStorageFault = errors.New("faultstore: /var/lib/secret/users/abc: input/output error")

func (s *faultStore) Put(ctx context.Context, key string, r io.Reader, o *driver.PutOptions) (driver.Attrs, error) {
	if s.failPut.Load() {
		return driver.Attrs{}, fmt.Errorf("put %q: %w", key, errStorageFault)
	}
	return s.Bucket.Put(ctx, key, r, o)
}

func (s *faultStore) Open(ctx context.Context, key string) (driver.Reader, error) {
	if s.failOpen.Load() {
		return nil, fmt.Errorf("open %q: %w", key, errStorageFault)
	}
	return s.Bucket.Open(ctx, key)
}

func (s *faultStore) Delete(ctx context.Context, key string) error {
	if s.failDelete.Load() {
		return fmt.Errorf("delete %q: %w", key, errStorageFault)
	}
	return s.Bucket.Delete(ctx, key)
}

func (s *faultStore) ListPage(ctx context.Context, prefix, token string, size int) (driver.ListPage, error) {
	if s.failList.Load() {
		return driver.ListPage{}, fmt.Errorf("list %q: %w", prefix, errStorageFault)
	}
	return s.Bucket.ListPage(ctx, prefix, token, size)
}

// list returns the objects stored under prefix, read beside the
// Manager through a bucket of their own over the same driver.
func (s *faultStore) list(t testing.TB, prefix string) []storage.Attrs {
	t.Helper()
	var objs []storage.Attrs
	for a, err := range storage.NewBucket(s.Bucket).List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("list %q: %v", prefix, err)
		}
		objs = append(objs, a)
	}
	return objs
}

// envConfig configures newTestEnv. Every zero field takes a default.
type envConfig struct {
	// Options of the handler. Authenticate defaults to tokenAuth, Now to
	// the env's clock and Logger to one that writes to t.Log.
	Options *Options
	// Photo are the Manager's options; nil means defaults (with Now set
	// to the env's clock).
	Photo *photo.Options
	// Prefix, when set (e.g. "/avatars"), mounts the handler under it
	// with http.StripPrefix, as a host would.
	Prefix string
	// NoAuth leaves Options.Authenticate nil.
	NoAuth bool
	// Store is the driver under the faultStore; nil means a new memstore.
	Store driver.Bucket
}

// testEnv is a handler served over loopback.
type testEnv struct {
	H      *Handler
	M      *photo.Manager
	Store  *faultStore // wraps a memstore; switch its faults on to fail
	Srv    *httptest.Server
	Clock  *testClock
	URL    string // the server's root URL plus Prefix: the adapter's base
	Client *http.Client
}

// newTestHandler returns an env with the default configuration and opts
// (nil for defaults).
func newTestHandler(t *testing.T, opts *Options) *testEnv {
	t.Helper()
	return newTestEnv(t, envConfig{Options: opts})
}

// newTestEnv builds the env described by cfg; everything is closed when
// the test ends.
func newTestEnv(t *testing.T, cfg envConfig) *testEnv {
	t.Helper()
	clock := newTestClock()
	st := &faultStore{Bucket: cfg.Store}
	if st.Bucket == nil {
		st.Bucket = memstore.New()
	}
	var po photo.Options
	if cfg.Photo != nil {
		po = *cfg.Photo
	}
	if po.Now == nil {
		po.Now = clock.Now
	}
	if po.Logger == nil {
		po.Logger = testLogger(t)
	}
	m, err := photo.New(storage.NewBucket(st), &po)
	if err != nil {
		t.Fatalf("photo.New: %v", err)
	}
	var o Options
	if cfg.Options != nil {
		o = *cfg.Options
	}
	if o.Authenticate == nil && !cfg.NoAuth {
		o.Authenticate = tokenAuth
	}
	if o.Now == nil {
		o.Now = clock.Now
	}
	// The test clock stands still, so a rate limit would be a lifetime
	// allowance: they are off unless a test sets one.
	for _, l := range []*RateLimit{&o.WriteRate, &o.GlobalWriteRate, &o.URLImport.Rate, &o.URLImport.GlobalRate} {
		if *l == (RateLimit{}) {
			l.Rate = -1
		}
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	h, err := New(m, &o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var root http.Handler = h
	if cfg.Prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(cfg.Prefix+"/", http.StripPrefix(cfg.Prefix, h))
		root = mux
	}
	srv := httptest.NewServer(root)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("Handler.Shutdown: %v", err)
		}
	})
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &testEnv{H: h, M: m, Store: st, Srv: srv, Clock: clock, URL: srv.URL + cfg.Prefix, Client: client}
}

// testLogger logs to the test's output, so a failing test shows the
// adapter's logs. Lines written after the test ended are dropped.
func testLogger(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// setPhoto makes img the photo of userID directly through the Manager.
func (e *testEnv) setPhoto(t *testing.T, userID string, img []byte) *photo.Photo {
	t.Helper()
	p, err := e.M.Set(context.Background(), userID, bytes.NewReader(img), nil)
	if err != nil {
		t.Fatalf("Set(%q): %v", userID, err)
	}
	return p
}

// getPhoto returns userID's photo, or nil when there is none.
func (e *testEnv) getPhoto(t *testing.T, userID string) *photo.Photo {
	t.Helper()
	p, err := e.M.Get(context.Background(), userID)
	if errors.Is(err, photo.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", userID, err)
	}
	return p
}

// do sends one request to the env and returns the response and its body.
// url is relative to e.URL unless it is absolute. body may be nil,
// []byte, string or an io.Reader; a chunked request hides the length so
// the client sends Transfer-Encoding: chunked.
func (e *testEnv) do(t *testing.T, method, url string, header map[string]string, body any, chunked bool) (*http.Response, []byte) {
	t.Helper()
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		url = e.URL + url
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		t.Fatalf("request body of type %T", body)
	}
	if chunked && rd != nil {
		rd = struct{ io.Reader }{rd} // hides Len, so no Content-Length
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	if chunked {
		req.ContentLength = -1
	}
	for k, v := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return res, data
}

// httpTest is one HTTP exchange and what must come back, in the style of
// tusd's handler tests.
type httpTest struct {
	Name   string
	Method string
	// URL is relative to the env's base (which includes any prefix).
	URL       string
	ReqHeader map[string]string
	// ReqBody is nil, []byte, string, an io.Reader, or a func() any that
	// returns one of those (for bodies that must be built fresh).
	ReqBody any
	// Chunked sends the body without Content-Length.
	Chunked bool

	Code int
	// ResHeader values must match exactly; "*" means present with any
	// value and "-" means absent.
	ResHeader map[string]string
	// ResBody, when set, must equal the body: compared as JSON when it
	// starts with '{' or '[', else byte for byte.
	ResBody string
	// ResContains are substrings the body must hold.
	ResContains []string
	// Check, when set, runs on the response.
	Check func(t *testing.T, res *http.Response, body []byte)
}

// run performs the exchange and checks the response. Every error answer
// (a status of 400 or more, or Slack's "ok":false) is also checked not to
// leak internal detail.
func (tc httpTest) run(t *testing.T, e *testEnv) (*http.Response, []byte) {
	t.Helper()
	body := tc.ReqBody
	if f, ok := body.(func() any); ok {
		body = f()
	}
	method := tc.Method
	if method == "" {
		method = http.MethodGet
	}
	res, data := e.do(t, method, tc.URL, tc.ReqHeader, body, tc.Chunked)
	if tc.Code != 0 && res.StatusCode != tc.Code {
		t.Errorf("%s %s: status %d, want %d; body: %s", method, tc.URL, res.StatusCode, tc.Code, abbrev(data))
	}
	for k, want := range tc.ResHeader {
		got, present := res.Header.Get(k), len(res.Header.Values(k)) > 0
		switch want {
		case "*":
			if !present {
				t.Errorf("%s %s: header %s missing", method, tc.URL, k)
			}
		case "-":
			if present {
				t.Errorf("%s %s: header %s = %q, want none", method, tc.URL, k, got)
			}
		default:
			if got != want {
				t.Errorf("%s %s: header %s = %q, want %q", method, tc.URL, k, got, want)
			}
		}
	}
	if tc.ResBody != "" {
		compareBody(t, tc.ResBody, data)
	}
	for _, s := range tc.ResContains {
		if !bytes.Contains(data, []byte(s)) {
			t.Errorf("%s %s: body does not contain %q: %s", method, tc.URL, s, abbrev(data))
		}
	}
	if res.StatusCode >= 400 || bytes.Contains(data, []byte(`"ok":false`)) {
		checkNoLeak(t, data)
	}
	if tc.Check != nil {
		tc.Check(t, res, data)
	}
	return res, data
}

// runTests runs each test as a subtest, in order, against e.
func runTests(t *testing.T, e *testEnv, tests []httpTest) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.Name, func(t *testing.T) {
			t.Helper()
			tc.run(t, e)
		})
	}
}

// compareBody compares got with want, as JSON when want looks like JSON.
func compareBody(t *testing.T, want string, got []byte) {
	t.Helper()
	if w := strings.TrimSpace(want); strings.HasPrefix(w, "{") || strings.HasPrefix(w, "[") {
		var wv, gv any
		if err := json.Unmarshal([]byte(w), &wv); err != nil {
			t.Fatalf("the wanted body is not JSON: %v", err)
		}
		if err := json.Unmarshal(got, &gv); err != nil {
			t.Errorf("body is not JSON (%v): %s", err, abbrev(got))
			return
		}
		if d := cmp.Diff(wv, gv); d != "" {
			t.Errorf("body mismatch (-want +got):\n%s", d)
		}
		return
	}
	if string(got) != want {
		t.Errorf("body = %q, want %q", abbrev(got), want)
	}
}

// leakMarkers are strings that only internal errors hold: Go source
// positions, storage keys and backends, the injected faults.
var leakMarkers = []string{
	"faultstore", "/var/lib/secret", "SECRET-DETAIL", "memstore", "storage:",
	"record.json", "meta.json", ".go:", "goroutine", "runtime error", "panic",
	"photo: ", "httpadapter:",
}

// checkNoLeak fails when an error body holds internal detail.
func checkNoLeak(t *testing.T, body []byte) {
	t.Helper()
	for _, m := range leakMarkers {
		if bytes.Contains(body, []byte(m)) {
			t.Errorf("error body leaks %q: %s", m, abbrev(body))
		}
	}
}

func abbrev(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

// decodeJSON unmarshals body into a fresh T, failing the test if it can't.
func decodeJSON[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not the JSON expected (%v): %s", err, abbrev(body))
	}
	return v
}

// testImage returns a w by h image with a pattern that makes every crop
// and every scale look different.
func testImage(w, h int) image.Image {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{
				R: uint8(x * 255 / max(w-1, 1)),
				G: uint8(y * 255 / max(h-1, 1)),
				B: uint8((x/8 + y/8) % 2 * 200),
				A: 255,
			})
		}
	}
	return img
}

// jpegImage returns a w by h JPEG.
func jpegImage(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatalf("jpeg.Encode: %v", err)
	}
	return buf.Bytes()
}

// pngImage returns a w by h PNG.
func pngImage(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, testImage(w, h)); err != nil {
		t.Fatalf("png.Encode: %v", err)
	}
	return buf.Bytes()
}

// rendition returns p's square rendition of size pixels.
func rendition(p *photo.Photo, size int) (photo.Rendition, bool) {
	for _, r := range p.Renditions {
		if r.Size == size {
			return r, true
		}
	}
	return photo.Rendition{}, false
}

// testdataDir returns the shared test images folder, which sits beside the
// repository (../shared/testdata from the repository's root, so
// ../../shared/testdata from this package). Outside CI a missing folder
// skips the test; in CI (CI=true) it fails it, so that a broken checkout
// cannot pass by testing nothing.
func testdataDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "testdata")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the shared test images are missing (%v); CI clones shared/ beside the repository", err)
		}
		t.Skipf("skipping: the shared test images are not at %s (%v)", dir, err)
	}
	return dir
}

// testdataFile returns the bytes of a file under ../shared/testdata.
func testdataFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir(t), filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("test data: %v", err)
	}
	return b
}

// part is one part of a multipart body.
type part struct {
	Name     string
	FileName string // set for file parts
	// ContentType is the declared type; "" sends none (for a file part
	// the multipart writer's default application/octet-stream).
	ContentType string
	Data        []byte
}

// filePart is a file part named name holding data, declared as ct.
func filePart(name, fileName, ct string, data []byte) part {
	return part{Name: name, FileName: fileName, ContentType: ct, Data: data}
}

// fieldPart is a plain field.
func fieldPart(name, value string) part { return part{Name: name, Data: []byte(value)} }

// multipartBody builds a multipart/form-data body from parts, in order,
// and returns its Content-Type and bytes.
func multipartBody(t testing.TB, parts ...part) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		hdr := make(textproto.MIMEHeader)
		disp := fmt.Sprintf(`form-data; name="%s"`, p.Name)
		if p.FileName != "" {
			disp += fmt.Sprintf(`; filename="%s"`, p.FileName)
		}
		hdr.Set("Content-Disposition", disp)
		switch {
		case p.ContentType != "":
			hdr.Set("Content-Type", p.ContentType)
		case p.FileName != "":
			hdr.Set("Content-Type", "application/octet-stream")
		}
		pw, err := w.CreatePart(hdr)
		if err != nil {
			t.Fatalf("CreatePart: %v", err)
		}
		pw.Write(p.Data)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("multipart Close: %v", err)
	}
	return w.FormDataContentType(), buf.Bytes()
}

// multipartReq returns headers (Content-Type plus the given extra pairs,
// key then value) and a body for a multipart request.
func multipartReq(t testing.TB, extra map[string]string, parts ...part) (map[string]string, []byte) {
	t.Helper()
	ct, body := multipartBody(t, parts...)
	h := map[string]string{"Content-Type": ct}
	for k, v := range extra {
		h[k] = v
	}
	return h, body
}

// withAuth returns a header map with Authorization set to auth (none when
// auth is "") plus the extra pairs.
func withAuth(auth string, extra map[string]string) map[string]string {
	h := map[string]string{}
	for k, v := range extra {
		h[k] = v
	}
	if auth != "" {
		h["Authorization"] = auth
	}
	return h
}

// fetchImage GETs an absolute URL with the env's client and decodes the
// image it serves, following at most a few redirects.
func (e *testEnv) fetchImage(t *testing.T, url string) (image.Image, *http.Response) {
	t.Helper()
	for range 5 {
		res, data := e.do(t, http.MethodGet, url, nil, nil, false)
		switch res.StatusCode {
		case http.StatusOK:
			img, _, err := image.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("GET %s: not an image: %v", url, err)
			}
			return img, res
		case http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect:
			url = res.Header.Get("Location")
			if !strings.HasPrefix(url, "http") {
				url = e.Srv.URL + url
			}
		default:
			t.Fatalf("GET %s: status %d: %s", url, res.StatusCode, abbrev(data))
		}
	}
	t.Fatalf("GET %s: too many redirects", url)
	return nil, nil
}
