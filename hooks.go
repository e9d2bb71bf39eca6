package photo

// The application's hooks: Options.BeforeCommit, which may refuse an
// image before it is stored, and Options.OnChange, told of every
// committed change.

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"runtime/debug"
	"sync"
)

// The kinds of Event.
const (
	eventSet     = "set"
	eventDelete  = "delete"
	eventRestore = "restore"
)

// vet asks Options.BeforeCommit about img, the upright upload (see its
// documentation for what its answers become).
func (m *Manager) vet(ctx context.Context, userID string, img image.Image) (err error) {
	hook := m.opts.BeforeCommit
	if hook == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			m.cfg.log.Error("photo: Options.BeforeCommit panicked", "user", userID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("photo: set %q: Options.BeforeCommit panicked: %v", userID, p)
		}
	}()
	herr := hook(ctx, userID, img)
	if herr == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return wrapErr(cerr, "set %q", userID)
	}
	var pe *Error
	if errors.As(herr, &pe) {
		if errors.Is(pe, ErrBusy) || pe.Code == CodeRefused {
			return pe
		}
		return &Error{Code: CodeRefused, Message: pe.SafeMessage(), Err: herr}
	}
	return &Error{Code: CodeRefused, Err: herr}
}

// notify queues the Event of a committed change for Options.OnChange:
// kind is eventSet, eventDelete or eventRestore, rec the record as the
// commit stored it and deleted, for a delete, the version it removed (nil
// when there was none). It never blocks.
func (m *Manager) notify(kind string, rec *record, deleted *version) {
	if m.events == nil || rec == nil {
		return
	}
	ev := Event{Kind: kind, UserID: rec.UserID, Revision: rec.Revision, Time: rec.Updated}
	switch {
	case kind == eventDelete:
		if deleted != nil {
			ev.VersionID = deleted.ID
		}
	case rec.Current != nil:
		ev.VersionID = rec.Current.ID
		ev.Photo = m.photo(rec)
	}
	m.events.push(ev)
}

// notifier hands events to a callback from one goroutine at a time, in
// the order they were pushed, without ever blocking the pusher. The
// goroutine runs only while there are events to deliver, so that a
// Manager, which has no Close, leaves none behind.
type notifier struct {
	fn  func(Event)
	max int
	log *slog.Logger

	mu      sync.Mutex
	queue   []Event
	running bool  // a goroutine is delivering
	dropped int64 // events dropped since the last one delivered
	total   int64 // events ever dropped
	idle    *sync.Cond
}

// newNotifier returns a notifier for fn, or nil when fn is nil.
func newNotifier(fn func(Event), max int, log *slog.Logger) *notifier {
	if fn == nil {
		return nil
	}
	n := &notifier{fn: fn, max: max, log: log}
	n.idle = sync.NewCond(&n.mu)
	return n
}

// push queues ev, or drops it when the queue is full.
func (n *notifier) push(ev Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) >= n.max {
		n.dropped++
		n.total++
		n.log.Warn("photo: the OnChange queue is full; an event was dropped",
			"kind", ev.Kind, "user", ev.UserID, "revision", ev.Revision, "dropped_total", n.total)
		return
	}
	n.queue = append(n.queue, ev)
	if !n.running {
		n.running = true
		go n.run()
	}
}

// run delivers until the queue is empty.
func (n *notifier) run() {
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running = false
			n.queue = nil
			n.idle.Broadcast()
			n.mu.Unlock()
			return
		}
		ev := n.queue[0]
		n.queue[0] = Event{}
		n.queue = n.queue[1:]
		ev.Dropped, n.dropped = n.dropped, 0
		n.mu.Unlock()
		n.deliver(ev)
	}
}

// deliver calls fn, which may panic.
func (n *notifier) deliver(ev Event) {
	defer func() {
		if p := recover(); p != nil {
			n.log.Error("photo: Options.OnChange panicked", "kind", ev.Kind, "user", ev.UserID, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	n.fn(ev)
}

// wait blocks until every queued event has been delivered; for tests.
func (n *notifier) wait() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for n.running {
		n.idle.Wait()
	}
}
