package httpadapter

import (
	"net/http"
	"strings"
	"testing"
)

// TestUnknownRoutesAndMethods checks that a path or method no route has
// is answered in the dialect of its prefix, so that a client's error
// handling works: Salesforce's error array with 404 or 405 (and Allow),
// Slack's ok:false with HTTP 200, and {code, message} elsewhere.
func TestUnknownRoutesAndMethods(t *testing.T) {
	e := newTestHandler(t, nil)
	jsonCT := map[string]string{"Content-Type": "application/json; charset=utf-8", "X-Content-Type-Options": "nosniff"}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range jsonCT {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	runTests(t, e, []httpTest{
		{Name: "chatter PUT", Method: http.MethodPut, URL: chatterPath("alice"), ReqHeader: withAuth(bearerAlice, nil),
			Code: 405, ResHeader: with(map[string]string{"Allow": "DELETE, GET, HEAD, POST"}), Check: wantChatterError("METHOD_NOT_ALLOWED")},
		{Name: "chatter PATCH on a community photo", Method: http.MethodPatch, URL: communityPath("0DB", "alice"),
			Code: 405, ResHeader: with(map[string]string{"Allow": "DELETE, GET, HEAD, POST"}), Check: wantChatterError("METHOD_NOT_ALLOWED")},
		{Name: "chatter unknown resource", URL: "/services/data/" + apiV + "/chatter/users/alice/banner",
			Code: 404, ResHeader: jsonCT, Check: wantChatterError("NOT_FOUND")},
		{Name: "slack unknown method", Method: http.MethodPost, URL: "/api/users.info", ReqHeader: withAuth(bearerAlice, nil),
			Code: 200, ResHeader: jsonCT, ResBody: `{"ok":false,"error":"unknown_method"}`},
		{Name: "slack setPhoto by GET", URL: "/api/users.setPhoto", ReqHeader: withAuth(bearerAlice, nil),
			Code: 200, ResHeader: jsonCT, ResBody: `{"ok":false,"error":"invalid_arguments"}`},
		{Name: "profile-image PUT", Method: http.MethodPut, URL: "/v1/users/alice/profile/profile-image", ReqHeader: withAuth(bearerAlice, nil),
			Code: 405, ResHeader: with(map[string]string{"Allow": "DELETE, GET, HEAD, POST"}), ResContains: []string{`"code":"method-not-allowed"`}},
		{Name: "profile-image unknown resource", URL: "/v1/users/alice/profile/backdrop-image",
			Code: 404, ResHeader: jsonCT, ResContains: []string{`"code":"not-found"`}},
		{Name: "igloo PUT on an upload", Method: http.MethodPut, URL: "/.api2/api/v1/communities/1/attachments/uploads/abcdefghij", ReqHeader: withAuth(bearerAlice, nil),
			Code: 405, ResHeader: with(map[string]string{"Allow": "DELETE, GET, HEAD, PATCH"}), ResContains: []string{`"code":"method-not-allowed"`}},
		{Name: "rendition DELETE", Method: http.MethodDelete, URL: "/photos/alice/64",
			Code: 405, ResHeader: with(map[string]string{"Allow": "GET, HEAD"}), ResContains: []string{`"code":"method-not-allowed"`}},
		{Name: "rendition path too deep", URL: "/photos/alice/v/64/x",
			Code: 404, ResHeader: jsonCT, ResContains: []string{`"code":"not-found"`}},
	})
}

// TestUnknownRoutesOfDialectsOff checks that a dialect switched off
// answers nothing of its own: its paths are plain 404s.
func TestUnknownRoutesOfDialectsOff(t *testing.T) {
	e := newTestHandler(t, &Options{Dialects: ProfileImage})
	res, body := e.do(t, http.MethodPost, "/api/users.setPhoto", nil, nil, false)
	if res.StatusCode != http.StatusNotFound || strings.Contains(string(body), `"ok"`) {
		t.Errorf("a Slack route with Slack off: %d %s", res.StatusCode, body)
	}
}

// TestEveryAnswerInDialect sends odd paths, methods and ranges under
// every dialect's prefix, /photos and elsewhere, and checks that no
// answer is the ServeMux's or ServeContent's plain text or HTML: each is
// JSON in the shape of the dialect whose prefix the path has (Chatter's
// error array, Slack's ok:false with HTTP 200, else {code, message}),
// and none is a redirect.
func TestEveryAnswerInDialect(t *testing.T) {
	e := newTestHandler(t, nil)
	p := e.setPhoto(t, "alice", jpegImage(t, 80, 80))
	bytesURL := "/photos/alice/" + p.VersionID + "/64"
	chatter := "/services/data/" + apiV + "/chatter/users/alice/photo"
	uploads := "/.api2/api/v1/communities/1/attachments/uploads/abcdefghij"
	tests := []struct {
		method, url string
		hdr         map[string]string
		dialect     Dialect // 0: {code, message}
		status      int     // 0: any error status (4xx, or Slack's 200)
	}{
		{"GET", "/", nil, 0, 404},
		{"GET", "/favicon.ico", nil, 0, 404},
		{"POST", "/nothing/here", nil, 0, 404},
		{"GET", "//photos/alice/64", nil, 0, 404},
		{"GET", "/openapi.json/x", nil, 0, 404},
		{"DELETE", "/openapi.json", nil, 0, 405},
		{"GET", "/services/data", nil, Chatter, 404},
		{"GET", "/services/data/", nil, Chatter, 404},
		{"GET", "/services/data//" + apiV + "/chatter/users/alice/photo", nil, Chatter, 404},
		{"GET", "/services/data/" + apiV + "/chatter/users/alice/./photo", nil, Chatter, 404},
		{"GET", "/services/data/" + apiV + "/chatter/users/bob/../alice/photo", nil, Chatter, 404},
		{"PUT", chatter, nil, Chatter, 405},
		{"PROPFIND", chatter, nil, Chatter, 405},
		{"CONNECT", chatter, nil, Chatter, 404},
		{"GET", "/.api2", nil, Igloo, 404},
		{"GET", "/.api2/api//v1/communities/1/attachments", nil, Igloo, 404},
		{"PUT", uploads, withAuth(bearerAlice, nil), Igloo, 405},
		{"GET", uploads + "/..", nil, Igloo, 404},
		{"GET", "/v1", nil, ProfileImage, 404},
		{"GET", "/v1/users/alice/profile//profile-image", nil, ProfileImage, 404},
		{"PATCH", "/v1/users/alice/profile/profile-image", nil, ProfileImage, 405},
		{"GET", "/v1/users/alice/profile/profile-image/", nil, ProfileImage, 404},
		{"GET", "/api", nil, Slack, 200},
		{"POST", "/api//users.setPhoto", nil, Slack, 200},
		{"POST", "/api/users.setPhoto/.", nil, Slack, 200},
		{"DELETE", "/api/users.setPhoto", nil, Slack, 200},
		{"GET", "/api/users.nothing", nil, Slack, 200},
		{"GET", "/photos", nil, 0, 404},
		{"GET", "/photos/", nil, 0, 404},
		{"GET", "/photos/alice/../bob/64", nil, 0, 404},
		{"GET", "/photos//alice/64", nil, 0, 404},
		{"POST", "/photos/alice/64", nil, 0, 405},
		{"OPTIONS", bytesURL, nil, 0, 405},
		{"GET", bytesURL, map[string]string{"Range": "bytes=99999999-"}, 0, 416},
		{"GET", bytesURL, map[string]string{"Range": "bytes=-0"}, 0, 416},
		{"GET", bytesURL, map[string]string{"Range": "bytes=-00, -0"}, 0, 416},
		{"GET", bytesURL, map[string]string{"Range": "bytes=abc"}, 0, 416},
		{"GET", bytesURL, map[string]string{"Range": "bytes=5-1"}, 0, 416},
		{"GET", bytesURL, map[string]string{"Range": "pages=1-2"}, 0, 416},
		{"GET", "/photos/alice/" + p.VersionID + "/65", map[string]string{"Range": "bytes=-0"}, 0, 404},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.url+" "+tc.hdr["Range"], func(t *testing.T) {
			res, body := e.do(t, tc.method, tc.url, tc.hdr, nil, false)
			if tc.status != 0 && res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("Content-Type %q, want JSON; body %s", ct, abbrev(body))
			}
			switch tc.dialect {
			case Chatter:
				errs := decodeJSON[[]map[string]string](t, body)
				if len(errs) != 1 || errs[0]["errorCode"] == "" || errs[0]["message"] == "" {
					t.Errorf("body %s, want Salesforce's error array", abbrev(body))
				}
			case Slack:
				b := decodeJSON[map[string]any](t, body)
				if res.StatusCode != 200 || b["ok"] != false || b["error"] == nil {
					t.Errorf("%d %s, want Slack's ok:false with HTTP 200", res.StatusCode, abbrev(body))
				}
			default:
				b := decodeJSON[map[string]any](t, body)
				if b["code"] == nil || b["message"] == nil {
					t.Errorf("body %s, want {code, message}", abbrev(body))
				}
			}
			if res.StatusCode == 416 && res.Header.Get("Content-Range") == "" {
				t.Errorf("416 without Content-Range")
			}
		})
	}

	// Ranges that can be served still are, without the empty suffix.
	res, body := e.do(t, "GET", bytesURL, map[string]string{"Range": "bytes=0-9, -0"}, nil, false)
	if res.StatusCode != 206 || len(body) != 10 || !strings.HasPrefix(res.Header.Get("Content-Range"), "bytes 0-9/") {
		t.Errorf("bytes=0-9,-0: %d %q %d bytes, want 206 with the first 10", res.StatusCode, res.Header.Get("Content-Range"), len(body))
	}
	// If-Range that does not match: the whole rendition, range ignored.
	res, _ = e.do(t, "GET", bytesURL, map[string]string{"Range": "bytes=-0", "If-Range": `"other"`}, nil, false)
	if res.StatusCode != 200 {
		t.Errorf("bytes=-0 with a stale If-Range: %d, want 200", res.StatusCode)
	}
}
