package main

import (
	"bytes"
	"context"
	"image"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the repository's root, found from this file's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// testdata returns the path of a file of the shared test images, which sit
// beside the repository (../shared/testdata from its root). When they are
// absent the test skips, saying so; in CI (CI=true) it fails instead, so
// that a broken checkout cannot pass by testing nothing.
func testdata(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "..", "shared", "testdata")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the shared test images are missing (%v); CI clones shared/ beside the repository", err)
		}
		t.Skipf("skipping: the shared test images are not at %s (%v)", dir, err)
	}
	return filepath.Join(dir, filepath.FromSlash(name))
}

// syncBuffer is an io.Writer safe for the concurrent writes of a server,
// that can wait until a line appears.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// line returns the rest of the first line that starts with prefix.
func (b *syncBuffer) line(prefix string) (string, bool) {
	for l := range strings.Lines(b.String()) {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

// photod is a photod started in-process by startPhotod.
type photod struct {
	URL    string // e.g. http://127.0.0.1:41234, no trailing slash
	Token  string // the demo token, when no -tokens was given
	Data   string // the -data directory
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startPhotod runs photod on a free loopback port with a temporary data
// directory (unless args give -data) and waits until it serves. It is
// stopped when the test ends; its log is shown if the test failed.
func startPhotod(t testing.TB, args ...string) *photod {
	t.Helper()
	p := &photod{stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan error, 1)}
	hasData, hasTokens := false, false
	for _, a := range args {
		hasData = hasData || a == "-data" || strings.HasPrefix(a, "-data=")
		hasTokens = hasTokens || a == "-tokens" || strings.HasPrefix(a, "-tokens=")
	}
	full := []string{"-addr", "127.0.0.1:0", "-log-level", "debug"}
	if !hasData {
		p.Data = t.TempDir()
		full = append(full, "-data", p.Data)
	}
	full = append(full, args...)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- run(ctx, full, p.stdout, p.stderr) }()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("photod stopped with %v", err)
		}
		if t.Failed() {
			t.Logf("photod's log:\n%s", p.stderr.String())
		}
	})

	// photod prints the URL and then, in demo mode, the token: wait for
	// both, or the test may read the output between the two lines.
	const tokenLine = "photod: demo token for user \"demo\": "
	deadline := time.After(time.Minute)
	for {
		u, serving := p.stdout.line("photod: serving ")
		_, token := p.stdout.line(tokenLine)
		if serving && (token || hasTokens) {
			p.URL = strings.TrimSuffix(strings.Fields(u)[0], "/")
			break
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("photod ended before serving: %v\n%s", err, p.stderr.String())
		case <-p.stdout.changed:
		case <-deadline:
			t.Fatalf("photod did not start within a minute:\n%s", p.stderr.String())
		}
	}
	if l, ok := p.stdout.line(tokenLine); ok {
		p.Token = l
	}
	return p
}

// stop shuts photod down as SIGINT would and returns run's error.
func (p *photod) stop() error {
	p.once.Do(func() {
		p.cancel()
		select {
		case p.err = <-p.done:
		case <-time.After(time.Minute):
			p.err = context.DeadlineExceeded
		}
	})
	return p.err
}

// freeLoopbackPort returns a loopback TCP port that nothing listens on (as
// far as anyone can tell: it was free a moment ago).
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// imageSource is a loopback server for URL imports: it serves png at
// /me.png, bad (bytes that only claim to be a PNG) at badPath, and 404
// elsewhere. It is closed when the test ends.
func imageSource(t testing.TB, png []byte, badPath string, bad []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/me.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(png)
		case badPath:
			w.Header().Set("Content-Type", "image/png")
			w.Write(bad)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// profileImageBody is the profile-image GET body, as far as tests read it.
type profileImageBody struct {
	Status     string         `json:"status"`
	VersionID  string         `json:"versionId"`
	URL        string         `json:"url"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	MimeType   string         `json:"mimeType"`
	Renditions []apiRendition `json:"renditions"`
	Error      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiRendition is one entry of profile-image's renditions.
type apiRendition struct {
	Size   int    `json:"size"`
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

func fetchImage(t *testing.T, url string) image.Image {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	img, _, err := image.Decode(resp.Body)
	if err != nil {
		t.Fatalf("decoding %s: %v", url, err)
	}
	return img
}
