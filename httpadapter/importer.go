package httpadapter

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/safefetch"
)

// URLImportOptions configure profile-image's set-from-URL. Every zero
// field takes its documented default.
//
// Imports run in a bounded pool: Workers at a time, and at most Queue more
// waiting for a worker. An import asked for when the pool is full is
// refused at once with 503 {"code":"import-queue-full"} and a Retry-After
// header, and the user's photo is left as it was: a server under a flood
// of imports says so instead of holding requests or memory.
//
// The pool is shared fairly: each user's photo has at most one import in
// it, waiting or running. A newer import of the same photo takes the
// older one's place: the older is cancelled at once (its download too) and
// recorded as interrupted, so one user posting many imports holds one
// place, never the queue. Imports are also rate limited, per caller (Rate)
// and in all (GlobalRate): past a limit an import is refused with 429
// {"code":"rate-limited"} and a Retry-After of when the next is allowed.
//
// The fetch is safe against server-side request forgery: only http and
// https, only public unicast addresses (plus Allow), checked on the
// address actually dialled and again on every redirect; see
// internal/safefetch.
type URLImportOptions struct {
	// Allow lists networks the import may fetch from besides public
	// addresses (photod's -url-import-allow). Default none: loopback,
	// private, link-local and the other special networks are refused.
	Allow []netip.Prefix
	// Workers is how many imports run at once; default 4.
	Workers int
	// Queue is how many more imports may wait for a worker; default 64.
	Queue int
	// MaxBytes is the largest download; default the Service's
	// Limits.MaxBytes. A larger body fails the import with
	// file-too-large.
	MaxBytes int64
	// Timeout bounds a download, redirects included; default 30 seconds.
	// Rendering the downloaded image may take up to a minute more.
	Timeout time.Duration
	// IdleTimeout cuts off a server that stops sending for this long;
	// default 10 seconds.
	IdleTimeout time.Duration
	// Resolver resolves host names; default net.DefaultResolver. Tests
	// inject one so that no name is looked up beyond the machine.
	Resolver Resolver
	// Rate limits each caller's imports; default one every 5 seconds
	// with bursts of 10 (DefaultImportRate, DefaultImportBurst). A
	// negative Rate turns it off. Options.MaxTrackedPrincipals bounds the
	// callers tracked.
	Rate RateLimit
	// GlobalRate limits everyone's imports together; default 20 a second
	// with bursts of 50 (DefaultGlobalImportRate,
	// DefaultGlobalImportBurst). A negative Rate turns it off.
	GlobalRate RateLimit
	// Dial connects to an address that passed the policy (always an IP
	// literal and a port); default a net.Dialer. Tests inject one to
	// record what would have been dialled.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Defaults of URLImportOptions.
const (
	DefaultImportWorkers = 4
	DefaultImportQueue   = 64
	DefaultImportTimeout = 30 * time.Second
	DefaultImportIdle    = 10 * time.Second
)

// renderAllowance is how long an import may take beyond its download:
// decoding, rendering and storing the image.
const renderAllowance = time.Minute

// bookkeepingTimeout bounds recording an import's failure, which must
// happen even when the import's own time is up.
const bookkeepingTimeout = 30 * time.Second

// importer runs URL imports in the background, on contexts of its own:
// the request that asked for an import ends long before the import does.
type importer struct {
	h       *Handler
	fetcher *safefetch.Fetcher
	timeout time.Duration // of one whole import
	rates   *limiters

	slots   chan struct{} // one per user with an import in the pool
	workers chan struct{} // one per import running

	base   context.Context // cancelled when close gives up waiting
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed, jobs and the Adds of wg
	closed bool
	jobs   map[string]*importJob // each user's newest import; it owns the user's slot
	wg     sync.WaitGroup
}

// importJob is one accepted import of a user's photo.
type importJob struct {
	user   string
	ctx    context.Context // cancelled with errSuperseded by a newer import
	cancel context.CancelCauseFunc
}

// errSuperseded is the cause of an import's cancellation when a newer
// import of the same photo takes its place.
var errSuperseded = errors.New("httpadapter: a newer import of the photo replaced this one")

func newImporter(h *Handler, o URLImportOptions) (*importer, error) {
	if o.Workers <= 0 {
		o.Workers = DefaultImportWorkers
	}
	if o.Queue <= 0 {
		o.Queue = DefaultImportQueue
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = h.maxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultImportTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultImportIdle
	}
	fo := &safefetch.Options{
		Allow:       o.Allow,
		MaxBytes:    o.MaxBytes,
		Timeout:     o.Timeout,
		IdleTimeout: o.IdleTimeout,
		Dial:        o.Dial,
	}
	if o.Resolver != nil {
		fo.Resolver = o.Resolver
	}
	for _, p := range o.Allow {
		if !p.IsValid() {
			return nil, errors.New("httpadapter: New: URLImport.Allow holds an invalid prefix")
		}
	}
	per := o.Rate.resolve(RateLimit{DefaultImportRate, DefaultImportBurst})
	global := o.GlobalRate.resolve(RateLimit{DefaultGlobalImportRate, DefaultGlobalImportBurst})
	base, cancel := context.WithCancel(context.Background())
	return &importer{
		h:       h,
		fetcher: safefetch.New(fo),
		timeout: o.Timeout + renderAllowance,
		rates:   newLimiters(h.now, per, global, h.opts.MaxTrackedPrincipals),
		slots:   make(chan struct{}, o.Workers+o.Queue),
		workers: make(chan struct{}, o.Workers),
		base:    base,
		cancel:  cancel,
		jobs:    map[string]*importJob{},
	}, nil
}

// check reports a URL that can never be fetched (a *safefetch.Error of
// KindInvalidURL or KindNotAllowed), without the network.
func (i *importer) check(rawURL string) error { return i.fetcher.Check(rawURL) }

// submit marks userID's photo as downloading from rawURL and starts the
// import on behalf of callerID. It refuses with kRateLimited past a rate
// limit, and with kBusy when the pool is full or closing, leaving the
// photo as it was. An import of the same photo already in the pool is
// cancelled and this one takes its place. It returns the photo as it then
// stands.
func (i *importer) submit(ctx context.Context, callerID, userID, rawURL string) (*photo.Photo, error) {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil, fail(kBusy, "", "the server is shutting down; try again later")
	}
	if ok, after := i.rates.allow(callerID, true); !ok {
		i.mu.Unlock()
		return nil, retryLater(kRateLimited, "too many URL imports; try again later", after)
	}
	old := i.jobs[userID]
	if old == nil {
		select {
		case i.slots <- struct{}{}:
		default:
			i.mu.Unlock()
			return nil, fail(kBusy, "", "")
		}
	}
	jctx, cancel := context.WithCancelCause(i.base)
	job := &importJob{user: userID, ctx: jctx, cancel: cancel}
	i.jobs[userID] = job
	i.wg.Add(1)
	i.mu.Unlock()

	im, err := i.h.svc.StartImport(ctx, userID, rawURL)
	if err != nil {
		i.end(job, old)
		return nil, err
	}
	if old != nil {
		old.cancel(errSuperseded)
	}
	go i.run(job, im, rawURL)
	return im.Photo, nil
}

