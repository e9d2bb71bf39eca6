package httpadapter

import (
	"context"
	"net/http"
	"testing"
)

// TestIfMatchRevision: the photo resources carry the revision as their
// ETag, and a write whose If-Match names a stale revision is a conflict
// that changes nothing.
func TestIfMatchRevision(t *testing.T) {
	e := newTestHandler(t, nil)
	pi := "/v1/users/alice/profile/profile-image"
	img := func(w int) ([]byte, map[string]string) {
		hdr, body := multipartReq(t, withAuth(bearerAlice, nil), filePart("file", "me.jpg", "image/jpeg", jpegImage(t, w, 40)))
		return body, hdr
	}
	with := func(hdr map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for hk, hv := range hdr {
			out[hk] = hv
		}
		return out
	}
	b1, h1 := img(40)
	b2, h2 := img(50)
	b3, h3 := img(60)
	runTests(t, e, []httpTest{
		{Name: "first upload", Method: http.MethodPost, URL: pi, ReqHeader: h1, ReqBody: b1, Code: http.StatusCreated, ResHeader: map[string]string{"ETag": `"r1"`}},
		{Name: "GET tells the revision", URL: pi, Code: http.StatusOK, ResHeader: map[string]string{"ETag": `"r1"`}},
		{Name: "Chatter GET too", URL: chatterPath("alice"), Code: http.StatusOK, ResHeader: map[string]string{"ETag": `"r1"`}},
		{Name: "upload with the current revision", Method: http.MethodPost, URL: pi, ReqHeader: with(h2, "If-Match", `"r1"`), ReqBody: b2, Code: http.StatusCreated, ResHeader: map[string]string{"ETag": `"r2"`}},
		{Name: "upload with a stale revision", Method: http.MethodPost, URL: pi, ReqHeader: with(h3, "If-Match", `"r1"`), ReqBody: b3, Code: http.StatusConflict, Check: wantCode("conflict")},
		{Name: "a malformed If-Match", Method: http.MethodPost, URL: pi, ReqHeader: with(h3, "If-Match", `"abc"`), ReqBody: b3, Code: http.StatusBadRequest},
		{Name: "delete with a stale revision", Method: http.MethodDelete, URL: pi, ReqHeader: withAuth(bearerAlice, map[string]string{"If-Match": `"r1"`}), Code: http.StatusConflict, Check: wantCode("conflict")},
		{Name: "Chatter delete with a stale revision", Method: http.MethodDelete, URL: chatterPath("me"), ReqHeader: withAuth(bearerAlice, map[string]string{"If-Match": `"r1"`}), Code: http.StatusConflict, Check: wantChatterError("CONFLICT")},
		{Name: "still the second upload", URL: pi, Code: http.StatusOK, ResHeader: map[string]string{"ETag": `"r2"`}},
		{Name: "Chatter delete with the current revision", Method: http.MethodDelete, URL: chatterPath("me"), ReqHeader: withAuth(bearerAlice, map[string]string{"If-Match": `"r2"`}), Code: http.StatusNoContent},
	})
	if _, err := e.M.Get(context.Background(), "alice"); err == nil {
		t.Fatal("the photo survived its delete")
	}
}
