// Package httpadapter mounts the photo library's HTTP API into any
// net/http program: the four documented dialects (Salesforce Chatter's user
// photo, the three-step resumable upload, the profile-image resource and
// Slack's users.setPhoto) and the rendition URLs they all hand out.
//
// One line mounts it at the root of a host's mux:
//
//	mux.Handle("/", h)
//
// or under a prefix, with absolute URLs that keep the prefix:
//
//	mux.Handle("/avatars/", http.StripPrefix("/avatars", h))
package httpadapter

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/profilephoto/photo"
)

// Dialect selects one of the documented APIs.
type Dialect uint

// The dialects. The rendition routes (/photos/...) are always on.
const (
	// Chatter is Salesforce Chatter's user photo resource
	// (/services/data/vXX.X/chatter/users/{userId}/photo) and the small
	// files resource whose IDs it takes.
	Chatter Dialect = 1 << iota
	// Igloo is the three-step resumable upload under /.api2/api/v1:
	// create an attachment upload, send its bytes in ranged PATCHes,
	// associate it with a user as the profile photo.
	Igloo
	// ProfileImage is the /v1/users/{userId}/profile/profile-image
	// resource, which also sets a photo from a URL.
	ProfileImage
	// Slack is Slack's users.setPhoto, users.deletePhoto and
	// users.profile.get.
	Slack
	// AllDialects turns every dialect on.
	AllDialects = Chatter | Igloo | ProfileImage | Slack
)

