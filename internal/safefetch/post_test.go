package safefetch

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPost: a Post reaches an allowed server with its body and headers,
// returns the answer's status without following a redirect, and is
// refused, without dialling, at an address the policy forbids.
func TestPost(t *testing.T) {
	var got struct {
		method, body, sig, ua string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.body, got.sig, got.ua = r.Method, string(b), r.Header.Get("X-Sig"), r.Header.Get("User-Agent")
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/hook", http.StatusTemporaryRedirect)
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	if _, err := New(nil).Post(t.Context(), srv.URL+"/hook", nil, []byte("x")); err == nil {
		t.Fatal("a loopback server was reached without an allowance")
	} else {
		wantKind(t, err, KindNotAllowed)
	}

	f := New(&Options{Allow: allowLoopback})
	for _, c := range []struct {
		path   string
		status int
	}{{"/hook", 204}, {"/moved", 307}, {"/fail", 503}} {
		got.method, got.body = "", ""
		status, err := f.Post(t.Context(), srv.URL+c.path, http.Header{"X-Sig": {"abc"}}, []byte(`{"a":1}`))
		if err != nil || status != c.status {
			t.Fatalf("%s: status %d, err %v; want %d", c.path, status, err, c.status)
		}
		if got.method != http.MethodPost || got.body != `{"a":1}` || got.sig != "abc" || got.ua != DefaultUserAgent {
			t.Errorf("%s: the server got %+v", c.path, got)
		}
	}

	l := newLab(t)
	lf := New(l.options(Options{Allow: allowLoopback}))
	for _, host := range []string{"169.254.169.254", "meta.example", "10.0.0.5", "fd00::1"} {
		l.reset()
		_, err := lf.Post(t.Context(), l.url(host, "/hook"), nil, []byte("x"))
		e := wantKind(t, err, KindNotAllowed)
		if dialled, _ := l.reset(); len(dialled) > 0 {
			t.Errorf("%s: dialled %v", host, dialled)
		}
		if strings.Contains(e.Error(), "169.254") {
			t.Errorf("message %q names the address", e.Error())
		}
	}
}