// end removes job from the pool. The user's slot goes with it, unless a
// newer import holds it, or prev (the import job replaced, nil if none) is
// still running and takes it back.
func (i *importer) end(job, prev *importJob) {
	i.mu.Lock()
	if i.jobs[job.user] == job {
		if prev != nil && prev.ctx.Err() == nil {
			i.jobs[job.user] = prev
		} else {
			delete(i.jobs, job.user)
			<-i.slots
		}
	}
	i.mu.Unlock()
	job.cancel(nil)
	i.wg.Done()
}

// run performs one import once a worker is free, unless a newer one
// replaces it first.
func (i *importer) run(job *importJob, im *photo.Import, rawURL string) {
	defer i.end(job, nil)
	userID := job.user
	select {
	case i.workers <- struct{}{}:
		defer func() { <-i.workers }()
	case <-job.ctx.Done():
		i.fail(job, im, &photo.Error{Code: photo.CodeDownloadInterrupted}, nil)
		return
	}
	ctx, cancel := context.WithTimeout(job.ctx, i.timeout)
	defer cancel()

	resp, err := i.fetcher.Fetch(ctx, rawURL)
	if err != nil {
		i.fail(job, im, fetchFailure(err), err)
		return
	}
	defer resp.Close()
	p, err := im.Finish(ctx, resp, nil)
	var se *safefetch.Error
	switch {
	case err == nil:
		i.h.log.Info("httpadapter: URL import done", "user", userID, "version", p.VersionID)
	case errors.As(err, &se):
		// The download broke off while the image was being read.
		i.fail(job, im, fetchFailure(err), err)
	case errors.Is(err, photo.ErrInvalidInput):
		// Finish recorded the refusal of the bytes.
		i.h.log.Info("httpadapter: URL import refused", "user", userID, "code", string(photo.CodeOf(err)))
	case errors.Is(err, photo.ErrConflict):
		i.h.log.Info("httpadapter: URL import superseded", "user", userID)
	default:
		i.fail(job, im, &photo.Error{Code: photo.CodeDownloadFailed, Message: "the import failed"}, err)
	}
}

