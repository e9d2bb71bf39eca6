package httpadapter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/s3test"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/s3store"
)

// serveClients is how many keep-alive clients the serving benchmarks run,
// as the measurement did.
const serveClients = 16

// hammer fetches url b.N times from serveClients keep-alive clients and
// reports requests a second.
func hammer(b *testing.B, url string, want int) {
	b.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: serveClients, MaxConnsPerHost: serveClients}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, serveClients)
	b.ResetTimer()
	for range serveClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				resp, err := c.Get(url)
				if err != nil {
					errs <- err
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != int64(want) {
					errs <- fmt.Errorf("status %d, %d bytes", resp.StatusCode, n)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkServe compares serving a stored rendition from the filesystem
// store, and from S3 (versitygw on loopback), with http.FileServer serving
// the same bytes from a directory.
func BenchmarkServe(b *testing.B) {
	dir := b.TempDir()
	st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), filepath.Join(dir, "store")), nil)
	if err != nil {
		b.Fatal(err)
	}
	s3srv := s3test.Start(b)
	s3st, err := s3store.New(s3srv.Client(), s3srv.Bucket, nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := photo.New(storage.NewBucket(st), nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := m.Set(context.Background(), "alice", bytes.NewReader(jpegImage(b, 800, 800)), nil)
	if err != nil {
		b.Fatal(err)
	}
	r, _ := rendition(p, 192)
	h, err := New(m, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	blob, err := m.OpenRendition(context.Background(), "alice", p.VersionID, 192, "")
	if err != nil {
		b.Fatal(err)
	}
	data, _ := io.ReadAll(blob)
	blob.Close()
	static := filepath.Join(dir, "static")
	os.MkdirAll(static, 0o755)
	os.WriteFile(filepath.Join(static, "192.jpg"), data, 0o644)
	fsrv := httptest.NewServer(http.FileServer(http.Dir(static)))
	defer fsrv.Close()

	ms3, err := photo.New(storage.NewBucket(s3st), nil)
	if err != nil {
		b.Fatal(err)
	}
	p3, err := ms3.Set(context.Background(), "alice", bytes.NewReader(jpegImage(b, 800, 800)), nil)
	if err != nil {
		b.Fatal(err)
	}
	h3, err := New(ms3, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	srv3 := httptest.NewServer(h3)
	defer srv3.Close()

	b.Run("photo", func(b *testing.B) {
		hammer(b, fmt.Sprintf("%s/photos/alice/%s/192", srv.URL, p.VersionID), int(r.Bytes))
	})
	b.Run("photo-s3", func(b *testing.B) {
		hammer(b, fmt.Sprintf("%s/photos/alice/%s/192", srv3.URL, p3.VersionID), int(r.Bytes))
	})
	b.Run("fileserver", func(b *testing.B) {
		hammer(b, fsrv.URL+"/192.jpg", len(data))
	})
}
