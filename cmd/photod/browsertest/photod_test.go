package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// demoUser is the user of the token photod prints when it runs without
// -tokens.
const demoUser = "demo"

// repoRoot is the repository's root, found from this file's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
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

// binDir is a temporary directory for photod's binary, removed by
// TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "photod-browsertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// photodBinary builds ./cmd/photod of this repository, in the library's
// module as `go run ./cmd/photod` does, once per test binary; with the race
// detector when the tests have it, as they had when photod ran in-process.
var photodBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "photod")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", append(args, "./cmd/photod")...)
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{err: err, out: out}
	}
	return bin, nil
})

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "go build ./cmd/photod: " + e.err.Error() + "\n" + string(e.out)
}

// syncBuffer is an io.Writer safe for concurrent writes that can wait
// until a line appears.
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

// photod is a photod process started by startPhotod.
type photod struct {
	URL    string // e.g. http://127.0.0.1:41234, no trailing slash
	Token  string // the demo token
	stdout *syncBuffer
	stderr *syncBuffer
	cmd    *exec.Cmd
	done   chan error
}

// startPhotod runs photod on a free loopback port with a temporary data
// directory and waits until it serves. It is stopped (SIGINT, as a user
// would) when the test ends; its log is shown if the test failed.
func startPhotod(t testing.TB, args ...string) *photod {
	t.Helper()
	bin, err := photodBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &photod{stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan error, 1)}
	full := append([]string{"-addr", "127.0.0.1:0", "-log-level", "debug", "-data", t.TempDir()}, args...)
	p.cmd = exec.Command(bin, full...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting photod: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("photod stopped with %v", err)
		}
		if t.Failed() {
			t.Logf("photod's log:\n%s", p.stderr.String())
		}
	})

	// photod prints the URL and then the demo token: wait for both.
	const tokenLine = "photod: demo token for user \"demo\": "
	deadline := time.After(time.Minute)
	for {
		u, serving := p.stdout.line("photod: serving ")
		tok, hasToken := p.stdout.line(tokenLine)
		if serving && hasToken {
			p.URL = strings.TrimSuffix(strings.Fields(u)[0], "/")
			p.Token = tok
			return p
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
}

// stop interrupts photod and waits for it to exit (killing it after a
// minute). Once it has exited, stop returns its exit error again.
func (p *photod) stop() error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	default:
	}
	p.cmd.Process.Signal(os.Interrupt) // an error means it has just exited
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		p.done <- <-p.done
		return context.DeadlineExceeded
	}
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

// pngImage is a w x h PNG of a gradient.
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
