package httpadapter

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

// countingService is what a host might put between the adapter and the
// Manager: a Service that counts the reads it passes on.
type countingService struct {
	Service
	gets, opens atomic.Int64
}

func (s *countingService) Get(ctx context.Context, userID string) (*photo.Photo, error) {
	s.gets.Add(1)
	return s.Service.Get(ctx, userID)
}

func (s *countingService) OpenRendition(ctx context.Context, userID, versionID string, size int, format string) (*photo.Blob, error) {
	s.opens.Add(1)
	return s.Service.OpenRendition(ctx, userID, versionID, size, format)
}

// TestNewTakesAService checks that the adapter serves any Service,
// so that a host can decorate the Manager, and goes through it for every
// call; and that a nil Service is refused.
func TestNewTakesAService(t *testing.T) {
	if _, err := New(nil, nil); err == nil {
		t.Error("New(nil, nil) succeeded")
	}
	m, err := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Set(t.Context(), "alice", bytes.NewReader(jpegImage(t, 300, 300)), nil); err != nil {
		t.Fatal(err)
	}
	svc := &countingService{Service: m}
	h, err := New(svc, &Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The unversioned URL asks the Service for the current version; the
	// redirect's target opens the rendition through it.
	res, err := srv.Client().Get(srv.URL + "/photos/alice/64")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET /photos/alice/64: %d, %d bytes", res.StatusCode, len(body))
	}
	if g, o := svc.gets.Load(), svc.opens.Load(); g != 1 || o != 1 {
		t.Errorf("the decorator saw %d Get and %d OpenRendition calls, want 1 and 1", g, o)
	}
}
