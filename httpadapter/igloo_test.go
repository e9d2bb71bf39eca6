package httpadapter

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const iglooRoot = "/.api2/api/v1/communities/7/attachments"

// iglooNew creates an upload of length bytes of ct as auth and returns its
// key.
func iglooNew(t *testing.T, e *testEnv, auth string, length int, ct string) string {
	t.Helper()
	body := fmt.Sprintf(`{"ContentLength": %d, "ContentType": %q, "Name": "me.jpg"}`, length, ct)
	res, data := e.do(t, http.MethodPost, iglooRoot, withAuth(auth, map[string]string{"Content-Type": "application/json"}), body, false)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, data)
	}
	b := decodeJSON[iglooBody](t, data)
	return b.AttachmentKey
}

// iglooPatch sends data as the bytes from first of an upload of total
// bytes.
func iglooPatch(t *testing.T, e *testEnv, auth, key string, first int, data []byte, total int) *http.Response {
	t.Helper()
	h := withAuth(auth, map[string]string{
		"Content-Range": fmt.Sprintf("bytes %d-%d/%d", first, first+len(data)-1, total),
		"Content-Type":  "image/jpeg",
	})
	res, body := e.do(t, http.MethodPatch, iglooRoot+"/uploads/"+key, h, data, false)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH %d-%d: %d %s", first, first+len(data)-1, res.StatusCode, body)
	}
	return res
}

// uploadKeys lists the stored objects of upload key.
func uploadKeys(t *testing.T, e *testEnv, key string) []string {
	t.Helper()
	var out []string
	for _, o := range e.Store.list(t, "uploads/"+key+"/") {
		out = append(out, o.Key)
	}
	return out
}

// progress checks the headers that tell how far an upload got.
func progress(received, length int) map[string]string {
	h := map[string]string{
		"Upload-Offset": strconv.Itoa(received),
		"Upload-Length": strconv.Itoa(length),
		"Range":         "-",
	}
	if received > 0 {
		h["Range"] = fmt.Sprintf("bytes=0-%d", received-1)
	}
	return h
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// wantJSON checks fields of a JSON body.
func wantJSON(want map[string]any) func(t *testing.T, res *http.Response, body []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		got := decodeJSON[map[string]any](t, body)
		for k, w := range want {
			g, ok := got[k]
			if !ok {
				t.Errorf("body has no %q: %s", k, abbrev(body))
				continue
			}
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("body %q = %v, want %v", k, g, w)
			}
		}
	}
}