// Options configure a Handler. A nil *Options, and every zero field, takes
// the documented default.
type Options struct {
	// Dialects are the APIs served; 0 means AllDialects.
	Dialects Dialect
	// BaseURL, when set, is the absolute URL the adapter is reachable at
	// (scheme, host and any prefix, e.g. "https://example.com/avatars"),
	// used for every URL in a response body. Empty means the request's
	// scheme and host, and the prefix a StripPrefix removed.
	BaseURL string
	// Authenticate identifies callers. Nil treats every request as carrying
	// no credentials, so only public reads work.
	Authenticate Authenticator
	// PrivateReads makes metadata reads (Chatter GET, profile-image GET)
	// require a principal. Rendition bytes stay public: their URLs are
	// unguessable by version. A token that is present is always checked.
	PrivateReads bool
	// MaxRequestBytes bounds a request body; default the Service's
	// Limits.MaxBytes plus 1 MiB for the multipart framing and fields.
	MaxRequestBytes int64
	// MaxConcurrentWrites bounds how many requests that carry a body
	// (POST, PUT, PATCH) and whose principal is known are served at once,
	// because each may hold up to MaxRequestBytes in memory. Further ones
	// wait their turn, up to WriteWait. Default 4 times GOMAXPROCS.
	MaxConcurrentWrites int
	// MaxAnonymousWrites bounds how many Slack requests without an
	// Authorization header (whose token may be in the body, so whose
	// principal is not known until the body is read) are served at once.
	// They have this pool to themselves, apart from MaxConcurrentWrites,
	// so slow anonymous bodies never keep an authenticated write out.
	// Default 2 (DefaultMaxAnonymousWrites).
	MaxAnonymousWrites int
	// MaxWritesPerPrincipal bounds how many writes one principal has in
	// flight at once, so that one user cannot hold every slot; a further
	// one waits, up to WriteWait, then gets 429 (Chatter
	// REQUEST_LIMIT_EXCEEDED, Slack ratelimited) with Retry-After.
	// Default 2 (DefaultMaxWritesPerPrincipal); negative means no bound.
	MaxWritesPerPrincipal int
	// WriteWait is the longest a write waits for its slots. Past it, it is
	// refused with 503 (Chatter SERVER_UNAVAILABLE, Slack HTTP 200
	// ratelimited, else {"code":"busy"}) and Retry-After. Default 5
	// seconds (DefaultWriteWait).
	WriteWait time.Duration
	// WriteRate limits each principal's writes (every POST, PUT and
	// PATCH); past it a write is refused with 429 (Chatter
	// REQUEST_LIMIT_EXCEEDED, Slack ratelimited, else
	// {"code":"rate-limited"}) and a Retry-After of when the next is
	// allowed. Default 5 a second with bursts of 50 (DefaultWriteRate,
	// DefaultWriteBurst); a negative Rate turns it off.
	WriteRate RateLimit
	// GlobalWriteRate limits the writes of everyone together, anonymous
	// Slack requests included, answered as WriteRate. Default 500 a
	// second with bursts of 1000 (DefaultGlobalWriteRate,
	// DefaultGlobalWriteBurst); a negative Rate turns it off.
	GlobalWriteRate RateLimit
	// MaxTrackedPrincipals bounds how many principals' rate limiters
	// (writes and URL imports, each) are kept. A principal idle long
	// enough for its bucket to fill up again is forgotten, and past this
	// many the least recently seen is. Default 10000
	// (DefaultMaxTrackedPrincipals).
	MaxTrackedPrincipals int
	// BodyIdleTimeout cuts off a request body that sends nothing for this
	// long, so that a stalled client does not hold a write slot (and its
	// memory) for ever. Default 30 seconds. It needs a ResponseWriter that
	// http.ResponseController can set read deadlines on (net/http's own,
	// or a wrapper with Unwrap); with another, bodies are not timed.
	BodyIdleTimeout time.Duration
	// MinBodyRate is the slowest average rate, in bytes a second, at which
	// a request body may arrive once BodyIdleTimeout has passed since it
	// began; a slower one is cut off, so a client that trickles a byte now
	// and then cannot hold a slot for ever either. Default 4 KiB/s (a
	// 20 MiB upload may take about 85 minutes); negative turns it off.
	MinBodyRate int64
	// SigningKey signs the expiring email photo URLs of the Chatter
	// dialect. Empty means a random key made by New, so such URLs stop
	// working when the process restarts; photod keeps one in its data
	// directory.
	SigningKey []byte
	// EmailURLTTL is how long a signed email photo URL works; default 30
	// days, as Salesforce's.
	EmailURLTTL time.Duration
	// UploadTTL is how long an unfinished resumable upload is kept;
	// default 24 hours.
	UploadTTL time.Duration
	// URLImport configures profile-image's set-from-URL.
	URLImport URLImportOptions
	// Logger receives request errors; nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Service is what the adapter needs of the library: photo.Service and
// the files, resumable uploads, URL imports and serving that the dialects
// offer. *photo.Manager implements it; a host may pass a wrapper of one
// that adds metrics, caching or a policy (an *photo.Import's Finish and
// Fail are the Manager's own and cannot be wrapped).
type Service interface {
	photo.Service
	// Restore makes a kept earlier version of the user's photo current
	// again (photo.Options.KeepVersions).
	Restore(ctx context.Context, userID, versionID string, opts *photo.SetOptions) (*photo.Photo, error)
	// SetFromUpload is Set with the bytes of a complete resumable upload.
	SetFromUpload(ctx context.Context, userID, key string, opts *photo.SetOptions) (*photo.Photo, error)
	// OpenRendition opens the bytes of one size of a version, in format
	// ("" for the stored one, "image/webp"), as photo.Manager's does.
	OpenRendition(ctx context.Context, userID, versionID string, size int, format string) (*photo.Blob, error)
	// Default opens the default photo of a user at one size.
	Default(ctx context.Context, userID string, size int) (*photo.Blob, error)
	// CreateFile stores an image as version 1 of a new file.
	CreateFile(ctx context.Context, owner, name string, r io.Reader) (*photo.File, error)
	// AddFileVersion stores an image as a file's next version.
	AddFileVersion(ctx context.Context, fileID string, r io.Reader) (*photo.File, error)
	// File describes a file.
	File(ctx context.Context, fileID string) (*photo.File, error)
	// DeleteFile removes a file with its versions.
	DeleteFile(ctx context.Context, fileID string) error
	// CreateUpload begins a resumable upload.
	CreateUpload(ctx context.Context, owner, contentType string, length int64, opts *photo.UploadOptions) (*photo.Upload, error)
	// Upload describes a resumable upload.
	Upload(ctx context.Context, key string) (*photo.Upload, error)
	// AppendUpload adds a chunk to a resumable upload.
	AppendUpload(ctx context.Context, key string, c photo.Chunk) (*photo.Upload, error)
	// DeleteUpload removes a resumable upload.
	DeleteUpload(ctx context.Context, key string) error
	// StartImport marks the user's photo as downloading from a URL.
	StartImport(ctx context.Context, userID, source string) (*photo.Import, error)
	// Options returns the library's options in force.
	Options() photo.Options
}

var _ Service = (*photo.Manager)(nil)

// Handler is the adapter: an http.Handler with its own ServeMux. Shut it
// down to wait for background URL imports to finish.
type Handler struct {
	svc      Service
	maxBytes int64 // the Service's Limits.MaxBytes: the largest file
	sizes    []int // the Service's Sizes and OnDemandSizes, ascending
	defaults bool  // the Service draws default photos (not NoDefaultPhoto)
	opts     Options
	base     *url.URL // parsed Options.BaseURL, or nil
	log      *slog.Logger
	mux      *http.ServeMux
	now      func() time.Time

	imports    *importer
	admit      *admission // write slots
	writeRates *limiters  // write rate limits

	closeOnce sync.Once
}

// New returns a Handler serving svc: a *photo.Manager, or any Service
// that wraps one (to add metrics, caching or a policy). The Service's
// Options are read once, here.
func New(svc Service, opts *Options) (*Handler, error) {
	if svc == nil {
		return nil, errors.New("httpadapter: New: nil Service")
	}
	lib := svc.Options()
	sizes := slices.Concat(lib.Sizes, lib.OnDemandSizes)
	if len(sizes) == 0 {
		return nil, errors.New("httpadapter: New: the Service has no sizes")
	}
	slices.Sort(sizes)
	h := &Handler{svc: svc, maxBytes: lib.Limits.MaxBytes, sizes: slices.Compact(sizes), defaults: !lib.NoDefaultPhoto, mux: http.NewServeMux()}
	if opts != nil {
		h.opts = *opts
	}
	o := &h.opts
	if o.Dialects == 0 {
		o.Dialects = AllDialects
	}
	if o.BaseURL != "" {
		u, err := url.Parse(strings.TrimSuffix(o.BaseURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("httpadapter: New: BaseURL must be an absolute http or https URL")
		}
		h.base = u
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = h.maxBytes + 1<<20
	}
	if len(o.SigningKey) == 0 {
		o.SigningKey = randomKey()
	}
	if o.EmailURLTTL <= 0 {
		o.EmailURLTTL = 30 * 24 * time.Hour
	}
	if o.UploadTTL <= 0 {
		o.UploadTTL = 24 * time.Hour
	}
	h.log = o.Logger
	if h.log == nil {
		h.log = slog.Default()
	}
	h.now = o.Now
	if h.now == nil {
		h.now = time.Now
	}
	if o.MaxConcurrentWrites <= 0 {
		o.MaxConcurrentWrites = 4 * runtime.GOMAXPROCS(0)
	}
	if o.MaxAnonymousWrites <= 0 {
		o.MaxAnonymousWrites = DefaultMaxAnonymousWrites
	}
	if o.MaxWritesPerPrincipal == 0 {
		o.MaxWritesPerPrincipal = DefaultMaxWritesPerPrincipal
	}
	if o.WriteWait <= 0 {
		o.WriteWait = DefaultWriteWait
	}
	o.WriteRate = o.WriteRate.resolve(RateLimit{DefaultWriteRate, DefaultWriteBurst})
	o.GlobalWriteRate = o.GlobalWriteRate.resolve(RateLimit{DefaultGlobalWriteRate, DefaultGlobalWriteBurst})
	if o.MaxTrackedPrincipals <= 0 {
		o.MaxTrackedPrincipals = DefaultMaxTrackedPrincipals
	}
	h.admit = newAdmission(o.MaxConcurrentWrites, o.MaxAnonymousWrites, o.MaxWritesPerPrincipal, o.WriteWait)
	h.writeRates = newLimiters(h.now, o.WriteRate, o.GlobalWriteRate, o.MaxTrackedPrincipals)
	imp, err := newImporter(h, o.URLImport)
	if err != nil {
		return nil, err
	}
	h.imports = imp
	if o.BodyIdleTimeout <= 0 {
		o.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if o.MinBodyRate == 0 {
		o.MinBodyRate = DefaultMinBodyRate
	}
	var on []route
	for _, rt := range h.routes() {
		if rt.dialect == 0 || o.Dialects&rt.dialect != 0 {
			on = append(on, rt)
			handler := rt.handler
			if m, _, _ := strings.Cut(rt.pattern, " "); m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch {
				// users.profile.get is a read that Slack clients often
				// POST: it takes a slot (it may carry a form) but is not
				// counted against the write rate limits.
				handler = h.limitWrites(rt.dialect, rt.pattern != "POST /api/users.profile.get", handler)
			}
			h.mux.HandleFunc(rt.pattern, h.handle(rt.dialect, handler))
		}
	}
	for _, rt := range h.fallbackRoutes(on) {
		h.mux.HandleFunc(rt.pattern, h.handle(rt.dialect, rt.handler))
	}
	return h, nil
}

// ServeHTTP implements http.Handler. Every answer is in the words of the
// dialect whose prefix the path has ({code, message} JSON for the others):
// a path that is not clean ("//", "." or ".." segments) is not found,
// rather than redirected, and so is a CONNECT.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.EscapedPath(); r.Method == http.MethodConnect || !isClean(p) {
		d := h.dialectOf(p)
		h.writeError(d, w, r, notFound(d))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Shutdown stops accepting URL imports and waits until those in flight
// end, or until ctx is done: then it cancels them, records them as
// interrupted, and returns ctx's error. Call it after http.Server's
// Shutdown, which ends the requests that start imports. Calls after the
// first return nil.
func (h *Handler) Shutdown(ctx context.Context) error {
	var err error
	h.closeOnce.Do(func() { err = h.imports.close(ctx) })
	return err
}

// handlerFunc serves a request: it writes the answer when it succeeds,
// and otherwise writes nothing and returns the error, which handle
// answers in the route's dialect.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one entry of the adapter's route table; the OpenAPI document is
// checked against this table.
type route struct {
	pattern string // a Go 1.22 ServeMux pattern, method first
	dialect Dialect
	handler handlerFunc
}

// handle makes f a net/http handler whose errors writeError answers in
// dialect d's words. The request carries an authResult, so that it is
// authenticated once however many steps ask.
func (h *Handler) handle(d Dialect, f handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r = withAuthResult(r)
		if err := f(w, r); err != nil {
			h.writeError(d, w, r, err)
		}
	}
}

// routes lists every route of every dialect.
func (h *Handler) routes() []route {
	var rs []route
	rs = append(rs, h.renditionRoutes()...)
	rs = append(rs, h.chatterRoutes()...)
	rs = append(rs, h.iglooRoutes()...)
	rs = append(rs, h.profileImageRoutes()...)
	rs = append(rs, h.slackRoutes()...)
	rs = append(rs, h.openAPIRoutes()...)
	return rs
}

// baseURL returns the absolute URL of the adapter's root for r, without a
// trailing slash.
func (h *Handler) baseURL(r *http.Request) string {
	if h.base != nil {
		return h.base.String()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	// A host that mounted us with http.StripPrefix: the original request
	// URI still holds the prefix that r.URL.Path lost.
	prefix := ""
	if orig, err := url.ParseRequestURI(r.RequestURI); err == nil && strings.HasSuffix(orig.EscapedPath(), r.URL.EscapedPath()) {
		prefix = strings.TrimSuffix(orig.EscapedPath(), r.URL.EscapedPath())
	}
	return scheme + "://" + r.Host + prefix
}
