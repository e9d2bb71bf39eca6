package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

var (
	testSecret = []byte("0123456789abcdef-webhook-secret")
	loopback   = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
)

// hookRequest is what a receiver got.
type hookRequest struct {
	id, timestamp, signature string
	body                     []byte
}

// verify checks the request's signature as a receiver would.
func (r hookRequest) verify(secret []byte) bool {
	want := "sha256=" + sign(secret, r.timestamp, r.body)
	return hmac.Equal([]byte(want), []byte(r.signature))
}

// receiver is a webhook endpoint on loopback: answer decides each
// request's status from its number (1-based).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []hookRequest
	answer func(n int, r hookRequest) int
	seen   chan struct{} // a token per request
}

func newReceiver(t *testing.T, answer func(n int, r hookRequest) int) *receiver {
	rc := &receiver{answer: answer, seen: make(chan struct{}, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hr := hookRequest{r.Header.Get(headerEventID), r.Header.Get(headerTimestamp), r.Header.Get(headerSignature), b}
		rc.mu.Lock()
		rc.got = append(rc.got, hr)
		n := len(rc.got)
		rc.mu.Unlock()
		rc.seen <- struct{}{}
		status := http.StatusNoContent
		if rc.answer != nil {
			status = rc.answer(n, hr)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []hookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// testHooks starts webhooks to url with fast retries; they are shut down
// when the test ends.
func testHooks(t *testing.T, s webhookSettings) *webhooks {
	t.Helper()
	if s.secret == nil {
		s.secret = testSecret
	}
	if s.allow == nil {
		s.allow = loopback
	}
	s.backoff, s.maxBackoff = time.Millisecond, 4*time.Millisecond
	s.log = slog.New(slog.DiscardHandler)
	w, err := newWebhooks(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.shutdown(ctx)
	})
	return w
}

func event(user string, rev int64) photo.Event {
	return photo.Event{Kind: "set", UserID: user, VersionID: "v" + user, Revision: rev, Time: time.Unix(1_800_000_000, 0),
		Photo: &photo.Photo{Width: 40, Height: 30, SourceType: "image/png", Renditions: []photo.Rendition{{Size: 32, Width: 32, Height: 24, ContentType: "image/png"}}}}
}

// settle shuts w down with a generous bound: every queued event has had
// its attempts when it returns.
func settle(t *testing.T, w *webhooks) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookDelivery: events arrive in order, signed, with their fields;
// a 500 is retried with the same event, and the retry succeeds.
func TestWebhookDelivery(t *testing.T) {
	rc := newReceiver(t, func(n int, _ hookRequest) int {
		if n == 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	w := testHooks(t, webhookSettings{urls: []string{rc.srv.URL + "/hook"}})
	ctx := context.Background()
	for _, ev := range []photo.Event{event("ann", 1), event("ben", 1),
		{Kind: "delete", UserID: "ann", VersionID: "vann", Revision: 2, Time: time.Unix(1_800_000_001, 0)}} {
		// OnChange returns once the event was posted.
		if err := w.onChange(ctx, ev); err != nil {
			t.Fatalf("%s %d: %v", ev.UserID, ev.Revision, err)
		}
	}
	settle(t, w)

	got := rc.requests()
	var ids, types []string
	for _, r := range got {
		if !r.verify(testSecret) {
			t.Errorf("request %s: signature %q does not verify", r.id, r.signature)
		}
		if r.verify([]byte("another secret, sixteen bytes+")) {
			t.Errorf("request %s verifies with another secret", r.id)
		}
		var b eventBody
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		if b.ID != r.id {
			t.Errorf("body id %q, header %q", b.ID, r.id)
		}
		ids = append(ids, b.UserID)
		types = append(types, b.Type)
	}
	if want := []string{"ann", "ben", "ben", "ann"}; !slices.Equal(ids, want) {
		t.Errorf("users %v, want %v (the second retried once)", ids, want)
	}
	if want := []string{"photo.set", "photo.set", "photo.set", "photo.delete"}; !slices.Equal(types, want) {
		t.Errorf("types %v, want %v", types, want)
	}
	if len(got) == 4 && (got[1].id != got[2].id || string(got[1].body) != string(got[2].body)) {
		t.Errorf("the retry differs: %s %s", got[1].body, got[2].body)
	}
	var first eventBody
	json.Unmarshal(got[0].body, &first)
	if first.Revision != 1 || first.VersionID != "vann" || first.Photo == nil || first.Photo.Width != 40 ||
		len(first.Photo.Renditions) != 1 || !first.Time.Equal(time.Unix(1_800_000_000, 0)) {
		t.Errorf("body %s", got[0].body)
	}
	var del map[string]any
	json.Unmarshal(got[3].body, &del)
	if _, ok := del["photo"]; ok {
		t.Errorf("a delete has a photo: %s", got[3].body)
	}
}

// TestWebhookRetries: 5xx, 429 and network failures are retried up to the
// bound; other statuses are not; the next event goes on either way.
func TestWebhookRetries(t *testing.T) {
	for _, c := range []struct {
		name     string
		status   int
		attempts int
	}{
		{"500", 500, 3},
		{"503", 503, 3},
		{"429", 429, 3},
		{"400", 400, 1},
		{"404", 404, 1},
		{"301", 301, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t, func(_ int, r hookRequest) int {
				if strings.HasSuffix(r.id, "-1") {
					return c.status
				}
				return http.StatusOK
			})
			w := testHooks(t, webhookSettings{urls: []string{rc.srv.URL}, attempts: 3})
			// A failure is OnChange's error: the library keeps the event.
			if err := w.onChange(context.Background(), event("ann", 1)); err == nil {
				t.Error("OnChange accepted an event that was never posted")
			}
			if err := w.onChange(context.Background(), event("ann", 2)); err != nil {
				t.Error(err)
			}
			settle(t, w)
			got := rc.requests()
			if len(got) != c.attempts+1 {
				t.Fatalf("%d requests, want %d attempts and the next event", len(got), c.attempts)
			}
			if last := got[len(got)-1]; !strings.HasSuffix(last.id, "-2") {
				t.Errorf("the last request was %s, want the second event", last.id)
			}
		})
	}
	t.Run("network", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens: every attempt is refused
		var mu sync.Mutex
		dials := 0
		w := testHooks(t, webhookSettings{urls: []string{"http://" + addr + "/hook"}, attempts: 4,
			dial: func(ctx context.Context, network, a string) (net.Conn, error) {
				mu.Lock()
				dials++
				mu.Unlock()
				return (&net.Dialer{}).DialContext(ctx, network, a)
			}})
		if err := w.onChange(context.Background(), event("ann", 1)); err == nil {
			t.Error("OnChange accepted an event that was never posted")
		}
		settle(t, w)
		if dials != 4 {
			t.Errorf("%d dials, want 4 attempts", dials)
		}
	})
}

// TestWebhookPolicy: a receiver whose name resolves to a private or
// metadata address is refused without dialling and without retries, and
// an address the policy refuses fails at startup.
func TestWebhookPolicy(t *testing.T) {
	for _, bad := range []string{"http://169.254.169.254/hook", "http://10.0.0.1/hook", "http://localhost:9/hook", "ftp://example.com/x"} {
		if _, err := newWebhooks(webhookSettings{urls: []string{bad}, secret: testSecret}); err == nil {
			t.Errorf("%s: accepted at startup", bad)
		}
	}
	if _, err := newWebhooks(webhookSettings{urls: []string{"https://example.com/hook"}, secret: []byte("short")}); err == nil {
		t.Error("a short secret was accepted")
	}

	for _, addr := range []string{"169.254.169.254", "10.1.2.3", "127.0.0.1", "fd00::1"} {
		t.Run(addr, func(t *testing.T) {
			var mu sync.Mutex
			var lookups, dials int
			w := testHooks(t, webhookSettings{urls: []string{"http://hooks.example.com/x"}, attempts: 3,
				allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
				resolver: resolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
					mu.Lock()
					lookups++
					mu.Unlock()
					return []netip.Addr{netip.MustParseAddr(addr)}, nil
				}),
				dial: func(context.Context, string, string) (net.Conn, error) {
					mu.Lock()
					dials++
					mu.Unlock()
					return nil, errors.New("no dialling in this test")
				}})
			if err := w.onChange(context.Background(), event("ann", 1)); err == nil {
				t.Error("OnChange accepted a refused event")
			}
			settle(t, w)
			if dials != 0 || lookups != 1 {
				t.Errorf("%d dials and %d lookups; want none and one (no retry)", dials, lookups)
			}
		})
	}
}

type resolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

// TestWebhookQueue: while the receiver is stuck, a full queue drops its
// oldest events, whose OnChange then fails (the library keeps them);
// queueing never waits, and OnChange waits for its event.
func TestWebhookQueue(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, _ hookRequest) int {
		if n == 1 {
			<-release
		}
		return http.StatusOK
	})
	w := testHooks(t, webhookSettings{urls: []string{rc.srv.URL}, queue: 2})
	sent := []*sending{w.send(event("ann", 1))}
	<-rc.seen // the first is in flight: the queue is empty
	start := time.Now()
	for rev := int64(2); rev <= 5; rev++ {
		sent = append(sent, w.send(event("ann", rev)))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("queueing took %v", d)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := sent[0].wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OnChange of an event in flight returned %v before it was posted", err)
	}
	close(release)
	for i, s := range sent {
		err := s.wait(context.Background())
		if dropped := i == 1 || i == 2; dropped != (err != nil) {
			t.Errorf("revision %d: OnChange returned %v", i+1, err)
		}
	}
	settle(t, w)
	var ids []string
	for _, r := range rc.requests() {
		ids = append(ids, r.id[strings.LastIndex(r.id, "-")+1:])
	}
	if want := []string{"1", "4", "5"}; !slices.Equal(ids, want) {
		t.Errorf("delivered revisions %v, want %v (2 and 3 dropped)", ids, want)
	}
	if d := w.targets[0].dropped; d != 2 {
		t.Errorf("dropped %d, want 2", d)
	}
}

