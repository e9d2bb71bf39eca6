package httpadapter

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimit is a token bucket: on average Rate events a second, with
// bursts of up to Burst at once. The zero value takes the default of the
// field that holds it; a negative Rate turns the limit off.
type RateLimit struct {
	// Rate is the sustained rate, in events a second; 0 means the
	// field's default, negative means no limit.
	Rate float64
	// Burst is how many events may come at once after a quiet spell;
	// 0 means the field's default burst (or, with a Rate of one's own,
	// the Rate rounded up, at least 1).
	Burst int
}

// Defaults of the rate limits in Options and URLImportOptions, as
// events a second and bursts.
const (
	// Options.WriteRate: 5 writes a second per principal, bursts of 50
	// (a resumable upload in many chunks is one write a chunk).
	DefaultWriteRate, DefaultWriteBurst = 5.0, 50
	// Options.GlobalWriteRate: 500 writes a second in all, bursts of 1000.
	DefaultGlobalWriteRate, DefaultGlobalWriteBurst = 500.0, 1000
	// URLImportOptions.Rate: one import every 5 seconds per principal,
	// bursts of 10.
	DefaultImportRate, DefaultImportBurst = 0.2, 10
	// URLImportOptions.GlobalRate: 20 imports a second in all, bursts
	// of 50.
	DefaultGlobalImportRate, DefaultGlobalImportBurst = 20.0, 50
)

// DefaultMaxTrackedPrincipals is Options.MaxTrackedPrincipals.
const DefaultMaxTrackedPrincipals = 10000

// resolve fills in l's zero fields from def; the result is off when its
// Rate is negative.
func (l RateLimit) resolve(def RateLimit) RateLimit {
	switch {
	case l.Rate < 0:
		return RateLimit{Rate: -1}
	case l.Rate == 0:
		if l.Burst <= 0 {
			return def
		}
		return RateLimit{Rate: def.Rate, Burst: l.Burst}
	case l.Burst <= 0:
		l.Burst = max(1, int(math.Ceil(l.Rate)))
	}
	return l
}

func (l RateLimit) off() bool { return l.Rate < 0 }

// limiters is a global token bucket and one per principal, the latter
// kept in a bounded LRU: a principal idle long enough for its bucket to
// refill is forgotten (nothing is lost: a new bucket starts full), and
// past max entries the least recently seen is forgotten too.
type limiters struct {
	now    func() time.Time
	per    RateLimit
	global *rate.Limiter // nil when off
	max    int

	mu    sync.Mutex
	byKey map[string]*list.Element // of *limiterEntry
	lru   list.List                // front: most recently used
}

type limiterEntry struct {
	key  string
	lim  *rate.Limiter
	last time.Time
}

func newLimiters(now func() time.Time, per, global RateLimit, max int) *limiters {
	l := &limiters{now: now, per: per, max: max, byKey: map[string]*list.Element{}}
	if !global.off() {
		l.global = rate.NewLimiter(rate.Limit(global.Rate), global.Burst)
	}
	return l
}

// refill is how long an idle bucket of the per-principal limit takes to
// fill up again.
func (l *limiters) refill() time.Duration {
	return time.Duration(float64(l.per.Burst) / l.per.Rate * float64(time.Second))
}

// allow takes one token from key's bucket ("" for none) and, if global,
// one from the global bucket. When a bucket is empty it takes nothing and
// returns how long until a token will be there.
func (l *limiters) allow(key string, global bool) (bool, time.Duration) {
	now := l.now()
	var per *rate.Reservation
	if key != "" && !l.per.off() {
		per = l.entry(key, now).ReserveN(now, 1)
		if d := per.DelayFrom(now); d > 0 {
			per.CancelAt(now)
			return false, d
		}
	}
	if global && l.global != nil {
		g := l.global.ReserveN(now, 1)
		if d := g.DelayFrom(now); d > 0 {
			g.CancelAt(now)
			if per != nil {
				per.CancelAt(now)
			}
			return false, d
		}
	}
	return true, 0
}

// entry returns key's limiter, making it if need be, and forgets idle
// and surplus principals.
func (l *limiters) entry(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.byKey[key]; ok {
		e := el.Value.(*limiterEntry)
		e.last = now
		l.lru.MoveToFront(el)
		return e.lim
	}
	idle := l.refill()
	for back := l.lru.Back(); back != nil; back = l.lru.Back() {
		e := back.Value.(*limiterEntry)
		if l.lru.Len() < l.max && now.Sub(e.last) < idle {
			break
		}
		l.lru.Remove(back)
		delete(l.byKey, e.key)
	}
	e := &limiterEntry{key: key, lim: rate.NewLimiter(rate.Limit(l.per.Rate), l.per.Burst), last: now}
	l.byKey[key] = l.lru.PushFront(e)
	return e.lim
}

// tracked returns how many principals have a bucket.
func (l *limiters) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
