package photo

// After-change events, delivered at least once. The commit that makes a
// change records its event in the user's record (record.Outbox), in the
// same write, when Options.OnChange is set. The Manager then hands the
// event to OnChange from a goroutine of its own and, once OnChange
// returned nil, removes it from the record (an acknowledgement: a
// compare-and-swap that removes those entries and nothing else). An event
// still in a record later (the process stopped first, OnChange failed,
// the in-memory queue was full) is delivered again by Sweep, from
// whichever process runs it, once it is Options.RedeliverAfter old.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/profilephoto/photo/storage"
)

// The kinds of Event.
const (
	eventSet     = "set"
	eventDelete  = "delete"
	eventRestore = "restore"
)

const (
	// outboxMax bounds the events a record keeps unacknowledged: beyond
	// it the oldest are dropped, and the event recorded then counts them
	// in its Dropped. This is where at-least-once ends.
	outboxMax = 64
	// defaultRedeliverAfter is Options.RedeliverAfter's default.
	defaultRedeliverAfter = time.Minute
	// liveAttempts bounds the calls of OnChange for one event in the
	// process that committed it; then it waits for Sweep.
	liveAttempts = 3
	// defaultRetryBackoff is the wait before the first in-process retry,
	// doubled for each next one.
	defaultRetryBackoff = time.Second
	// sweepUsersMax bounds the users whose events one Sweep delivers
	// again; the others wait for the next Sweep.
	sweepUsersMax = 10000
	// sweepFailuresMax is how many redeliveries in a row may fail before
	// a Sweep stops redelivering (the consumer is down: the next Sweep
	// tries again).
	sweepFailuresMax = 3
	// ackAttempts bounds the compare-and-swaps of one acknowledgement.
	ackAttempts = 20
	// ackers bounds the users whose events a notifier acknowledges at
	// once: an acknowledgement is a read and a conditional write of a
	// record, which on a remote store take longer than most OnChange
	// calls, so they overlap the next deliveries; the events of one user
	// accepted meanwhile go into that user's next write.
	ackers = 8
)

// addEvent records e in the outbox as the event of the change that made
// rec (its ID, Revision and Time are rec's), dropping the oldest events
// when the outbox is full. It builds a new slice: the previous record
// shares the old one.
func (rec *record) addEvent(e storedEvent) {
	e.ID, e.Revision, e.Time = rec.Commit, rec.Revision, rec.Updated
	old := rec.Outbox
	for len(old) >= outboxMax {
		e.Dropped += 1 + old[0].Dropped
		old = old[1:]
	}
	rec.Outbox = append(slices.Clone(old), e)
}

// event returns the Event that OnChange receives for e, an event of rec:
// Photo is rec's photo while e's version is its current one.
func (m *Manager) event(rec *record, e storedEvent) Event {
	ev := Event{ID: e.ID, Kind: e.Kind, UserID: rec.UserID, VersionID: e.VersionID,
		Revision: e.Revision, Time: e.Time, Dropped: e.Dropped}
	if e.Kind != eventDelete && rec.Current != nil && rec.Current.ID == e.VersionID {
		ev.Photo = m.photo(rec)
	}
	return ev
}

// notify queues for OnChange the event that the commit which made rec
// recorded, if any. It never blocks.
func (m *Manager) notify(rec *record) {
	if m.events == nil || rec == nil {
		return
	}
	for _, e := range rec.Outbox {
		if e.ID == rec.Commit {
			m.events.push(m.event(rec, e))
			return
		}
	}
}

