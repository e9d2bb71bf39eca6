package httpadapter

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Defaults of the admission options.
const (
	// DefaultMaxAnonymousWrites is Options.MaxAnonymousWrites.
	DefaultMaxAnonymousWrites = 2
	// DefaultMaxWritesPerPrincipal is Options.MaxWritesPerPrincipal.
	DefaultMaxWritesPerPrincipal = 2
	// DefaultWriteWait is Options.WriteWait.
	DefaultWriteWait = 5 * time.Second
)

// principalRetryAfter is the Retry-After of a write refused because its
// principal already has MaxWritesPerPrincipal in flight: one of them is
// likely to end soon.
const principalRetryAfter = time.Second

// admission hands out write slots: one of the main pool to a request
// whose principal is known, one of a small pool of its own to a Slack
// request whose token may be in its body, and at most perMax at once to
// any one principal. Nobody waits longer than wait.
type admission struct {
	main   chan struct{}
	anon   chan struct{}
	perMax int // <= 0: no per-principal bound
	wait   time.Duration

	mu   sync.Mutex
	held map[string]*principalSlots
}

// principalSlots are one principal's slots, kept while anyone holds or
// waits for one.
type principalSlots struct {
	sem  chan struct{}
	refs int
}

func newAdmission(main, anon, perMax int, wait time.Duration) *admission {
	return &admission{
		main:   make(chan struct{}, main),
		anon:   make(chan struct{}, anon),
		perMax: perMax,
		wait:   wait,
		held:   map[string]*principalSlots{},
	}
}

// acquire waits for a slot for principal key ("" for a request whose
// principal is not known yet) and returns its release. It refuses with
// kRateLimited when key's own slots stay taken for the whole wait, with
// kServerBusy when the pool's do, and with ctx's error when the client
// goes away first.
func (a *admission) acquire(ctx context.Context, key string) (release func(), err error) {
	t := time.NewTimer(a.wait)
	defer t.Stop()
	var ps *principalSlots
	if key != "" && a.perMax > 0 {
		ps = a.ref(key)
		select {
		case ps.sem <- struct{}{}:
		case <-t.C:
			a.unref(key, ps, false)
			return nil, retryLater(kRateLimited, "too many of your requests are in progress; try again later", principalRetryAfter)
		case <-ctx.Done():
			a.unref(key, ps, false)
			return nil, ctx.Err()
		}
	}
	pool := a.main
	if key == "" {
		pool = a.anon
	}
	select {
	case pool <- struct{}{}:
	case <-t.C:
		a.unref(key, ps, true)
		return nil, retryLater(kServerBusy, "", 0)
	case <-ctx.Done():
		a.unref(key, ps, true)
		return nil, ctx.Err()
	}
	return func() {
		<-pool
		a.unref(key, ps, true)
	}, nil
}

// ref returns key's slots, counting one more user of them.
func (a *admission) ref(key string) *principalSlots {
	a.mu.Lock()
	defer a.mu.Unlock()
	ps := a.held[key]
	if ps == nil {
		ps = &principalSlots{sem: make(chan struct{}, a.perMax)}
		a.held[key] = ps
	}
	ps.refs++
	return ps
}

// unref gives back one use of key's slots (nil: none was taken), and the
// slot itself if taken; the last user forgets the principal.
func (a *admission) unref(key string, ps *principalSlots, taken bool) {
	if ps == nil {
		return
	}
	if taken {
		<-ps.sem
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ps.refs--; ps.refs == 0 {
		delete(a.held, key)
	}
}

// limitWrites admits a request that carries a body before next serves
// it, so that the bodies held in memory stay bounded however many
// clients upload at once, and no client can keep others out:
//
//   - A request the handler will refuse on its Authorization header alone,
//     before reading its body, is served at once without a slot.
//   - A request whose principal is known is checked against the write
//     rate limits, then takes one of its principal's
//     Options.MaxWritesPerPrincipal slots and one of the main pool's
//     Options.MaxConcurrentWrites.
//   - A Slack request without an Authorization header may carry its token
//     in the body: it is checked against the global rate limit, and takes
//     one of the Options.MaxAnonymousWrites slots, so that anonymous
//     bodies, however slow, never hold a slot an authenticated request
//     needs. Its principal's own rate limit is checked once the token is
//     read (see admitLate).
//
// A request waits at most Options.WriteWait for its slots, then is
// refused with a retryable error, which writeError words in the dialect
// with Retry-After.
// The body is timed (see timeBody).
//
// A request that is not rated (a read sent as POST) skips the rate limits.
func (h *Handler) limitWrites(d Dialect, rated bool, next handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		r = h.timeBody(w, r)
		p, a := h.authenticate(r)
		if a == authBad || (a == authNone && d != Slack) {
			return next(w, r)
		}
		key := ""
		if a == authOK {
			key = p.ID
		} else if res, ok := r.Context().Value(authKey{}).(*authResult); ok {
			res.lateLimit = rated
		}
		if rated {
			if ok, after := h.writeRates.allow(key, true); !ok {
				return retryLater(kRateLimited, "", after)
			}
		}
		release, err := h.admit.acquire(r.Context(), key)
		if err != nil {
			return err
		}
		defer release()
		return next(w, r)
	}
}

// admitLate checks the per-principal write rate of a request admitted
// before its principal was known, now that p is: a Slack write whose
// token came in its body. Other requests pass.
func (h *Handler) admitLate(r *http.Request, p Principal) error {
	c, ok := r.Context().Value(authKey{}).(*authResult)
	if !ok || !c.lateLimit {
		return nil
	}
	if ok, after := h.writeRates.allow(p.ID, false); !ok {
		return retryLater(kRateLimited, "", after)
	}
	return nil
}