func TestIglooCreate(t *testing.T) {
	e := newTestHandler(t, nil)
	max := e.M.Options().Limits.MaxBytes
	jsonCT := map[string]string{"Content-Type": "application/json"}
	post := func(name, auth, body string, code int, check func(*testing.T, *http.Response, []byte)) httpTest {
		return httpTest{Name: name, Method: http.MethodPost, URL: iglooRoot, ReqHeader: withAuth(auth, jsonCT),
			ReqBody: body, Code: code, Check: check}
	}
	created := func(ct string, length int64) func(*testing.T, *http.Response, []byte) {
		return func(t *testing.T, res *http.Response, body []byte) {
			b := decodeJSON[iglooBody](t, body)
			if len(b.AttachmentKey) != 10 || strings.Trim(b.AttachmentKey, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
				t.Errorf("attachment key %q is not 10 characters of [A-Za-z0-9]", b.AttachmentKey)
			}
			loc := e.URL + iglooRoot + "/uploads/" + b.AttachmentKey
			if got := res.Header.Get("Location"); got != loc || b.Location != loc {
				t.Errorf("Location %q, body location %q, want %q", got, b.Location, loc)
			}
			if b.ContentType != ct || b.Length != length || b.Received != 0 || b.Complete || b.Name == "" {
				t.Errorf("body %+v, want type %s and length %d, nothing received", b, ct, length)
			}
			if !b.Expires.Equal(e.Clock.Now().Add(24 * time.Hour)) {
				t.Errorf("expires %v, want a day after %v", b.Expires, e.Clock.Now())
			}
			if res.Header.Get("Upload-Offset") != "0" {
				t.Errorf("Upload-Offset %q, want 0", res.Header.Get("Upload-Offset"))
			}
		}
	}
	code := func(c string) func(*testing.T, *http.Response, []byte) {
		return wantJSON(map[string]any{"code": c})
	}
	field := func(c, f string) func(*testing.T, *http.Response, []byte) {
		return wantJSON(map[string]any{"code": c, "field": f})
	}
	runTests(t, e, []httpTest{
		post("jpeg", bearerAlice, `{"ContentLength": 1234, "ContentType": "image/jpeg", "Name": "me.jpg"}`, 201, created("image/jpeg", 1234)),
		post("image/jpg is jpeg", bearerAlice, `{"ContentLength": 10, "ContentType": "image/jpg", "Name": "me.jpg"}`, 201, created("image/jpeg", 10)),
		post("png, length as a string", bearerBob, `{"ContentLength": "99", "ContentType": "image/png", "Name": "me.png"}`, 201, created("image/png", 99)),
		post("gif, camelCase fields", bearerAlice, `{"contentLength": 5, "contentType": "image/gif", "name": "a.gif"}`, 201, created("image/gif", 5)),
		post("at the size limit", bearerAdmin, fmt.Sprintf(`{"ContentLength": %d, "ContentType": "image/webp", "Name": "x"}`, max), 201, created("image/webp", max)),
		post("past the size limit", bearerAlice, fmt.Sprintf(`{"ContentLength": %d, "ContentType": "image/png", "Name": "x"}`, max+1), 400, code("validation-failure")),
		post("not an image type", bearerAlice, `{"ContentLength": 5, "ContentType": "text/html", "Name": "x"}`, 400, code("validation-failure")),
		post("svg", bearerAlice, `{"ContentLength": 5, "ContentType": "image/svg+xml", "Name": "x"}`, 400, code("validation-failure")),
		post("no ContentLength", bearerAlice, `{"ContentType": "image/png", "Name": "x"}`, 400, field("bad-request", "ContentLength")),
		post("null ContentLength", bearerAlice, `{"ContentLength": null, "ContentType": "image/png", "Name": "x"}`, 400, field("bad-request", "ContentLength")),
		post("zero ContentLength", bearerAlice, `{"ContentLength": 0, "ContentType": "image/png", "Name": "x"}`, 400, field("bad-request", "ContentLength")),
		post("negative ContentLength", bearerAlice, `{"ContentLength": -4, "ContentType": "image/png", "Name": "x"}`, 400, field("bad-request", "ContentLength")),
		post("ContentLength not a number", bearerAlice, `{"ContentLength": "ten", "ContentType": "image/png", "Name": "x"}`, 400, field("bad-request", "ContentLength")),
		post("fractional ContentLength", bearerAlice, `{"ContentLength": 1.5, "ContentType": "image/png", "Name": "x"}`, 400, field("bad-request", "ContentLength")),
		post("no ContentType", bearerAlice, `{"ContentLength": 5, "Name": "x"}`, 400, field("bad-request", "ContentType")),
		post("no Name", bearerAlice, `{"ContentLength": 5, "ContentType": "image/png"}`, 400, field("bad-request", "Name")),
		post("Name too long", bearerAlice, `{"ContentLength": 5, "ContentType": "image/png", "Name": "`+strings.Repeat("n", 300)+`"}`, 400, field("bad-request", "Name")),
		post("Name with a control character", bearerAlice, `{"ContentLength": 5, "ContentType": "image/png", "Name": "a\u0000b"}`, 400, field("bad-request", "Name")),
		post("not JSON", bearerAlice, `ContentLength=5`, 400, code("bad-request")),
		post("no body", bearerAlice, ``, 400, code("bad-request")),
		post("no credentials", "", `{"ContentLength": 5, "ContentType": "image/png", "Name": "x"}`, 401, code("unauthorized")),
		post("bad credentials", bearerBad, `{"ContentLength": 5, "ContentType": "image/png", "Name": "x"}`, 401, code("invalid-credentials")),
		{Name: "community key not an integer", Method: http.MethodPost, URL: "/.api2/api/v1/communities/abc/attachments",
			ReqHeader: withAuth(bearerAlice, jsonCT), ReqBody: `{"ContentLength": 5, "ContentType": "image/png", "Name": "x"}`,
			Code: 400, Check: field("bad-request", "communityKey")},
		{Name: "wrong method", Method: http.MethodPut, URL: iglooRoot, ReqHeader: withAuth(bearerAlice, jsonCT), Code: 405},
	})
}

