package httpadapter

import (
	"net/http"
	"strings"
	"testing"
)

// TestJSONBodies checks readJSON's one rule on every route that takes a
// JSON body: a body over maxJSONBytes is refused as too long (never cut
// short and decoded), and so is a body with more than one value, even
// when its first value alone would do.
func TestJSONBodies(t *testing.T) {
	e := newTestHandler(t, nil)
	jsonHdr := withAuth(bearerAlice, map[string]string{"Content-Type": "application/json"})
	pad := strings.Repeat(" ", maxJSONBytes)
	routes := []struct {
		name, url, good string
		refused         func(*testing.T, *http.Response, []byte)
	}{
		{"Chatter", chatterPath("me"), `{"cropX": 1}`, wantChatterError("INVALID_INPUT")},
		{"Igloo", iglooRoot, `{"ContentLength": 5, "ContentType": "image/png", "Name": "x.png"}`, wantCode("bad-request")},
		{"profile-image", piURL("alice"), `{"url": "https://example.com/a.png"}`, wantCode("bad-request")},
	}
	var tests []httpTest
	for _, rt := range routes {
		tests = append(tests,
			httpTest{Name: rt.name + " padded past the limit", Method: http.MethodPost, URL: rt.url, ReqHeader: jsonHdr,
				ReqBody: rt.good + pad, Code: http.StatusBadRequest, Check: rt.refused, ResContains: []string{"the JSON body is too long"}},
			httpTest{Name: rt.name + " two values", Method: http.MethodPost, URL: rt.url, ReqHeader: jsonHdr,
				ReqBody: rt.good + rt.good, Code: http.StatusBadRequest, Check: rt.refused, ResContains: []string{"more than one value"}},
		)
	}
	runTests(t, e, tests)
}
