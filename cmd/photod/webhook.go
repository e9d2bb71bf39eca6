package main

// Webhooks: every committed change of a photo (photo.Options.OnChange) is
// posted as signed JSON to each -webhook URL, through the same
// SSRF-safe policy as URL imports, with retries and a bounded queue.
//
// Delivery is at least once end to end: OnChange returns nil, which
// acknowledges the event to the library, only once every URL answered
// 2xx. Until then the event stays in the user's record, and a failure
// (retries exhausted, the queue full, a shutdown, a crash) leaves it
// there for the library to deliver again: in process after a few
// seconds, then by the janitor's Sweep, in whichever instance runs it,
// once the event is webhookRedeliverAfter old.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/safefetch"
)

// The headers of a webhook request. The signature is the HMAC-SHA256,
// keyed with the secret, of the timestamp, a dot and the body: a receiver
// recomputes it, compares in constant time, and refuses a timestamp too
// far from its clock (a replay).
const (
	headerSignature = "X-Photo-Signature" // "sha256=" and the HMAC in hex
	headerTimestamp = "X-Photo-Timestamp" // Unix seconds of the attempt
	headerEventID   = "X-Photo-Event-Id"  // the same on every attempt: receivers deduplicate by it
)

// webhookSecretEnv names the environment variable that holds the secret
// when -webhook-secret-file is not given.
const webhookSecretEnv = "PHOTOD_WEBHOOK_SECRET"

// minSecretBytes is the shortest secret accepted.
const minSecretBytes = 16

// webhookRedeliverAfter is photo.Options.RedeliverAfter with webhooks:
// longer than the library's minute, since one OnChange may take as long
// as a URL's attempts (6 of at most 10 s, with about 30 s of backoff),
// and the library tries it three times before leaving it to Sweep. A
// Sweep that came sooner would post events still being delivered.
const webhookRedeliverAfter = 5 * time.Minute

// webhookSettings configure webhooks; zero fields take the defaults.
type webhookSettings struct {
	urls   []string
	secret []byte
	// allow is -url-import-allow: networks besides public addresses.
	allow []netip.Prefix
	// queue bounds the events waiting for each URL; default 1000. When
	// full, the oldest is dropped (its OnChange fails: the library
	// delivers it again). OnChange waits for its event, so the queue
	// holds more than one only when a Sweep and the live delivery of
	// different Managers share the webhooks.
	queue int
	// attempts bounds the tries of one event; default 6.
	attempts int
	// timeout bounds one attempt; default 10s.
	timeout time.Duration
	// backoff is the wait before the first retry, doubled for each next
	// one up to maxBackoff, each wait drawn between its half and itself;
	// defaults 1s and 1m.
	backoff, maxBackoff time.Duration
	// resolver and dial replace the network's, for tests.
	resolver safefetch.Resolver
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	log      *slog.Logger
	now      func() time.Time
}

// webhooks delivers events to every URL, each URL by a goroutine of its
// own so that a slow receiver delays only itself.
type webhooks struct {
	targets []*webhookTarget
	log     *slog.Logger
}

// webhookTarget is one URL's queue and its delivery goroutine.
type webhookTarget struct {
	url   string
	s     *webhookSettings
	fetch *safefetch.Fetcher

	ctx    context.Context // cancelled when draining must stop
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine ends

	mu      sync.Mutex
	queue   []webhookEvent
	closing bool
	wake    chan struct{} // a token when there is something new
	// counters, for the logs
	delivered, failed, dropped int64
}

// webhookEvent is one event's body and ID, and where its outcome goes
// (nil when nobody waits): nil once posted, else why not.
type webhookEvent struct {
	id     string
	body   []byte
	result chan<- error
}

// report sends e's outcome to whoever waits for it.
func (e webhookEvent) report(err error) {
	if e.result != nil {
		e.result <- err
	}
}

// newWebhooks checks the URLs against the policy and starts a goroutine
// per URL. It returns nil when there is no URL.
func newWebhooks(s webhookSettings) (*webhooks, error) {
	if len(s.urls) == 0 {
		return nil, nil
	}
	if len(s.secret) < minSecretBytes {
		return nil, fmt.Errorf("photod: -webhook needs a secret of at least %d bytes in -webhook-secret-file or $%s", minSecretBytes, webhookSecretEnv)
	}
	if s.queue <= 0 {
		s.queue = 1000
	}
	if s.attempts <= 0 {
		s.attempts = 6
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	if s.backoff <= 0 {
		s.backoff = time.Second
	}
	if s.maxBackoff < s.backoff {
		s.maxBackoff = max(time.Minute, s.backoff)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	f := safefetch.New(&safefetch.Options{
		Allow:       s.allow,
		Timeout:     s.timeout,
		IdleTimeout: s.timeout,
		UserAgent:   "photod-webhook/1",
		Resolver:    s.resolver,
		Dial:        s.dial,
	})
	w := &webhooks{log: s.log}
	for _, u := range s.urls {
		if err := f.Check(u); err != nil {
			return nil, fmt.Errorf("photod: -webhook %s: %w", redactURL(u), err)
		}
		t := &webhookTarget{url: u, s: &s, fetch: f, done: make(chan struct{}), wake: make(chan struct{}, 1)}
		t.ctx, t.cancel = context.WithCancel(context.Background())
		w.targets = append(w.targets, t)
		go t.run()
	}
	return w, nil
}

// redactURL is u without its query and user information, for logs: they
// may carry a token of the receiver's.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			u = u[:j+3] + u[i+1:]
		}
	}
	return u
}