// TestIglooUpload walks one upload through every answer a chunk can get.
func TestIglooUpload(t *testing.T) {
	e := newTestHandler(t, nil)
	img := testdataFile(t, "pillow/hopper.jpg")
	L := len(img)
	half := L / 2
	key := iglooNew(t, e, bearerAlice, L, "image/jpg")
	u := iglooRoot + "/uploads/" + key
	assoc := iglooRoot + "/" + key + "/association/alice?type=ProfilePhoto"
	patch := func(name, auth, cr string, body []byte, code int, hdr map[string]string, check func(*testing.T, *http.Response, []byte)) httpTest {
		h := map[string]string{"Content-Type": "image/jpeg"}
		if cr != "" {
			h["Content-Range"] = cr
		}
		return httpTest{Name: name, Method: http.MethodPatch, URL: u, ReqHeader: withAuth(auth, h), ReqBody: body,
			Code: code, ResHeader: hdr, Check: check}
	}
	rng := func(a, b, total int) string { return fmt.Sprintf("bytes %d-%d/%d", a, b, total) }
	state := func(received int, complete bool) func(*testing.T, *http.Response, []byte) {
		return wantJSON(map[string]any{"received": received, "length": L, "complete": complete, "attachmentKey": key})
	}
	refused := func(code string, received int) func(*testing.T, *http.Response, []byte) {
		return wantJSON(map[string]any{"code": code, "received": received, "length": L})
	}
	differs := bytes.Clone(img[10 : half+20])
	differs[5] ^= 0xff
	var photoBody imageBody

	runTests(t, e, []httpTest{
		{Name: "HEAD before any byte", Method: http.MethodHead, URL: u, ReqHeader: withAuth(bearerAlice, nil), Code: 200, ResHeader: progress(0, L)},
		patch("no Content-Range", bearerAlice, "", img[:10], 400, progress(0, L), wantJSON(map[string]any{"code": "bad-request", "field": "Content-Range"})),
		patch("Content-Range with =", bearerAlice, "bytes=0-9/"+strconv.Itoa(L), img[:10], 400, nil, wantJSON(map[string]any{"field": "Content-Range"})),
		patch("Content-Range without total", bearerAlice, "bytes 0-9", img[:10], 400, nil, nil),
		patch("Content-Range in other units", bearerAlice, "items 0-9/"+strconv.Itoa(L), img[:10], 400, nil, nil),
		patch("Content-Range last before first", bearerAlice, rng(9, 0, L), img[:10], 400, nil, nil),
		patch("Content-Range with a sign", bearerAlice, "bytes -1-9/"+strconv.Itoa(L), img[:10], 400, nil, nil),
		patch("Content-Length does not match", bearerAlice, rng(0, 19, L), img[:10], 400, progress(0, L), wantJSON(map[string]any{"field": "Content-Length"})),
		{Name: "no Content-Length", Method: http.MethodPatch, URL: u, ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Range": rng(0, 9, L)}),
			ReqBody: img[:10], Chunked: true, Code: 400, Check: wantJSON(map[string]any{"field": "Content-Length"})},
		patch("gap at the start", bearerAlice, rng(5, 14, L), img[5:15], 409, progress(0, L), refused("range-conflict", 0)),
		patch("first half", bearerAlice, rng(0, half-1, L), img[:half], 200, progress(half, L), state(half, false)),
		{Name: "HEAD tells the bytes received", Method: http.MethodHead, URL: u, ReqHeader: withAuth(bearerAlice, nil), Code: 200, ResHeader: progress(half, L)},
		{Name: "GET tells the bytes received", URL: u, ReqHeader: withAuth(bearerAlice, nil), Code: 200, ResHeader: progress(half, L), Check: state(half, false)},
		patch("gap", bearerAlice, rng(half+10, L-1, L), img[half+10:], 409, progress(half, L), refused("range-conflict", half)),
		patch("overlap that disagrees", bearerAlice, rng(10, half+19, L), differs, 409, progress(half, L), refused("range-conflict", half)),
		patch("repeated identical chunk", bearerAlice, rng(0, half-1, L), img[:half], 200, progress(half, L), state(half, false)),
		patch("beyond the declared length", bearerAlice, rng(half, L, L), append(bytes.Clone(img[half:]), 'x'), 416,
			merge(progress(half, L), map[string]string{"Content-Range": "bytes */" + strconv.Itoa(L)}), refused("range-not-satisfiable", half)),
		patch("total larger than declared", bearerAlice, rng(half, L-1, L+1), img[half:], 416, progress(half, L), refused("range-not-satisfiable", half)),
		patch("total smaller than declared", bearerAlice, rng(half, half+9, L-1), img[half:half+10], 416, progress(half, L), refused("range-not-satisfiable", half)),
		patch("state asked with */total", bearerAlice, "bytes */"+strconv.Itoa(L), nil, 200, progress(half, L), state(half, false)),
		patch("state asked with a wrong total", bearerAlice, "bytes */"+strconv.Itoa(L+5), nil, 416, progress(half, L), refused("range-not-satisfiable", half)),
		patch("a total of zero", bearerAlice, rng(half, half+9, 0), img[half:half+10], 416,
			merge(progress(half, L), map[string]string{"Content-Range": "bytes */" + strconv.Itoa(L)}), refused("range-not-satisfiable", half)),
		patch("state asked with a total of zero", bearerAlice, "bytes */0", nil, 416, progress(half, L), refused("range-not-satisfiable", half)),
		patch("*/* is no range", bearerAlice, "bytes */*", nil, 400, nil, nil),
		patch("another user's upload", bearerBob, rng(half, L-1, L), img[half:], 403, nil, wantJSON(map[string]any{"code": "forbidden"})),
		patch("no credentials", "", rng(half, L-1, L), img[half:], 401, map[string]string{"WWW-Authenticate": "*"}, wantJSON(map[string]any{"code": "unauthorized"})),
		patch("bad credentials", bearerBad, rng(half, L-1, L), img[half:], 401, nil, wantJSON(map[string]any{"code": "invalid-credentials"})),
		{Name: "associate an incomplete upload", Method: http.MethodPost, URL: assoc, ReqHeader: withAuth(bearerAlice, nil),
			Code: 409, ResHeader: progress(half, L), Check: refused("upload-incomplete", half)},
		patch("the rest, total unknown", bearerAlice, fmt.Sprintf("bytes %d-%d/*", half, L-1), img[half:], 200, progress(L, L), state(L, true)),
		patch("a repeat once complete", bearerAlice, rng(L-10, L-1, L), img[L-10:], 200, progress(L, L), state(L, true)),
		{Name: "associate without type", Method: http.MethodPost, URL: iglooRoot + "/" + key + "/association/alice",
			ReqHeader: withAuth(bearerAlice, nil), Code: 400, Check: wantJSON(map[string]any{"code": "bad-request", "field": "type"})},
		{Name: "associate with another type", Method: http.MethodPost, URL: iglooRoot + "/" + key + "/association/alice?type=CoverPhoto",
			ReqHeader: withAuth(bearerAlice, nil), Code: 400},
		{Name: "associate with another user", Method: http.MethodPost, URL: iglooRoot + "/" + key + "/association/bob?type=ProfilePhoto",
			ReqHeader: withAuth(bearerAlice, nil), Code: 403, Check: wantJSON(map[string]any{"code": "forbidden"})},
		{Name: "associate another user's upload", Method: http.MethodPost, URL: iglooRoot + "/" + key + "/association/bob?type=ProfilePhoto",
			ReqHeader: withAuth(bearerBob, nil), Code: 403, Check: wantJSON(map[string]any{"code": "forbidden"})},
		{Name: "associate without credentials", Method: http.MethodPost, URL: assoc, Code: 401},
		{Name: "associate with bad credentials", Method: http.MethodPost, URL: assoc, ReqHeader: withAuth(bearerBad, nil), Code: 401,
			Check: wantJSON(map[string]any{"code": "invalid-credentials"})},
		{Name: "associate", Method: http.MethodPost, URL: assoc, ReqHeader: withAuth(bearerAlice, nil), Code: 201,
			ResHeader: map[string]string{"Location": e.URL + "/v1/users/alice/profile/profile-image"},
			Check: func(t *testing.T, res *http.Response, body []byte) {
				photoBody = decodeJSON[imageBody](t, body)
			}},
		{Name: "the upload is used up", Method: http.MethodHead, URL: u, ReqHeader: withAuth(bearerAlice, nil), Code: 404},
		{Name: "associate again", Method: http.MethodPost, URL: assoc, ReqHeader: withAuth(bearerAlice, nil), Code: 404,
			Check: wantJSON(map[string]any{"code": "not-found"})},
	})

	p := e.getPhoto(t, "alice")
	if p == nil || photoBody.VersionID != p.VersionID || photoBody.UserID != "alice" || photoBody.Status != "ready" {
		t.Fatalf("association answered %+v; the photo is %+v", photoBody, p)
	}
	if p.Bytes != int64(L) || p.SourceType != "image/jpeg" || p.Width != 128 {
		t.Errorf("photo %+v, want the %d bytes of the 128x128 JPEG", p, L)
	}
	if len(photoBody.Renditions) != len(p.Renditions) || photoBody.URL != photoBody.Renditions[len(photoBody.Renditions)-1].URL {
		t.Errorf("renditions %+v, url %s", photoBody.Renditions, photoBody.URL)
	}
	for _, r := range photoBody.Renditions {
		if !strings.HasPrefix(r.URL, e.URL+"/photos/alice/"+p.VersionID+"/") {
			t.Errorf("rendition URL %s is not an absolute URL of the version", r.URL)
		}
	}
	got, _ := e.fetchImage(t, photoBody.URL)
	if b := got.Bounds(); b.Dx() != photoBody.Width || b.Dy() != photoBody.Height {
		t.Errorf("the url serves %v, the body says %dx%d", b, photoBody.Width, photoBody.Height)
	}
	if objs := uploadKeys(t, e, key); len(objs) != 0 {
		t.Errorf("upload objects left after the association: %q", objs)
	}
}

