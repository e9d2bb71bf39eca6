package photo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
)

// eventLog is an OnChange that records what it is given and answers
// with fail's verdict (nil accepts every event).
type eventLog struct {
	mu   sync.Mutex
	got  []photo.Event
	fail func(e photo.Event) error
}

func (l *eventLog) onChange(_ context.Context, e photo.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, e)
	if l.fail != nil {
		return l.fail(e)
	}
	return nil
}

// take returns what was delivered since the last take.
func (l *eventLog) take() []photo.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

// summary is an event in short, for comparisons.
func summary(e photo.Event) string {
	s := fmt.Sprintf("%s %s r%d", e.UserID, e.Kind, e.Revision)
	if e.Dropped != 0 {
		s += fmt.Sprintf(" dropped %d", e.Dropped)
	}
	return s
}

func summaries(evs []photo.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, summary(e))
	}
	return out
}

// testClock is a clock that tests move.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestEventsSurviveACrash: events of commits whose process could not
// deliver them (its OnChange kept failing, as a process that stops before
// delivering) are delivered by a Sweep of another process sharing the
// bucket, once they are old enough, in commit order for each user, with
// their IDs; acknowledged, they are gone: a third process's Sweep
// delivers nothing.
func TestEventsSurviveACrash(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			da, db := be.open(t)
			clock := newTestClock()
			open := func(d driver.Bucket, l *eventLog) (*photo.Manager, *storage.Bucket) {
				b := storage.NewBucket(d)
				o := &photo.Options{Sizes: backendSizes, OnDemandSizes: []int{}, KeepVersions: 2, Now: clock.Now,
					Logger: discardLogger()}
				if l != nil {
					o.OnChange = l.onChange
				}
				m, err := photo.New(b, o)
				if err != nil {
					t.Fatal(err)
				}
				if l != nil {
					photo.SetEventBackoff(m, time.Millisecond)
				}
				return m, b
			}
			down := &eventLog{fail: func(photo.Event) error { return errors.New("the consumer is down") }}
			ma, ba := open(da, down)
			ctx := context.Background()
			p1, err := ma.Set(ctx, "ann", bytes.NewReader(testJPEG(t, 1)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ma.Set(ctx, "ben", bytes.NewReader(testJPEG(t, 2)), nil); err != nil {
				t.Fatal(err)
			}
			p3, err := ma.Set(ctx, "ann", bytes.NewReader(testJPEG(t, 3)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ma.Restore(ctx, "ann", p1.VersionID, nil); err != nil {
				t.Fatal(err)
			}
			if err := ma.Delete(ctx, "ben", nil); err != nil {
				t.Fatal(err)
			}
			photo.WaitEvents(ma)
			// Each event was tried three times in process.
			if n := len(down.take()); n != 5*3 {
				t.Errorf("%d live attempts, want 15", n)
			}
			if got := photo.OutboxRevisions(t, ba, "ann"); !slices.Equal(got, []int64{1, 2, 3}) {
				t.Fatalf("ann's record holds %v", got)
			}

			// A Manager without OnChange neither delivers nor removes.
			quiet, _ := open(db, nil)
			clock.add(2 * time.Minute)
			if _, err := quiet.Sweep(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if got := photo.OutboxRevisions(t, ba, "ann"); !slices.Equal(got, []int64{1, 2, 3}) {
				t.Fatalf("a Sweep without OnChange left ann's record with %v", got)
			}

			up := &eventLog{}
			mb, _ := open(db, up)
			if _, err := mb.Sweep(ctx, 0); err != nil {
				t.Fatal(err)
			}
			got := up.take()
			slices.SortStableFunc(got, func(a, b photo.Event) int { return strings.Compare(a.UserID, b.UserID) })
			want := []string{"ann set r1", "ann set r2", "ann restore r3", "ben set r1", "ben delete r2"}
			if s := summaries(got); !slices.Equal(s, want) {
				t.Fatalf("Sweep delivered %v, want %v", s, want)
			}
			ids := map[string]bool{}
			for _, e := range got {
				if e.ID == "" || ids[e.ID] {
					t.Errorf("%s: ID %q empty or not unique", summary(e), e.ID)
				}
				ids[e.ID] = true
			}
			// The photo as it is now: r1's version is current again (restored),
			// r2's is not.
			if p := got[0].Photo; p == nil || p.VersionID != p1.VersionID || p.Revision != 3 {
				t.Errorf("ann r1: photo %+v", p)
			}
			if got[1].VersionID != p3.VersionID || got[1].Photo != nil {
				t.Errorf("ann r2: version %s (want %s), photo %v (want nil: no longer current)", got[1].VersionID, p3.VersionID, got[1].Photo)
			}
			if got[4].Photo != nil || got[4].VersionID == "" {
				t.Errorf("ben's delete: version %q photo %v", got[4].VersionID, got[4].Photo)
			}

			// Acknowledged: nothing left, nothing delivered again.
			for _, u := range []string{"ann", "ben"} {
				if got := photo.OutboxRevisions(t, ba, u); len(got) != 0 {
					t.Errorf("%s's record still holds %v", u, got)
				}
			}
			again := &eventLog{}
			mc, _ := open(da, again)
			clock.add(time.Hour)
			if _, err := mc.Sweep(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if got := again.take(); len(got) != 0 {
				t.Errorf("a third Sweep delivered %v", summaries(got))
			}
			// The photos are as they were.
			if p, err := mc.Get(ctx, "ann"); err != nil || p.VersionID != p1.VersionID || p.Revision != 3 {
				t.Errorf("ann: %+v %v", p, err)
			}
		})
	}
}

// TestEventAcksUnderConcurrentCommits: acknowledgements racing commits
// of the same user remove exactly the events accepted: the refused ones
// (odd revisions) stay, every commit landed, and conditional writes are
// not refused because an acknowledgement rewrote the record.
func TestEventAcksUnderConcurrentCommits(t *testing.T) {
	for _, st := range hookStores() {
		t.Run(st.name, func(t *testing.T) {
			l := &eventLog{fail: func(e photo.Event) error {
				if e.Revision%2 == 1 {
					return errors.New("odd")
				}
				return nil
			}}
			b := st.open(t)
			m, err := photo.New(b, &photo.Options{Sizes: []int{16}, OnDemandSizes: []int{}, KeepVersions: 1,
				Logger: discardLogger(), OnChange: l.onChange})
			if err != nil {
				t.Fatal(err)
			}
			photo.SetEventBackoff(m, time.Millisecond)
			ctx := context.Background()
			a, err := m.Set(ctx, "ann", bytes.NewReader(testJPEG(t, 1)), nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := m.Set(ctx, "ann", bytes.NewReader(testJPEG(t, 2)), nil)
			if err != nil {
				t.Fatal(err)
			}
			// Restores commit without rendering: many commits, fast, each
			// followed by an acknowledgement (or three refusals).
			const workers, each = 4, 10
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						v := a.VersionID
						if (w+i)%2 == 1 {
							v = c.VersionID
						}
						for {
							p, err := m.Get(ctx, "ann")
							if err != nil {
								t.Error(err)
								return
							}
							if p.VersionID == v {
								v = map[string]string{a.VersionID: c.VersionID, c.VersionID: a.VersionID}[v]
							}
							_, err = m.Restore(ctx, "ann", v, &photo.SetOptions{IfRevision: p.Revision})
							if errors.Is(err, photo.ErrConflict) {
								// Another worker's restore came first, or else
								// the conflict was spurious (an acknowledgement
								// rewrote the record, not the revision).
								if q, err := m.Get(ctx, "ann"); err == nil && q.Revision == p.Revision {
									t.Errorf("a conditional restore at revision %d was refused, and the revision is still %d", p.Revision, q.Revision)
									return
								}
								continue
							}
							if err != nil {
								t.Error(err)
							}
							break
						}
					}
				})
			}
			wg.Wait()
			photo.WaitEvents(m)
			p, err := m.Get(ctx, "ann")
			if err != nil {
				t.Fatal(err)
			}
			const commits = 2 + workers*each
			if p.Revision != commits {
				t.Fatalf("revision %d, want %d", p.Revision, commits)
			}
			var want []int64
			for r := int64(1); r <= commits; r += 2 {
				want = append(want, r)
			}
			if got := photo.OutboxRevisions(t, b, "ann"); !slices.Equal(got, want) {
				t.Fatalf("the record holds %v, want the refused %v", got, want)
			}
		})
	}
}