// eventBody is the JSON posted for an event.
type eventBody struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"` // "photo.set", "photo.delete", "photo.restore"
	UserID    string     `json:"userId"`
	VersionID string     `json:"versionId,omitempty"`
	Revision  int64      `json:"revision"`
	Time      time.Time  `json:"time"`
	Dropped   int64      `json:"dropped,omitempty"` // earlier events of the user dropped undelivered (photo.Event.Dropped)
	Photo     *photoBody `json:"photo,omitempty"`
}

type photoBody struct {
	Width      int             `json:"width"`
	Height     int             `json:"height"`
	SourceType string          `json:"sourceType"`
	Renditions []renditionBody `json:"renditions"`
}

type renditionBody struct {
	Size        int    `json:"size"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ContentType string `json:"contentType"`
}

// eventID names an event: the user (hashed, as a user ID may hold
// anything) and the revision, which together are unique.
func eventID(ev photo.Event) string {
	sum := sha256.Sum256([]byte(ev.UserID))
	return hex.EncodeToString(sum[:8]) + "-" + strconv.FormatInt(ev.Revision, 10)
}

// encodeEvent is the body posted for ev.
func encodeEvent(ev photo.Event) webhookEvent {
	b := eventBody{ID: eventID(ev), Type: "photo." + ev.Kind, UserID: ev.UserID, VersionID: ev.VersionID,
		Revision: ev.Revision, Time: ev.Time.UTC(), Dropped: ev.Dropped}
	if p := ev.Photo; p != nil {
		pb := &photoBody{Width: p.Width, Height: p.Height, SourceType: p.SourceType, Renditions: []renditionBody{}}
		for _, r := range p.Renditions {
			pb.Renditions = append(pb.Renditions, renditionBody{r.Size, r.Width, r.Height, r.ContentType})
		}
		b.Photo = pb
	}
	data, _ := json.Marshal(b) // plain fields: cannot fail
	return webhookEvent{id: b.ID, body: data}
}

// onChange is photo.Options.OnChange: it queues ev for every URL and
// waits until each posted it (nil: the library may forget the event) or
// gave up on it, or ctx is done (an error: the library delivers the
// event again, and each URL may get it twice: receivers deduplicate by
// id).
func (w *webhooks) onChange(ctx context.Context, ev photo.Event) error {
	return w.send(ev).wait(ctx)
}

// sending is an event queued for every URL.
type sending struct {
	results chan error
	n       int
}

// send queues ev for every URL and returns at once.
func (w *webhooks) send(ev photo.Event) *sending {
	e := encodeEvent(ev)
	s := &sending{results: make(chan error, len(w.targets)), n: len(w.targets)}
	e.result = s.results
	for _, t := range w.targets {
		t.push(e)
	}
	return s
}

// wait returns nil once every URL posted the event, else the first
// failure, or ctx's error when ctx is done first.
func (s *sending) wait(ctx context.Context) error {
	var errs []error
	for range s.n {
		select {
		case err := <-s.results:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// push queues e, dropping the oldest event when the queue is full.
func (t *webhookTarget) push(e webhookEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		t.dropped++
		t.s.log.Warn("photod: webhook: an event came after shutdown began; left for redelivery", "url", redactURL(t.url), "event", e.id)
		e.report(fmt.Errorf("webhook %s: shutting down", redactURL(t.url)))
		return
	}
	if len(t.queue) >= t.s.queue {
		t.dropped++
		t.s.log.Warn("photod: webhook: the queue is full; the oldest event was dropped (left for redelivery)",
			"url", redactURL(t.url), "event", t.queue[0].id, "dropped_total", t.dropped)
		t.queue[0].report(fmt.Errorf("webhook %s: dropped from a full queue", redactURL(t.url)))
		t.queue = t.queue[1:]
	}
	t.queue = append(t.queue, e)
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// next waits for the next event; false when the target is closing and
// its queue is empty.
func (t *webhookTarget) next() (webhookEvent, bool) {
	for {
		if t.ctx.Err() != nil {
			return webhookEvent{}, false
		}
		t.mu.Lock()
		if len(t.queue) > 0 {
			e := t.queue[0]
			t.queue = t.queue[1:]
			t.mu.Unlock()
			return e, true
		}
		closing := t.closing
		t.mu.Unlock()
		if closing {
			return webhookEvent{}, false
		}
		select {
		case <-t.wake:
		case <-t.ctx.Done():
			return webhookEvent{}, false
		}
	}
}

// run delivers events one after another, in order, until closed.
func (t *webhookTarget) run() {
	defer close(t.done)
	for {
		e, ok := t.next()
		if !ok {
			return
		}
		t.deliver(e)
	}
}

// deliver posts e, retrying network failures, 5xx and 429 answers with
// backoff, at most s.attempts times.
func (t *webhookTarget) deliver(e webhookEvent) {
	wait := t.s.backoff
	for attempt := 1; ; attempt++ {
		status, err := t.post(e)
		retry := false
		switch {
		case err == nil && status >= 200 && status < 300:
			t.count(&t.delivered)
			t.s.log.Debug("photod: webhook delivered", "url", redactURL(t.url), "event", e.id, "attempt", attempt)
			e.report(nil)
			return
		case err != nil:
			var fe *safefetch.Error
			retry = !(errors.As(err, &fe) && (fe.Kind == safefetch.KindNotAllowed || fe.Kind == safefetch.KindInvalidURL))
		default:
			retry = status >= 500 || status == http.StatusTooManyRequests
		}
		if !retry || attempt >= t.s.attempts || t.ctx.Err() != nil {
			t.count(&t.failed)
			t.s.log.Warn("photod: webhook gave up on an event; left for redelivery", "url", redactURL(t.url), "event", e.id,
				"attempts", attempt, "status", status, "err", err)
			if err == nil {
				err = fmt.Errorf("status %d", status)
			}
			e.report(fmt.Errorf("webhook %s: %w", redactURL(t.url), err))
			return
		}
		// Full jitter over the upper half of the wait.
		d := wait/2 + rand.N(wait/2+1)
		t.s.log.Info("photod: webhook attempt failed; retrying", "url", redactURL(t.url), "event", e.id,
			"attempt", attempt, "status", status, "err", err, "in", d)
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-t.ctx.Done():
			timer.Stop()
		}
		wait = min(2*wait, t.s.maxBackoff)
	}
}

func (t *webhookTarget) count(c *int64) {
	t.mu.Lock()
	*c++
	t.mu.Unlock()
}

// post makes one signed attempt.
func (t *webhookTarget) post(e webhookEvent) (int, error) {
	ts := strconv.FormatInt(t.s.now().Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(headerTimestamp, ts)
	h.Set(headerEventID, e.id)
	h.Set(headerSignature, "sha256="+sign(t.s.secret, ts, e.body))
	return t.fetch.Post(t.ctx, t.url, h, e.body)
}

// sign is the hex HMAC-SHA256 of timestamp, ".", body.
func sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// shutdown stops taking events and delivers those queued until ctx is
// done, then abandons the rest (an attempt in flight is cancelled; their
// OnChange fails, so they stay in the records for the next Sweep of any
// instance) and logs what each URL delivered, gave up and dropped.
func (w *webhooks) shutdown(ctx context.Context) error {
	if w == nil {
		return nil
	}
	for _, t := range w.targets {
		t.mu.Lock()
		t.closing = true
		t.mu.Unlock()
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	var failed error
	for _, t := range w.targets {
		select {
		case <-t.done:
		case <-ctx.Done():
			t.cancel()
			<-t.done
			failed = ctx.Err()
		}
		t.cancel()
		t.mu.Lock()
		left := len(t.queue)
		for _, e := range t.queue {
			e.report(fmt.Errorf("webhook %s: abandoned at shutdown", redactURL(t.url)))
		}
		t.queue = nil
		t.s.log.Info("photod: webhook stopped", "url", redactURL(t.url), "delivered", t.delivered,
			"failed", t.failed, "dropped", t.dropped, "abandoned", left)
		t.mu.Unlock()
	}
	if failed != nil {
		return fmt.Errorf("webhook events still queued at the shutdown timeout were abandoned: %w", failed)
	}
	return nil
}

// readWebhookSecret returns the secret from file, or else from the
// environment variable; surrounding white space (a final newline) is
// trimmed. The secret itself is never logged.
func readWebhookSecret(file string, getenv func(string) string) ([]byte, error) {
	if file == "" {
		return []byte(strings.TrimSpace(getenv(webhookSecretEnv))), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("photod: -webhook-secret-file: %w", err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}