func TestIglooUnknownUploads(t *testing.T) {
	e := newTestHandler(t, nil)
	var tests []httpTest
	for _, key := range []string{"ZZZZZZZZZZ", "short", "%2E%2E", "abcdefghijk"} {
		tests = append(tests,
			httpTest{Name: "HEAD " + key, Method: http.MethodHead, URL: iglooRoot + "/uploads/" + key, ReqHeader: withAuth(bearerAlice, nil), Code: 404},
			httpTest{Name: "GET " + key, URL: iglooRoot + "/uploads/" + key, ReqHeader: withAuth(bearerAlice, nil), Code: 404,
				Check: wantJSON(map[string]any{"code": "not-found"})},
			httpTest{Name: "PATCH " + key, Method: http.MethodPatch, URL: iglooRoot + "/uploads/" + key,
				ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Range": "bytes 0-2/3"}), ReqBody: "abc", Code: 404},
			httpTest{Name: "DELETE " + key, Method: http.MethodDelete, URL: iglooRoot + "/uploads/" + key, ReqHeader: withAuth(bearerAlice, nil), Code: 404},
			httpTest{Name: "associate " + key, Method: http.MethodPost, URL: iglooRoot + "/" + key + "/association/alice?type=ProfilePhoto",
				ReqHeader: withAuth(bearerAlice, nil), Code: 404},
		)
	}
	runTests(t, e, tests)
}

// TestIglooAdmin checks that an admin may use any upload for any user.
func TestIglooAdmin(t *testing.T) {
	e := newTestHandler(t, nil)
	img := jpegImage(t, 120, 90)
	mine := iglooNew(t, e, bearerAdmin, len(img), "image/jpeg")
	iglooPatch(t, e, bearerAdmin, mine, 0, img, len(img))
	alices := iglooNew(t, e, bearerAlice, len(img), "image/jpeg")
	// The admin sends the bytes of alice's upload, and associates it.
	iglooPatch(t, e, bearerAdmin, alices, 0, img, len(img))
	runTests(t, e, []httpTest{
		{Name: "admin's upload for bob", Method: http.MethodPost, URL: iglooRoot + "/" + mine + "/association/bob?type=ProfilePhoto",
			ReqHeader: withAuth(bearerAdmin, nil), Code: 201, Check: wantJSON(map[string]any{"userId": "bob", "status": "ready"})},
		{Name: "alice's upload for alice, by the admin", Method: http.MethodPost, URL: iglooRoot + "/" + alices + "/association/alice?Type=ProfilePhoto",
			ReqHeader: withAuth(bearerAdmin, nil), Code: 201, Check: wantJSON(map[string]any{"userId": "alice"})},
	})
	if e.getPhoto(t, "bob") == nil || e.getPhoto(t, "alice") == nil {
		t.Error("the associations set no photo")
	}
}

func TestIglooNotAnImage(t *testing.T) {
	e := newTestHandler(t, nil)
	html := []byte("<html><body>hello</body></html>")
	key := iglooNew(t, e, bearerAlice, len(html), "image/png")
	iglooPatch(t, e, bearerAlice, key, 0, html, len(html))
	runTests(t, e, []httpTest{
		{Name: "associate", Method: http.MethodPost, URL: iglooRoot + "/" + key + "/association/alice?type=ProfilePhoto",
			ReqHeader: withAuth(bearerAlice, nil), Code: 400, Check: wantJSON(map[string]any{"code": "validation-failure"})},
		{Name: "the upload stays", Method: http.MethodHead, URL: iglooRoot + "/uploads/" + key, ReqHeader: withAuth(bearerAlice, nil), Code: 200},
		{Name: "delete it", Method: http.MethodDelete, URL: iglooRoot + "/uploads/" + key, ReqHeader: withAuth(bearerAlice, nil), Code: 204},
		{Name: "gone", Method: http.MethodHead, URL: iglooRoot + "/uploads/" + key, ReqHeader: withAuth(bearerAlice, nil), Code: 404},
	})
	if e.getPhoto(t, "alice") != nil {
		t.Error("a refused upload set a photo")
	}
	if objs := uploadKeys(t, e, key); len(objs) != 0 {
		t.Errorf("objects left after DELETE: %q", objs)
	}
}

// TestIglooResume breaks a chunk off mid-body on a raw connection, asks
// how far the upload got, and continues from there.
func TestIglooResume(t *testing.T) {
	e := newTestHandler(t, nil)
	img := testdataFile(t, "wuffs/hat.jpeg")
	L := len(img)
	key := iglooNew(t, e, bearerAlice, L, "image/jpeg")
	path := iglooRoot + "/uploads/" + key
	iglooPatch(t, e, bearerAlice, key, 0, img[:1000], L)

	// The client means to send the rest but the connection breaks after
	// 1500 of its bytes.
	conn, err := net.Dial("tcp", e.Srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Range: bytes 1000-%d/%d\r\nContent-Length: %d\r\n\r\n",
		path, e.Srv.Listener.Addr(), bearerAlice, L-1, L, L-1000)
	conn.Write(img[1000:2500])
	conn.(*net.TCPConn).CloseWrite()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("the broken chunk got %d %s, want 400", res.StatusCode, body)
		}
		checkNoLeak(t, body)
		t.Logf("the broken chunk got %d %s", res.StatusCode, body)
	}
	conn.Close()

	res, _ = e.do(t, http.MethodHead, path, withAuth(bearerAlice, nil), nil, false)
	if res.StatusCode != 200 || res.Header.Get("Upload-Offset") != "1000" || res.Header.Get("Range") != "bytes=0-999" {
		t.Fatalf("HEAD after the broken chunk: %d, Upload-Offset %q, Range %q; want 1000 bytes kept, none of the broken chunk",
			res.StatusCode, res.Header.Get("Upload-Offset"), res.Header.Get("Range"))
	}
	got, _ := strconv.Atoi(res.Header.Get("Upload-Offset"))
	iglooPatch(t, e, bearerAlice, key, got, img[got:], L)
	res, body := e.do(t, http.MethodPost, iglooRoot+"/"+key+"/association/alice?type=ProfilePhoto", withAuth(bearerAlice, nil), nil, false)
	if res.StatusCode != 201 {
		t.Fatalf("associate: %d %s", res.StatusCode, body)
	}
	if p := e.getPhoto(t, "alice"); p == nil || p.Bytes != int64(L) || p.Width != 90 || p.Height != 112 {
		t.Errorf("photo %+v, want the 90x112 hat", p)
	}
}