// ack removes the events ids from the user's outbox, with a
// compare-and-swap that changes nothing else; events already gone are
// fine. A failure only means that Sweep delivers them again.
func (m *Manager) ack(ctx context.Context, userID string, ids []string) error {
	for range ackAttempts {
		rec, etag, err := loadRecord(ctx, m.bucket, userID)
		if err != nil || rec == nil {
			return err
		}
		keep := slices.DeleteFunc(slices.Clone(rec.Outbox), func(e storedEvent) bool { return slices.Contains(ids, e.ID) })
		if len(keep) == len(rec.Outbox) {
			return nil
		}
		if len(keep) == 0 {
			keep = nil
		}
		rec.Outbox = keep
		err = storeRecord(ctx, m.bucket, rec, etag)
		if err == nil || !errors.Is(err, storage.ErrPrecondition) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("record of %q keeps changing", userID)
}

// dueEvents reports whether rec holds events that Sweep should deliver
// again: recorded before cutoff.
func dueEvents(rec *record, cutoff time.Time) bool {
	return slices.ContainsFunc(rec.Outbox, func(e storedEvent) bool { return e.Time.Before(cutoff) })
}

// redeliver is Sweep's last part: it delivers again the events recorded
// before cutoff in the records of users, oldest first for each user, and
// acknowledges those that OnChange accepted. It returns how many were
// accepted; a failure of OnChange is logged, not returned.
func (m *Manager) redeliver(ctx context.Context, users []string, cutoff time.Time) (int, error) {
	delivered, failures := 0, 0
	for _, userID := range users {
		if err := ctx.Err(); err != nil {
			return delivered, err
		}
		rec, _, err := loadRecord(ctx, m.bucket, userID)
		if err != nil {
			m.cfg.log.Warn("photo: sweep: cannot read a record to deliver its events", "user", userID, "err", err)
			continue
		}
		if rec == nil {
			continue
		}
		var accepted []string
		for _, e := range rec.Outbox {
			if !e.Time.Before(cutoff) || m.events.isPending(e.ID) {
				continue
			}
			if err := m.events.call(ctx, m.event(rec, e)); err != nil {
				failures++
				m.cfg.log.Warn("photo: sweep: Options.OnChange failed; the event stays for the next Sweep",
					"kind", e.Kind, "user", userID, "revision", e.Revision, "err", err)
				break
			}
			failures = 0
			accepted = append(accepted, e.ID)
		}
		if len(accepted) > 0 {
			delivered += len(accepted)
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			if err := m.ack(actx, userID, accepted); err != nil {
				m.cfg.log.Warn("photo: sweep: cannot acknowledge events; they will be delivered again", "user", userID, "err", err)
			}
			cancel()
		}
		if failures >= sweepFailuresMax {
			m.cfg.log.Warn("photo: sweep: Options.OnChange keeps failing; redelivery resumes at the next Sweep")
			break
		}
	}
	if delivered > 0 {
		m.cfg.log.Info("photo: sweep: delivered events again", "events", delivered)
	}
	return delivered, nil
}

// notifier hands events to OnChange from one goroutine at a time, in the
// order they were pushed, without ever blocking the pusher, and
// acknowledges those it accepted. The goroutine runs only while there
// are events to deliver, so that a Manager, which has no Close, leaves
// none behind. An event that OnChange refuses is tried again after a
// backoff, liveAttempts times in all, then left to Sweep.
type notifier struct {
	fn      func(context.Context, Event) error
	ack     func(ctx context.Context, userID string, ids []string) error
	max     int
	log     *slog.Logger
	backoff time.Duration // guarded by mu after New (tests change it)
	// calls holds a token while fn runs: the notifier's deliveries and
	// Sweep's never overlap.
	calls chan struct{}
	// acking holds a token per user whose events are being
	// acknowledged.
	acking chan struct{}

	mu       sync.Mutex
	queue    []delivery
	pending  map[string]bool      // events queued, being delivered or waiting for a retry
	running  bool                 // a goroutine is delivering
	retrying int                  // retries waiting for their time
	acks     map[string]*ackBatch // users whose events are being acknowledged
	idle     *sync.Cond
}

// ackBatch are the accepted events of one user that its acknowledger
// has yet to remove.
type ackBatch struct{ ids []string }

// delivery is a queued event and which attempt it is.
type delivery struct {
	ev      Event
	attempt int
}

// newNotifier returns a notifier for fn, or nil when fn is nil.
func newNotifier(fn func(context.Context, Event) error, ack func(context.Context, string, []string) error, max int, log *slog.Logger) *notifier {
	if fn == nil {
		return nil
	}
	n := &notifier{fn: fn, ack: ack, max: max, log: log, backoff: defaultRetryBackoff,
		calls: make(chan struct{}, 1), acking: make(chan struct{}, ackers), pending: map[string]bool{}, acks: map[string]*ackBatch{}}
	n.idle = sync.NewCond(&n.mu)
	return n
}

// push queues ev, unless the queue is full: ev then stays in the record
// for Sweep.
func (n *notifier) push(ev Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pending[ev.ID] {
		return
	}
	n.enqueue(delivery{ev: ev, attempt: 1})
}

// enqueue queues d; n.mu is held.
func (n *notifier) enqueue(d delivery) {
	if len(n.queue) >= n.max {
		delete(n.pending, d.ev.ID)
		n.log.Warn("photo: the OnChange queue is full; the event waits in the record for Sweep",
			"kind", d.ev.Kind, "user", d.ev.UserID, "revision", d.ev.Revision)
		return
	}
	n.pending[d.ev.ID] = true
	n.queue = append(n.queue, d)
	if !n.running {
		n.running = true
		go n.run()
	}
}

// isPending reports whether the event id is queued, being delivered or
// waiting for a retry here.
func (n *notifier) isPending(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pending[id]
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
		d := n.queue[0]
		n.queue[0] = delivery{}
		n.queue = n.queue[1:]
		n.mu.Unlock()
		n.deliver(d)
	}
}

