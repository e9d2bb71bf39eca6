package httpadapter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/profilephoto/photo"
)

// TestImportQueueFull fills the pool (one worker, one waiting) with
// imports that block, and checks that the next is refused with 503 and
// changes nothing.
func TestImportQueueFull(t *testing.T) {
	src := newSource(t)
	e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly, Workers: 1, Queue: 1}})
	importFrom(t, e, bearerAdmin, "u1", src.URL+"/block")
	importFrom(t, e, bearerAdmin, "u2", src.URL+"/block")
	<-src.arrived // u1 is running; u2 waits for the worker
	runTests(t, e, []httpTest{{
		Name: "third import", Method: http.MethodPost, URL: piURL("u3"),
		ReqHeader: withAuth(bearerAdmin, map[string]string{"Content-Type": "application/json"}),
		ReqBody:   fmt.Sprintf(`{"url": %q}`, src.URL+"/hopper.jpg"),
		Code:      503, ResHeader: map[string]string{"Retry-After": "5"}, Check: wantCode("import-queue-full"),
	}})
	if e.getPhoto(t, "u3") != nil {
		t.Error("a refused import marked the photo as downloading")
	}
	src.unblock()
	for _, u := range []string{"u1", "u2"} {
		checkImageBody(t, e, u, settle(t, e, u))
	}
	// The pool has room again.
	importFrom(t, e, bearerAdmin, "u3", src.URL+"/hopper.jpg")
	checkImageBody(t, e, "u3", settle(t, e, "u3"))
}

// TestImportCloseWaits checks that Close lets an import in flight finish,
// and refuses new ones meanwhile and after.
func TestImportCloseWaits(t *testing.T) {
	src := newSource(t)
	e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly}})
	importFrom(t, e, bearerAlice, "alice", src.URL+"/block")
	<-src.arrived
	closed := make(chan error, 1)
	go func() { closed <- e.H.Shutdown(context.Background()) }()
	// Close has begun or is about to: either way no new import starts.
	waitRefused := func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, body := e.do(t, http.MethodPost, piURL("bob"), withAuth(bearerBob, map[string]string{"Content-Type": "application/json"}),
				fmt.Sprintf(`{"url": %q}`, src.URL+"/hopper.jpg"), false)
			if res.StatusCode == 503 {
				wantCode("import-queue-full")(t, res, body)
				return
			}
			if res.StatusCode != 202 || time.Now().After(deadline) {
				t.Fatalf("POST during Close: %d %s", res.StatusCode, body)
			}
			// Accepted before Close began: let it finish and try again.
			settle(t, e, "bob")
		}
	}
	waitRefused()
	src.unblock()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close returned only once the import had finished.
	p := e.getPhoto(t, "alice")
	if p == nil || p.Status != "ready" || p.VersionID == "" {
		t.Fatalf("after Close the photo is %+v, want the import finished", p)
	}
	waitRefused()
}

// TestImportCloseGivesUp checks that a Close whose context ends cancels the
// imports in flight and records them as interrupted.
func TestImportCloseGivesUp(t *testing.T) {
	src := newSource(t)
	e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly, Workers: 1}})
	importFrom(t, e, bearerAlice, "alice", src.URL+"/block")
	importFrom(t, e, bearerBob, "bob", src.URL+"/block") // waits for the worker
	<-src.arrived
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.H.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	for _, u := range []string{"alice", "bob"} {
		p := e.getPhoto(t, u)
		if p == nil || p.Status != "failed" || p.ImportError == nil || p.ImportError.Code != photo.CodeDownloadInterrupted {
			t.Errorf("%s after an impatient Close: %+v, want failed with download-interrupted", u, p)
		}
	}
}

// recorder is an injected resolver and dialler: names resolve as its
// table says, and every dial is recorded; only loopback is really dialled,
// so nothing leaves the machine.
type recorder struct {
	mu     sync.Mutex
	names  map[string][]netip.Addr
	dialed []string
}

func (r *recorder) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := r.names[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *recorder) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	r.mu.Lock()
	r.dialed = append(r.dialed, addr)
	r.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("test dialler: %s is not loopback: refusing to send a packet", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (r *recorder) dials() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.dialed...)
}

// TestImportResolverAndDial checks that names are resolved by the
// injected resolver and checked on what they resolve to, and that only
// permitted addresses are dialled.
func TestImportResolverAndDial(t *testing.T) {
	src := newSource(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(src.URL, "http://"))
	rec := &recorder{names: map[string][]netip.Addr{
		"photos.test":   {netip.MustParseAddr("127.0.0.1")},
		"metadata.test": {netip.MustParseAddr("169.254.169.254")},
		"private.test":  {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::1")},
	}}
	e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly, Resolver: rec, Dial: rec.Dial}})
	tests := []struct {
		user, host, code string
	}{
		{"u-photos", "photos.test", ""},
		{"u-metadata", "metadata.test", "url-not-allowed"},
		{"u-private", "private.test", "url-not-allowed"},
		{"u-literal", "169.254.169.254", "url-not-allowed"},
		{"u-unknown", "nowhere.test", "download-failed"},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			importFrom(t, e, bearerAdmin, tc.user, "http://"+net.JoinHostPort(tc.host, port)+"/hopper.jpg")
			got := settle(t, e, tc.user)
			if tc.code == "" {
				checkImageBody(t, e, tc.user, got)
				return
			}
			if got.Status != "failed" || got.Error == nil || got.Error.Code != tc.code {
				t.Errorf("GET = %+v, want failed with %s", got, tc.code)
			}
		})
	}
	for _, d := range rec.dials() {
		if d != net.JoinHostPort("127.0.0.1", port) {
			t.Errorf("dialled %s: only the permitted loopback source may be", d)
		}
	}
	if len(rec.dials()) != 1 {
		t.Errorf("dials %v, want exactly one, to the permitted source", rec.dials())
	}
}