// TestIglooExpiry moves the clock past Options.UploadTTL.
func TestIglooExpiry(t *testing.T) {
	e := newTestHandler(t, &Options{UploadTTL: time.Hour})
	img := jpegImage(t, 64, 64)
	L := len(img)
	asked := iglooNew(t, e, bearerAlice, L, "image/jpeg")
	swept := iglooNew(t, e, bearerAlice, L, "image/jpeg")
	for _, k := range []string{asked, swept} {
		iglooPatch(t, e, bearerAlice, k, 0, img[:100], L)
	}
	e.Clock.Advance(time.Hour - time.Second)
	runTests(t, e, []httpTest{{Name: "alive just before", Method: http.MethodHead, URL: iglooRoot + "/uploads/" + asked,
		ReqHeader: withAuth(bearerAlice, nil), Code: 200, ResHeader: progress(100, L)}})
	e.Clock.Advance(time.Second)
	runTests(t, e, []httpTest{
		{Name: "PATCH after expiry", Method: http.MethodPatch, URL: iglooRoot + "/uploads/" + asked,
			ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Range": fmt.Sprintf("bytes 100-%d/%d", L-1, L)}),
			ReqBody:   img[100:], Code: 404, Check: wantJSON(map[string]any{"code": "not-found"})},
		{Name: "HEAD after expiry", Method: http.MethodHead, URL: iglooRoot + "/uploads/" + asked, ReqHeader: withAuth(bearerAlice, nil), Code: 404},
	})
	if objs := uploadKeys(t, e, asked); len(objs) != 0 {
		t.Errorf("bytes of an upload refused as expired are still stored: %q", objs)
	}
	if objs := uploadKeys(t, e, swept); len(objs) != 2 {
		t.Fatalf("objects of the upload nobody asked for: %q, want its record and chunk until the sweep", objs)
	}
	n, err := e.M.Sweep(context.Background(), 0)
	if err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1 upload removed", n, err)
	}
	if objs := uploadKeys(t, e, swept); len(objs) != 0 {
		t.Errorf("bytes of an expired upload after Sweep: %q", objs)
	}
}

