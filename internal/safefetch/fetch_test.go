package safefetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// get fetches rawURL and reads the whole body.
func get(ctx context.Context, f *Fetcher, rawURL string) ([]byte, *Response, error) {
	resp, err := f.Fetch(ctx, rawURL)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Close()
	b, err := io.ReadAll(resp)
	return b, resp, err
}

// TestLoopbackSpellings: every way of writing loopback is refused by
// default and reaches the real loopback server, image intact, once
// loopback is allowed.
func TestLoopbackSpellings(t *testing.T) {
	l := newLab(t)
	tests := []struct {
		name string
		url  string
		v6   bool // needs the [::1] server
	}{
		{name: "localhost", url: l.url("localhost", "/photo.jpg")},
		{name: "localhost upper case", url: l.url("LOCALHOST", "/photo.jpg")},
		{name: "localhost trailing dot", url: l.url("localhost.", "/photo.jpg")},
		{name: "subdomain of localhost", url: l.url("img.localhost", "/photo.jpg")},
		{name: "dotted quad", url: l.url("127.0.0.1", "/photo.jpg")},
		{name: "two parts", url: l.url("127.1", "/photo.jpg")},
		{name: "three parts", url: l.url("127.0.1", "/photo.jpg")},
		{name: "decimal", url: l.url("2130706433", "/photo.jpg")},
		{name: "hex", url: l.url("0x7f000001", "/photo.jpg")},
		{name: "hex upper case", url: l.url("0X7F000001", "/photo.jpg")},
		{name: "octal", url: l.url("017700000001", "/photo.jpg")},
		{name: "dotted octal", url: l.url("0177.0.0.01", "/photo.jpg")},
		{name: "dotted hex", url: l.url("0x7f.0x0.0x0.0x1", "/photo.jpg")},
		{name: "trailing dot", url: l.url("127.0.0.1.", "/photo.jpg")},
		{name: "fullwidth digits", url: l.url("１２７．０．０．１", "/photo.jpg")},
		{name: "ipv4-mapped", url: l.url("::ffff:127.0.0.1", "/photo.jpg")},
		{name: "ipv4-mapped hex", url: l.url("::ffff:7f00:1", "/photo.jpg")},
		{name: "name resolving to loopback", url: l.url("loop.example", "/photo.jpg")},
		{name: "ipv6 loopback", v6: true, url: "http://" + addrOf(l.v6) + "/photo.jpg"},
		{name: "ipv6 loopback long form", v6: true, url: "http://[0:0:0:0:0:0:0:1]:" + portOf(l.v6) + "/photo.jpg"},
		{name: "name resolving to ipv6 loopback", v6: true, url: "http://loop6.example:" + portOf(l.v6) + "/photo.jpg"},
	}
	deny := New(l.options(Options{}))
	allow := New(l.options(Options{Allow: allowLoopback}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v6 && l.v6 == nil {
				t.Skip("no IPv6 loopback")
			}
			l.reset()
			_, _, err := get(t.Context(), deny, tt.url)
			wantKind(t, err, KindNotAllowed)
			if dialled, _ := l.reset(); len(dialled) > 0 {
				t.Errorf("refused, yet dialled %v", dialled)
			}

			if err := allow.Check(tt.url); err != nil {
				t.Errorf("Check with loopback allowed: %v", err)
			}
			got, resp, err := get(t.Context(), allow, tt.url)
			if err != nil {
				t.Fatalf("with loopback allowed: %v (cause %v)", err, errors.Unwrap(err))
			}
			if !bytes.Equal(got, l.image) {
				t.Errorf("got %d bytes, want the %d bytes of the image", len(got), len(l.image))
			}
			if resp.ContentType != "image/jpeg" || resp.ContentLength != int64(len(l.image)) {
				t.Errorf("ContentType, ContentLength = %q, %d", resp.ContentType, resp.ContentLength)
			}
			if dialled, _ := l.reset(); len(dialled) == 0 || !allLoopback(dialled) {
				t.Errorf("dialled %v, want loopback only", dialled)
			}
		})
	}
}

func addrOf(s *httptest.Server) string {
	if s == nil {
		return ""
	}
	return s.Listener.Addr().String()
}

func portOf(s *httptest.Server) string {
	_, p, _ := net.SplitHostPort(addrOf(s))
	return p
}

