package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo/httpadapter"
)

func TestParseTokens(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    map[string]httpadapter.Principal // token -> principal
		wantErr string
	}{
		{
			name: "users, admins, comments, blank lines, tabs",
			file: "# comment\n\nt1 alice\n  t2\tbob   admin  \n\t# indented comment\nt3 ünïcode\n",
			want: map[string]httpadapter.Principal{
				"t1": {ID: "alice"},
				"t2": {ID: "bob", Admin: true},
				"t3": {ID: "ünïcode"},
			},
		},
		{name: "one field", file: "t1 alice\nlonely\n", wantErr: "tokens:2: want TOKEN USERID [admin], got 1 fields"},
		{name: "four fields", file: "t1 alice admin extra\n", wantErr: "tokens:1: want TOKEN USERID [admin], got 4 fields"},
		{name: "not admin", file: "t1 alice root\n", wantErr: `tokens:1: the third field must be "admin", got "root"`},
		{name: "duplicate token", file: "t1 alice\nt1 bob\n", wantErr: "tokens:2: the token is already given to another line"},
		{name: "me", file: "t1 me\n", wantErr: `tokens:1: "me" is reserved`},
		{name: "long user ID", file: "t1 " + strings.Repeat("u", 257) + "\n", wantErr: "tokens:1: the user ID is longer than 256 bytes"},
		{name: "long token", file: strings.Repeat("t", 513) + " alice\n", wantErr: "tokens:1: the token is longer than 512 bytes"},
		{name: "bad UTF-8", file: "t1 al\xffice\n", wantErr: "tokens:1: the line is not valid UTF-8"},
		{name: "empty", file: "# nothing\n\n", wantErr: "tokens: no tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := parseTokens(strings.NewReader(tt.file), "tokens")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			auth := toks.authenticator()
			for token, want := range tt.want {
				got, err := auth(bearer("Bearer " + token))
				if err != nil || got != want {
					t.Errorf("token %q: %+v %v, want %+v", token, got, err, want)
				}
			}
			if len(toks) != len(tt.want) {
				t.Errorf("%d tokens, want %d", len(toks), len(tt.want))
			}
		})
	}
}

func bearer(h string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	if h != "" {
		r.Header.Set("Authorization", h)
	}
	return r
}