// TestWebhookShutdown: a shutdown delivers what is queued, and gives up
// at its deadline on a receiver that hangs.
func TestWebhookShutdown(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	rc := newReceiver(t, func(_ int, r hookRequest) int {
		if strings.HasPrefix(r.id, "x") {
			<-hang
		}
		return http.StatusOK
	})
	w := testHooks(t, webhookSettings{urls: []string{rc.srv.URL}})
	for rev := int64(1); rev <= 3; rev++ {
		w.send(event("ann", rev))
	}
	settle(t, w)
	if n := len(rc.requests()); n != 3 {
		t.Fatalf("%d delivered before the shutdown ended, want 3", n)
	}

	stuck := newReceiver(t, func(int, hookRequest) int { <-hang; return 200 })
	w = testHooks(t, webhookSettings{urls: []string{stuck.srv.URL}})
	sent := []*sending{w.send(event("ann", 1)), w.send(event("ann", 2))}
	<-stuck.seen
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := w.shutdown(ctx); err == nil {
		t.Error("a shutdown that abandoned events reported no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the shutdown took %v", d)
	}
	// Both abandoned: their OnChange failed, so the library keeps them.
	for i, s := range sent {
		if err := s.wait(context.Background()); err == nil {
			t.Errorf("event %d: abandoned at shutdown, yet acknowledged", i+1)
		}
	}
}

