package safefetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Defaults of Options, and the fixed limit on URLs.
const (
	// DefaultMaxBytes is the default body cap: 20 MiB, the photo
	// library's default upload limit.
	DefaultMaxBytes = 20 << 20
	// DefaultTimeout is the default limit on a whole fetch.
	DefaultTimeout = 30 * time.Second
	// DefaultIdleTimeout is the default limit on any wait for the server.
	DefaultIdleTimeout = 10 * time.Second
	// DefaultMaxRedirects is how many redirects are followed by default.
	DefaultMaxRedirects = 3
	// DefaultUserAgent is the User-Agent sent by default.
	DefaultUserAgent = "photo-url-import/1"
	// MaxURLLength is the longest URL accepted, in bytes.
	MaxURLLength = 8 << 10
)

// Options configure a Fetcher. A nil *Options, and every zero field, means
// the default.
type Options struct {
	// Allow lists networks a fetch may reach besides public addresses (for
	// example 127.0.0.0/8 for a test server, or an intranet image host).
	// IPv4-mapped IPv6 prefixes count as the IPv4 prefixes they map.
	// Default: none.
	Allow []netip.Prefix
	// MaxBytes is the largest body accepted. Default DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds the whole fetch, redirects and body included, until
	// the Response is closed. Default DefaultTimeout.
	Timeout time.Duration
	// IdleTimeout bounds every wait for the server: resolving and
	// connecting to each address, the TLS handshake, the response headers,
	// and each read of the body (a body that stalls or trickles slower
	// than one read per IdleTimeout is cut off). Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxRedirects is how many redirects are followed; each is checked as
	// the first request is. Zero means DefaultMaxRedirects, a negative
	// value none.
	MaxRedirects int
	// UserAgent is sent with every request. Default DefaultUserAgent.
	UserAgent string
	// Resolver resolves host names. Default net.DefaultResolver.
	Resolver Resolver
	// Dial connects to addr, which is always an IP literal and a port
	// ("93.184.215.14:80", "[2001:db8::1]:443") that has passed the
	// policy; network is "tcp". Default: a net.Dialer's DialContext. Tests
	// inject a hook to record what would be dialled.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig configures https connections (root CAs, say). It is
	// cloned. Default: the system's roots.
	TLSConfig *tls.Config
}

// Fetcher downloads URLs under the policy of its Options. It is safe for
// concurrent use; it keeps no connections between fetches.
type Fetcher struct {
	allow        []netip.Prefix
	maxBytes     int64
	timeout      time.Duration
	idle         time.Duration
	maxRedirects int
	userAgent    string
	resolver     Resolver
	dial         func(ctx context.Context, network, addr string) (net.Conn, error)
	client       *http.Client
	// poster is client without redirects, for Post.
	poster *http.Client
}

// New returns a Fetcher configured by opts (nil for the defaults).
func New(opts *Options) *Fetcher {
	var o Options
	if opts != nil {
		o = *opts
	}
	f := &Fetcher{
		allow:        normalizeAllow(o.Allow),
		maxBytes:     o.MaxBytes,
		timeout:      o.Timeout,
		idle:         o.IdleTimeout,
		maxRedirects: o.MaxRedirects,
		userAgent:    o.UserAgent,
		resolver:     o.Resolver,
		dial:         o.Dial,
	}
	if f.maxBytes <= 0 {
		f.maxBytes = DefaultMaxBytes
	}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	if f.idle <= 0 {
		f.idle = DefaultIdleTimeout
	}
	switch {
	case f.maxRedirects == 0:
		f.maxRedirects = DefaultMaxRedirects
	case f.maxRedirects < 0:
		f.maxRedirects = 0
	}
	if f.userAgent == "" {
		f.userAgent = DefaultUserAgent
	}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	if f.dial == nil {
		f.dial = (&net.Dialer{}).DialContext
	}
	f.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // never the environment's proxy: it would dial for us, unchecked
			DialContext:            f.dialContext,
			TLSClientConfig:        o.TLSConfig.Clone(),
			TLSHandshakeTimeout:    f.idle,
			ResponseHeaderTimeout:  f.idle,
			DisableKeepAlives:      true, // every connection is dialled, so checked, afresh
			DisableCompression:     true, // count the bytes the server sends, not what they inflate to
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: f.checkRedirect,
	}
	f.poster = &http.Client{
		Transport:     f.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return f
}

// Check reports whether rawURL could be fetched as far as can be told
// without the network: it parses, is absolute http or https without
// credentials, has a valid port, and its host, if an address or a
// localhost name, is permitted. It returns an *Error of KindInvalidURL or KindNotAllowed, or
// nil. Fetch makes the same checks; Check lets a caller refuse a bad URL at
// once and fetch in the background.
func (f *Fetcher) Check(rawURL string) error {
	u, err := f.checkURL(rawURL)
	if err != nil {
		return err
	}
	host := u.Hostname()
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			// The transport maps international names to ASCII (IDNA)
			// before dialling; the dial checks the result.
			return nil
		}
	}
	a, name, err := parseHost(host)
	if err != nil {
		return err
	}
	addrs := []netip.Addr{a}
	if !a.IsValid() {
		if !isLocalhost(name) {
			return nil // only the resolver can tell
		}
		addrs = loopbackAddrs
	}
	if !slices.ContainsFunc(addrs, f.permitted) {
		return newError(KindNotAllowed, fmt.Errorf("%s: addresses %v refused", host, addrs), "the URL's address is not allowed")
	}
	return nil
}

