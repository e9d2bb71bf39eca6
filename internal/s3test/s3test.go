// Package s3test runs a real S3 server for tests: versitygw, built by
// scripts/versitygw.sh into .cache/bin, serving a temporary directory on a
// free loopback port.
//
//	srv := s3test.Start(t) // skips (or, with CI=true, fails) without the binary
//	st, err := s3store.Open(ctx, s3store.Config{Endpoint: srv.Endpoint, ...})
//
// Each Start runs one server with one empty bucket and stops it when the
// test ends; tests share it by starting it once in a parent test (or in
// TestMain) and giving each subtest its own key prefix.
package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is a running S3 server with one bucket.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// Region is the region the server signs for.
	Region string
	// Bucket is an empty bucket made for the test.
	Bucket string
	// AccessKey and SecretKey are the credentials of the server's root
	// user.
	AccessKey, SecretKey string
}

// Client returns an S3 client for the server, with path-style addressing.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),

		DisableLogOutputChecksumValidationSkipped: true,
	})
}

// EnvBinary names the environment variable that may point at a versitygw
// binary; without it Start looks for .cache/bin/versitygw in the module.
const EnvBinary = "VERSITYGW"

// Binary returns the path of the versitygw binary, or an error saying how
// to build it.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("s3test: $%s: %w", EnvBinary, err)
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".cache", "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("s3test: no S3 server for the tests: run scripts/versitygw.sh (builds %s) or set $%s", p, EnvBinary)
	}
	return p, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("s3test: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Start runs a versitygw server for the test and stops it on t.Cleanup.
// Without the binary the test is skipped with a message that says how to
// build it, unless $CI is "true": in CI a missing server is a failure.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var lastErr error
	// A free port may be taken between finding it and the server binding
	// it: try a few.
	for range 3 {
		srv, err := start(t, bin)
		if err == nil {
			return srv
		}
		lastErr = err
	}
	t.Fatalf("s3test: starting versitygw: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects a process's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t testing.TB, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	root := t.TempDir()
	srv := &Server{
		Endpoint:  "http://127.0.0.1:" + strconv.Itoa(port),
		Region:    "us-east-1",
		Bucket:    "photo-test",
		AccessKey: "photo-test-access",
		SecretKey: "photo-test-secret-key",
	}
	cmd := exec.Command(bin,
		"--access", srv.AccessKey, "--secret", srv.SecretKey,
		"--port", "127.0.0.1:"+strconv.Itoa(port), "--region", srv.Region,
		"--quiet", "posix", root)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The server must not inherit credentials or proxies meant for
	// something else.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root, "TMPDIR=" + root}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// exited is closed when the process ends; waitErr is then its status.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := waitReady(ctx, srv.Endpoint, exited, func() error { return waitErr }); err != nil {
		stop()
		return nil, fmt.Errorf("%w; server output:\n%s", err, out.String())
	}
	t.Cleanup(stop)
	if _, err := srv.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(srv.Bucket)}); err != nil {
		t.Fatalf("s3test: creating bucket: %v; server output:\n%s", err, out.String())
	}
	return srv, nil
}

// waitReady polls the endpoint until the server answers HTTP (any status:
// an anonymous request is refused, which proves it listens and speaks).
func waitReady(ctx context.Context, endpoint string, exited <-chan struct{}, status func() error) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 500*time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("versitygw exited: %v", status())
		case <-ctx.Done():
			return fmt.Errorf("versitygw did not answer at %s: %w", endpoint, ctx.Err())
		case <-time.After(delay):
		}
	}
}
