package httpadapter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/profilephoto/photo"
)

// TestMaxConcurrentWrites checks that a request carrying a body waits for a
// free slot: with one slot, a second upload is not served while a first
// one's body is still arriving.
func TestMaxConcurrentWrites(t *testing.T) {
	e := newTestHandler(t, &Options{MaxConcurrentWrites: 1})
	upload := func(auth string) (map[string]string, []byte) {
		return multipartReq(t, withAuth(auth, nil), filePart("image", "me.jpg", "image/jpeg", jpegImage(t, 40, 40)))
	}
	post := func(ctx context.Context, hdr map[string]string, body io.Reader) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/api/users.setPhoto", body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return e.Client.Do(req)
	}

	// Alice's body arrives slowly: her request holds the only slot.
	aliceHdr, aliceBody := upload(bearerAlice)
	pr, pw := io.Pipe()
	// Whatever happens, end alice's body before the server is closed.
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	alice := make(chan error, 1)
	go func() {
		res, err := post(context.Background(), aliceHdr, pr)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(b), `"ok":true`) {
				err = errors.New("alice's upload failed: " + string(b))
			}
		}
		alice <- err
	}()
	if _, err := pw.Write(aliceBody[:64]); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(e.H.admit.main) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("alice's request never took the write slot")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Bob waits for the slot and gives up: nothing of his is served.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	bobHdr, bobBody := upload("Bearer bob-token")
	if res, err := post(ctx, bobHdr, bytes.NewReader(bobBody)); err == nil {
		res.Body.Close()
		t.Fatalf("bob's upload was served while alice's held the only slot: %s", res.Status)
	}
	if _, err := e.M.Get(context.Background(), "bob"); !errors.Is(err, photo.ErrNotFound) {
		t.Fatalf("bob has a photo: %v", err)
	}

	pw.Write(aliceBody[64:])
	pw.Close()
	if err := <-alice; err != nil {
		t.Fatal(err)
	}
	// The slot is free again.
	res, err := post(context.Background(), bobHdr, bytes.NewReader(bobBody))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if _, err := e.M.Get(context.Background(), "bob"); err != nil {
		t.Fatalf("bob's second upload: %v", err)
	}
}

// stalledPost starts a POST to url whose body sends its first 64 bytes and
// then nothing, and waits until the request holds a write slot or has been
// answered. It returns a channel that receives the request's outcome:
// the response body, or the transport error.
func stalledPost(t *testing.T, e *testEnv, url string, hdr map[string]string, body []byte) <-chan string {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	out := make(chan string, 1)
	go func() {
		req, err := http.NewRequest(http.MethodPost, e.URL+url, pr)
		if err != nil {
			out <- err.Error()
			return
		}
		req.ContentLength = int64(len(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := e.Client.Do(req)
		if err != nil {
			out <- "transport: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out <- res.Status + " " + string(b)
	}()
	if _, err := pw.Write(body[:64]); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStalledBodiesDoNotHoldWriteSlots checks that a client cannot keep
// every write slot busy: a request refused on its Authorization header is
// answered without waiting for its body or taking a slot, and a body that
// stops arriving is cut off after Options.BodyIdleTimeout.
func TestStalledBodiesDoNotHoldWriteSlots(t *testing.T) {
	img := jpegImage(t, 40, 40)
	slack := func(auth string) (map[string]string, []byte) {
		return multipartReq(t, withAuth(auth, nil), filePart("image", "me.jpg", "image/jpeg", img))
	}
	chatter := func(auth string) (map[string]string, []byte) {
		return multipartReq(t, withAuth(auth, nil), filePart("fileUpload", "me.jpg", "image/jpeg", img))
	}
	tests := []struct {
		name  string
		url   string
		req   func(auth string) (map[string]string, []byte)
		auth  string
		want  string // in the stalled request's outcome
		owner string // whose photo must not have changed
	}{
		{"chatter without credentials", chatterPath("alice"), chatter, "", "INVALID_SESSION_ID", "alice"},
		{"chatter with bad credentials", chatterPath("alice"), chatter, bearerBad, "INVALID_SESSION_ID", "alice"},
		{"profile-image without credentials", "/v1/users/alice/profile/profile-image", func(auth string) (map[string]string, []byte) {
			return multipartReq(t, withAuth(auth, nil), filePart("file", "me.jpg", "image/jpeg", img))
		}, "", "unauthorized", "alice"},
		{"slack with a bad header", "/api/users.setPhoto", slack, bearerBad, "invalid_auth", "alice"},
		{"slack body that stalls", "/api/users.setPhoto", slack, "", "request_timeout", "alice"},
		{"authenticated body that stalls", "/api/users.setPhoto", slack, bearerAlice, "request_timeout", "alice"},
		{"chatter body that stalls", chatterPath("alice"), chatter, bearerAlice, "408", "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestHandler(t, &Options{MaxConcurrentWrites: 1, BodyIdleTimeout: 300 * time.Millisecond})
			hdr, body := tc.req(tc.auth)
			stalled := stalledPost(t, e, tc.url, hdr, body)

			// Bob's upload must be served, however long the stalled body
			// would have taken.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			bobHdr, bobBody := slack("Bearer bob-token")
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/api/users.setPhoto", bytes.NewReader(bobBody))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range bobHdr {
				req.Header.Set(k, v)
			}
			res, err := e.Client.Do(req)
			if err != nil {
				t.Fatalf("bob's upload was not served: %v", err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(b), `"ok":true`) {
				t.Fatalf("bob's upload: %s", b)
			}
			select {
			case got := <-stalled:
				if !strings.Contains(got, tc.want) {
					t.Errorf("the stalled request ended with %q, want it to contain %q", got, tc.want)
				}
				if tc.want == "" && strings.Contains(got, `"ok":true`) {
					t.Errorf("the stalled request succeeded: %s", got)
				}
			case <-ctx.Done():
				t.Fatal("the stalled request was never ended")
			}
			if p := e.getPhoto(t, tc.owner); p != nil {
				t.Errorf("%s has a photo", tc.owner)
			}
		})
	}
}

// TestTricklingBodyIsCutOff checks Options.MinBodyRate: a body that never
// pauses for BodyIdleTimeout but arrives a byte at a time is cut off.
func TestTricklingBodyIsCutOff(t *testing.T) {
	e := newTestHandler(t, &Options{BodyIdleTimeout: 500 * time.Millisecond, MinBodyRate: 1000})
	hdr, body := multipartReq(t, withAuth(bearerAlice, nil), filePart("image", "me.jpg", "image/jpeg", jpegImage(t, 40, 40)))
	pr, pw := io.Pipe()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); pw.CloseWithError(errors.New("test over")) })
	go func() {
		for i := range body {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := pw.Write(body[i : i+1]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, e.URL+"/api/users.setPhoto", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("the trickling request got no answer: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `"error":"request_timeout"`) {
		t.Errorf("the trickling request ended with %s, want request_timeout", b)
	}
	if p := e.getPhoto(t, "alice"); p != nil {
		t.Error("alice has a photo")
	}
}