// checkURL makes the checks of one URL, the first or a redirect's, that
// need no network.
func (f *Fetcher) checkURL(rawURL string) (*url.URL, error) {
	if rawURL == "" {
		return nil, newError(KindInvalidURL, nil, "the URL is empty")
	}
	if len(rawURL) > MaxURLLength {
		return nil, newError(KindInvalidURL, nil, "the URL is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, newError(KindInvalidURL, err, "the URL is not valid")
	}
	return u, f.checkParsed(u)
}

func (f *Fetcher) checkParsed(u *url.URL) error {
	if u.Scheme == "" {
		return newError(KindInvalidURL, nil, "the URL is not absolute")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return newError(KindNotAllowed, nil, "the URL scheme %q is not allowed; use http or https", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return newError(KindInvalidURL, nil, "the URL has no host")
	}
	if u.User != nil {
		return newError(KindNotAllowed, nil, "the URL must not contain a user name or password")
	}
	if p := u.Port(); p != "" {
		if _, err := parsePort(p); err != nil {
			return err
		}
	}
	return nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, newError(KindInvalidURL, err, "the URL's port is not valid")
	}
	return uint16(p), nil
}

// checkRedirect checks each redirect as the first URL was checked (the
// dial checks its address) and bounds their number.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.maxRedirects {
		return newError(KindFailed, nil, "too many redirects (more than %d)", f.maxRedirects)
	}
	if err := f.checkParsed(req.URL); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Message = "redirected: " + e.Message
		}
		return err
	}
	return nil
}

// Fetch GETs rawURL under the fetcher's policy and returns the response
// once its status (200) and headers have arrived. Every error, here and
// from reading the Response, is an *Error.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (*Response, error) {
	u, err := f.checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	tctx, stop := context.WithTimeoutCause(cctx, f.timeout, errTotalTimeout)
	// cancelAll releases both contexts, whoever ends the fetch.
	cancelAll := func(cause error) { cancel(cause); stop() }

	req, err := http.NewRequestWithContext(tctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancelAll(nil)
		return nil, newError(KindInvalidURL, err, "the URL is not valid")
	}
	req.Header.Set("User-Agent", f.userAgent)
	// Name only formats the photo library decodes, so that servers that
	// negotiate do not answer AVIF or HEIC.
	req.Header.Set("Accept", "image/jpeg, image/png, image/gif, image/webp, */*;q=0.5")
	resp, err := f.client.Do(req)
	if err != nil {
		err = classify(ctx, tctx, err)
		cancelAll(nil)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancelAll(nil)
		return nil, &Error{Kind: KindFailed, Status: resp.StatusCode,
			Message: fmt.Sprintf("the server answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	if resp.ContentLength > f.maxBytes {
		resp.Body.Close()
		cancelAll(nil)
		return nil, tooLarge(f.maxBytes)
	}
	r := &Response{
		ContentLength: resp.ContentLength,
		ContentType:   resp.Header.Get("Content-Type"),
		URL:           resp.Request.URL.String(),
		body:          resp.Body,
		ctx:           tctx,
		parent:        ctx,
		idle:          f.idle,
		limit:         f.maxBytes,
		remaining:     f.maxBytes,
	}
	r.cancel = cancelAll
	r.timer = time.AfterFunc(f.idle, func() { cancel(errIdleTimeout) })
	return r, nil
}

func tooLarge(limit int64) *Error {
	return newError(KindTooLarge, nil, "the download is larger than %d bytes", limit)
}

// classify turns an error of the HTTP client into an *Error: the limit or
// cancellation that ended tctx (the fetch's context, derived from parent)
// first, then an *Error the dial or redirect check returned, then the
// rest as network failures.
func classify(parent, tctx context.Context, err error) error {
	if tctx.Err() != nil {
		switch cause := context.Cause(tctx); {
		case errors.Is(cause, errTotalTimeout):
			return newError(KindFailed, cause, "the download took too long")
		case errors.Is(cause, errIdleTimeout):
			return newError(KindFailed, cause, "the server stopped sending")
		case errors.Is(parent.Err(), context.DeadlineExceeded):
			return newError(KindFailed, context.Cause(parent), "the download took too long")
		case parent.Err() != nil:
			return newError(KindFailed, context.Cause(parent), "the download was cancelled")
		}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return newError(KindFailed, fmt.Errorf("%w: %w", context.DeadlineExceeded, err), "the server did not answer in time")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return newError(KindFailed, err, "the download ended early")
	}
	return newError(KindFailed, err, "the download failed")
}