// TestRefusedAddresses: no address class outside the public internet is
// ever dialled, however it is written, even with loopback allowed.
func TestRefusedAddresses(t *testing.T) {
	l := newLab(t)
	hosts := []string{
		"10.0.0.5", "10.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518",
		"100.64.0.1", "0.0.0.0", "0", "255.255.255.255", "224.0.0.1", "239.255.255.250",
		"192.0.2.1", "198.18.0.1", "240.0.0.1",
		"[fe80::1]", "[fe80::1%25eth0]", "[fd00::1]", "[fc00::1]", "[ff02::1]", "[::]", "[::127.0.0.1]",
		"[::ffff:169.254.169.254]", "[::ffff:10.0.0.1]", "[::ffff:a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]",
		"[2002:a9fe:a9fe::1]", "[2001:db8::1]",
		"internal.example", "private172.example", "meta.example", "ula.example", "linklocal.example",
		"cgnat.example", "multicast.example", "zero.example", "mapped.example",
	}
	f := New(l.options(Options{Allow: allowLoopback}))
	for _, host := range hosts {
		t.Run(host, func(t *testing.T) {
			for _, u := range []string{"http://" + host + "/latest/meta-data/", "https://" + host + ":8443/x.jpg"} {
				l.reset()
				_, _, err := get(t.Context(), f, u)
				e := wantKind(t, err, KindNotAllowed)
				if dialled, _ := l.reset(); len(dialled) > 0 {
					t.Errorf("%s: dialled %v", u, dialled)
				}
				if strings.Contains(e.Error(), "10.0.0") || strings.Contains(e.Error(), "169.254") {
					t.Errorf("message %q names an internal address", e.Error())
				}
			}
		})
	}
}

// TestPublicAddresses: public addresses are fetched, and only the checked
// public address is dialled (the lab connects it to loopback).
func TestPublicAddresses(t *testing.T) {
	l := newLab(t)
	tests := []struct {
		name string
		url  string
		dial []string
	}{
		{"name", l.url("public.example", "/photo.jpg"), []string{l.url(publicV4.String(), "")}},
		{"ipv6 name", l.url("public6.example", "/photo.jpg"), []string{l.url(publicV6.String(), "")}},
		{"literal", l.url(publicV4.String(), "/photo.jpg"), []string{l.url(publicV4.String(), "")}},
		{"literal decimal", l.url("1572394766", "/photo.jpg"), []string{l.url(publicV4.String(), "")}},
		{"mapped literal", l.url("::ffff:"+publicV4.String(), "/photo.jpg"), []string{l.url(publicV4.String(), "")}},
		{"name with private answers too", l.url("mixed.example", "/photo.jpg"), []string{l.url(publicV4.String(), "")}},
	}
	f := New(l.options(Options{}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l.reset()
			got, _, err := get(t.Context(), f, tt.url)
			if err != nil {
				t.Fatalf("Fetch: %v (cause %v)", err, errors.Unwrap(err))
			}
			if !bytes.Equal(got, l.image) {
				t.Errorf("got %d bytes, want the image", len(got))
			}
			dialled, _ := l.reset()
			want := make([]string, len(tt.dial))
			for i, d := range tt.dial {
				want[i] = strings.TrimPrefix(d, "http://")
			}
			if !slices.Equal(dialled, want) {
				t.Errorf("dialled %v, want %v", dialled, want)
			}
		})
	}
}

// TestRebinding: a name is resolved for every connection and the address
// checked is the address dialled, so a second, private answer is refused.
func TestRebinding(t *testing.T) {
	l := newLab(t)
	f := New(l.options(Options{}))
	target := l.url("rebind.example", "/photo.jpg")

	t.Run("redirect to itself", func(t *testing.T) {
		l.reset()
		_, _, err := get(t.Context(), f, l.url("rebind.example", "/redirect?to="+url.QueryEscape(target)))
		wantKind(t, err, KindNotAllowed)
		dialled, lookups := l.reset()
		if want := []string{net.JoinHostPort(publicV4.String(), l.port)}; !slices.Equal(dialled, want) {
			t.Errorf("dialled %v, want %v", dialled, want)
		}
		if len(lookups) != 2 {
			t.Errorf("lookups %v, want one per connection", lookups)
		}
	})
	t.Run("second fetch", func(t *testing.T) {
		l.reset()
		if _, _, err := get(t.Context(), f, target); err != nil {
			t.Fatalf("first fetch: %v", err)
		}
		_, _, err := get(t.Context(), f, target)
		wantKind(t, err, KindNotAllowed)
	})
}

