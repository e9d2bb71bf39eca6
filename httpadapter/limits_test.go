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
	for len(e.H.writes) == 0 {
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