// TestImportIdleTimeout: a source that stops sending fails the import
// after URLImport.IdleTimeout.
func TestImportIdleTimeout(t *testing.T) {
	src := newSource(t)
	e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly, IdleTimeout: 200 * time.Millisecond}})
	importFrom(t, e, bearerAlice, "alice", src.URL+"/block")
	got := settle(t, e, "alice")
	if got.Status != "failed" || got.Error == nil || got.Error.Code != "download-failed" {
		t.Errorf("GET = %+v, want failed with download-failed", got)
	}
}

// TestImportOptions checks that bad options are refused.
func TestImportOptions(t *testing.T) {
	e := newTestHandler(t, nil)
	if _, err := New(e.M, &Options{URLImport: URLImportOptions{Allow: []netip.Prefix{{}}}}); err == nil {
		t.Error("New accepted an invalid Allow prefix")
	}
}

// slowSource is an image source whose /slow downloads send a few bytes
// and then nothing until the importer gives up on them (or the test
// ends), counting the downloads begun and those cancelled; /ok serves a
// photo at once.
type slowSource struct {
	URL                string
	mu                 sync.Mutex
	started, cancelled int
}

func newSlowSource(t *testing.T) *slowSource {
	t.Helper()
	img := jpegImage(t, 64, 64)
	s := &slowSource{}
	done := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.started++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(img[:16])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			s.mu.Lock()
			s.cancelled++
			s.mu.Unlock()
		case <-done:
		}
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(img)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(done)
		srv.Close()
	})
	s.URL = srv.URL
	return s
}

// counts returns the downloads begun and cancelled so far.
func (s *slowSource) counts() (started, cancelled int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started, s.cancelled
}

// TestImportsAreFair is the URL-import part of the hostile-world issue:
// one user posting 70 imports from a slow source holds one place in the
// pool, each newer import cancelling the older one's download, so that
// another user's import is accepted and finishes at once.
func TestImportsAreFair(t *testing.T) {
	src := newSlowSource(t)
	e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly, Workers: 2, Queue: 4}})
	for i := range 70 {
		importFrom(t, e, bearerAlice, "alice", fmt.Sprintf("%s/slow?n=%d", src.URL, i))
	}
	t0 := time.Now()
	importFrom(t, e, bearerBob, "bob", src.URL+"/ok")
	checkImageBody(t, e, "bob", settle(t, e, "bob"))
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("bob's import took %v behind alice's", took)
	}
	t.Logf("bob's import behind alice's 70 took %v", time.Since(t0).Round(time.Millisecond))

	// Every download of alice's but the last is cancelled, and she holds
	// one place in the pool.
	deadline := time.Now().Add(10 * time.Second)
	for {
		started, cancelled := src.counts()
		if started-cancelled == 1 && len(e.H.imports.slots) == 1 {
			t.Logf("alice's downloads: %d begun, %d cancelled", started, cancelled)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's downloads: %d begun, %d cancelled; %d places taken in the pool; want all but one cancelled and one place",
				started, cancelled, len(e.H.imports.slots))
		}
		time.Sleep(10 * time.Millisecond)
	}
	p := e.getPhoto(t, "alice")
	if p == nil || p.Status != "downloading" {
		t.Errorf("alice's photo %+v, want downloading", p)
	}
	// Alice's last import ends with the test: Close cancels it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	e.H.Shutdown(ctx)
}

// TestImportRateLimits checks URLImportOptions.Rate and GlobalRate on the
// test clock.
func TestImportRateLimits(t *testing.T) {
	src := newSlowSource(t)
	post := func(e *testEnv, auth, user string) (*http.Response, []byte) {
		return e.do(t, http.MethodPost, piURL(user), withAuth(auth, map[string]string{"Content-Type": "application/json"}),
			fmt.Sprintf(`{"url": %q}`, src.URL+"/ok"), false)
	}
	t.Run("per caller", func(t *testing.T) {
		e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly, Rate: RateLimit{Rate: 0.1, Burst: 2}}})
		importFrom(t, e, bearerAlice, "alice", src.URL+"/ok")
		importFrom(t, e, bearerAlice, "alice", src.URL+"/ok")
		res, b := post(e, bearerAlice, "alice")
		if res.StatusCode != 429 || res.Header.Get("Retry-After") != "10" {
			t.Errorf("third import: %d Retry-After %q, want 429 with 10", res.StatusCode, res.Header.Get("Retry-After"))
		}
		wantCode("rate-limited")(t, res, b)
		importFrom(t, e, bearerBob, "bob", src.URL+"/ok")
		e.Clock.Advance(10 * time.Second)
		importFrom(t, e, bearerAlice, "alice", src.URL+"/ok")
		settle(t, e, "alice")
		settle(t, e, "bob")
	})
	t.Run("global", func(t *testing.T) {
		e := newTestHandler(t, &Options{URLImport: URLImportOptions{Allow: loopbackOnly, GlobalRate: RateLimit{Rate: 1, Burst: 1}}})
		importFrom(t, e, bearerAlice, "alice", src.URL+"/ok")
		res, b := post(e, bearerBob, "bob")
		if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1" {
			t.Errorf("bob's import: %d Retry-After %q, want 429 with 1", res.StatusCode, res.Header.Get("Retry-After"))
		}
		wantCode("rate-limited")(t, res, b)
		if e.getPhoto(t, "bob") != nil {
			t.Error("a refused import marked the photo as downloading")
		}
		settle(t, e, "alice")
	})
}
