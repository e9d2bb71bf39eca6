package httpadapter

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/profilephoto/photo"
)

// fileKeys lists the stored objects of files.
func fileKeys(t *testing.T, e *testEnv) []string {
	t.Helper()
	var keys []string
	for _, a := range e.Store.list(t, "files/") {
		keys = append(keys, a.Key)
	}
	return keys
}

// TestIglooQuota has one user create 200 resumable uploads of 20 MiB:
// at most 50 (by default 10) are accepted, the rest get a clear 403 in the
// Igloo dialect's JSON, and deleting or the expiry of uploads frees quota.
func TestIglooQuota(t *testing.T) {
	e := newTestHandler(t, nil)
	hdr := withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"})
	const create = `{"ContentLength": 20971520, "ContentType": "image/png", "Name": "big.png"}`
	var keys []string
	refusal := func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		if res.StatusCode != http.StatusForbidden || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("status %d, Content-Type %q, want a 403 in JSON", res.StatusCode, res.Header.Get("Content-Type"))
			return
		}
		got := decodeJSON[map[string]string](t, body)
		if got["code"] != "quota-exceeded" || !strings.Contains(got["message"], "at most 10 open uploads per user") {
			t.Errorf("refusal %s, want quota-exceeded saying the limit", body)
		}
	}
	for i := range 200 {
		res, body := e.do(t, http.MethodPost, iglooRoot, hdr, create, false)
		if res.StatusCode == http.StatusCreated {
			keys = append(keys, decodeJSON[iglooBody](t, body).AttachmentKey)
			continue
		}
		if refusal(t, res, body); t.Failed() {
			t.Fatalf("create %d was refused so", i)
		}
	}
	quota := e.M.Options().Quotas.Uploads
	if len(keys) > 50 || len(keys) != quota {
		t.Fatalf("%d of 200 uploads accepted, want %d", len(keys), quota)
	}
	runTests(t, e, []httpTest{
		{Name: "another user is not affected", Method: http.MethodPost, URL: iglooRoot, ReqHeader: withAuth(bearerBob, hdr), ReqBody: create, Code: http.StatusCreated},
		{Name: "delete one", Method: http.MethodDelete, URL: iglooRoot + "/uploads/" + keys[0], ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNoContent},
		{Name: "create after the delete", Method: http.MethodPost, URL: iglooRoot, ReqHeader: hdr, ReqBody: create, Code: http.StatusCreated},
		{Name: "full again", Method: http.MethodPost, URL: iglooRoot, ReqHeader: hdr, ReqBody: create, Check: refusal},
	})
	e.Clock.Advance(24 * time.Hour)
	for i := range quota {
		if res, body := e.do(t, http.MethodPost, iglooRoot, hdr, create, false); res.StatusCode != http.StatusCreated {
			t.Fatalf("create %d after expiry: %d %s", i, res.StatusCode, body)
		}
	}
}