// fetchFailure words a fetch error as the import failure GET shows.
func fetchFailure(err error) *photo.Error {
	var se *safefetch.Error
	if !errors.As(err, &se) {
		return &photo.Error{Code: photo.CodeDownloadFailed}
	}
	msg := se.Message
	if msg == "" {
		msg = "the download failed"
	}
	switch se.Kind {
	case safefetch.KindNotAllowed:
		return &photo.Error{Code: photo.CodeURLNotAllowed, Message: msg}
	case safefetch.KindTooLarge:
		return &photo.Error{Code: photo.CodeFileTooLarge, Message: msg}
	}
	return &photo.Error{Code: photo.CodeDownloadFailed, Message: msg}
}

// fail records that an import failed with failure, on a context of its
// own: the import's may be spent. cause, if any, is logged, never shown.
//
// A replaced import is recorded too: the newer one has normally moved the
// photo on, so that Fail finds a conflict and changes nothing, but if the
// two began in the other order the photo must not stay downloading.
func (i *importer) fail(job *importJob, im *photo.Import, failure *photo.Error, cause error) {
	userID := job.user
	switch {
	case i.base.Err() != nil:
		failure = &photo.Error{Code: photo.CodeDownloadInterrupted, Message: "the server shut down during the download"}
	case errors.Is(context.Cause(job.ctx), errSuperseded):
		failure = &photo.Error{Code: photo.CodeDownloadInterrupted, Message: "a newer import replaced this one"}
		cause = nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(i.base), bookkeepingTimeout)
	defer cancel()
	i.h.log.Info("httpadapter: URL import failed", "user", userID, "code", string(failure.Code), "err", cause)
	if err := im.Fail(ctx, failure); err != nil && !errors.Is(err, photo.ErrConflict) {
		i.h.log.Error("httpadapter: recording a failed URL import", "user", userID, "err", err)
	}
}

// close stops accepting imports and waits for those accepted to end. If
// ctx ends first, the imports still running are cancelled (and recorded
// as failed) before close returns ctx's error.
func (i *importer) close(ctx context.Context) error {
	i.mu.Lock()
	i.closed = true
	i.mu.Unlock()
	done := make(chan struct{})
	go func() {
		i.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		i.cancel()
		return nil
	case <-ctx.Done():
		i.cancel()
		<-done
		return ctx.Err()
	}
}