// TestPhotodWebhook: photod posts signed events for a Set and a Delete
// made over HTTP.
func TestPhotodWebhook(t *testing.T) {
	rc := newReceiver(t, nil)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, append(testSecret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPhotod(t, "-webhook", rc.srv.URL+"/hook", "-webhook-secret-file", secretFile, "-url-import-allow", "127.0.0.0/8")
	c := client{t, p.URL}
	ct, body := multipartBody(t, nil, "image", "me.png", pngImage(t, 40, 30))
	if r := c.do(http.MethodPost, "/api/users.setPhoto", p.Token, map[string]string{"Content-Type": ct}, body); r.status != 200 || !strings.Contains(string(r.body), `"ok":true`) {
		t.Fatalf("setPhoto: %d %s", r.status, r.body)
	}
	if r := c.do(http.MethodPost, "/api/users.deletePhoto", p.Token, nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"ok":true`) {
		t.Fatalf("deletePhoto: %d %s", r.status, r.body)
	}
	for range 2 {
		select {
		case <-rc.seen:
		case <-time.After(time.Minute):
			t.Fatal("the webhook did not arrive")
		}
	}
	var types []string
	for _, r := range rc.requests() {
		if !r.verify(testSecret) {
			t.Errorf("signature of %s does not verify", r.body)
		}
		var b eventBody
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		if b.UserID != demoUser {
			t.Errorf("user %q", b.UserID)
		}
		types = append(types, b.Type)
	}
	if want := []string{"photo.set", "photo.delete"}; !slices.Equal(types, want) {
		t.Errorf("types %v, want %v", types, want)
	}
	if strings.Contains(p.stderr.String(), string(testSecret)) {
		t.Error("the secret was logged")
	}
}

// TestWebhookRedelivery: an endpoint that fails for a while (longer than
// photod's attempts and the library's retries) gets every event once it
// recovers, through the janitor's Sweep, and is not sent them again
// afterwards: webhooks are at least once end to end.
func TestWebhookRedelivery(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	var mu sync.Mutex
	accepted := map[string]int{} // by event ID
	rc := newReceiver(t, func(_ int, r hookRequest) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		mu.Lock()
		accepted[r.id]++
		mu.Unlock()
		return http.StatusOK
	})
	w := testHooks(t, webhookSettings{urls: []string{rc.srv.URL}, attempts: 2})
	clock := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	st := memstore.New()
	// The options main gives the library with -webhook.
	m, err := photo.New(storage.NewBucket(st), &photo.Options{Sizes: []int{32}, OnDemandSizes: []int{}, Now: now,
		Logger: slog.New(slog.DiscardHandler), OnChange: w.onChange, RedeliverAfter: webhookRedeliverAfter})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]bool{}
	for i, user := range []string{"ann", "ben", "ann"} {
		p, err := m.Set(ctx, user, bytes.NewReader(pngImage(t, 40+i, 30)), nil)
		if err != nil {
			t.Fatal(err)
		}
		want[eventID(photo.Event{UserID: user, Revision: p.Revision})] = true
	}
	if err := m.Delete(ctx, "ben", nil); err != nil {
		t.Fatal(err)
	}
	want[eventID(photo.Event{UserID: "ben", Revision: 2})] = true
	// Each event: 2 attempts, three times (the library retries after 1 s
	// and 2 s), all refused.
	for n := range 4 * 2 * 3 {
		select {
		case <-rc.seen:
		case <-time.After(time.Minute):
			t.Fatalf("%d requests while the endpoint was down, want %d", n, 4*2*3)
		}
	}
	down.Store(false)
	sweep := janitorTasks(m, st)[0]
	if sweep.name != "sweep" {
		t.Fatalf("the first janitor task is %s", sweep.name)
	}
	// Too young: the Sweep leaves them to the live delivery.
	if _, err := sweep.run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(rc.requests()); n != 4*2*3 {
		t.Fatalf("%d requests after a Sweep before RedeliverAfter, want %d", n, 4*2*3)
	}
	mu.Lock()
	clock = clock.Add(webhookRedeliverAfter + time.Second)
	mu.Unlock()
	// The last live failure may still be on its way to the library, which
	// then leaves that event to the next Sweep.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := sweep.run(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		ok := 0
		for id := range want {
			if accepted[id] > 0 {
				ok++
			}
		}
		got := fmt.Sprint(accepted)
		mu.Unlock()
		if ok == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Sweeps, accepted %v; want each of %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Acknowledged: a later Sweep posts nothing.
	n := len(rc.requests())
	mu.Lock()
	clock = clock.Add(time.Hour)
	mu.Unlock()
	if _, err := sweep.run(ctx); err != nil {
		t.Fatal(err)
	}
	if m := len(rc.requests()); m != n {
		t.Errorf("a Sweep after every acknowledgement posted %d more", m-n)
	}
	for _, r := range rc.requests() {
		if !r.verify(testSecret) {
			t.Errorf("request %s: the signature does not verify", r.id)
		}
	}
}
