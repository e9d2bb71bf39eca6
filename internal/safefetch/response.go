package safefetch

import (
	"context"
	"io"
	"sync"
	"time"
)

// Response is a successful (200) response whose body is being read. It is
// an io.ReadCloser: reading yields at most Options.MaxBytes bytes, then an
// *Error of KindTooLarge; a stall longer than Options.IdleTimeout, the
// total timeout, a cancelled context or a broken connection end reading
// with an *Error of KindFailed. The idle clock runs from the moment Fetch
// returns, so start reading at once. Close must be called; it releases the
// connection and timers. Read is not safe for concurrent use; Close may be
// called at any time, from any goroutine, and cuts a Read short.
type Response struct {
	// ContentLength is the length the server declared, or -1. It is never
	// more than MaxBytes; the bytes read are capped whatever it says.
	ContentLength int64
	// ContentType is the declared type, as sent: never trust it.
	ContentType string
	// URL is the URL the body came from, after redirects.
	URL string

	body      io.ReadCloser
	ctx       context.Context
	cancel    context.CancelCauseFunc
	idle      time.Duration
	timer     *time.Timer
	parent    context.Context
	limit     int64 // MaxBytes
	remaining int64 // bytes still allowed
	err       error // sticky: once set, every Read returns it
	closeOnce sync.Once
}

// Read reads the body, enforcing the byte cap and the idle timeout.
func (r *Response) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Ask for one byte beyond the cap, so a body of exactly MaxBytes ends
	// cleanly and a longer one is caught without reading further.
	if int64(len(p)) > r.remaining+1 {
		p = p[:r.remaining+1]
	}
	n, err := r.body.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	if int64(n) > r.remaining {
		n = int(r.remaining)
		r.remaining = 0
		r.fail(tooLarge(r.limit))
		return n, r.err
	}
	r.remaining -= int64(n)
	switch {
	case err == io.EOF:
		r.timer.Stop()
		r.err = io.EOF
	case err != nil:
		r.fail(classify(r.parent, r.ctx, err))
	}
	return n, r.err
}

// fail makes err the sticky error and releases the connection.
func (r *Response) fail(err error) {
	r.err = err
	r.release()
}

// Close releases the response. It is safe to call more than once.
func (r *Response) Close() error {
	r.release()
	return nil
}

func (r *Response) release() {
	r.closeOnce.Do(func() {
		r.timer.Stop()
		r.cancel(nil)
		r.body.Close()
	})
}