// deliver calls OnChange with d's event, then acknowledges it or
// schedules a retry.
func (n *notifier) deliver(d delivery) {
	ctx := context.Background()
	err := n.call(ctx, d.ev)
	if err == nil {
		// The acknowledgement runs beside the next deliveries; the event
		// stays pending (Sweep leaves it) until it is done.
		user := d.ev.UserID
		n.mu.Lock()
		if b := n.acks[user]; b != nil {
			b.ids = append(b.ids, d.ev.ID)
			n.mu.Unlock()
			return
		}
		b := &ackBatch{ids: []string{d.ev.ID}}
		n.acks[user] = b
		n.mu.Unlock()
		n.acking <- struct{}{}
		go n.acknowledge(user, b)
		return
	}
	if d.attempt >= liveAttempts {
		n.log.Warn("photo: Options.OnChange failed; the event waits in the record for Sweep",
			"kind", d.ev.Kind, "user", d.ev.UserID, "revision", d.ev.Revision, "attempts", d.attempt, "err", err)
		n.done(d.ev.ID)
		return
	}
	n.log.Info("photo: Options.OnChange failed; retrying", "kind", d.ev.Kind, "user", d.ev.UserID, "revision", d.ev.Revision, "attempt", d.attempt, "err", err)
	n.mu.Lock()
	n.retrying++
	wait := n.backoff << (d.attempt - 1)
	n.mu.Unlock()
	time.AfterFunc(wait, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.retrying--
		n.enqueue(delivery{ev: d.ev, attempt: d.attempt + 1})
		n.idle.Broadcast()
	})
}

// acknowledge removes the accepted events of the user from its record,
// batch after batch, until none is left.
func (n *notifier) acknowledge(user string, b *ackBatch) {
	defer func() { <-n.acking }()
	for {
		n.mu.Lock()
		ids := b.ids
		b.ids = nil
		if len(ids) == 0 {
			delete(n.acks, user)
			n.idle.Broadcast()
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := n.ack(ctx, user, ids); err != nil {
			n.log.Warn("photo: cannot acknowledge events; Sweep will deliver them again", "user", user, "events", len(ids), "err", err)
		}
		cancel()
		n.mu.Lock()
		for _, id := range ids {
			delete(n.pending, id)
		}
		n.mu.Unlock()
	}
}

// done forgets the event id.
func (n *notifier) done(id string) {
	n.mu.Lock()
	delete(n.pending, id)
	n.mu.Unlock()
}

// call runs OnChange once, alone, turning a panic into an error.
func (n *notifier) call(ctx context.Context, ev Event) (err error) {
	select {
	case n.calls <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-n.calls }()
	defer func() {
		if p := recover(); p != nil {
			n.log.Error("photo: Options.OnChange panicked", "kind", ev.Kind, "user", ev.UserID, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("photo: Options.OnChange panicked: %v", p)
		}
	}()
	return n.fn(ctx, ev)
}

// wait blocks until every queued event has been delivered and
// acknowledged and no retry waits; for tests.
func (n *notifier) wait() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for n.running || n.retrying > 0 || len(n.acks) > 0 {
		n.idle.Wait()
	}
}
