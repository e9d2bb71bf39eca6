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