// TestRedirects: every hop is checked like the first URL, and there are at
// most MaxRedirects of them.
func TestRedirects(t *testing.T) {
	l := newLab(t)
	to := func(u string) string { return l.url("127.0.0.1", "/redirect?to="+url.QueryEscape(u)) }
	tests := []struct {
		name     string
		url      string
		max      int
		want     Kind   // "" for success
		finalURL string // when it succeeds
	}{
		{name: "to metadata", url: to("http://169.254.169.254/latest/meta-data/"), want: KindNotAllowed},
		{name: "to metadata decimal", url: to("http://2852039166/latest/meta-data/"), want: KindNotAllowed},
		{name: "to mapped metadata", url: to("http://[::ffff:169.254.169.254]/"), want: KindNotAllowed},
		{name: "to private", url: to("http://10.0.0.1/"), want: KindNotAllowed},
		{name: "to unique-local", url: to("http://[fd00::1]/"), want: KindNotAllowed},
		{name: "to name of private", url: to("http://internal.example/"), want: KindNotAllowed},
		{name: "to name of metadata", url: to("http://meta.example/latest/meta-data/"), want: KindNotAllowed},
		{name: "to file", url: to("file:///etc/passwd"), want: KindNotAllowed},
		{name: "to ftp", url: to("ftp://127.0.0.1/x.jpg"), want: KindNotAllowed},
		{name: "to gopher", url: to("gopher://127.0.0.1:" + l.port + "/_x"), want: KindNotAllowed},
		{name: "to credentials", url: to("http://user:pw@127.0.0.1:" + l.port + "/photo.jpg"), want: KindNotAllowed},
		{name: "to public", url: to(l.url("public.example", "/photo.jpg")), finalURL: l.url("public.example", "/photo.jpg")},
		{name: "relative", url: to("/photo.jpg"), finalURL: l.url("127.0.0.1", "/photo.jpg")},
		{name: "three hops", url: l.url("127.0.0.1", "/hops/2"), finalURL: l.url("127.0.0.1", "/photo.jpg")},
		{name: "four hops", url: l.url("127.0.0.1", "/hops/3"), want: KindFailed},
		{name: "five allowed", url: l.url("127.0.0.1", "/hops/4"), max: 5, finalURL: l.url("127.0.0.1", "/photo.jpg")},
		{name: "none allowed", url: l.url("127.0.0.1", "/hops/0"), max: -1, want: KindFailed},
		{name: "one allowed", url: l.url("127.0.0.1", "/hops/0"), max: 1, finalURL: l.url("127.0.0.1", "/photo.jpg")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(l.options(Options{Allow: allowLoopback, MaxRedirects: tt.max}))
			got, resp, err := get(t.Context(), f, tt.url)
			if tt.want != "" {
				wantKind(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v (cause %v)", err, errors.Unwrap(err))
			}
			if !bytes.Equal(got, l.image) {
				t.Errorf("got %d bytes, want the image", len(got))
			}
			if resp.URL != tt.finalURL {
				t.Errorf("URL = %q, want %q", resp.URL, tt.finalURL)
			}
		})
	}
	t.Run("from a refused start", func(t *testing.T) {
		f := New(l.options(Options{}))
		l.reset()
		_, _, err := get(t.Context(), f, to(l.url("public.example", "/photo.jpg")))
		wantKind(t, err, KindNotAllowed)
		if dialled, _ := l.reset(); len(dialled) > 0 {
			t.Errorf("dialled %v", dialled)
		}
	})
}