func TestAuthenticator(t *testing.T) {
	toks, err := parseTokens(strings.NewReader("secret alice\nboss root admin\n"), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	auth := toks.authenticator()
	tests := []struct {
		name   string
		header string
		want   httpadapter.Principal
		err    error
	}{
		{"bearer", "Bearer secret", httpadapter.Principal{ID: "alice"}, nil},
		{"scheme in any case", "bearer boss", httpadapter.Principal{ID: "root", Admin: true}, nil},
		{"Salesforce's OAuth scheme", "OAuth secret", httpadapter.Principal{ID: "alice"}, nil},
		{"no header: no credentials", "", httpadapter.Principal{}, httpadapter.ErrNoCredentials},
		{"unknown token", "Bearer guess", httpadapter.Principal{}, errBadToken},
		{"empty token", "Bearer ", httpadapter.Principal{}, errBadToken},
		{"other scheme: bad, not none", "Basic c2VjcmV0", httpadapter.Principal{}, errBadToken},
		{"huge token", "Bearer " + strings.Repeat("x", 10000), httpadapter.Principal{}, errBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auth(bearer(tt.header))
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, c *config)
		wantErr string
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c *config) {
				if c.addr != "127.0.0.1:8080" || c.dataDir != "photod-data" || c.useS3() || c.tokensFile != "" ||
					c.logLevel != slog.LevelInfo || c.shutdownTimeout != 30*time.Second || len(c.allow) != 0 || c.keepVersions != 5 {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "every flag",
			args: []string{"-addr", ":9000", "-s3-bucket", "b", "-s3-endpoint", "http://127.0.0.1:7070", "-s3-region", "eu-west-1",
				"-s3-prefix", "p/", "-tokens", "tok", "-base-url", "https://example.com/avatars",
				"-url-import-allow", "10.0.0.0/8", "-url-import-allow", "::1", "-url-import-allow", "127.0.0.1",
				"-log-level", "debug", "-shutdown-timeout", "5s", "-janitor-interval", "0", "-keep-versions", "0"},
			check: func(t *testing.T, c *config) {
				want := prefixList{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("127.0.0.1/32")}
				if diff := cmp.Diff(want, c.allow, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
					t.Errorf("allow: %s", diff)
				}
				if c.addr != ":9000" || !c.useS3() || c.s3Bucket != "b" || c.s3Endpoint != "http://127.0.0.1:7070" || c.s3Region != "eu-west-1" ||
					c.s3Prefix != "p/" || c.tokensFile != "tok" || c.baseURL != "https://example.com/avatars" ||
					c.logLevel != slog.LevelDebug || c.shutdownTimeout != 5*time.Second || c.janitorEvery != 0 || c.keepVersions != 0 {
					t.Errorf("parsed %+v", c)
				}
			},
		},
		{name: "bad CIDR", args: []string{"-url-import-allow", "10.0.0.0/33"}, wantErr: "not a CIDR prefix or address"},
		{name: "host bits", args: []string{"-url-import-allow", "10.1.2.3/8"}, wantErr: "did you mean 10.0.0.0/8?"},
		{name: "zone", args: []string{"-url-import-allow", "fe80::1%eth0"}, wantErr: "zone"},
		{name: "bad level", args: []string{"-log-level", "loud"}, wantErr: "log-level"},
		{name: "S3 flags without a bucket", args: []string{"-s3-endpoint", "http://127.0.0.1:7070"}, wantErr: "need -s3-bucket"},
		{name: "empty data", args: []string{"-data", ""}, wantErr: "-data must not be empty"},
		{name: "arguments", args: []string{"serve"}, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-port", "80"}, wantErr: "flag provided but not defined"},
		{name: "negative keep-versions", args: []string{"-keep-versions", "-1"}, wantErr: "-keep-versions must be between 0 and 100"},
		{name: "too many keep-versions", args: []string{"-keep-versions", "101"}, wantErr: "-keep-versions must be between 0 and 100"},
		{name: "zero shutdown timeout", args: []string{"-shutdown-timeout", "0s"}, wantErr: "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
	var usage bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), "-url-import-allow") {
		t.Errorf("-h: %v, usage %q", err, usage.String())
	}
}

func TestRunRefusesBadStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "tokens")
	os.WriteFile(bad, []byte("ok alice\nbroken\n"), 0o600)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"malformed tokens file", []string{"-tokens", bad}, bad + ":2: want TOKEN USERID [admin]"},
		{"missing tokens file", []string{"-tokens", filepath.Join(dir, "nope")}, "-tokens"},
		{"bad base URL", []string{"-base-url", "ftp://example.com"}, "BaseURL"},
		{"address in use", nil, "address already in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-data", t.TempDir(), "-addr", "127.0.0.1:0"}, tt.args...)
			if tt.name == "address in use" {
				srv := startPhotod(t)
				args = []string{"-data", t.TempDir(), "-addr", strings.TrimPrefix(srv.URL, "http://")}
			}
			err := run(t.Context(), args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSigningKey(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	noEnv := func(string) string { return "" }
	dir := t.TempDir()
	path := filepath.Join(dir, "signing-key")

	// Made on first use, 0600, then the same on every later use.
	k1, err := signingKey(noEnv, path, log)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || len(k1) != signingKeySize {
		t.Fatalf("key file %v %v, key %d bytes", fi.Mode(), err, len(k1))
	}
	k2, err := signingKey(noEnv, path, log)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second read: %v, same key %v", err, bytes.Equal(k1, k2))
	}

	// Many processes starting at once agree on one key.
	dir2 := t.TempDir()
	path2 := filepath.Join(dir2, "signing-key")
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Go(func() {
			k, err := signingKey(noEnv, path2, log)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("concurrent first uses made different keys")
		}
	}
	if ents, _ := os.ReadDir(dir2); len(ents) != 1 {
		t.Errorf("the key's directory holds %d files, want only the key", len(ents))
	}

	// The environment wins; a short value is refused.
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == signingKeyEnv {
				return v
			}
			return ""
		}
	}
	e1, err := signingKey(env("a long enough shared secret"), path, log)
	if err != nil || bytes.Equal(e1, k1) || len(e1) != signingKeySize {
		t.Errorf("from the environment: %v, differs from the file's %v", err, !bytes.Equal(e1, k1))
	}
	e2, _ := signingKey(env("a long enough shared secret"), "", log)
	if !bytes.Equal(e1, e2) {
		t.Error("the same environment value gave different keys")
	}
	if _, err := signingKey(env("short"), path, log); err == nil {
		t.Error("a short PHOTOD_SIGNING_KEY was accepted")
	}

	// Without a file (S3) and without the environment: random each time.
	r1, _ := signingKey(noEnv, "", log)
	r2, _ := signingKey(noEnv, "", log)
	if bytes.Equal(r1, r2) {
		t.Error("two random keys are equal")
	}

	// A truncated key file is an error, not a weak key.
	short := filepath.Join(t.TempDir(), "signing-key")
	os.WriteFile(short, []byte("abc"), 0o600)
	if _, err := signingKey(noEnv, short, log); err == nil {
		t.Error("a 3-byte key file was accepted")
	}
}

func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := logRequests(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte("short and stout"))
		case "/flush":
			w.Write([]byte("a"))
			http.NewResponseController(w).Flush()
			w.Write([]byte("bc"))
		case "/boom":
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}))
	tests := []struct {
		path   string
		status int
		bytes  int
		level  string
	}{
		{"/teapot?token=secret", 418, 15, "INFO"},
		{"/flush", 200, 3, "INFO"},
		{"/boom", 500, 3, "WARN"},
		{"/nothing", 200, 0, "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			buf.Reset()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tt.path, nil))
			var got struct {
				Level, Msg, Method, Path string
				Status, Bytes            int
				Duration                 int64
			}
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, buf.String())
			}
			path, _, _ := strings.Cut(tt.path, "?")
			if got.Level != tt.level || got.Msg != "request" || got.Method != "GET" || got.Path != path || got.Status != tt.status || got.Bytes != tt.bytes {
				t.Errorf("logged %+v", got)
			}
			if strings.Contains(buf.String(), "secret") {
				t.Error("the query (which may hold a token) was logged")
			}
		})
	}
}
