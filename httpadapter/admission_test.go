package httpadapter

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// trickler is a raw connection sending a Slack users.setPhoto request
// without credentials whose body (declared 20 MB) arrives at about
// 5 KB/s, just above the default minimum body rate.
// Its response (status, Retry-After and body, or the error) goes to out.
func startTrickler(t *testing.T, addr string, stop <-chan struct{}, out chan<- string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	head := "POST /api/users.setPhoto HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 20000000\r\n\r\n" +
		"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"me.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	go func() {
		chunk := make([]byte, 500)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			out <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out <- fmt.Sprintf("%d retry-after=%s %s", res.StatusCode, res.Header.Get("Retry-After"), b)
	}()
	return conn
}

// TestAnonymousTricklersDoNotStarveAuthenticated is the first target of
// the hostile-world issue: 16 clients without credentials trickle Slack
// uploads at 5 KB/s, and meanwhile authenticated uploads (Chatter, and
// Slack with a header) succeed within 10 seconds. The tricklers share
// the small anonymous pool; those that get no slot are refused after
// WriteWait with Slack's ratelimited and Retry-After. Every option is
// left at its default.
func TestAnonymousTricklersDoNotStarveAuthenticated(t *testing.T) {
	e := newTestHandler(t, nil)
	const n = 16
	stop := make(chan struct{})
	outcomes := make(chan string, n)
	var conns []net.Conn
	var once sync.Once
	end := func() {
		once.Do(func() {
			close(stop)
			for _, c := range conns {
				c.Close()
			}
		})
	}
	t.Cleanup(end)
	start := time.Now()
	for range n {
		conns = append(conns, startTrickler(t, e.Srv.Listener.Addr().String(), stop, outcomes))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(e.H.admit.anon) < DefaultMaxAnonymousWrites {
		if time.Now().After(deadline) {
			t.Fatal("the anonymous requests never took their slots")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the others now wait for a slot

	img := jpegImage(t, 64, 64)
	type upload struct {
		name, url string
		hdr       map[string]string
		body      []byte
		want      string
	}
	var uploads []upload
	hdr, body := multipartReq(t, withAuth(bearerAlice, nil), filePart("fileUpload", "me.jpg", "image/jpeg", img))
	uploads = append(uploads, upload{"chatter", chatterPath("alice"), hdr, body, `"photoVersionId"`})
	hdr, body = multipartReq(t, withAuth(bearerBob, nil), filePart("image", "me.jpg", "image/jpeg", img))
	uploads = append(uploads, upload{"slack with a header", "/api/users.setPhoto", hdr, body, `"ok":true`})
	for _, u := range uploads {
		t0 := time.Now()
		req, err := http.NewRequest(http.MethodPost, e.URL+u.url, strings.NewReader(string(u.body)))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range u.hdr {
			req.Header.Set(k, v)
		}
		c := *e.Client
		c.Timeout = 10 * time.Second
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s upload among tricklers: %v", u.name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		took := time.Since(t0)
		if !strings.Contains(string(b), u.want) {
			t.Fatalf("%s upload among tricklers: %d %s", u.name, res.StatusCode, b)
		}
		t.Logf("%s upload among 16 tricklers took %v", u.name, took.Round(time.Millisecond))
	}

	// All but the two with a slot are refused once WriteWait has passed.
	refused, waited := 0, time.Duration(0)
	timeout := time.After(DefaultWriteWait + 10*time.Second)
	for refused < n-DefaultMaxAnonymousWrites {
		select {
		case got := <-outcomes:
			if !strings.HasPrefix(got, "200 retry-after=5 {") || !strings.Contains(got, `"ok":false`) || !strings.Contains(got, `"error":"ratelimited"`) {
				t.Fatalf("a waiting trickler got %q, want Slack's ratelimited with Retry-After", got)
			}
			refused++
			waited = time.Since(start)
		case <-timeout:
			t.Fatalf("only %d tricklers were refused; the others still wait", refused)
		}
	}
	t.Logf("%d tricklers refused after %v", refused, waited.Round(time.Millisecond))
	if waited < DefaultWriteWait-time.Second {
		t.Errorf("tricklers refused after %v, before WriteWait", waited)
	}
	end()
}

// waitHeld waits until n slots of pool are taken.
func waitHeld(t *testing.T, pool chan struct{}, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(pool) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots taken, want %d", len(pool), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWriteWaitIsBounded checks that a write waits at most WriteWait for
// a slot, then is refused in its dialect's words with Retry-After; and
// that a principal's own bound (MaxWritesPerPrincipal) refuses with 429
// while another principal is served.
func TestWriteWaitIsBounded(t *testing.T) {
	img := jpegImage(t, 40, 40)
	chatter := func(auth string) (map[string]string, []byte) {
		return multipartReq(t, withAuth(auth, nil), filePart("fileUpload", "me.jpg", "image/jpeg", img))
	}
	slack := func(auth string) (map[string]string, []byte) {
		return multipartReq(t, withAuth(auth, nil), filePart("image", "me.jpg", "image/jpeg", img))
	}
	pi := func(auth string) (map[string]string, []byte) {
		return multipartReq(t, withAuth(auth, nil), filePart("file", "me.jpg", "image/jpeg", img))
	}
	const wait = 300 * time.Millisecond
	type exchange struct {
		name   string
		url    string
		req    func(auth string) (map[string]string, []byte)
		auth   string
		code   int
		retry  string
		check  func(*testing.T, *http.Response, []byte)
		waited bool // answered only once WriteWait has passed
	}
	tests := []struct {
		name  string
		opts  Options
		tries []exchange
	}{
		{
			name: "the main pool is full",
			opts: Options{MaxConcurrentWrites: 1, MaxWritesPerPrincipal: -1, WriteWait: wait},
			tries: []exchange{
				{"chatter", chatterPath("bob"), chatter, bearerBob, 503, "5", wantChatterError("SERVER_UNAVAILABLE"), true},
				{"slack", "/api/users.setPhoto", slack, bearerBob, 200, "5", wantSlackError("ratelimited"), true},
				{"profile-image", piURL("bob"), pi, bearerBob, 503, "5", wantCode("busy"), true},
				{"alice again", chatterPath("alice"), chatter, bearerAlice, 503, "5", wantChatterError("SERVER_UNAVAILABLE"), true},
			},
		},
		{
			name: "alice has her share",
			opts: Options{MaxWritesPerPrincipal: 1, WriteWait: wait},
			tries: []exchange{
				{"alice by chatter", chatterPath("alice"), chatter, bearerAlice, 429, "1", wantChatterError("REQUEST_LIMIT_EXCEEDED"), true},
				{"alice by slack", "/api/users.setPhoto", slack, bearerAlice, 200, "1", wantSlackError("ratelimited"), true},
				{"alice by profile-image", piURL("alice"), pi, bearerAlice, 429, "1", wantCode("rate-limited"), true},
				{"bob", "/api/users.setPhoto", slack, bearerBob, 200, "", wantSlackOK, false},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestHandler(t, &tc.opts)
			hdr, body := slack(bearerAlice)
			stalledPost(t, e, "/api/users.setPhoto", hdr, body)
			waitHeld(t, e.H.admit.main, 1)
			for _, x := range tc.tries {
				t0 := time.Now()
				hdr, body := x.req(x.auth)
				res, b := e.do(t, http.MethodPost, x.url, hdr, body, false)
				took := time.Since(t0)
				if res.StatusCode != x.code || res.Header.Get("Retry-After") != x.retry {
					t.Errorf("%s: %d Retry-After %q %s, want %d with %q", x.name, res.StatusCode, res.Header.Get("Retry-After"), b, x.code, x.retry)
				}
				x.check(t, res, b)
				if x.waited && (took < wait || took > wait+5*time.Second) {
					t.Errorf("%s: answered after %v, want about WriteWait (%v)", x.name, took, wait)
				}
			}
		})
	}
}

// wantSlackError checks Slack's {"ok":false,"error":code}.
func wantSlackError(code string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		b := decodeJSON[map[string]any](t, body)
		if b["ok"] != false || b["error"] != code {
			t.Errorf("body %s, want ok false with %s", abbrev(body), code)
		}
	}
}

// wantSlackOK checks Slack's {"ok":true}.
func wantSlackOK(t *testing.T, res *http.Response, body []byte) {
	t.Helper()
	if b := decodeJSON[map[string]any](t, body); b["ok"] != true {
		t.Errorf("body %s, want ok true", abbrev(body))
	}
}

// TestWriteRateLimits checks the per-principal and global write rate
// limits on the test clock: refusals in each dialect's words with the
// Retry-After of the limiter's delay, a token in a Slack body counted as
// its principal, and the bucket refilling as the clock moves on.
func TestWriteRateLimits(t *testing.T) {
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	deletePhoto := func(e *testEnv, auth, body string) (*http.Response, []byte) {
		return e.do(t, http.MethodPost, "/api/users.deletePhoto", withAuth(auth, form), body, false)
	}
	img := jpegImage(t, 40, 40)

	t.Run("per principal", func(t *testing.T) {
		e := newTestHandler(t, &Options{WriteRate: RateLimit{Rate: 0.5, Burst: 2}})
		for range 2 {
			res, b := deletePhoto(e, bearerAlice, "")
			wantSlackOK(t, res, b)
		}
		res, b := deletePhoto(e, bearerAlice, "")
		wantSlackError("ratelimited")(t, res, b)
		if got := res.Header.Get("Retry-After"); got != "2" {
			t.Errorf("Retry-After %q, want 2 (one token at 0.5/s)", got)
		}
		// Alice's token in the body is alice too.
		res, b = deletePhoto(e, "", "token=alice-token")
		wantSlackError("ratelimited")(t, res, b)
		hdr, body := multipartReq(t, withAuth(bearerAlice, nil), filePart("fileUpload", "me.jpg", "image/jpeg", img))
		res, b = e.do(t, http.MethodPost, chatterPath("alice"), hdr, body, false)
		if res.StatusCode != 429 || res.Header.Get("Retry-After") != "2" {
			t.Errorf("chatter: %d Retry-After %q, want 429 with 2", res.StatusCode, res.Header.Get("Retry-After"))
		}
		wantChatterError("REQUEST_LIMIT_EXCEEDED")(t, res, b)
		res, b = e.do(t, http.MethodDelete, piURL("alice"), withAuth(bearerAlice, nil), nil, false)
		if res.StatusCode == 429 {
			t.Errorf("a DELETE (no body) was rate limited: %s", b)
		}
		// users.profile.get is a read, even when POSTed.
		res, b = e.do(t, http.MethodPost, "/api/users.profile.get", withAuth(bearerAlice, form), "", false)
		wantSlackOK(t, res, b)
		// Bob has his own bucket.
		res, b = deletePhoto(e, bearerBob, "")
		wantSlackOK(t, res, b)
		res, b = deletePhoto(e, "", "token=bob-token")
		wantSlackOK(t, res, b)

		e.Clock.Advance(2 * time.Second)
		res, b = deletePhoto(e, "", "token=alice-token")
		wantSlackOK(t, res, b)
		res, b = deletePhoto(e, bearerAlice, "")
		wantSlackError("ratelimited")(t, res, b)
	})

	t.Run("global", func(t *testing.T) {
		e := newTestHandler(t, &Options{GlobalWriteRate: RateLimit{Rate: 1, Burst: 1}})
		res, b := deletePhoto(e, bearerAlice, "")
		wantSlackOK(t, res, b)
		for _, auth := range []string{bearerBob, ""} {
			res, b = deletePhoto(e, auth, "token=bob-token")
			wantSlackError("ratelimited")(t, res, b)
			if got := res.Header.Get("Retry-After"); got != "1" {
				t.Errorf("Retry-After %q, want 1", got)
			}
		}
		res, b = e.do(t, http.MethodPost, piURL("bob"), withAuth(bearerBob, map[string]string{"Content-Type": "application/json"}), `{"url":"http://127.0.0.1/x.jpg"}`, false)
		if res.StatusCode != 429 {
			t.Errorf("profile-image: %d, want 429", res.StatusCode)
		}
		wantCode("rate-limited")(t, res, b)
		e.Clock.Advance(time.Second)
		res, b = deletePhoto(e, bearerBob, "")
		wantSlackOK(t, res, b)
	})

	t.Run("off", func(t *testing.T) {
		e := newTestHandler(t, &Options{WriteRate: RateLimit{Rate: -1}, GlobalWriteRate: RateLimit{Rate: -1}})
		for range 100 {
			res, b := deletePhoto(e, bearerAlice, "")
			wantSlackOK(t, res, b)
		}
	})
}

// TestLimitersAreBounded checks that per-principal buckets are forgotten
// when idle long enough to have refilled, and that however many
// principals come, at most MaxTrackedPrincipals are kept.
func TestLimitersAreBounded(t *testing.T) {
	clock := newTestClock()
	l := newLimiters(clock.Now, RateLimit{Rate: 1, Burst: 2}, RateLimit{Rate: -1}, 3)
	for i := range 1000 {
		if ok, _ := l.allow(fmt.Sprint("user-", i), true); !ok {
			t.Fatalf("a new principal was refused")
		}
		if n := l.tracked(); n > 3 {
			t.Fatalf("%d principals tracked, want at most 3", n)
		}
	}
	// A busy principal keeps its bucket while there is room.
	l.allow("alice", true)
	l.allow("alice", true)
	if ok, d := l.allow("alice", true); ok || d != time.Second {
		t.Fatalf("alice's third = %v %v, want refused for 1s", ok, d)
	}
	// Once every bucket would be full again, a newcomer clears them out.
	clock.Advance(3 * time.Second)
	l.allow("bob", true)
	if n := l.tracked(); n != 1 {
		t.Errorf("%d principals tracked after an idle spell, want 1", n)
	}
	if (RateLimit{}).resolve(RateLimit{Rate: 2, Burst: 5}) != (RateLimit{Rate: 2, Burst: 5}) ||
		(RateLimit{Rate: 3.5}).resolve(RateLimit{Rate: 2, Burst: 5}) != (RateLimit{Rate: 3.5, Burst: 4}) ||
		!(RateLimit{Rate: -1, Burst: 9}).resolve(RateLimit{Rate: 2, Burst: 5}).off() {
		t.Error("RateLimit defaults are not filled in as documented")
	}
}
