package imaging

import (
	"fmt"
	"runtime"
	"sync"
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

// forRows calls fn on consecutive ranges that together cover [0, n), in up
// to workers() goroutines, and waits for them. opsPerRow estimates the cost
// of a row, so that small jobs run inline. Every fn must write disjoint
// output, which makes the result independent of the split.
func forRows(n, opsPerRow int, fn func(lo, hi int)) error {
	if n <= 0 {
		return nil
	}
	p := workers()
	if opsPerRow > 0 {
		p = min(p, n*opsPerRow/minChunkOps)
	}
	p = min(p, n)
	if p <= 1 {
		return catch(func() { fn(0, n) })
	}
	errs := make([]error, p)
	var wg sync.WaitGroup
	for i := range p {
		lo, hi := n*i/p, n*(i+1)/p
		wg.Go(func() { errs[i] = catch(func() { fn(lo, hi) }) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// catch runs fn and turns a panic into an error: a bug met by one unusual
// image must fail that request, not the whole process.
func catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("imaging: internal error: %v", r)
		}
	}()
	fn()
	return nil
}
