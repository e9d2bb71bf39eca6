package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The end-to-end test runs photod as its users do, with a tokens file and
// the filesystem store on loopback, and drives a few routes of every
// dialect with plain HTTP.

const (
	aliceToken = "alice-token-0123456789"
	bobToken   = "bob-token-0123456789"
	rootToken  = "root-token-0123456789"
)

func writeTokens(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	body := "# photod tokens: TOKEN USERID [admin]\n\n" +
		aliceToken + " alice\n" +
		bobToken + "\tbob\n" +
		rootToken + " root admin\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// client sends requests to photod and decodes their answers.
type client struct {
	t    *testing.T
	base string
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (c client) do(method, path, token string, header map[string]string, body io.Reader) reply {
	c.t.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.base + path
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// Redirects are checked, not followed.
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// multipartBody builds a multipart form: fields, then a file part.
func multipartBody(t *testing.T, fields [][2]string, fileField, fileName string, data []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	if fileField != "" {
		w, err := mw.CreateFormFile(fileField, fileName)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pngImage makes a w x h PNG, a diagonal gradient.
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEndToEnd(t *testing.T) {
	// A loopback server for the URL import, which photod may reach only
	// because -url-import-allow names loopback.
	pngBytes := pngImage(t, 300, 200)
	source := imageSource(t, pngBytes, "/not-an-image", []byte("<html>this is not an image</html>"))

	tokensFile := writeTokens(t)
	srv := startPhotod(t, "-tokens", tokensFile, "-url-import-allow", "127.0.0.0/8", "-url-import-allow", "::1/128")
	c := client{t: t, base: srv.URL}
	// A camera's 640x480 JPEG (with EXIF and GPS).
	jpeg := readFile(t, testdata(t, "exif-samples/DSCN0010.jpg"))

	t.Run("photod's own routes", func(t *testing.T) {
		c := client{t: t, base: srv.URL}
		if r := c.do("GET", "/healthz", "", nil, nil); r.status != 200 || string(r.body) != "ok\n" {
			t.Errorf("healthz: %d %q", r.status, r.body)
		}
		r := c.do("GET", "/", "", nil, nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !bytes.Contains(r.body, []byte(`src="/ui/app.js"`)) {
			t.Errorf("the page: %d %s", r.status, r.header.Get("Content-Type"))
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("the page's CSP is %q", csp)
		}
		for _, a := range []string{"/ui/app.js", "/ui/app.css", "/ui/icon.svg", "/favicon.ico"} {
			if r := c.do("GET", a, "", nil, nil); r.status != 200 || len(r.body) == 0 {
				t.Errorf("%s: %d", a, r.status)
			}
		}
		// The placeholder decoder, an ES module, comes from internal/thumbhash.
		if r := c.do("GET", "/ui/thumbhash.js", "", nil, nil); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") ||
			!bytes.Contains(r.body, []byte("export function toDataURL")) {
			t.Errorf("/ui/thumbhash.js: %d %s", r.status, r.header.Get("Content-Type"))
		}
		if r := c.do("GET", "/ui/nothing.js", "", nil, nil); r.status != 404 {
			t.Errorf("a missing asset: %d", r.status)
		}
		// With a tokens file there is no demo token to hand out.
		if r := c.do("GET", "/demo-token", "", nil, nil); r.status != 204 || len(r.body) != 0 {
			t.Errorf("demo-token with -tokens: %d %q", r.status, r.body)
		}
		var who struct {
			UserID string `json:"userId"`
			Admin  bool   `json:"admin"`
		}
		c.do("GET", "/whoami", rootToken, nil, nil).json(t, &who)
		if who.UserID != "root" || !who.Admin {
			t.Errorf("whoami as root: %+v", who)
		}
		if r := c.do("GET", "/whoami", "", nil, nil); r.status != 401 {
			t.Errorf("whoami without a token: %d", r.status)
		}
		if r := c.do("GET", "/whoami", "nope", nil, nil); r.status != 401 {
			t.Errorf("whoami with a bad token: %d", r.status)
		}
		if r := c.do("GET", "/openapi.json", "", nil, nil); r.status != 200 {
			t.Errorf("openapi.json: %d", r.status)
		}
	})

	t.Run("slack", func(t *testing.T) {
		c := client{t: t, base: srv.URL}
		slack := func(r reply) map[string]any {
			t.Helper()
			var m map[string]any
			r.json(t, &m)
			if r.status != 200 {
				t.Errorf("slack answered HTTP %d", r.status)
			}
			return m
		}
		ct, body := multipartBody(t, [][2]string{{"crop_x", "100"}, {"crop_y", "40"}, {"crop_w", "400"}}, "image", "me.jpg", jpeg)
		if m := slack(c.do("POST", "/api/users.setPhoto", aliceToken, map[string]string{"Content-Type": ct}, body)); m["ok"] != true {
			t.Fatalf("setPhoto: %v", m)
		}
		// The token may come as a form field, too.
		ct, body = multipartBody(t, [][2]string{{"token", aliceToken}}, "", "", nil)
		m := slack(c.do("POST", "/api/users.profile.get", "", map[string]string{"Content-Type": ct}, body))
		profile, _ := m["profile"].(map[string]any)
		if m["ok"] != true || profile == nil {
			t.Fatalf("profile.get: %v", m)
		}
		for _, s := range []int{24, 32, 48, 72, 192, 512, 1024} {
			u, _ := profile[fmt.Sprintf("image_%d", s)].(string)
			if !strings.HasPrefix(u, srv.URL+"/photos/") {
				t.Errorf("image_%d is %q", s, u)
			}
		}
		u, _ := profile["image_72"].(string)
		img := fetchImage(t, u)
		if b := img.Bounds(); b.Dx() != 72 || b.Dy() != 72 {
			t.Errorf("image_72 is %v", b)
		}
		if m := slack(c.do("POST", "/api/users.setPhoto", "", nil, nil)); m["error"] != "not_authed" {
			t.Errorf("setPhoto without a token: %v", m)
		}
		if m := slack(c.do("POST", "/api/users.setPhoto", "wrong-token", nil, nil)); m["error"] != "invalid_auth" {
			t.Errorf("setPhoto with a bad token: %v", m)
		}
		ct, body = multipartBody(t, nil, "image", "me.jpg", []byte("plain text, not an image"))
		if m := slack(c.do("POST", "/api/users.setPhoto", bobToken, map[string]string{"Content-Type": ct}, body)); m["error"] != "bad_image" {
			t.Errorf("setPhoto with a bad image: %v", m)
		}
	})

	t.Run("chatter", func(t *testing.T) {
		c := client{t: t, base: srv.URL}
		const photoPath = "/services/data/v64.0/chatter/users/me/photo"
		ct, body := multipartBody(t, [][2]string{{"json", `{"cropX":"0","cropY":"0","cropSize":"480"}`}}, "fileUpload", "me.jpg", jpeg)
		r := c.do("POST", photoPath, aliceToken, map[string]string{"Content-Type": ct}, body)
		var ph map[string]string
		r.json(t, &ph)
		if r.status != 201 || ph["photoVersionId"] == "" || !strings.HasPrefix(ph["largePhotoUrl"], srv.URL) {
			t.Fatalf("POST photo: %d %s", r.status, r.body)
		}
		var got map[string]string
		c.do("GET", "/services/data/v64.0/chatter/users/alice/photo", "", nil, nil).json(t, &got)
		if got["photoVersionId"] != ph["photoVersionId"] {
			t.Errorf("GET photo: %v, want version %s", got, ph["photoVersionId"])
		}
		// The signed email URL works without credentials.
		if img := fetchImage(t, ph["standardEmailPhotoUrl"]); img.Bounds().Dx() == 0 {
			t.Errorf("standardEmailPhotoUrl %s is empty", ph["standardEmailPhotoUrl"])
		}
		// Bob may not change Alice's photo; root, an admin, may.
		ct, body = multipartBody(t, nil, "fileUpload", "me.jpg", jpeg)
		r = c.do("POST", "/services/data/v64.0/chatter/users/alice/photo", bobToken, map[string]string{"Content-Type": ct}, body)
		var errs []map[string]string
		r.json(t, &errs)
		if r.status != 403 || len(errs) != 1 || errs[0]["errorCode"] != "INSUFFICIENT_ACCESS" {
			t.Errorf("bob setting alice's photo: %d %s", r.status, r.body)
		}
		ct, body = multipartBody(t, nil, "fileUpload", "me.jpg", jpeg)
		if r := c.do("POST", "/services/data/v64.0/chatter/users/alice/photo", rootToken, map[string]string{"Content-Type": ct}, body); r.status != 201 {
			t.Errorf("root setting alice's photo: %d %s", r.status, r.body)
		}
		if r := c.do("GET", photoPath, "", nil, nil); r.status != 401 {
			t.Errorf("GET me without a token: %d %s", r.status, r.body)
		}
	})

	t.Run("resumable upload", func(t *testing.T) {
		c := client{t: t, base: srv.URL}
		const base = "/.api2/api/v1/communities/7/attachments"
		decl, _ := json.Marshal(map[string]any{"ContentLength": len(jpeg), "ContentType": "image/jpg", "Name": "me.jpg"})
		r := c.do("POST", base, bobToken, map[string]string{"Content-Type": "application/json"}, bytes.NewReader(decl))
		loc := r.header.Get("Location")
		key := loc[strings.LastIndex(loc, "/")+1:]
		if r.status != 201 || len(key) != 10 {
			t.Fatalf("create: %d Location %q %s", r.status, loc, r.body)
		}
		half := len(jpeg) / 2
		send := func(from, to int) reply {
			return c.do("PATCH", loc, bobToken, map[string]string{
				"Content-Range": fmt.Sprintf("bytes %d-%d/%d", from, to-1, len(jpeg)),
				"Content-Type":  "image/jpeg",
			}, bytes.NewReader(jpeg[from:to]))
		}
		if r := send(0, half); r.status != 200 {
			t.Fatalf("first chunk: %d %s", r.status, r.body)
		}
		// A client that lost its connection asks how far it got.
		if r := c.do("HEAD", loc, bobToken, nil, nil); r.header.Get("Range") != fmt.Sprintf("bytes=0-%d", half-1) {
			t.Errorf("HEAD after the first chunk: %d Range %q", r.status, r.header.Get("Range"))
		}
		// A gap is refused with what the server holds.
		if r := send(half+10, len(jpeg)); r.status != 409 {
			t.Errorf("a chunk after a gap: %d %s", r.status, r.body)
		}
		// Associating before the end is refused.
		assoc := base + "/" + key + "/association/bob?type=ProfilePhoto"
		if r := c.do("POST", assoc, bobToken, nil, nil); r.status != 409 {
			t.Errorf("associating an incomplete upload: %d %s", r.status, r.body)
		}
		if r := send(half, len(jpeg)); r.status != 200 {
			t.Fatalf("last chunk: %d %s", r.status, r.body)
		}
		r = c.do("POST", assoc, bobToken, nil, nil)
		var img profileImageBody
		r.json(t, &img)
		if r.status != 201 || img.VersionID == "" {
			t.Fatalf("associate: %d %s", r.status, r.body)
		}
		var again profileImageBody
		c.do("GET", "/v1/users/bob/profile/profile-image", "", nil, nil).json(t, &again)
		if again.VersionID != img.VersionID {
			t.Errorf("bob's photo is %q, want the upload's %q", again.VersionID, img.VersionID)
		}
	})

	t.Run("profile-image", func(t *testing.T) {
		c := client{t: t, base: srv.URL}
		const path = "/v1/users/carol/profile/profile-image"
		if r := c.do("GET", path, "", nil, nil); r.status != 404 {
			t.Errorf("GET before any photo: %d", r.status)
		}
		// Root sets Carol's photo (an admin may), from a file and then from
		// a URL on loopback.
		ct, body := multipartBody(t, nil, "file", "me.png", pngBytes)
		r := c.do("POST", path, rootToken, map[string]string{"Content-Type": ct}, body)
		var first profileImageBody
		r.json(t, &first)
		if r.status != 201 || first.Status != "ready" || len(first.Renditions) == 0 {
			t.Fatalf("multipart POST: %d %s", r.status, r.body)
		}
		// The same picture from a URL is a new upload with the same bytes:
		// poll until it is no longer downloading.
		importURL := func(u string) profileImageBody {
			t.Helper()
			r := c.do("POST", path, rootToken, map[string]string{"Content-Type": "application/json"}, strings.NewReader(`{"url":"`+u+`"}`))
			var b profileImageBody
			r.json(t, &b)
			if r.status != 202 || b.Status != "downloading" {
				t.Fatalf("POST url %s: %d %s", u, r.status, r.body)
			}
			deadline := time.Now().Add(time.Minute)
			for b.Status == "downloading" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				c.do("GET", path, "", nil, nil).json(t, &b)
			}
			return b
		}
		if b := importURL(source.URL + "/me.png"); b.Status != "ready" || b.VersionID == "" {
			t.Errorf("import of a PNG: %+v", b)
		}
		b := importURL(source.URL + "/not-an-image")
		if b.Status != "failed" || b.Error == nil || b.Error.Code != "invalid-file-format" || b.VersionID == "" {
			t.Errorf("import of a non-image: %+v (the previous photo should stay)", b)
		}
		if r := c.do("DELETE", path, bobToken, nil, nil); r.status != 403 {
			t.Errorf("bob deleting carol's photo: %d %s", r.status, r.body)
		}
		if r := c.do("DELETE", path, rootToken, nil, nil); r.status != 204 {
			t.Errorf("DELETE: %d %s", r.status, r.body)
		}
		if r := c.do("GET", path, "", nil, nil); r.status != 404 {
			t.Errorf("GET after DELETE: %d", r.status)
		}
	})

	t.Run("renditions", func(t *testing.T) {
		c := client{t: t, base: srv.URL}
		var img profileImageBody
		c.do("GET", "/v1/users/alice/profile/profile-image", "", nil, nil).json(t, &img)
		u := srv.URL + "/photos/alice/" + img.VersionID + "/64"
		r := c.do("GET", u, "", nil, nil)
		etag := r.header.Get("ETag")
		if r.status != 200 || etag == "" || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
			t.Fatalf("GET %s: %d ETag %q Cache-Control %q", u, r.status, etag, r.header.Get("Cache-Control"))
		}
		if r := c.do("GET", u, "", map[string]string{"If-None-Match": etag}, nil); r.status != 304 {
			t.Errorf("If-None-Match: %d", r.status)
		}
		if r := c.do("GET", "/photos/alice/64", "", nil, nil); r.status != 302 || r.header.Get("Location") != u {
			t.Errorf("the current-version redirect: %d Location %q, want %q", r.status, r.header.Get("Location"), u)
		}
	})

	// The data survive a restart on the same directory, and so does the
	// signing key of the email URLs.
	keyPath := filepath.Join(srv.Data, signingKeyFile)
	key := readFile(t, keyPath)
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 || len(key) != signingKeySize {
		t.Fatalf("signing key: %v %v, %d bytes", fi.Mode(), err, len(key))
	}
	var before profileImageBody
	c.do("GET", "/v1/users/alice/profile/profile-image", "", nil, nil).json(t, &before)
	if err := srv.stop(); err != nil {
		t.Fatalf("stopping photod: %v", err)
	}
	srv2 := startPhotod(t, "-tokens", tokensFile, "-data", srv.Data)
	var after profileImageBody
	client{t: t, base: srv2.URL}.do("GET", "/v1/users/alice/profile/profile-image", "", nil, nil).json(t, &after)
	if after.VersionID != before.VersionID || after.VersionID == "" {
		t.Errorf("after a restart alice's photo is %q, was %q", after.VersionID, before.VersionID)
	}
	if !bytes.Equal(readFile(t, keyPath), key) {
		t.Error("the signing key changed across a restart")
	}
}

// TestShutdownFinishesUploads starts an upload, asks photod to stop while
// the body is half sent, and checks that the upload still succeeds and
// that photod then stops cleanly.
func TestShutdownFinishesUploads(t *testing.T) {
	srv := startPhotod(t)
	jpeg := readFile(t, testdata(t, "exif-orientation-examples/Landscape_0.jpg"))
	ct, body := multipartBody(t, nil, "image", "me.jpg", jpeg)
	all := body.Bytes()

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", srv.URL+"/api/users.setPhoto", pr)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	// With Expect: 100-continue the client sends the body only once the
	// handler reads it, so when the first half is written the request is
	// in the server's hands (not still in its listener's backlog).
	req.Header.Set("Expect", "100-continue")
	hc := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	defer hc.CloseIdleConnections()
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := hc.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	if _, err := pw.Write(all[:len(all)/2]); err != nil {
		res := <-done
		t.Fatalf("sending the first half: %v; the request ended with %d %q %v", err, res.status, res.body, res.err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- srv.stop() }()
	// Wait until photod no longer accepts connections: the shutdown has
	// begun while the upload is in flight.
	addr := strings.TrimPrefix(srv.URL, "http://")
	for deadline := time.Now().Add(time.Minute); ; {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("photod still accepts connections a minute after the shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("photod stopped (%v) before the upload in flight finished", err)
	default:
	}

	if _, err := pw.Write(all[len(all)/2:]); err != nil {
		res := <-done
		t.Fatalf("sending the second half: %v; the request ended with %d %q %v", err, res.status, res.body, res.err)
	}
	pw.Close()
	res := <-done
	if res.err != nil || res.status != 200 || !strings.Contains(res.body, `"ok":true`) {
		t.Fatalf("the upload in flight: %d %q %v", res.status, res.body, res.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("photod's shutdown: %v", err)
	}
	// The photo was stored before photod stopped.
	srv2 := startPhotod(t, "-data", srv.Data)
	var img profileImageBody
	client{t: t, base: srv2.URL}.do("GET", "/v1/users/demo/profile/profile-image", "", nil, nil).json(t, &img)
	if img.Status != "ready" {
		t.Errorf("after the restart the demo photo is %+v", img)
	}
}
