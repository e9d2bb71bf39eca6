package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRun builds and starts photod, drives it for three seconds and checks
// the report: every operation ran, the hostile ones were all refused, and
// nothing failed unexpectedly.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds photod and loads it for 3 s")
	}
	var out, errs strings.Builder
	rep, err := run(t.Context(), []string{"-duration", "3s", "-users", "8", "-clients", "8", "-hostile", "3"}, &out, &errs)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	t.Logf("photoload's report:\n%s", out.String())
	if n := rep.Unexpected(); n != 0 {
		t.Errorf("%d unexpected errors", n)
	}
	for _, op := range opNames {
		if !strings.HasPrefix(op, "hostile.") {
			if rep.Count(op, done) == 0 {
				t.Errorf("%s never completed", op)
			}
			continue
		}
		// A hostile request may be refused outright or as busy.
		if n := rep.Count(op, done); n != 0 {
			t.Errorf("%s: %d hostile requests were accepted", op, n)
		}
		if rep.Count(op, refused)+rep.Count(op, busy) == 0 {
			t.Errorf("%s was never refused", op)
		}
	}
	if rep.PeakRSS <= 0 {
		t.Errorf("no peak RSS: %v", rep.RSSErr)
	}
	for _, line := range []string{"photod peak RSS (VmHWM): ", "0 unexpected errors", "upload.resumable", "hostile.bad-token"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the report lacks %q", line)
		}
	}
}

// TestFlags: photoload refuses to send anywhere but loopback, and flags
// that do not go together.
func TestFlags(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# users\ntok-a alice\ntok-r root admin\ntok-b bob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{[]string{"-addr", "192.0.2.1:8080", "-tokens", tokens}, "not a loopback address"},
		{[]string{"-addr", "example.com:80", "-tokens", tokens}, "not a loopback address"},
		{[]string{"-addr", "127.0.0.1:8080"}, "-addr needs -tokens"},
		{[]string{"-pid", "1"}, "go with -addr"},
		{[]string{"-duration", "0s"}, "-duration must be positive"},
		{[]string{"-clients", "0"}, "must be positive"},
		{[]string{"-addr", "127.0.0.1:8080", "-tokens", tokens}, ""},
		{[]string{"-addr", "[::1]:8080", "-tokens", tokens}, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cfg, err := parseFlags(tc.args, &strings.Builder{})
			var tg *target
			if err == nil && cfg.addr != "" {
				tg, err = attach(cfg)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			case tg != nil:
				// The admin is left out; the last user is the hostile one.
				if len(tg.users) != 2 || tg.users[0].id != "alice" || tg.users[1].id != "bob" {
					t.Errorf("users %+v", tg.users)
				}
			}
		})
	}
}