// TestEventOutboxBound: a record keeps at most 64 unacknowledged events;
// each event recorded when it is full drops the oldest and counts it in
// its Dropped, which Sweep's deliveries carry.
func TestEventOutboxBound(t *testing.T) {
	clock := newTestClock()
	down := &eventLog{fail: func(photo.Event) error { return errors.New("down") }}
	b := photo.NewTestBucket(t)
	opts := &photo.Options{Sizes: []int{16}, OnDemandSizes: []int{}, KeepVersions: 1, Now: clock.Now,
		Logger: discardLogger(), OnChange: down.onChange}
	m, err := photo.New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	photo.SetEventBackoff(m, time.Microsecond)
	ctx := context.Background()
	a, err := m.Set(ctx, "ann", bytes.NewReader(testJPEG(t, 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.Set(ctx, "ann", bytes.NewReader(testJPEG(t, 2)), nil)
	if err != nil {
		t.Fatal(err)
	}
	const commits = 70
	for i := 3; i <= commits; i++ {
		v := a.VersionID
		if i%2 == 0 {
			v = c.VersionID
		}
		if _, err := m.Restore(ctx, "ann", v, nil); err != nil {
			t.Fatal(err)
		}
	}
	photo.WaitEvents(m)
	var want []int64
	for r := int64(commits - 63); r <= commits; r++ {
		want = append(want, r)
	}
	if got := photo.OutboxRevisions(t, b, "ann"); !slices.Equal(got, want) {
		t.Fatalf("the record holds %v, want %v", got, want)
	}
	up := &eventLog{}
	opts.OnChange = up.onChange
	m2, err := photo.New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	clock.add(time.Hour)
	if _, err := m2.Sweep(ctx, 0); err != nil {
		t.Fatal(err)
	}
	got := up.take()
	if len(got) != 64 || got[0].Revision != commits-63 || got[63].Revision != commits {
		t.Fatalf("Sweep delivered %d events %v", len(got), summaries(got))
	}
	var dropped int64
	for _, e := range got {
		dropped += e.Dropped
		if want := int64(0); e.Revision > 64 {
			want = 1
			if e.Dropped != want {
				t.Errorf("%s: dropped %d, want %d", summary(e), e.Dropped, want)
			}
		} else if e.Dropped != want {
			t.Errorf("%s: dropped %d, want %d", summary(e), e.Dropped, want)
		}
	}
	if dropped != commits-64 {
		t.Errorf("%d dropped in all, want %d", dropped, commits-64)
	}
}

// TestEventOutboxOnlyWithOnChange: without OnChange the record is as it
// always was, with no outbox; with it, the outbox is stored, and goes
// once acknowledged.
func TestEventOutboxOnlyWithOnChange(t *testing.T) {
	for _, st := range hookStores() {
		t.Run(st.name, func(t *testing.T) {
			b := st.open(t)
			ctx := context.Background()
			keys := func(user string) []string {
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(photo.RecordJSON(t, b, user), &obj); err != nil {
					t.Fatal(err)
				}
				var ks []string
				for k := range obj {
					ks = append(ks, k)
				}
				slices.Sort(ks)
				return ks
			}
			plain, err := photo.New(b, &photo.Options{Sizes: []int{16}, OnDemandSizes: []int{}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := plain.Set(ctx, "ann", bytes.NewReader(testJPEG(t, 1)), nil); err != nil {
				t.Fatal(err)
			}
			before := []string{"commit", "current", "revision", "updated", "userId", "v"}
			if got := keys("ann"); !slices.Equal(got, before) {
				t.Fatalf("record fields without OnChange: %v, want %v", got, before)
			}
			if err := plain.Delete(ctx, "ann", nil); err != nil {
				t.Fatal(err)
			}
			if got := keys("ann"); slices.Contains(got, "outbox") {
				t.Fatalf("a delete without OnChange stored an outbox: %v", got)
			}

			refuse := &eventLog{fail: func(photo.Event) error { return errors.New("no") }}
			m, err := photo.New(b, &photo.Options{Sizes: []int{16}, OnDemandSizes: []int{}, Logger: discardLogger(), OnChange: refuse.onChange})
			if err != nil {
				t.Fatal(err)
			}
			photo.SetEventBackoff(m, time.Microsecond)
			if _, err := m.Set(ctx, "ben", bytes.NewReader(testJPEG(t, 1)), nil); err != nil {
				t.Fatal(err)
			}
			photo.WaitEvents(m)
			if got := keys("ben"); !slices.Contains(got, "outbox") {
				t.Fatalf("a refused event left no outbox: %v", got)
			}
			accept := &eventLog{}
			m2, err := photo.New(b, &photo.Options{Sizes: []int{16}, OnDemandSizes: []int{}, OnChange: accept.onChange})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m2.Set(ctx, "cyd", bytes.NewReader(testJPEG(t, 1)), nil); err != nil {
				t.Fatal(err)
			}
			photo.WaitEvents(m2)
			if got := keys("cyd"); !slices.Equal(got, before) {
				t.Fatalf("record fields after an acknowledged event: %v, want %v", got, before)
			}
			if n := len(accept.take()); n != 1 {
				t.Errorf("%d deliveries, want 1", n)
			}
		})
	}
}
