package imaging

import (
	"fmt"
	"runtime"

	"github.com/profilephoto/photo/internal/sched"
)

// maxWorkers bounds the goroutines a single Render uses for one stage:
// enough for the cores of a typical host, few enough that several
// concurrent Renders do not drown the scheduler.
const maxWorkers = 8

// workers returns how many goroutines a stage of one Render may use.
func workers() int {
	return max(1, min(runtime.GOMAXPROCS(0), maxWorkers))
}

// minChunkOps is about the least work (sample operations) worth handing to
// a goroutine of its own.
const minChunkOps = 1 << 16

// forRows calls fn on consecutive ranges that together cover [0, n), on
// the calling goroutine and as many more, up to workers() in all, as pool
// has tokens free (pool.Split), and waits for them. opsPerRow estimates
// the cost of a row, so that small jobs run inline. Every fn must write
// disjoint output, which makes the result independent of the split.
func forRows(pool *sched.Pool, n, opsPerRow int, fn func(lo, hi int)) error {
	if n <= 0 {
		return nil
	}
	p := workers()
	if opsPerRow > 0 {
		p = min(p, n*opsPerRow/minChunkOps)
	}
	if p <= 1 {
		if err := sched.Catch(func() { fn(0, n) }); err != nil {
			return fmt.Errorf("imaging: %w", err)
		}
		return nil
	}
	if err := pool.Split(n, p, fn); err != nil {
		return fmt.Errorf("imaging: %w", err)
	}
	return nil
}

// ownPool returns pool, or when it is nil a pool of workers() tokens of
// which the caller holds one: a Render without a shared pool keeps to
// its own bound.
func ownPool(pool *sched.Pool) *sched.Pool {
	if pool != nil {
		return pool
	}
	p := sched.New(workers())
	p.TryAcquire(1)
	return p
}
