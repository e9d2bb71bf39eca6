// Command photoload drives photod with a mix of traffic for a bounded time
// and reports what it saw: throughput, p50 and p99 latency and errors per
// operation, and photod's peak resident memory.
//
//	go run ./cmd/photoload
//
// builds photod, starts it on a free loopback port with a temporary data
// directory and a tokens file for -users users, and for -duration sends,
// from -clients clients: uploads through every dialect (Slack's
// users.setPhoto, Chatter's user photo, the three-step resumable upload,
// profile-image's multipart POST) of small generated JPEG and PNG photos,
// rendition reads, metadata reads and deletes; and from -hostile clients:
// bodies that trickle in slowly, parts larger than the upload limit and
// bad tokens. The hostile requests are meant to be refused: their
// refusals are counted as expected, apart from the errors. Busy and
// rate-limit answers (HTTP 503 or 429, Slack's "ratelimited") are counted
// as retryable refusals, not as errors; anything else unexpected is an
// error, and photoload exits with status 1 when there was one. Every
// client's first operations are one of each kind, which it finishes even
// if photod is too slow for them to fit in -duration.
//
// With -addr it drives a photod that is already running instead (loopback
// only), whose -tokens file it is given with -tokens; -pid names its
// process for the memory figure.
//
// photoload only ever sends to loopback addresses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case rep.Unexpected() > 0:
		os.Exit(1)
	}
}

// config is photoload's command line.
type config struct {
	duration time.Duration
	users    int
	clients  int
	hostile  int
	seed     uint64
	addr     string
	tokens   string
	pid      int
	photod   string
	verbose  bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("photoload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: photoload [flags]

photoload starts photod on loopback (or drives the one at -addr) and sends
it uploads, reads, deletes and hostile requests for -duration, then
reports throughput, latency, errors and photod's peak memory.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "how long to send traffic")
	fs.IntVar(&c.users, "users", 200, "how many users the clients act for")
	fs.IntVar(&c.clients, "clients", 16, "how many well-behaved clients send at once")
	fs.IntVar(&c.hostile, "hostile", 4, "how many hostile clients (slow bodies, oversized parts, bad tokens) send at once")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the random choices (operations, users, photos)")
	fs.StringVar(&c.addr, "addr", "", "`host:port` of a running photod on loopback to drive instead of starting one (needs -tokens)")
	fs.StringVar(&c.tokens, "tokens", "", "the running photod's tokens `file` (with -addr); its users without admin rights are the users, the last one the hostile clients'")
	fs.IntVar(&c.pid, "pid", 0, "process ID of the running photod (with -addr), for its peak memory")
	fs.StringVar(&c.photod, "photod", "", "photod `binary` to start (default: build ./cmd/photod with the go command)")
	fs.BoolVar(&c.verbose, "v", false, "print each unexpected answer as it happens")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("photoload: unexpected arguments %q", fs.Args())
	case c.duration <= 0:
		return nil, errors.New("photoload: -duration must be positive")
	case c.users < 1 || c.clients < 1 || c.hostile < 0:
		return nil, errors.New("photoload: -users and -clients must be positive, -hostile not negative")
	case c.addr != "" && c.tokens == "":
		return nil, errors.New("photoload: -addr needs -tokens, the running photod's tokens file")
	case c.addr == "" && (c.tokens != "" || c.pid != 0):
		return nil, errors.New("photoload: -tokens and -pid go with -addr")
	}
	return c, nil
}

// run is photoload: it parses args, starts or finds photod, sends traffic
// for the duration and writes the report to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*report, error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return nil, err
	}
	var t *target
	if cfg.addr != "" {
		t, err = attach(cfg)
	} else {
		t, err = launch(ctx, cfg, stderr)
	}
	if err != nil {
		return nil, err
	}
	defer t.close()
	fmt.Fprintf(stdout, "photoload: %v against %s (%s), %d clients for %d users, %d hostile clients\n",
		cfg.duration, t.base, t.describe, cfg.clients, max(1, len(t.users)-1), cfg.hostile)
	rep := drive(ctx, cfg, t, stderr)
	if t.pid > 0 {
		rep.PeakRSS, rep.RSSErr = peakRSS(t.pid)
	}
	if err := t.close(); err != nil {
		fmt.Fprintf(stderr, "photoload: photod: %v\n", err)
	}
	rep.write(stdout)
	return rep, nil
}