// TestURLs: what is wrong with a URL itself is found before any lookup or
// dial, by Check and by Fetch alike.
func TestURLs(t *testing.T) {
	l := newLab(t)
	tests := []struct {
		name string
		url  string
		want Kind // "" for a URL that Check passes
	}{
		{"empty", "", KindInvalidURL},
		{"not a URL", "not a url", KindInvalidURL},
		{"relative", "/images/a.jpg", KindInvalidURL},
		{"no host", "http://", KindInvalidURL},
		{"no host path", "http:///a.jpg", KindInvalidURL},
		{"opaque", "http:example.com/a.jpg", KindInvalidURL},
		{"unclosed bracket", "http://[::1/a.jpg", KindInvalidURL},
		{"port too big", "http://public.example:99999/a.jpg", KindInvalidURL},
		{"port zero", "http://public.example:0/a.jpg", KindInvalidURL},
		{"bad ipv4", "http://256.1.1.1/a.jpg", KindInvalidURL},
		{"five parts", "http://1.2.3.4.5/a.jpg", KindInvalidURL},
		{"space in host", "http://public.example%20x/a.jpg", KindInvalidURL},
		{"too long", "http://public.example/" + strings.Repeat("a", MaxURLLength), KindInvalidURL},
		{"file", "file:///etc/passwd", KindNotAllowed},
		{"ftp", "ftp://public.example/a.jpg", KindNotAllowed},
		{"gopher", "gopher://public.example:70/_x", KindNotAllowed},
		{"data", "data:image/png;base64,iVBORw0KGgo=", KindNotAllowed},
		{"javascript", "javascript:alert(1)", KindNotAllowed},
		{"ws", "ws://public.example/", KindNotAllowed},
		{"user and password", "http://user:pw@public.example/a.jpg", KindNotAllowed},
		{"user", "http://user@public.example/a.jpg", KindNotAllowed},
		{"empty user", "http://@public.example/a.jpg", KindNotAllowed},
		{"upper-case scheme with user", "HTTPS://u:p@public.example/a.jpg", KindNotAllowed},
		{"loopback literal", "http://127.0.0.1/a.jpg", KindNotAllowed},
		{"metadata literal", "http://169.254.169.254/a.jpg", KindNotAllowed},
		{"metadata decimal", "http://2852039166/a.jpg", KindNotAllowed},
		{"mapped loopback", "http://[::ffff:127.0.0.1]/a.jpg", KindNotAllowed},
		{"localhost", "http://localhost:8080/a.jpg", KindNotAllowed},
		{"localhost subdomain", "http://a.b.localhost./a.jpg", KindNotAllowed},
		{"public name", "http://public.example/a.jpg", ""},
		{"upper-case scheme", "HTTP://public.example/a.jpg", ""},
		{"public literal", "https://93.184.215.14/a.jpg", ""},
		{"international name", "http://bücher.example/a.jpg", ""},
	}
	f := New(l.options(Options{}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.Check(tt.url)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			wantKind(t, err, tt.want)
			l.reset()
			_, _, err = get(t.Context(), f, tt.url)
			wantKind(t, err, tt.want)
			if dialled, lookups := l.reset(); len(dialled)+len(lookups) > 0 {
				t.Errorf("dialled %v, looked up %v", dialled, lookups)
			}
		})
	}
}

