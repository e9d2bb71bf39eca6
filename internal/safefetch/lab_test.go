package safefetch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// photoJPEG is a real JPEG of about 10 KB (more than two of the lab's
// 4 KiB chunks), generated from a gradient with deterministic noise. The
// fetcher never looks inside it; the tests compare bytes and caps against
// its length, so the package needs no test files from outside it.
func photoJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 128, 128))
	rnd := rand.New(rand.NewPCG(1, 2))
	for y := range 128 {
		for x := range 128 {
			n := uint8(rnd.IntN(96))
			img.Set(x, y, color.RGBA{uint8(x) + n, uint8(y) + n, 128 + n, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatalf("encode the test JPEG: %v", err)
	}
	return buf.Bytes()
}

// Stand-ins: addresses the policy judges public, which the lab's dial hook
// connects to the loopback server instead, so the public path is tested
// without a packet leaving the machine.
var (
	publicV4 = netip.MustParseAddr("93.184.215.14")
	publicV6 = netip.MustParseAddr("2606:2800:21f:cb07:6820:80da:af6b:8b2c")
)

// names is the lab's DNS. rebind.example is handled apart.
var names = map[string][]netip.Addr{
	"public.example":     {publicV4},
	"public6.example":    {publicV6},
	"example.com":        {publicV4}, // the name in httptest's certificate
	"internal.example":   {netip.MustParseAddr("10.0.0.5")},
	"private172.example": {netip.MustParseAddr("172.16.3.4")},
	"meta.example":       {netip.MustParseAddr("169.254.169.254")},
	"ula.example":        {netip.MustParseAddr("fd00::1")},
	"linklocal.example":  {netip.MustParseAddr("fe80::1")},
	"cgnat.example":      {netip.MustParseAddr("100.64.0.1")},
	"multicast.example":  {netip.MustParseAddr("224.0.0.1")},
	"zero.example":       {netip.MustParseAddr("0.0.0.0")},
	"mapped.example":     {netip.MustParseAddr("::ffff:10.0.0.1")},
	"loop.example":       {netip.MustParseAddr("127.0.0.1")},
	"loop6.example":      {netip.MustParseAddr("::1")},
	"mixed.example":      {netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("169.254.169.254"), publicV4},
}

// lab is a loopback web server serving a real image plus a resolver and a
// dial hook that record what the fetcher asks for. The hook dials loopback
// for real, the public stand-ins as loopback, and refuses (and reports as a
// test failure) anything else.
type lab struct {
	t     testing.TB
	image []byte
	v4    *httptest.Server // on 127.0.0.1
	v6    *httptest.Server // on [::1], nil without IPv6 loopback
	tls   *httptest.Server // https on 127.0.0.1
	port  string           // of v4
	quit  chan struct{}    // closed at cleanup: stalling handlers return

	mu      sync.Mutex
	dialled []string
	lookups []string
	stray   []string
	rebinds int
}

func newLab(t testing.TB) *lab {
	t.Helper()
	l := &lab{t: t, image: photoJPEG(t), quit: make(chan struct{})}
	h := l.handler()
	l.v4 = startOn(t, "tcp4", "127.0.0.1:0", h)
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.v6 = httptest.NewUnstartedServer(h)
		l.v6.Listener.Close()
		l.v6.Listener = ln
		l.v6.Start()
		t.Cleanup(l.v6.Close)
	}
	l.tls = httptest.NewUnstartedServer(h)
	l.tls.StartTLS()
	t.Cleanup(l.tls.Close)
	_, l.port, _ = net.SplitHostPort(l.v4.Listener.Addr().String())
	t.Cleanup(func() { close(l.quit) }) // runs before the servers close
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.stray) > 0 {
			t.Errorf("the fetcher asked to dial beyond loopback: %v", l.stray)
		}
	})
	return l
}