// TestChatterFilesOnlyImages checks that a file, or a version, that is not
// an image a photo POST would accept is refused with 400 INVALID_INPUT and
// nothing is stored.
func TestChatterFilesOnlyImages(t *testing.T) {
	e := newTestHandler(t, nil)
	noise := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	jpg := jpegImage(t, 60, 60)
	f, err := e.M.CreateFile(context.Background(), "alice", "a.jpg", bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	before := fileKeys(t, e)
	tests := []struct {
		name string
		data []byte
		ct   string
	}{
		{"random bytes", noise, "application/octet-stream"},
		{"HTML", []byte("<!doctype html><html><head><script>alert(1)</script></head><body></body></html>"), "text/html"},
		{"HTML declared as an image", []byte("<html><body>hi</body></html>"), "image/jpeg"},
		{"SVG", []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>`), "image/svg+xml"},
		{"truncated JPEG", jpg[:len(jpg)/2], "image/jpeg"},
		{"PNG header only", pngImage(t, 30, 30)[:40], "image/png"},
	}
	for _, tc := range tests {
		for _, url := range []string{filesPath("me"), filePath(f.ID)} {
			hdr, body := multipartReq(t, withAuth(bearerAlice, nil), filePart("fileData", "x", tc.ct, tc.data))
			httpTest{
				Name: tc.name, Method: http.MethodPost, URL: url, ReqHeader: hdr, ReqBody: body,
				Code: http.StatusBadRequest, Check: wantChatterError("INVALID_INPUT"),
			}.run(t, e)
		}
	}
	if after := fileKeys(t, e); !slices.Equal(before, after) {
		t.Errorf("refused files changed the store from %q to %q", before, after)
	}
	if got, err := e.M.File(context.Background(), f.ID); err != nil || len(got.Versions) != 1 {
		t.Errorf("File after refused versions = %v, %v; want 1 version", got, err)
	}
}

// TestChatterFileDelete checks DELETE of a file: its owner or an admin
// may, nobody else; an absent file is 404; a photo set from the file keeps
// working afterwards.
func TestChatterFileDelete(t *testing.T) {
	e := newTestHandler(t, nil)
	ctx := context.Background()
	img := jpegImage(t, 80, 80)
	newFile := func(t *testing.T) string {
		f, err := e.M.CreateFile(ctx, "alice", "a.jpg", bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		return f.ID
	}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			id := newFile(t)
			tc := httpTest{Method: http.MethodDelete, URL: filePath(id), ReqHeader: withAuth(c.auth, nil), Code: http.StatusNoContent}
			if !c.ok {
				tc.Code, tc.Check = c.status, wantChatterError(c.chatterCode)
			}
			tc.run(t, e)
			_, err := e.M.File(ctx, id)
			if gone := errors.Is(err, photo.ErrNotFound); gone != c.ok {
				t.Errorf("after DELETE by %s: File = %v; want gone %v", c.name, err, c.ok)
			}
		})
	}

	id := newFile(t)
	res, body := httpTest{
		Name: "photo from the file", Method: http.MethodPost, URL: chatterPath("me"),
		ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"}),
		ReqBody:   `{"fileId":"` + id + `"}`, Code: http.StatusCreated,
	}.run(t, e)
	if res.StatusCode != http.StatusCreated {
		t.FailNow()
	}
	ph := decodeJSON[chatterPhoto](t, body)
	runTests(t, e, []httpTest{
		{Name: "delete", Method: http.MethodDelete, URL: filePath(id), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNoContent},
		{Name: "delete again", Method: http.MethodDelete, URL: filePath(id), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")},
		{Name: "info after delete", URL: filePath(id), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")},
		{Name: "unknown file", Method: http.MethodDelete, URL: filePath("069000000000000AAA"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")},
		{Name: "malformed ID", Method: http.MethodDelete, URL: filePath("..%2F..%2Fetc"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound},
		{Name: "bad API version", Method: http.MethodDelete, URL: "/services/data/58/connect/files/" + id, ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound},
		{Name: "the photo is still described", URL: chatterPath("alice"), Code: http.StatusOK, ResContains: []string{ph.PhotoVersionID}},
	})
	for _, u := range []string{ph.SmallPhotoURL, ph.MediumPhotoURL, ph.LargePhotoURL} {
		if img, res := e.fetchImage(t, u); img == nil || res.StatusCode != http.StatusOK {
			t.Errorf("rendition %s after the file was deleted: status %d", u, res.StatusCode)
		}
	}
	for _, k := range fileKeys(t, e) {
		if strings.HasPrefix(k, "files/"+id+"/") {
			t.Errorf("DELETE left %s", k)
		}
	}
}

// TestChatterFileQuota checks the file quotas in the Chatter dialect: 403
// REQUEST_LIMIT_EXCEEDED when full, freed by DELETE and by expiry.
func TestChatterFileQuota(t *testing.T) {
	e := newTestEnv(t, envConfig{Photo: &photo.Options{Quotas: photo.Quotas{Files: 2, FileVersions: 2}}})
	upload := func() (map[string]string, []byte) {
		return multipartReq(t, withAuth(bearerAlice, nil), filePart("fileData", "a.png", "image/png", pngImage(t, 40, 40)))
	}
	var ids []string
	for i := range 2 {
		hdr, body := upload()
		res, data := httpTest{Method: http.MethodPost, URL: filesPath("me"), ReqHeader: hdr, ReqBody: body, Code: http.StatusCreated}.run(t, e)
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("file %d not created", i)
		}
		ids = append(ids, decodeJSON[chatterFile](t, data).ID)
	}
	limited := func(words string) func(*testing.T, *http.Response, []byte) {
		return func(t *testing.T, res *http.Response, body []byte) {
			t.Helper()
			wantChatterError("REQUEST_LIMIT_EXCEEDED")(t, res, body)
			if !strings.Contains(string(body), words) {
				t.Errorf("refusal %s does not say %q", body, words)
			}
		}
	}
	h1, b1 := upload()
	h2, b2 := upload()
	h3, b3 := upload()
	h4, b4 := upload()
	runTests(t, e, []httpTest{
		{Name: "third file", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: h1, ReqBody: b1, Code: http.StatusForbidden, Check: limited("at most 2 files per user")},
		{Name: "second version", Method: http.MethodPost, URL: filePath(ids[0]), ReqHeader: h2, ReqBody: b2, Code: http.StatusCreated},
		{Name: "third version", Method: http.MethodPost, URL: filePath(ids[0]), ReqHeader: h3, ReqBody: b3, Code: http.StatusForbidden, Check: limited("at most 2 versions per file")},
		{Name: "delete", Method: http.MethodDelete, URL: filePath(ids[1]), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNoContent},
		{Name: "file after the delete", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: h4, ReqBody: b4, Code: http.StatusCreated},
	})
	e.Clock.Advance(e.M.Options().Quotas.FileTTL)
	httpTest{Name: "expired", URL: filePath(ids[0]), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")}.run(t, e)
	for range 2 {
		hdr, body := upload()
		httpTest{Name: "after expiry", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: hdr, ReqBody: body, Code: http.StatusCreated}.run(t, e)
	}
	if n, err := e.M.Sweep(context.Background(), 0); err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v; want the 2 expired files removed", n, err)
	}
}
