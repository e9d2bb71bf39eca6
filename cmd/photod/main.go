// Command photod serves the photo library over HTTP: the four documented
// APIs of the httpadapter package, rendition URLs, and a web page at / to
// upload, crop and see every rendition.
//
//	go run ./cmd/photod
//
// serves on 127.0.0.1:8080 with the filesystem store in ./photod-data, and
// prints a bearer token for the user "demo" that the page fetches from
// GET /demo-token (which answers 204, no token, when -tokens names a file).
// Run photod -h for the flags.
//
// Besides the adapter's routes, photod serves:
//
//	GET /             the web page (embedded; its files under /ui/)
//	GET /healthz      200 "ok"
//	GET /whoami       the bearer token's {"userId", "admin"}, or 401
//	GET /demo-token   {"token", "userId"} in demo mode, else 204
//
// With -webhook URL (repeatable) every committed change of a photo is
// POSTed to each URL as JSON:
//
//	{"id": "...", "type": "photo.set", "userId": "...", "versionId": "...",
//	 "revision": 3, "time": "...", "photo": {"width", "height", "sourceType", "renditions"}}
//
// (types photo.set, photo.delete and photo.restore; no photo for a
// delete), with the headers X-Photo-Event-Id (the body's id, the same on
// every attempt), X-Photo-Timestamp (Unix seconds of the attempt) and
// X-Photo-Signature: "sha256=" and the hex HMAC-SHA256 of the timestamp,
// ".", and the body, keyed with the secret of -webhook-secret-file or of
// the PHOTOD_WEBHOOK_SECRET environment variable (at least 16 bytes;
// never logged). A receiver recomputes the signature, compares it in
// constant time and refuses a timestamp a few minutes off its clock.
// Requests go through the set-from-URL address policy (public addresses
// and -url-import-allow networks only, checked when dialled, no
// redirects). Each URL has its own queue of 1000 events (the oldest is
// dropped, with a warning, when full) delivered in order; an attempt has
// 10 seconds, and a network failure, a 5xx or a 429 is retried with
// exponential backoff (1 s doubling to 1 min, jittered), at most 6
// attempts; another status gives up at once. Delivery is at least once
// while photod runs and the receiver answers within the attempts (a
// retried event may arrive twice: deduplicate by id); an event whose
// attempts ran out, one still queued 5 seconds into a shutdown, or one
// lost with the process is not delivered, so a receiver that must not
// miss a change compares revisions.
//
// It shuts down on SIGINT or SIGTERM: it stops accepting connections,
// lets requests in flight (uploads among them) finish, then waits for
// background URL imports, all within -shutdown-timeout, then for queued
// webhook events, at most 5 seconds more. A second signal ends it at
// once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/httpadapter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// webhookDrain bounds how long a shutdown waits for queued webhook events.
const webhookDrain = 5 * time.Second

// demoUser is the user of the token photod makes when no -tokens file is
// given.
const demoUser = "demo"

