package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// user is one of photod's users and its bearer token.
type user struct {
	id, token string
}

// target is the photod that photoload drives.
type target struct {
	base     string // http://127.0.0.1:PORT
	describe string
	users    []user
	pid      int // 0: unknown, no memory figure

	cmd     *exec.Cmd // when photoload started it
	dir     string    // its temporary directory
	logPath string
	done    chan error
	once    sync.Once
	err     error
}

// attach targets the running photod at cfg.addr, which must be on loopback.
func attach(cfg *config) (*target, error) {
	host, port, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("photoload: -addr: %w", err)
	}
	if !loopback(host) {
		return nil, fmt.Errorf("photoload: -addr %s is not a loopback address: photoload sends only to this machine", cfg.addr)
	}
	f, err := os.Open(cfg.tokens)
	if err != nil {
		return nil, fmt.Errorf("photoload: -tokens: %w", err)
	}
	defer f.Close()
	users, err := readTokens(f)
	if err != nil {
		return nil, fmt.Errorf("photoload: -tokens %s: %w", cfg.tokens, err)
	}
	if len(users) > cfg.users+1 {
		users = users[:cfg.users+1]
	}
	return &target{
		base:     "http://" + net.JoinHostPort(host, port),
		describe: "a running photod",
		users:    users,
		pid:      cfg.pid,
	}, nil
}

// loopback reports whether host names or resolves only to loopback
// addresses.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// onLoopback reports whether the absolute URL u points at a loopback host.
func onLoopback(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && loopback(p.Hostname())
}

// readTokens reads photod's tokens format ("TOKEN USERID [admin]" lines,
// # comments) and returns its users without admin rights.
func readTokens(r io.Reader) ([]user, error) {
	var users []user
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || (len(f) == 3 && f[2] == "admin") {
			continue
		}
		users = append(users, user{id: f[1], token: f[0]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, errors.New("no users without admin rights")
	}
	return users, nil
}

// launch builds photod (unless -photod names a binary) and starts it on a
// free loopback port with a temporary data directory and a tokens file for
// cfg.users users.
func launch(ctx context.Context, cfg *config, stderr io.Writer) (*target, error) {
	dir, err := os.MkdirTemp("", "photoload-")
	if err != nil {
		return nil, fmt.Errorf("photoload: %w", err)
	}
	t := &target{dir: dir, done: make(chan error, 1), logPath: filepath.Join(dir, "photod.log")}
	fail := func(err error) (*target, error) {
		t.close()
		return nil, fmt.Errorf("photoload: %w", err)
	}
	bin := cfg.photod
	if bin == "" {
		bin = filepath.Join(dir, "photod")
		fmt.Fprintln(stderr, "photoload: building photod")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/profilephoto/photo/cmd/photod")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fail(fmt.Errorf("building photod (run photoload inside the repository, or give -photod): %w", err))
		}
	}
	var toks strings.Builder
	toks.WriteString("# photoload's users\n")
	// The last user is the hostile clients'.
	for i := range cfg.users + 1 {
		b := make([]byte, 12)
		rand.Read(b)
		u := user{id: fmt.Sprintf("load%04d", i), token: hex.EncodeToString(b)}
		if i == cfg.users {
			u.id = "hostile"
		}
		t.users = append(t.users, u)
		fmt.Fprintf(&toks, "%s %s\n", u.token, u.id)
	}
	tokensFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokensFile, []byte(toks.String()), 0o600); err != nil {
		return fail(err)
	}
	log, err := os.Create(t.logPath)
	if err != nil {
		return fail(err)
	}
	defer log.Close()
	t.cmd = exec.Command(bin, "-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "data"),
		"-tokens", tokensFile, "-log-level", "warn", "-janitor-interval", "0")
	t.cmd.Stderr = log
	out, err := t.cmd.StdoutPipe()
	if err != nil {
		return fail(err)
	}
	if err := t.cmd.Start(); err != nil {
		return fail(err)
	}
	t.pid = t.cmd.Process.Pid
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "photod: serving "); ok {
				urls <- strings.TrimSuffix(strings.Fields(rest)[0], "/")
			}
		}
		io.Copy(io.Discard, out)
		t.done <- t.cmd.Wait()
	}()
	select {
	case t.base = <-urls:
	case err := <-t.done:
		t.done <- err
		b, _ := os.ReadFile(t.logPath)
		return fail(fmt.Errorf("photod ended before serving: %v\n%s", err, b))
	case <-time.After(time.Minute):
		return fail(errors.New("photod did not start within a minute"))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if !onLoopback(t.base) {
		return fail(fmt.Errorf("photod serves %s, not loopback", t.base))
	}
	t.describe = "photod pid " + strconv.Itoa(t.pid) + " started by photoload, filesystem store"
	return t, nil
}

// close stops the photod that photoload started (SIGTERM, then SIGKILL
// after 30 s) and removes its directory; it does nothing for -addr.
func (t *target) close() error {
	t.once.Do(func() {
		if t.cmd != nil && t.cmd.Process != nil {
			t.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case t.err = <-t.done:
			case <-time.After(30 * time.Second):
				t.cmd.Process.Kill()
				t.err = <-t.done
			}
			if t.err != nil {
				b, _ := os.ReadFile(t.logPath)
				t.err = fmt.Errorf("stopped with %v; its log:\n%s", t.err, b)
			}
		}
		if t.dir != "" {
			os.RemoveAll(t.dir)
		}
	})
	return t.err
}

// peakRSS reads the process's peak resident set size (VmHWM) from /proc.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM line in /proc/PID/status")
}
