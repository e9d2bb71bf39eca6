package httpadapter

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo"
)

const apiV = "v58.0"

// chatterPath is the photo resource of user.
func chatterPath(user string) string {
	return "/services/data/" + apiV + "/chatter/users/" + pathSegment(user) + "/photo"
}

// communityPath is the community form of the photo resource.
func communityPath(community, user string) string {
	return "/services/data/" + apiV + "/connect/communities/" + pathSegment(community) + "/chatter/users/" + pathSegment(user) + "/photo"
}

// filesPath is the files resource that creates files for user.
func filesPath(user string) string {
	return "/services/data/" + apiV + "/connect/files/users/" + pathSegment(user)
}

// filePath is one file's resource.
func filePath(id string) string { return "/services/data/" + apiV + "/connect/files/" + id }

// wantChatterError checks a Salesforce error body: one error with code.
func wantChatterError(code string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		errs := decodeJSON[[]map[string]string](t, body)
		if len(errs) != 1 || errs[0]["errorCode"] != code || errs[0]["message"] == "" {
			t.Errorf("error body %s, want one %s with a message", body, code)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("error Content-Type %q", ct)
		}
	}
}

// chatterUpload is a multipart body with the image as fileUpload and,
// when js is not "", a json part.
func chatterUpload(t *testing.T, auth string, img []byte, js string) (map[string]string, []byte) {
	t.Helper()
	parts := []part{filePart("fileUpload", "me.jpg", "image/jpeg", img)}
	if js != "" {
		parts = append([]part{{Name: "json", ContentType: "application/json; charset=UTF-8", Data: []byte(js)}}, parts...)
	}
	return multipartReq(t, withAuth(auth, nil), parts...)
}

// checkPhotoBody checks a Photo body against the user's photo in the
// Manager: the version, the resource URL, and that every URL serves the
// right image without credentials.
func checkPhotoBody(e *testEnv, user, resourceURL string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		var got chatterPhoto
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("not a Photo: %v: %s", err, body)
		}
		p := e.getPhoto(t, user)
		if p == nil {
			t.Fatalf("%s has no photo", user)
		}
		want := chatterPhoto{
			LargePhotoURL:  e.URL + versionedPath(user, p.VersionID, "200"),
			MediumPhotoURL: e.URL + versionedPath(user, p.VersionID, "160"),
			SmallPhotoURL:  e.URL + versionedPath(user, p.VersionID, "64"),
			PhotoVersionID: p.VersionID,
			URL:            resourceURL,
		}
		email := got
		got.FullEmailPhotoURL, got.StandardEmailPhotoURL = "", ""
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Photo body mismatch (-want +got):\n%s", d)
		}
		for _, c := range []struct {
			url  string
			size int
		}{{want.SmallPhotoURL, 64}, {want.MediumPhotoURL, 160}, {want.LargePhotoURL, 200}, {email.StandardEmailPhotoURL, 64}, {email.FullEmailPhotoURL, 200}} {
			r, ok := rendition(p, c.size)
			if !ok {
				t.Fatalf("no %d px rendition", c.size)
			}
			img, _ := e.fetchImage(t, c.url)
			if b := img.Bounds(); b.Dx() != r.Width || b.Dy() != r.Height {
				t.Errorf("%s: %dx%d, want %dx%d", c.url, b.Dx(), b.Dy(), r.Width, r.Height)
			}
		}
		for _, u := range []string{email.FullEmailPhotoURL, email.StandardEmailPhotoURL} {
			if !strings.HasPrefix(u, e.URL+currentPath(user, "")) || !strings.Contains(u, "expires=") || !strings.Contains(u, "sig=") {
				t.Errorf("email URL %q is not a signed link", u)
			}
		}
	}
}