func startOn(t testing.TB, network, addr string, h http.Handler) *httptest.Server {
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// url returns an http URL of the v4 server with host spelled as given.
func (l *lab) url(host, path string) string {
	return "http://" + net.JoinHostPort(host, l.port) + path
}

func (l *lab) options(o Options) *Options {
	o.Resolver = l
	o.Dial = l.dial
	return &o
}

// allowLoopback is what photod -url-import-allow gives the tests.
var allowLoopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func (l *lab) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lookups = append(l.lookups, host)
	if network != "ip" {
		l.t.Errorf("lookup %q with network %q", host, network)
	}
	if host == "rebind.example" {
		l.rebinds++
		if l.rebinds == 1 {
			return []netip.Addr{publicV4}, nil
		}
		return []netip.Addr{netip.MustParseAddr("10.0.0.5")}, nil
	}
	if a, ok := names[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (l *lab) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	l.dialled = append(l.dialled, addr)
	l.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		l.refuse(addr)
		return nil, fmt.Errorf("lab: %q is not an address literal", addr)
	}
	to := ap.Addr()
	if to == publicV4 || to == publicV6 {
		to = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if !to.IsLoopback() {
		l.refuse(addr)
		return nil, fmt.Errorf("lab: refusing to dial %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, netip.AddrPortFrom(to, ap.Port()).String())
}

func (l *lab) refuse(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stray = append(l.stray, addr)
}

// reset forgets what was dialled and looked up, and returns the record.
func (l *lab) reset() (dialled, lookups []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	dialled, lookups = l.dialled, l.lookups
	l.dialled, l.lookups, l.rebinds = nil, nil, 0
	return dialled, lookups
}

func (l *lab) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /photo.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(l.image)))
		w.Write(l.image)
	})
	mux.HandleFunc("GET /chunked.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		for b := l.image; len(b) > 0; {
			n := min(len(b), 4096)
			w.Write(b[:n])
			w.(http.Flusher).Flush()
			b = b[n:]
		}
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Query().Get("to"))
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("GET /hops/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			http.Redirect(w, r, "/photo.jpg", http.StatusMovedPermanently)
			return
		}
		http.Redirect(w, r, "/hops/"+strconv.Itoa(n-1), http.StatusFound)
	})
	mux.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		fmt.Fprintln(w, "not an image")
	})
	mux.HandleFunc("GET /stall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(l.image)))
		w.Write(l.image[:1000])
		w.(http.Flusher).Flush()
		l.wait(r)
	})
	mux.HandleFunc("GET /noheaders", func(w http.ResponseWriter, r *http.Request) {
		l.wait(r)
	})
	mux.HandleFunc("GET /trickle", func(w http.ResponseWriter, r *http.Request) {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-l.quit:
				return
			case <-tick.C:
				w.Write([]byte{0xff})
				w.(http.Flusher).Flush()
			}
		}
	})
	// The raw responses below are written by hand, since net/http will not
	// send them.
	raw := func(path, head string, body []byte) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			c, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				l.t.Errorf("hijack: %v", err)
				return
			}
			defer c.Close()
			buf.WriteString(head)
			buf.Write(body)
			buf.Flush()
		})
	}
	raw("/lying-length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n", bytes.Repeat([]byte("x"), 5000))
	raw("/lying-chunked", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
		chunked(bytes.Repeat([]byte("x"), 5000), 500))
	raw("/huge-length", "HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\nConnection: close\r\n\r\n", []byte("xxxx"))
	raw("/short", "HTTP/1.1 200 OK\r\nContent-Length: 500\r\nConnection: close\r\n\r\n", bytes.Repeat([]byte("x"), 100))
	return mux
}

// wait blocks until the client goes away or the test ends.
func (l *lab) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-l.quit:
	}
}

// chunked encodes b in chunks of size n.
func chunked(b []byte, n int) []byte {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	for len(b) > 0 {
		k := min(n, len(b))
		fmt.Fprintf(w, "%x\r\n", k)
		w.Write(b[:k])
		w.WriteString("\r\n")
		b = b[k:]
	}
	w.WriteString("0\r\n\r\n")
	w.Flush()
	return out.Bytes()
}

// wantKind fails unless err is an *Error of kind want.
func wantKind(t *testing.T, err error, want Kind) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a *safefetch.Error of kind %s", err, err, want)
	}
	if e.Kind != want {
		t.Fatalf("error kind = %s (%v, cause %v), want %s", e.Kind, e, e.Err, want)
	}
	return e
}

// allLoopback reports whether every dialled address is loopback.
func allLoopback(dialled []string) bool {
	return !slices.ContainsFunc(dialled, func(s string) bool {
		ap, err := netip.ParseAddrPort(s)
		return err != nil || !ap.Addr().IsLoopback()
	})
}
