package safefetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Resolver looks up the addresses of a host name. *net.Resolver satisfies
// it; network is always "ip".
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dialContext is the transport's only way out: it resolves addr's host
// itself, keeps the addresses the policy permits, and dials those.
func (f *Fetcher) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, newError(KindInvalidURL, err, "the URL's host is not valid")
	}
	port, err := parsePort(portStr)
	if err != nil {
		return nil, err
	}
	addrs, err := f.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var refused []netip.Addr
	var errs []error
	for _, a := range addrs {
		if !f.permitted(a) {
			refused = append(refused, a)
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, f.idle)
		c, err := f.dial(dctx, network, netip.AddrPortFrom(a.Unmap(), port).String())
		cancel()
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, newError(KindNotAllowed, fmt.Errorf("%s: addresses %v refused", host, refused), "the URL's address is not allowed")
	}
	return nil, newError(KindFailed, errors.Join(errs...), "could not connect to the server")
}

// resolve returns the addresses host stands for: itself if a literal (in
// any spelling the OS accepts), loopback for localhost names, else what
// the resolver answers.
func (f *Fetcher) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	a, name, err := parseHost(host)
	if err != nil {
		return nil, err
	}
	if a.IsValid() {
		return []netip.Addr{a}, nil
	}
	if isLocalhost(name) {
		return loopbackAddrs, nil
	}
	rctx, cancel := context.WithTimeout(ctx, f.idle)
	defer cancel()
	addrs, err := f.resolver.LookupNetIP(rctx, "ip", name)
	if err != nil {
		return nil, newError(KindFailed, err, "the host name could not be resolved")
	}
	if len(addrs) == 0 {
		return nil, newError(KindFailed, nil, "the host name has no address")
	}
	return addrs, nil
}
