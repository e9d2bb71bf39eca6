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
	// MaxBytes is the largest download; default the Manager's
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

	slots   chan struct{} // one per accepted import not yet finished
	workers chan struct{} // one per import running

	base   context.Context // cancelled when close gives up waiting
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and the Adds of wg
	closed bool
	wg     sync.WaitGroup
}

func newImporter(h *Handler, o URLImportOptions) (*importer, error) {
	if o.Workers <= 0 {
		o.Workers = DefaultImportWorkers
	}
	if o.Queue <= 0 {
		o.Queue = DefaultImportQueue
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = h.svc.Limits().MaxBytes
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
	base, cancel := context.WithCancel(context.Background())
	return &importer{
		h:       h,
		fetcher: safefetch.New(fo),
		timeout: o.Timeout + renderAllowance,
		slots:   make(chan struct{}, o.Workers+o.Queue),
		workers: make(chan struct{}, o.Workers),
		base:    base,
		cancel:  cancel,
	}, nil
}

// check reports a URL that can never be fetched (a *safefetch.Error of
// KindInvalidURL or KindNotAllowed), without the network.
func (i *importer) check(rawURL string) error { return i.fetcher.Check(rawURL) }

// submit marks userID's photo as downloading from rawURL and starts the
// import, or refuses with kBusy when the pool is full or closing (leaving
// the photo as it was). It returns the photo as it then stands.
func (i *importer) submit(ctx context.Context, userID, rawURL string) (*photo.Photo, error) {
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return nil, fail(kBusy, "", "the server is shutting down; try again later")
	}
	select {
	case i.slots <- struct{}{}:
	default:
		i.mu.Unlock()
		return nil, fail(kBusy, "", "")
	}
	i.wg.Add(1)
	i.mu.Unlock()

	id, p, err := i.h.svc.BeginImport(ctx, userID, rawURL)
	if err != nil {
		<-i.slots
		i.wg.Done()
		return nil, err
	}
	go i.run(userID, id, rawURL)
	return p, nil
}

// run performs one import once a worker is free.
func (i *importer) run(userID, importID, rawURL string) {
	defer i.wg.Done()
	defer func() { <-i.slots }()
	select {
	case i.workers <- struct{}{}:
		defer func() { <-i.workers }()
	case <-i.base.Done():
		i.fail(userID, importID, &photo.ImportError{Code: photo.ImportInterrupted}, nil)
		return
	}
	ctx, cancel := context.WithTimeout(i.base, i.timeout)
	defer cancel()

	resp, err := i.fetcher.Fetch(ctx, rawURL)
	if err != nil {
		i.fail(userID, importID, fetchFailure(err), err)
		return
	}
	defer resp.Close()
	p, err := i.h.svc.CompleteImport(ctx, userID, importID, resp, nil)
	var se *safefetch.Error
	var pe *photo.Error
	switch {
	case err == nil:
		i.h.log.Info("httpadapter: URL import done", "user", userID, "import", importID, "version", p.VersionID)
	case errors.As(err, &se):
		// The download broke off while the image was being read.
		i.fail(userID, importID, fetchFailure(err), err)
	case errors.As(err, &pe):
		// CompleteImport recorded the refusal.
		i.h.log.Info("httpadapter: URL import refused", "user", userID, "import", importID, "code", pe.Code)
	case errors.Is(err, photo.ErrConflict):
		i.h.log.Info("httpadapter: URL import superseded", "user", userID, "import", importID)
	default:
		i.fail(userID, importID, &photo.ImportError{Code: photo.ImportDownloadFailed, Message: "the import failed"}, err)
	}
}

// fetchFailure words a fetch error as the import failure GET shows.
func fetchFailure(err error) *photo.ImportError {
	var se *safefetch.Error
	if !errors.As(err, &se) {
		return &photo.ImportError{Code: photo.ImportDownloadFailed, Message: "the download failed"}
	}
	msg := se.Message
	if msg == "" {
		msg = "the download failed"
	}
	switch se.Kind {
	case safefetch.KindNotAllowed:
		return &photo.ImportError{Code: photo.ImportNotAllowed, Message: msg}
	case safefetch.KindTooLarge:
		return &photo.ImportError{Code: photo.ImportCode(photo.CodeFileTooLarge), Message: msg}
	}
	return &photo.ImportError{Code: photo.ImportDownloadFailed, Message: msg}
}

// fail records that an import failed, on a context of its own: the
// import's may be spent. cause, if any, is logged, never shown.
func (i *importer) fail(userID, importID string, ie *photo.ImportError, cause error) {
	if i.base.Err() != nil {
		ie = &photo.ImportError{Code: photo.ImportInterrupted, Message: "the server shut down during the download"}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(i.base), bookkeepingTimeout)
	defer cancel()
	i.h.log.Info("httpadapter: URL import failed", "user", userID, "import", importID, "code", ie.Code, "err", cause)
	if err := i.h.svc.FailImport(ctx, userID, importID, ie); err != nil && !errors.Is(err, photo.ErrConflict) {
		i.h.log.Error("httpadapter: recording a failed URL import", "user", userID, "import", importID, "err", err)
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