// TestBodies: status and size rules.
func TestBodies(t *testing.T) {
	l := newLab(t)
	n := int64(len(l.image))
	tests := []struct {
		name     string
		path     string
		maxBytes int64
		want     Kind  // "" for success
		atFetch  bool  // the error comes from Fetch, before the body
		status   int   // of a KindFailed for a status
		length   int64 // of the body read on success
	}{
		{name: "declared length at the cap", path: "/photo.jpg", maxBytes: n, length: n},
		{name: "declared length over the cap", path: "/photo.jpg", maxBytes: n - 1, want: KindTooLarge, atFetch: true},
		{name: "chunked at the cap", path: "/chunked.jpg", maxBytes: n, length: n},
		{name: "chunked over the cap", path: "/chunked.jpg", maxBytes: n - 1, want: KindTooLarge},
		{name: "chunked far over the cap", path: "/chunked.jpg", maxBytes: 1000, want: KindTooLarge},
		{name: "huge declared length", path: "/huge-length", maxBytes: 1000, want: KindTooLarge, atFetch: true},
		// The declared length is honoured: the bytes after it are never read.
		{name: "more bytes than declared", path: "/lying-length", maxBytes: 1000, length: 100},
		// With chunked encoding the declared length is ignored; the cap holds.
		{name: "declared length and chunked", path: "/lying-chunked", maxBytes: 1000, want: KindTooLarge},
		{name: "fewer bytes than declared", path: "/short", maxBytes: 1000, want: KindFailed},
		{name: "not found", path: "/status/404", want: KindFailed, atFetch: true, status: 404},
		{name: "server error", path: "/status/500", want: KindFailed, atFetch: true, status: 500},
		{name: "no content", path: "/status/204", want: KindFailed, atFetch: true, status: 204},
		{name: "partial content", path: "/status/206", want: KindFailed, atFetch: true, status: 206},
		{name: "redirect without location", path: "/status/302", want: KindFailed, atFetch: true, status: 302},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(l.options(Options{Allow: allowLoopback, MaxBytes: tt.maxBytes}))
			resp, err := f.Fetch(t.Context(), l.url("127.0.0.1", tt.path))
			if tt.atFetch {
				e := wantKind(t, err, tt.want)
				if e.Status != tt.status {
					t.Errorf("Status = %d, want %d", e.Status, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			defer resp.Close()
			got, err := io.ReadAll(resp)
			if max := f.maxBytes; int64(len(got)) > max {
				t.Errorf("read %d bytes, more than the cap %d", len(got), max)
			}
			if tt.want != "" {
				wantKind(t, err, tt.want)
				if _, again := resp.Read(make([]byte, 10)); again != err {
					t.Errorf("Read after the error = %v, want the same error", again)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if int64(len(got)) != tt.length {
				t.Errorf("read %d bytes, want %d", len(got), tt.length)
			}
		})
	}
}

// TestTimeouts: a server that stalls or trickles is cut off.
func TestTimeouts(t *testing.T) {
	l := newLab(t)
	tests := []struct {
		name    string
		path    string
		opts    Options
		atFetch bool
		cause   error
	}{
		{name: "stalls after some of the body", path: "/stall",
			opts: Options{IdleTimeout: 200 * time.Millisecond}, cause: errIdleTimeout},
		{name: "never sends headers", path: "/noheaders",
			opts: Options{IdleTimeout: 200 * time.Millisecond}, atFetch: true, cause: context.DeadlineExceeded},
		{name: "never sends headers, total", path: "/noheaders",
			opts: Options{IdleTimeout: time.Minute, Timeout: 300 * time.Millisecond}, atFetch: true, cause: errTotalTimeout},
		// A byte every 10ms keeps the idle limit (200ms) from firing:
		// only the total limit ends it.
		{name: "trickles forever", path: "/trickle",
			opts: Options{IdleTimeout: 200 * time.Millisecond, Timeout: 600 * time.Millisecond}, cause: errTotalTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Allow = allowLoopback
			f := New(l.options(tt.opts))
			// A backstop, so that a missing limit fails rather than hangs.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			resp, err := f.Fetch(ctx, l.url("127.0.0.1", tt.path))
			if !tt.atFetch {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				defer resp.Close()
				_, err = io.ReadAll(resp)
			}
			wantKind(t, err, KindFailed)
			if !errors.Is(err, tt.cause) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v (cause %v), want cause %v", err, errors.Unwrap(err), tt.cause)
			}
		})
	}
}

// TestCancel: the caller's context ends the fetch, at any point.
func TestCancel(t *testing.T) {
	l := newLab(t)
	f := New(l.options(Options{Allow: allowLoopback}))
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := f.Fetch(ctx, l.url("127.0.0.1", "/photo.jpg"))
		wantKind(t, err, KindFailed)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not match context.Canceled", err)
		}
	})
	t.Run("during the body", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		resp, err := f.Fetch(ctx, l.url("127.0.0.1", "/stall"))
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		defer resp.Close()
		if _, err := io.ReadFull(resp, make([]byte, 1000)); err != nil {
			t.Fatalf("read the first bytes: %v", err)
		}
		cancel()
		_, err = io.ReadAll(resp)
		wantKind(t, err, KindFailed)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v does not match context.Canceled", err)
		}
	})
	t.Run("close during the body", func(t *testing.T) {
		resp, err := f.Fetch(t.Context(), l.url("127.0.0.1", "/stall"))
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := io.ReadAll(resp)
			done <- err
		}()
		resp.Close()
		if err := <-done; err == nil {
			t.Error("reading a closed response succeeded")
		}
		resp.Close() // again: harmless
	})
}