// run is photod: it parses args, opens the store, serves until ctx is done,
// then shuts down gracefully. It writes the URL (and the demo token) to
// stdout and logs to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))

	st, err := openStore(ctx, cfg, os.Getenv, log)
	if err != nil {
		return err
	}
	popts := &photo.Options{Logger: log, MemoryBudget: int64(cfg.memoryBudget), KeepVersions: cfg.keepVersions}
	var hooks *webhooks
	if len(cfg.webhooks) > 0 {
		secret, err := readWebhookSecret(cfg.webhookSecret, os.Getenv)
		if err != nil {
			return err
		}
		if hooks, err = newWebhooks(webhookSettings{urls: cfg.webhooks, secret: secret, allow: cfg.allow, log: log}); err != nil {
			return err
		}
		popts.OnChange = hooks.onChange
		popts.RedeliverAfter = webhookRedeliverAfter
		log.Info("photod: posting photo changes to webhooks", "urls", len(cfg.webhooks))
	}
	mgr, err := photo.New(st.bucket, popts)
	if err != nil {
		hooks.shutdown(ctx)
		return fmt.Errorf("photod: %w", err)
	}
	budget := mgr.Options().MemoryBudget
	limit, from := applyMemoryLimit(cfg.memoryLimit, budget, os.Getenv)
	logMemory(log, limit, from, budget)

	var toks tokens
	var demoToken string
	if cfg.tokensFile != "" {
		f, err := os.Open(cfg.tokensFile)
		if err != nil {
			return fmt.Errorf("photod: -tokens: %w", err)
		}
		toks, err = parseTokens(f, cfg.tokensFile)
		f.Close()
		if err != nil {
			return fmt.Errorf("photod: -tokens %w", err)
		}
	} else {
		demoToken = b32.EncodeToString(randomBytes(20))
		toks = tokens{}
		toks.add(demoToken, httpadapter.Principal{ID: demoUser})
	}
	auth := toks.authenticator()

	h, err := httpadapter.New(mgr, &httpadapter.Options{
		BaseURL:         cfg.baseURL,
		Authenticate:    auth,
		SigningKey:      st.signingKey,
		URLImport:       httpadapter.URLImportOptions{Allow: cfg.allow},
		WriteRate:       cfg.perUserWriteRate(),
		GlobalWriteRate: cfg.globalWriteRate(),
		WriteWait:       cfg.writeWait,
		Logger:          log,
	})
	if err != nil {
		return fmt.Errorf("photod: %w", err)
	}

	mux := http.NewServeMux()
	page := pageOptions{demoToken: demoToken, demoUser: demoUser, authenticate: auth, baseURL: cfg.baseURL}
	if err := page.routes(mux); err != nil {
		return err
	}
	mux.Handle("/", h)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		h.Shutdown(ctx)
		return fmt.Errorf("photod: %w", err)
	}
	srv := &http.Server{
		Handler: logRequests(log, mux),
		// No read or write timeout: a large upload or download on a slow
		// link may take minutes. Headers must come quickly, and idle
		// connections do not linger.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	url := "http://" + displayAddr(ln.Addr())
	fmt.Fprintf(stdout, "photod: serving %s/ (%s)\n", url, st.describe)
	if demoToken != "" {
		fmt.Fprintf(stdout, "photod: demo token for user %q: %s\n", demoUser, demoToken)
		fmt.Fprintf(stdout, "photod: try: curl -H 'Authorization: Bearer %s' -F image=@photo.jpg %s/api/users.setPhoto\n", demoToken, url)
		if !isLoopback(ln.Addr()) {
			log.Warn("photod: demo mode on a non-loopback address: anyone who can reach " + url + "/demo-token can change the demo photo; use -tokens")
		}
	}
	log.Info("photod: started", "addr", ln.Addr().String(), "store", st.describe, "demo", demoToken != "")

	var wg sync.WaitGroup
	janitorCtx, stopJanitor := context.WithCancel(context.Background())
	defer stopJanitor()
	if cfg.janitorEvery > 0 {
		wg.Go(func() { runJanitor(janitorCtx, cfg.janitorEvery, log, janitorTasks(mgr, st.driver)) })
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var failed error
	select {
	case <-ctx.Done():
		log.Info("photod: shutting down; finishing requests in flight", "timeout", cfg.shutdownTimeout)
	case err := <-serveErr:
		failed = fmt.Errorf("photod: serve: %w", err)
	}

	// Requests in flight (uploads among them) finish first; then the
	// background URL imports they started; both within the timeout.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("photod: requests still running at the shutdown timeout were cut off", "err", err)
		srv.Close()
		if failed == nil {
			failed = fmt.Errorf("photod: shutdown: %w", err)
		}
	}
	if err := h.Shutdown(sctx); err != nil {
		log.Warn("photod: URL imports still running at the shutdown timeout were abandoned", "err", err)
		if failed == nil {
			failed = fmt.Errorf("photod: shutdown: %w", err)
		}
	}
	// Then the webhook events queued, for a short while: a receiver that
	// is down must not hold the shutdown up.
	wctx, wcancel := context.WithTimeout(context.Background(), webhookDrain)
	if err := hooks.shutdown(wctx); err != nil {
		log.Warn("photod: "+err.Error(), "drain", webhookDrain)
	}
	wcancel()
	stopJanitor()
	wg.Wait()
	if failed == nil {
		log.Info("photod: stopped")
	}
	return failed
}

// displayAddr is addr as a browser can reach it: an unspecified host
// (listening on every interface) becomes localhost.
func displayAddr(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if ta.IP.IsUnspecified() {
		return net.JoinHostPort("localhost", fmt.Sprint(ta.Port))
	}
	return ta.String()
}

func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
