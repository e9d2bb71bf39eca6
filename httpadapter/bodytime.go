package httpadapter

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// Defaults of Options.BodyIdleTimeout and Options.MinBodyRate.
const (
	DefaultBodyIdleTimeout = 30 * time.Second
	DefaultMinBodyRate     = 4 << 10
)

// timeBody arranges for r's body to be cut off when it stalls for
// Options.BodyIdleTimeout or falls below Options.MinBodyRate on average,
// through read deadlines on the connection, and returns r with the timed
// body. A request without a body is left alone: its connection's
// background read must not time out while the handler works.
func (h *Handler) timeBody(w http.ResponseWriter, r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody {
		return r
	}
	now := time.Now()
	rc := http.NewResponseController(w)
	first := now.Add(h.opts.BodyIdleTimeout)
	if rc.SetReadDeadline(first) != nil {
		return r // a writer without deadlines: the body is not timed
	}
	r2 := *r
	r2.Body = &timedBody{ReadCloser: r.Body, rc: rc, idle: h.opts.BodyIdleTimeout, rate: h.opts.MinBodyRate, start: now, deadline: first}
	return &r2
}

// timedBody moves the connection's read deadline on as bytes arrive:
// at most idle after the last read, and no later than the minimum rate
// allows for the bytes so far. At the end of the body the deadline is
// cleared, because the server then reads in the background to notice a
// closed connection, and a deadline there would cancel the request while
// its handler still works.
type timedBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	rate     int64 // bytes a second; <= 0: no minimum
	start    time.Time
	n        int64
	deadline time.Time // the one in force
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil {
		if err == io.EOF {
			b.rc.SetReadDeadline(time.Time{})
		}
		return n, err
	}
	d := time.Now().Add(b.idle)
	if b.rate > 0 {
		if byRate := b.start.Add(b.idle + time.Duration(float64(b.n)/float64(b.rate)*float64(time.Second))); byRate.Before(d) {
			d = byRate
		}
	}
	// Moving the deadline costs a little; a small step forward can wait.
	if d.Before(b.deadline) || d.Sub(b.deadline) > b.idle/8 {
		b.rc.SetReadDeadline(d)
		b.deadline = d
	}
	return n, err
}

// isBodyTimeout reports whether err is a timedBody's deadline passing.
func isBodyTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
