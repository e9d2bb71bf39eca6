package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"
)

// outcome is how one operation ended.
type outcome int

const (
	// done: the operation did what it asked.
	done outcome = iota
	// busy: photod refused it as busy or rate-limited (HTTP 503 or 429,
	// Slack's "ratelimited"), which a client retries later.
	busy
	// refused: a hostile request was refused, as it should be.
	refused
	// failed: anything unexpected.
	failed
)

// The operations, in the report's order.
var opNames = []string{
	"upload.slack", "upload.chatter", "upload.resumable", "upload.profile-image",
	"read.rendition", "read.metadata", "delete",
	"hostile.slow-body", "hostile.oversized", "hostile.bad-token",
}

// opStats is what one operation saw.
type opStats struct {
	latencies []time.Duration // of the operations that got an answer
	counts    [failed + 1]int
	examples  []string // the first few unexpected answers
}

// report is what photoload saw.
type report struct {
	mu      sync.Mutex
	ops     map[string]*opStats
	Elapsed time.Duration
	// PeakRSS is photod's VmHWM in bytes (0 when unknown, see RSSErr).
	PeakRSS int64
	RSSErr  error
}

func newReport() *report {
	r := &report{ops: map[string]*opStats{}}
	for _, n := range opNames {
		r.ops[n] = &opStats{}
	}
	return r
}

// add records one operation.
func (r *report) add(op string, took time.Duration, o outcome, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.ops[op]
	if s == nil {
		panic("photoload: unknown operation " + op)
	}
	s.counts[o]++
	s.latencies = append(s.latencies, took)
	if o == failed && len(s.examples) < 3 {
		s.examples = append(s.examples, detail)
	}
}

// Count returns how many operations op ended with o.
func (r *report) Count(op string, o outcome) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ops[op].counts[o]
}

// Unexpected returns how many operations failed unexpectedly.
func (r *report) Unexpected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.ops {
		n += s.counts[failed]
	}
	return n
}

// percentile returns the p-th percentile (0 < p <= 1) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*p+0.999999) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// write prints the report as a table.
func (r *report) write(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	secs := r.Elapsed.Seconds()
	fmt.Fprintf(w, "\n%-22s %7s %8s %10s %10s %6s %6s %8s %6s\n", "operation", "count", "ops/s", "p50", "p99", "ok", "busy", "refused", "errors")
	var total, unexpected, busies int
	for _, name := range opNames {
		s := r.ops[name]
		n := len(s.latencies)
		total += n
		unexpected += s.counts[failed]
		busies += s.counts[busy]
		ds := slices.Clone(s.latencies)
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		fmt.Fprintf(w, "%-22s %7d %8.1f %10v %10v %6d %6d %8d %6d\n", name, n, float64(n)/secs,
			round(percentile(ds, 0.5)), round(percentile(ds, 0.99)),
			s.counts[done], s.counts[busy], s.counts[refused], s.counts[failed])
	}
	fmt.Fprintf(w, "\ntotal: %d operations in %v, %.1f ops/s; %d busy or rate-limited (retryable); %d unexpected errors\n",
		total, r.Elapsed.Round(10*time.Millisecond), float64(total)/secs, busies, unexpected)
	switch {
	case r.PeakRSS > 0:
		fmt.Fprintf(w, "photod peak RSS (VmHWM): %.1f MiB\n", float64(r.PeakRSS)/(1<<20))
	case r.RSSErr != nil:
		fmt.Fprintf(w, "photod peak RSS: unknown (%v)\n", r.RSSErr)
	default:
		fmt.Fprintln(w, "photod peak RSS: unknown (give -pid)")
	}
	for _, name := range opNames {
		for _, e := range r.ops[name].examples {
			fmt.Fprintf(w, "unexpected %s: %s\n", name, e)
		}
	}
}
