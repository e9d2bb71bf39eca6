package sched

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNeverMoreThanTokens runs many concurrent "uploads", each splitting
// work and spawning jobs, and checks that the goroutines computing at
// once never outnumber the tokens, and that every range is covered once.
func TestNeverMoreThanTokens(t *testing.T) {
	const tokens = 3
	p := New(tokens)
	var busy, peak atomic.Int64
	work := func() {
		n := busy.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(100 * time.Microsecond)
		busy.Add(-1)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := p.Acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			defer p.Release()
			for range 5 {
				covered := make([]atomic.Int32, 100)
				err := p.Split(100, 8, func(lo, hi int) {
					work()
					for i := lo; i < hi; i++ {
						covered[i].Add(1)
					}
				})
				if err != nil {
					t.Error(err)
				}
				for i := range covered {
					if c := covered[i].Load(); c != 1 {
						t.Errorf("index %d covered %d times", i, c)
					}
				}
				waits := []func() error{}
				for range 4 {
					waits = append(waits, p.Go(func() error { work(); return nil }))
				}
				for _, w := range waits {
					if err := w(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if got := peak.Load(); got > tokens || got < 2 {
		t.Errorf("peak %d goroutines at work; want between 2 and %d", got, tokens)
	}
	if n := p.TryAcquire(tokens + 1); n != tokens {
		t.Errorf("after the work, %d tokens free, want %d", n, tokens)
	}
}

func TestSplitAloneUsesEveryToken(t *testing.T) {
	p := New(4)
	p.Acquire(context.Background())
	var parts atomic.Int32
	if err := p.Split(1000, 4, func(lo, hi int) { parts.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if parts.Load() != 4 {
		t.Errorf("%d parts on an idle pool of 4, want 4", parts.Load())
	}
	// With every other token taken, the caller does it all.
	p.TryAcquire(3)
	parts.Store(0)
	p.Split(1000, 4, func(lo, hi int) { parts.Add(1) })
	if parts.Load() != 1 {
		t.Errorf("%d parts on a busy pool, want 1", parts.Load())
	}
}

func TestPanicsBecomeErrors(t *testing.T) {
	p := New(2)
	p.Acquire(context.Background())
	defer p.Release()
	err := p.Split(10, 2, func(lo, hi int) {
		if lo > 0 {
			panic("boom")
		}
	})
	if err == nil {
		t.Error("Split: a panic gave no error")
	}
	if err := p.Go(func() error { panic("boom") })(); err == nil {
		t.Error("Go: a panic gave no error")
	}
	want := errors.New("plain")
	if err := p.Go(func() error { return want })(); err != want {
		t.Errorf("Go returned %v, want %v", err, want)
	}
	if n := p.TryAcquire(2); n != 1 {
		t.Errorf("%d tokens free after panics, want 1", n)
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	p := New(1)
	p.Acquire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := p.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire on a full pool = %v, want DeadlineExceeded", err)
	}
	var nilPool *Pool
	if nilPool.TryAcquire(3) != 3 || nilPool.Size() != 0 {
		t.Error("a nil Pool bounds nothing")
	}
}