// TestHTTPS: https works through the same policy.
func TestHTTPS(t *testing.T) {
	l := newLab(t)
	roots := x509.NewCertPool()
	roots.AddCert(l.tls.Certificate())
	port := portOf(l.tls)
	f := New(l.options(Options{TLSConfig: &tls.Config{RootCAs: roots}}))
	l.reset()
	got, _, err := get(t.Context(), f, "https://example.com:"+port+"/photo.jpg")
	if err != nil {
		t.Fatalf("Fetch: %v (cause %v)", err, errors.Unwrap(err))
	}
	if !bytes.Equal(got, l.image) {
		t.Errorf("got %d bytes, want the image", len(got))
	}
	if dialled, _ := l.reset(); !slices.Equal(dialled, []string{net.JoinHostPort(publicV4.String(), port)}) {
		t.Errorf("dialled %v", dialled)
	}
	_, _, err = get(t.Context(), f, "https://127.0.0.1:"+port+"/photo.jpg")
	wantKind(t, err, KindNotAllowed)
	_, _, err = get(t.Context(), f, "https://example.com:"+port+"/redirect?to="+url.QueryEscape("https://127.0.0.1:"+port+"/photo.jpg"))
	wantKind(t, err, KindNotAllowed)
}

// TestNoEnvironmentProxy: proxy variables are ignored (a proxy would make
// the connection for us, past every check). net/http reads them once per
// process, so the fetches run in a child process started with them set.
func TestNoEnvironmentProxy(t *testing.T) {
	if os.Getenv("SAFEFETCH_TEST_PROXY_CHILD") == "1" {
		l := newLab(t)
		for _, o := range []Options{{}, {Allow: allowLoopback}} {
			f := New(l.options(o))
			got, _, err := get(t.Context(), f, l.url("public.example", "/photo.jpg"))
			if err != nil || !bytes.Equal(got, l.image) {
				t.Fatalf("Fetch = %d bytes, %v", len(got), err)
			}
		}
		return
	}
	var hits atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(photoJPEG(t))
	}))
	t.Cleanup(proxy.Close)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestNoEnvironmentProxy$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SAFEFETCH_TEST_PROXY_CHILD=1", "NO_PROXY=", "no_proxy=")
	for _, v := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"} {
		cmd.Env = append(cmd.Env, v+"="+proxy.URL)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child test: %v\n%s", err, out)
	}
	if n := hits.Load(); n > 0 {
		t.Errorf("the proxy got %d requests", n)
	}
}

// TestResolveFailure: a name without addresses is a failed download.
func TestResolveFailure(t *testing.T) {
	l := newLab(t)
	f := New(l.options(Options{}))
	_, _, err := get(t.Context(), f, "http://nowhere.example/a.jpg")
	wantKind(t, err, KindFailed)
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		t.Errorf("cause %v, want the resolver's error", errors.Unwrap(err))
	}
}

// TestConcurrent: one Fetcher serves many fetches at once.
func TestConcurrent(t *testing.T) {
	l := newLab(t)
	f := New(l.options(Options{Allow: allowLoopback}))
	urls := []string{
		l.url("127.0.0.1", "/photo.jpg"), l.url("127.1", "/chunked.jpg"), l.url("public.example", "/photo.jpg"),
		l.url("localhost", "/hops/2"), l.url("127.0.0.1", "/redirect?to=http://10.0.0.1/"),
	}
	var wg sync.WaitGroup
	for i := range 4 * len(urls) {
		wg.Go(func() {
			u := urls[i%len(urls)]
			got, _, err := get(t.Context(), f, u)
			switch {
			case strings.Contains(u, "10.0.0.1"):
				if !errors.Is(err, ErrNotAllowed) {
					t.Errorf("%s: %v, want not allowed", u, err)
				}
			case err != nil || !bytes.Equal(got, l.image):
				t.Errorf("%s: %d bytes, %v", u, len(got), err)
			}
		})
	}
	wg.Wait()
}

func TestErrorMatching(t *testing.T) {
	cause := errors.New("dial 10.0.0.5: refused")
	err := error(&Error{Kind: KindNotAllowed, Message: "the URL's address is not allowed", Err: cause})
	if !errors.Is(err, ErrNotAllowed) || errors.Is(err, ErrFailed) || !errors.Is(err, cause) {
		t.Errorf("errors.Is does not follow the kind and the cause")
	}
	if got := err.Error(); got != "safefetch: the URL's address is not allowed" {
		t.Errorf("Error() = %q", got)
	}
	wantAddr := netip.MustParseAddr("10.0.0.5")
	if strings.Contains(err.Error(), wantAddr.String()) {
		t.Errorf("the message leaks the cause")
	}
}