func TestChatterPhoto(t *testing.T) {
	e := newTestHandler(t, nil)
	img := jpegImage(t, 300, 200)

	hdr, body := chatterUpload(t, bearerAlice, img, "")
	cropHdr, cropBody := chatterUpload(t, bearerAlice, img, `{"cropSize":"100","cropX":"10","cropY":"20"}`)
	numHdr, numBody := chatterUpload(t, bearerAlice, img, `{"cropSize":150,"cropX":0,"cropY":50}`)
	// Browsers send FormData.append("json", blob) with filename="blob".
	blobHdr, blobBody := multipartReq(t, withAuth(bearerAlice, nil),
		part{Name: "json", FileName: "blob", ContentType: "application/json", Data: []byte(`{"cropSize":90,"cropX":3,"cropY":4}`)},
		filePart("fileUpload", "me.jpg", "image/jpeg", img))
	runTests(t, e, []httpTest{
		{Name: "GET before any photo", URL: chatterPath("alice"), Code: http.StatusOK, Check: checkDefaultPhotoBody(e, "alice", e.URL+chatterPath("alice"))},
		{
			Name: "POST multipart", Method: http.MethodPost, URL: chatterPath("alice"), ReqHeader: hdr, ReqBody: body,
			Code: http.StatusCreated, Check: checkPhotoBody(e, "alice", e.URL+chatterPath("alice")),
		},
		{Name: "GET me", URL: chatterPath("me"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusOK, Check: checkPhotoBody(e, "alice", e.URL+chatterPath("alice"))},
		{Name: "GET public", URL: chatterPath("alice"), Code: http.StatusOK, ResHeader: map[string]string{"Cache-Control": "no-cache"}, Check: checkPhotoBody(e, "alice", e.URL+chatterPath("alice"))},
		{Name: "GET by another user", URL: chatterPath("alice"), ReqHeader: withAuth(bearerBob, nil), Code: http.StatusOK},
		{Name: "GET with OAuth scheme", URL: chatterPath("me"), ReqHeader: map[string]string{"Authorization": "OAuth alice-token"}, Code: http.StatusOK},
		{
			Name: "POST crop in json part as strings", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: cropHdr, ReqBody: cropBody,
			Code: http.StatusCreated, Check: wantCrop(e, "alice", &photo.Crop{X: 10, Y: 20, Size: 100}),
		},
		{
			Name: "POST crop in json part as numbers", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: numHdr, ReqBody: numBody,
			Code: http.StatusCreated, Check: wantCrop(e, "alice", &photo.Crop{X: 0, Y: 50, Size: 150}),
		},
		{
			Name: "POST crop in a json part sent as a blob", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: blobHdr, ReqBody: blobBody,
			Code: http.StatusCreated, Check: wantCrop(e, "alice", &photo.Crop{X: 3, Y: 4, Size: 90}),
		},
		{
			Name: "POST crop in query parameters", Method: http.MethodPost, URL: chatterPath("me") + "?cropX=5&cropY=6&cropSize=70", ReqHeader: hdr, ReqBody: body,
			Code: http.StatusCreated, Check: wantCrop(e, "alice", &photo.Crop{X: 5, Y: 6, Size: 70}),
		},
		{Name: "DELETE", Method: http.MethodDelete, URL: chatterPath("alice"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNoContent},
		{Name: "GET after DELETE", URL: chatterPath("alice"), Code: http.StatusOK, Check: checkDefaultPhotoBody(e, "alice", e.URL+chatterPath("alice"))},
		{Name: "DELETE again", Method: http.MethodDelete, URL: chatterPath("me"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNoContent},
	})
}

// wantCrop checks the Photo body and that the user's photo has crop.
func wantCrop(e *testEnv, user string, crop *photo.Crop) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		p := e.getPhoto(t, user)
		if d := cmp.Diff(crop, p.Crop); d != "" {
			t.Errorf("crop (-want +got):\n%s", d)
		}
		got := decodeJSON[chatterPhoto](t, body)
		if got.PhotoVersionID != p.VersionID {
			t.Errorf("photoVersionId %q, want %q", got.PhotoVersionID, p.VersionID)
		}
	}
}

func TestChatterCommunity(t *testing.T) {
	e := newTestHandler(t, nil)
	hdr, body := chatterUpload(t, bearerBob, jpegImage(t, 100, 100), "")
	runTests(t, e, []httpTest{
		{
			Name: "POST", Method: http.MethodPost, URL: communityPath("0DBD0000000001", "me"), ReqHeader: hdr, ReqBody: body,
			Code: http.StatusCreated, Check: checkPhotoBody(e, "bob", e.URL+communityPath("0DBD0000000001", "bob")),
		},
		{Name: "GET", URL: communityPath("0DBD0000000001", "bob"), Code: http.StatusOK, Check: checkPhotoBody(e, "bob", e.URL+communityPath("0DBD0000000001", "bob"))},
		{Name: "GET the same photo outside the community", URL: chatterPath("bob"), Code: http.StatusOK, Check: checkPhotoBody(e, "bob", e.URL+chatterPath("bob"))},
		{Name: "DELETE other", Method: http.MethodDelete, URL: communityPath("0DB1", "bob"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusForbidden, Check: wantChatterError("INSUFFICIENT_ACCESS")},
		{Name: "DELETE", Method: http.MethodDelete, URL: communityPath("0DB1", "bob"), ReqHeader: withAuth(bearerBob, nil), Code: http.StatusNoContent},
		{Name: "GET after DELETE", URL: communityPath("0DB1", "bob"), Code: http.StatusOK, Check: checkDefaultPhotoBody(e, "bob", e.URL+communityPath("0DB1", "bob"))},
	})
}

func TestChatterFiles(t *testing.T) {
	e := newTestHandler(t, nil)
	img1, img2 := jpegImage(t, 240, 240), pngImage(t, 120, 90)
	var fileID string
	create := func(auth, user string, img []byte, title string) (map[string]string, []byte) {
		parts := []part{filePart("fileData", "portrait.jpg", "application/octet-stream", img)}
		if title != "" {
			parts = append(parts, fieldPart("title", title))
		}
		return multipartReq(t, withAuth(auth, nil), parts...)
	}
	h1, b1 := create(bearerAlice, "me", img1, "")
	res, body := httpTest{Name: "create", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: h1, ReqBody: b1, Code: http.StatusCreated}.run(t, e)
	if res.StatusCode != http.StatusCreated {
		t.FailNow()
	}
	f := decodeJSON[chatterFile](t, body)
	fileID = f.ID
	want := chatterFile{
		ID: fileID, Type: "File", Title: "portrait.jpg", VersionNumber: "1", ContentSize: int64(len(img1)), MimeType: "image/jpeg",
		CreatedDate: e.Clock.Now().Format(time.RFC3339), ModifiedDate: e.Clock.Now().Format(time.RFC3339),
		Owner: chatterReference{ID: "alice"}, URL: e.URL + filePath(fileID),
	}
	if d := cmp.Diff(want, f); d != "" {
		t.Fatalf("file body (-want +got):\n%s", d)
	}

	h2, b2 := create(bearerAlice, "", img2, "")
	hBob, bBob := create(bearerBob, "", img1, "")
	hTitled, bTitled := create(bearerAdmin, "", img1, "Team photo")
	hJSONTitle, bJSONTitle := multipartReq(t, withAuth(bearerAlice, nil),
		part{Name: "json", ContentType: "application/json", Data: []byte(`{"title":"From JSON"}`)}, filePart("fileData", "x.bin", "", img1))
	hEmpty, bEmpty := multipartReq(t, withAuth(bearerAlice, nil), fieldPart("title", "nothing"))
	hLongTitle, bLongTitle := multipartReq(t, withAuth(bearerAlice, nil),
		fieldPart("title", strings.Repeat("t", 300)), filePart("fileData", "x.jpg", "", img1))
	runTests(t, e, []httpTest{
		{Name: "info", URL: filePath(fileID), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusOK, ResContains: []string{`"versionNumber":"1"`}},
		{Name: "info by admin", URL: filePath(fileID), ReqHeader: withAuth(bearerAdmin, nil), Code: http.StatusOK},
		{Name: "info by another user", URL: filePath(fileID), ReqHeader: withAuth(bearerBob, nil), Code: http.StatusForbidden, Check: wantChatterError("INSUFFICIENT_ACCESS")},
		{Name: "info without credentials", URL: filePath(fileID), Code: http.StatusUnauthorized, Check: wantChatterError("INVALID_SESSION_ID")},
		{Name: "info of an unknown file", URL: filePath("069000000000000AAA"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")},
		{Name: "info of a malformed ID", URL: filePath("..%2F..%2Fetc"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusNotFound},
		{Name: "new version", Method: http.MethodPost, URL: filePath(fileID), ReqHeader: h2, ReqBody: b2, Code: http.StatusCreated, ResContains: []string{`"versionNumber":"2"`, `"mimeType":"image/png"`}},
		{Name: "new version by another user", Method: http.MethodPost, URL: filePath(fileID), ReqHeader: hBob, ReqBody: bBob, Code: http.StatusForbidden},
		{Name: "new version of an unknown file", Method: http.MethodPost, URL: filePath("069000000000000AAA"), ReqHeader: h2, ReqBody: b2, Code: http.StatusNotFound},
		{Name: "create for another user", Method: http.MethodPost, URL: filesPath("alice"), ReqHeader: hBob, ReqBody: bBob, Code: http.StatusForbidden},
		{Name: "create by admin for another user", Method: http.MethodPost, URL: filesPath("bob"), ReqHeader: hTitled, ReqBody: bTitled, Code: http.StatusCreated, ResContains: []string{`"title":"Team photo"`, `"owner":{"id":"bob"}`}},
		{Name: "create with a title too long", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: hLongTitle, ReqBody: bLongTitle, Code: http.StatusBadRequest, Check: wantChatterError("INVALID_INPUT")},
		{Name: "create with title in json part", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: hJSONTitle, ReqBody: bJSONTitle, Code: http.StatusCreated, ResContains: []string{`"title":"From JSON"`}},
		{Name: "create without fileData", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: hEmpty, ReqBody: bEmpty, Code: http.StatusBadRequest, Check: wantChatterError("INVALID_INPUT")},
		{Name: "create without multipart", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Type": "image/jpeg"}), ReqBody: img1, Code: http.StatusBadRequest, Check: wantChatterError("INVALID_INPUT")},
		{Name: "create without credentials", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: map[string]string{"Content-Type": h1["Content-Type"]}, ReqBody: b1, Code: http.StatusUnauthorized, Check: wantChatterError("INVALID_SESSION_ID")},
	})

	// The photo from a file: the latest version, a given one, cropped.
	jsonHdr := withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"})
	runTests(t, e, []httpTest{
		{
			Name: "fileId in a JSON body takes the latest version", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: jsonHdr,
			ReqBody: `{"fileId":"` + fileID + `"}`, Code: http.StatusCreated, Check: wantSource(e, "alice", fileID, 2, 120, 90),
		},
		{
			Name: "versionNumber as a string, cropped", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: jsonHdr,
			ReqBody: `{"fileId":"` + fileID + `","versionNumber":"1","cropSize":"120","cropX":"0","cropY":"0"}`, Code: http.StatusCreated,
			Check: func(t *testing.T, res *http.Response, body []byte) {
				wantSource(e, "alice", fileID, 1, 240, 240)(t, res, body)
				wantCrop(e, "alice", &photo.Crop{Size: 120})(t, res, body)
			},
		},
		{
			Name: "fileId in form parameters", Method: http.MethodPost, URL: chatterPath("me"),
			ReqHeader: withAuth(bearerAlice, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}),
			ReqBody:   "fileId=" + fileID + "&versionNumber=2", Code: http.StatusCreated, Check: wantSource(e, "alice", fileID, 2, 120, 90),
		},
		{
			Name: "fileId in the query", Method: http.MethodPost, URL: chatterPath("me") + "?fileId=" + fileID + "&versionNumber=1",
			ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusCreated, Check: wantSource(e, "alice", fileID, 1, 240, 240),
		},
		{
			Name: "admin uses another user's file", Method: http.MethodPost, URL: chatterPath("bob"),
			ReqHeader: withAuth(bearerAdmin, map[string]string{"Content-Type": "application/json"}),
			ReqBody:   `{"fileId":"` + fileID + `"}`, Code: http.StatusCreated, Check: wantSource(e, "bob", fileID, 2, 120, 90),
		},
		{
			Name: "another user's file", Method: http.MethodPost, URL: chatterPath("me"),
			ReqHeader: withAuth(bearerBob, map[string]string{"Content-Type": "application/json"}),
			ReqBody:   `{"fileId":"` + fileID + `"}`, Code: http.StatusForbidden, Check: wantChatterError("INSUFFICIENT_ACCESS"),
		},
		{Name: "unknown file", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: jsonHdr, ReqBody: `{"fileId":"069000000000000AAA"}`, Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")},
		{Name: "malformed fileId", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: jsonHdr, ReqBody: `{"fileId":"../../etc/passwd"}`, Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")},
		{Name: "unknown version", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: jsonHdr, ReqBody: `{"fileId":"` + fileID + `","versionNumber":9}`, Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")},
		{Name: "versionNumber zero", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: jsonHdr, ReqBody: `{"fileId":"` + fileID + `","versionNumber":0}`, Code: http.StatusBadRequest, Check: wantChatterError("INVALID_INPUT")},
		{Name: "versionNumber without fileId", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: jsonHdr, ReqBody: `{"versionNumber":1}`, Code: http.StatusBadRequest, Check: wantChatterError("INVALID_INPUT")},
	})

	// A file that is not an image is refused when stored (see
	// TestChatterFilesOnlyImages).
	hText, bText := create(bearerAlice, "", []byte("just some text, not a picture"), "notes.txt")
	httpTest{Name: "store text", Method: http.MethodPost, URL: filesPath("me"), ReqHeader: hText, ReqBody: bText, Code: http.StatusBadRequest, Check: wantChatterError("INVALID_INPUT")}.run(t, e)
}

// wantSource checks that the user's photo came from the file's version
// and has the given upright dimensions.
func wantSource(e *testEnv, user, fileID string, version, w, h int) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, _ []byte) {
		t.Helper()
		p := e.getPhoto(t, user)
		if p.SourceFileID != fileID || p.SourceFileVersion != version {
			t.Errorf("source %s version %d, want %s version %d", p.SourceFileID, p.SourceFileVersion, fileID, version)
		}
		if p.Width != w || p.Height != h {
			t.Errorf("photo is %dx%d, want %dx%d", p.Width, p.Height, w, h)
		}
	}
}

// TestChatterBadInput covers every refusal of a photo POST; each one
// must leave the photo as it was.
func TestChatterBadInput(t *testing.T) {
	e := newTestEnv(t, envConfig{Photo: &photo.Options{Limits: photo.Limits{MaxBytes: 200 << 10}}})
	before := e.setPhoto(t, "alice", jpegImage(t, 64, 64))
	img := jpegImage(t, 300, 200)
	mp := func(parts ...part) (map[string]string, []byte) {
		return multipartReq(t, withAuth(bearerAlice, nil), parts...)
	}
	file := func(data []byte) part { return filePart("fileUpload", "x.jpg", "image/jpeg", data) }
	js := func(s string) part { return part{Name: "json", ContentType: "application/json", Data: []byte(s)} }
	type badCase struct {
		name, code string
		status     int
		url        string
		hdr        map[string]string
		body       any
	}
	var cases []badCase
	add := func(name, code string, status int, hdr map[string]string, body []byte) {
		cases = append(cases, badCase{name: name, code: code, status: status, url: chatterPath("me"), hdr: hdr, body: body})
	}
	h, b := mp(fieldPart("title", "no image here"))
	add("no image", "INVALID_INPUT", 400, h, b)
	h, b = mp(file([]byte("hello, I am text")))
	add("text", "INVALID_INPUT", 400, h, b)
	h, b = mp(filePart("fileUpload", "x.png", "image/png", testdataFile(t, "payloadsallthethings/xss.html")))
	add("HTML declared as PNG", "INVALID_INPUT", 400, h, b)
	h, b = mp(file(testdataFile(t, "wuffs/hibiscus.primitive.svg")))
	add("SVG", "INVALID_INPUT", 400, h, b)
	h, b = mp(file(testdataFile(t, "wuffs/peacock.default.truncated.jpeg")))
	add("truncated", "INVALID_INPUT", 400, h, b)
	h, b = mp(file(testdataFile(t, "pillow/decompression_bomb.gif")))
	add("decompression bomb", "INVALID_INPUT", 400, h, b)
	h, b = mp(file(testdataFile(t, "wuffs/gifplayer-muybridge.gif")))
	add("too many frames", "INVALID_INPUT", 400, h, b)
	h, b = mp(file(make([]byte, 300<<10)))
	add("too many bytes", "INVALID_INPUT", 400, h, b)
	h, b = mp(js(`{"cropX":"0","cropY":"0"}`), file(img))
	add("partial crop", "FIELD_INTEGRITY_EXCEPTION", 400, h, b)
	h, b = mp(js(`{"cropX":"200","cropY":"0","cropSize":"150"}`), file(img))
	add("crop outside the image", "FIELD_INTEGRITY_EXCEPTION", 400, h, b)
	h, b = mp(js(`{"cropX":"-1","cropY":"0","cropSize":"50"}`), file(img))
	add("negative crop", "FIELD_INTEGRITY_EXCEPTION", 400, h, b)
	h, b = mp(js(`{"cropX":"0","cropY":"0","cropSize":"0"}`), file(img))
	add("empty crop", "FIELD_INTEGRITY_EXCEPTION", 400, h, b)
	h, b = mp(js(`{"cropX":"a","cropY":"0","cropSize":"50"}`), file(img))
	add("crop not a number", "FIELD_INTEGRITY_EXCEPTION", 400, h, b)
	h, b = mp(js(`{"cropX":1.5,"cropY":0,"cropSize":50}`), file(img))
	add("crop not an integer", "FIELD_INTEGRITY_EXCEPTION", 400, h, b)
	h, b = mp(js(`{"cropX":true,"cropY":0,"cropSize":50}`), file(img))
	add("crop a boolean", "INVALID_INPUT", 400, h, b)
	h, b = mp(js(`{"cropX":`), file(img))
	add("malformed json part", "INVALID_INPUT", 400, h, b)
	h, b = mp(js(`[1,2]`), file(img))
	add("json part not an object", "INVALID_INPUT", 400, h, b)
	h, b = mp(js(`{"fileId":"069000000000000AAA"}`), file(img))
	add("file and fileId", "INVALID_INPUT", 400, h, b)
	add("JSON body malformed", "INVALID_INPUT", 400, withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"}), []byte(`{"fileId":`))
	add("JSON body too long", "INVALID_INPUT", 400, withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"}), []byte(`{"x":"`+strings.Repeat("a", 70<<10)+`"}`))
	add("JSON body without image", "INVALID_INPUT", 400, withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"}), []byte(`{"cropX":1,"cropY":1,"cropSize":5}`))
	add("XML body", "INVALID_INPUT", 400, withAuth(bearerAlice, map[string]string{"Content-Type": "application/xml"}), []byte(`<photo><fileId>x</fileId></photo>`))
	add("raw image body", "INVALID_INPUT", 400, withAuth(bearerAlice, map[string]string{"Content-Type": "image/jpeg"}), img)
	add("multipart without boundary", "INVALID_INPUT", 400, withAuth(bearerAlice, map[string]string{"Content-Type": "multipart/form-data"}), img)
	add("multipart cut short", "INVALID_INPUT", 400, h, b[:len(b)/2])
	cases = append(cases,
		badCase{name: "API version without v", code: "NOT_FOUND", status: 404, url: "/services/data/58.0/chatter/users/me/photo", hdr: withAuth(bearerAlice, nil)},
		badCase{name: "API version words", code: "NOT_FOUND", status: 404, url: "/services/data/vlatest/chatter/users/me/photo", hdr: withAuth(bearerAlice, nil)},
		badCase{name: "API version two decimals", code: "NOT_FOUND", status: 404, url: "/services/data/v58.00/chatter/users/me/photo", hdr: withAuth(bearerAlice, nil)},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			httpTest{Method: http.MethodPost, URL: c.url, ReqHeader: c.hdr, ReqBody: c.body, Code: c.status, Check: wantChatterError(c.code)}.run(t, e)
			if p := e.getPhoto(t, "alice"); p == nil || p.VersionID != before.VersionID || p.Revision != before.Revision {
				t.Errorf("a refused POST changed the photo: %+v", p)
			}
		})
	}
	// Every refused case is also refused for GET and DELETE of a bad version.
	httpTest{Name: "GET bad version", URL: "/services/data/v5x.0/chatter/users/alice/photo", Code: http.StatusNotFound, Check: wantChatterError("NOT_FOUND")}.run(t, e)
}

func TestChatterPartTypeNotTrusted(t *testing.T) {
	e := newTestHandler(t, nil)
	hdr, body := multipartReq(t, withAuth(bearerAlice, nil), filePart("fileUpload", "notes.txt", "text/plain", pngImage(t, 50, 50)))
	httpTest{Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: hdr, ReqBody: body, Code: http.StatusCreated}.run(t, e)
	if p := e.getPhoto(t, "alice"); p == nil || p.SourceType != "image/png" {
		t.Errorf("photo %+v, want one from a PNG", p)
	}
}

func TestChatterUserIDs(t *testing.T) {
	e := newTestHandler(t, nil)
	img := jpegImage(t, 120, 120)
	for _, id := range []string{"a/b", "..", "ünïcødé 🙂", "005D0000001LL8OIAW", "sp ace?#"} {
		t.Run(id, func(t *testing.T) {
			hdr, body := chatterUpload(t, bearerAdmin, img, "")
			runTests(t, e, []httpTest{
				{Name: "POST", Method: http.MethodPost, URL: chatterPath(id), ReqHeader: hdr, ReqBody: body, Code: http.StatusCreated, Check: checkPhotoBody(e, id, e.URL+chatterPath(id))},
				{Name: "GET", URL: chatterPath(id), Code: http.StatusOK, Check: checkPhotoBody(e, id, e.URL+chatterPath(id))},
			})
		})
	}
}

func TestChatterPrefix(t *testing.T) {
	e := newTestEnv(t, envConfig{Prefix: "/sf"})
	hdr, body := chatterUpload(t, bearerAlice, jpegImage(t, 100, 100), "")
	httpTest{Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: hdr, ReqBody: body, Code: http.StatusCreated, Check: checkPhotoBody(e, "alice", e.URL+chatterPath("alice"))}.run(t, e)
	if !strings.HasSuffix(e.URL, "/sf") {
		t.Fatalf("env URL %q", e.URL)
	}
}

func TestChatterEmailURLsExpire(t *testing.T) {
	e := newTestHandler(t, &Options{EmailURLTTL: 48 * time.Hour, PrivateReads: true})
	hdr, body := chatterUpload(t, bearerAlice, jpegImage(t, 300, 300), "")
	_, data := httpTest{Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: hdr, ReqBody: body, Code: http.StatusCreated}.run(t, e)
	ph := decodeJSON[chatterPhoto](t, data)
	runTests(t, e, []httpTest{
		{Name: "full works without credentials", URL: ph.FullEmailPhotoURL, Code: http.StatusFound, ResHeader: map[string]string{"Location": ph.LargePhotoURL}},
		{Name: "standard works without credentials", URL: ph.StandardEmailPhotoURL, Code: http.StatusFound, ResHeader: map[string]string{"Location": ph.SmallPhotoURL}},
		{Name: "unsigned needs credentials", URL: currentPath("alice", "200"), Code: http.StatusUnauthorized},
	})
	// A new photo: the old email links show it.
	hdr, body = chatterUpload(t, bearerAlice, pngImage(t, 200, 200), "")
	_, data = httpTest{Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: hdr, ReqBody: body, Code: http.StatusCreated}.run(t, e)
	ph2 := decodeJSON[chatterPhoto](t, data)
	httpTest{Name: "old link, new photo", URL: ph.FullEmailPhotoURL, Code: http.StatusFound, ResHeader: map[string]string{"Location": ph2.LargePhotoURL}}.run(t, e)
	e.Clock.Advance(48*time.Hour + time.Minute)
	httpTest{Name: "expired", URL: ph.FullEmailPhotoURL, Code: http.StatusGone}.run(t, e)
}

func TestChatterPrivateReads(t *testing.T) {
	e := newTestHandler(t, &Options{PrivateReads: true})
	e.setPhoto(t, "alice", jpegImage(t, 64, 64))
	runTests(t, e, []httpTest{
		{Name: "no credentials", URL: chatterPath("alice"), Code: http.StatusUnauthorized, Check: wantChatterError("INVALID_SESSION_ID")},
		{Name: "bad credentials", URL: chatterPath("alice"), ReqHeader: withAuth(bearerBad, nil), Code: http.StatusUnauthorized, Check: wantChatterError("INVALID_SESSION_ID")},
		{Name: "another user", URL: chatterPath("alice"), ReqHeader: withAuth(bearerBob, nil), Code: http.StatusOK},
	})
}

func TestChatterStorageFailure(t *testing.T) {
	e := newTestHandler(t, nil)
	e.setPhoto(t, "alice", jpegImage(t, 64, 64))
	hdr, body := chatterUpload(t, bearerAlice, jpegImage(t, 100, 100), "")
	e.Store.failPut.Store(true)
	httpTest{Name: "POST", Method: http.MethodPost, URL: chatterPath("me"), ReqHeader: hdr, ReqBody: body, Code: http.StatusInternalServerError, Check: wantChatterError("UNKNOWN_EXCEPTION")}.run(t, e)
	httpTest{Name: "DELETE", Method: http.MethodDelete, URL: chatterPath("me"), ReqHeader: withAuth(bearerAlice, nil), Code: http.StatusInternalServerError, Check: wantChatterError("UNKNOWN_EXCEPTION")}.run(t, e)
	e.Store.failPut.Store(false)
	e.Store.failOpen.Store(true)
	httpTest{Name: "GET", URL: chatterPath("alice"), Code: http.StatusInternalServerError, Check: wantChatterError("UNKNOWN_EXCEPTION")}.run(t, e)
	e.Store.failOpen.Store(false)
	if p, err := e.M.Get(context.Background(), "alice"); err != nil || p.Width != 64 {
		t.Errorf("after failures the photo is %+v, %v; want the first one", p, err)
	}
}