// TestIglooPrefix checks the URLs of a handler mounted under a prefix.
func TestIglooPrefix(t *testing.T) {
	e := newTestEnv(t, envConfig{Prefix: "/avatars"})
	res, body := e.do(t, http.MethodPost, iglooRoot, withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"}),
		`{"ContentLength": 5, "ContentType": "image/png", "Name": "x.png"}`, false)
	if res.StatusCode != 201 {
		t.Fatalf("create: %d %s", res.StatusCode, body)
	}
	b := decodeJSON[iglooBody](t, body)
	if want := e.Srv.URL + "/avatars" + iglooRoot + "/uploads/" + b.AttachmentKey; res.Header.Get("Location") != want {
		t.Errorf("Location %q, want %q", res.Header.Get("Location"), want)
	}
}

// TestIglooRacingChunks sends two different first chunks at once: one
// wins, the other is told the upload moved on.
func TestIglooRacingChunks(t *testing.T) {
	e := newTestHandler(t, nil)
	img := jpegImage(t, 64, 64)
	L := len(img)
	key := iglooNew(t, e, bearerAlice, L, "image/jpeg")
	other := bytes.Clone(img[:200])
	other[100] ^= 1
	codes := make(chan int, 2)
	for _, data := range [][]byte{img[:200], other} {
		go func() {
			req, _ := http.NewRequest(http.MethodPatch, e.URL+iglooRoot+"/uploads/"+key, bytes.NewReader(data))
			req.Header.Set("Authorization", bearerAlice)
			req.Header.Set("Content-Range", fmt.Sprintf("bytes 0-199/%d", L))
			res, err := e.Client.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	got := []int{<-codes, <-codes}
	if !(got[0] == 200 && got[1] == 409 || got[0] == 409 && got[1] == 200) {
		t.Errorf("racing chunks answered %v, want one 200 and one 409", got)
	}
	u, err := e.M.Upload(context.Background(), key)
	if err != nil || u.Received != 200 {
		t.Errorf("Upload = %+v, %v", u, err)
	}
	var chunks int
	for _, k := range uploadKeys(t, e, key) {
		if strings.Contains(k, "/c/") {
			chunks++
		}
	}
	if chunks != 1 {
		t.Errorf("%d chunk objects, want the winner's only", chunks)
	}
}

// TestIglooExpiryIsTheManagers checks that an upload's expiry is the
// Manager's alone: with the handler's clock standing still and only the
// Manager's moving past the expiry, the upload answers 404 on every route
// and its bytes are removed when it is asked for.
func TestIglooExpiryIsTheManagers(t *testing.T) {
	still := newTestClock()
	e := newTestHandler(t, &Options{UploadTTL: time.Hour, Now: still.Now})
	img := jpegImage(t, 64, 64)
	L := len(img)
	keys := make([]string, 4)
	for i := range keys {
		keys[i] = iglooNew(t, e, bearerAlice, L, "image/jpeg")
		iglooPatch(t, e, bearerAlice, keys[i], 0, img, L)
	}
	e.Clock.Advance(time.Hour)
	runTests(t, e, []httpTest{
		{Name: "HEAD", Method: http.MethodHead, URL: iglooRoot + "/uploads/" + keys[0], ReqHeader: withAuth(bearerAlice, nil), Code: 404},
		{Name: "PATCH", Method: http.MethodPatch, URL: iglooRoot + "/uploads/" + keys[1],
			ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Range": fmt.Sprintf("bytes */%d", L)}),
			Code:      404, Check: wantJSON(map[string]any{"code": "not-found"})},
		{Name: "DELETE", Method: http.MethodDelete, URL: iglooRoot + "/uploads/" + keys[2], ReqHeader: withAuth(bearerAlice, nil), Code: 404},
		{Name: "associate", Method: http.MethodPost, URL: iglooRoot + "/" + keys[3] + "/association/alice?type=ProfilePhoto",
			ReqHeader: withAuth(bearerAlice, nil), Code: 404, Check: wantJSON(map[string]any{"code": "not-found"})},
	})
	for _, k := range keys {
		if objs := uploadKeys(t, e, k); len(objs) != 0 {
			t.Errorf("bytes of upload %s refused as expired are still stored: %q", k, objs)
		}
	}
}
