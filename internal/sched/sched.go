// Package sched shares the cores among CPU-bound work: one token a core,
// so that however many uploads run at once, no more goroutines compute
// than there are cores, while a single upload on an idle machine still
// uses them all.
//
// The rule that keeps it free of deadlock: a goroutine acquires a token,
// blocking, only while it holds none (a request starting its CPU-bound
// work). Once it holds one it may ask for more without blocking
// (TryAcquire) and hand them to helper goroutines; what it cannot get it
// does itself, on its own token. Work that would wait for a token another
// waiter holds never arises, so the pool cannot deadlock, and a split
// never waits for cores that are busy elsewhere.
package sched

import (
	"context"
	"fmt"
	"sync"
)

// Pool hands out tokens for CPU-bound work. The zero Pool is not usable;
// a nil *Pool puts no bound on anything (every TryAcquire succeeds), for
// callers that schedule for themselves.
type Pool struct {
	tokens chan struct{}
}

// New returns a Pool of n tokens (at least 1).
func New(n int) *Pool {
	return &Pool{tokens: make(chan struct{}, max(1, n))}
}

// Size returns how many tokens p has; 0 for a nil Pool.
func (p *Pool) Size() int {
	if p == nil {
		return 0
	}
	return cap(p.tokens)
}

// Acquire takes one token, waiting until one is free or ctx is done. The
// caller must hold no token of p.
func (p *Pool) Acquire(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	select {
	case p.tokens <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release returns one token.
func (p *Pool) Release() { p.ReleaseN(1) }

// TryAcquire takes up to n tokens without waiting and returns how many it
// took.
func (p *Pool) TryAcquire(n int) int {
	if p == nil {
		return max(n, 0)
	}
	got := 0
	for got < n {
		select {
		case p.tokens <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

// ReleaseN returns n tokens.
func (p *Pool) ReleaseN(n int) {
	if p == nil {
		return
	}
	for range n {
		<-p.tokens
	}
}

// Split calls fn on consecutive ranges that together cover [0, n): one
// range on the calling goroutine, which must hold a token, and one on
// each of the up to want-1 more goroutines for which a token is free now.
// It waits for them all. A panic in fn becomes an error, so that a bug met
// by one unusual input fails that input, not the process. fn must write
// disjoint output, so that the result does not depend on the split.
func (p *Pool) Split(n, want int, fn func(lo, hi int)) error {
	if n <= 0 {
		return nil
	}
	want = min(want, n)
	extra := 0
	if want > 1 {
		extra = p.TryAcquire(want - 1)
	}
	parts := extra + 1
	if parts == 1 {
		return Catch(func() { fn(0, n) })
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := 1; i < parts; i++ {
		lo, hi := n*i/parts, n*(i+1)/parts
		wg.Go(func() {
			defer p.Release()
			errs[i] = Catch(func() { fn(lo, hi) })
		})
	}
	errs[0] = Catch(func() { fn(0, n/parts) })
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Go runs fn on a goroutine of its own if a token is free now, else on
// the calling goroutine (which holds a token), and returns a function
// that waits for it and returns its error; the function may be called
// any number of times. A panic in fn becomes an error.
func (p *Pool) Go(fn func() error) (wait func() error) {
	run := func() error {
		var err error
		if perr := Catch(func() { err = fn() }); perr != nil {
			return perr
		}
		return err
	}
	if p.TryAcquire(1) == 0 {
		err := run()
		return func() error { return err }
	}
	done := make(chan error, 1)
	go func() {
		err := run()
		p.Release() // before the waiter may go on
		done <- err
	}()
	return sync.OnceValue(func() error { return <-done })
}

// Catch runs fn and turns a panic into an error.
func Catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	fn()
	return nil
}
