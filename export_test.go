package photo

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/profilephoto/photo/storage"
)

// NewTestBucket is newBucket for the tests of package photo_test.
var NewTestBucket = newBucket

// OpenFileVersion opens version n of a file, for tests that check what a
// file's record lists.
func OpenFileVersion(m *Manager, ctx context.Context, fileID string, n int) (io.ReadCloser, error) {
	r, _, err := m.openFile(ctx, fileID, n)
	return r, err
}

// WaitEvents waits until every queued Event has reached Options.OnChange.
func WaitEvents(m *Manager) {
	if m.events != nil {
		m.events.wait()
	}
}

// TestdataDir is testdataDir for the tests of package photo_test.
var TestdataDir = testdataDir

// DefaultCacheLen returns the number of default photos the Manager keeps
// and what they count against Options.DefaultCacheBytes.
func DefaultCacheLen(m *Manager) (int, int64) { return m.defaults.len() }

// SetEventBackoff sets the wait before the first in-process retry of an
// event that OnChange refused.
func SetEventBackoff(m *Manager, d time.Duration) {
	m.events.mu.Lock()
	m.events.backoff = d
	m.events.mu.Unlock()
}

// RecordJSON returns the user's record as stored.
func RecordJSON(t testing.TB, b *storage.Bucket, userID string) []byte {
	t.Helper()
	r, err := b.Open(context.Background(), recordKey(userID))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// OutboxRevisions returns the revisions of the events that the user's
// record holds unacknowledged.
func OutboxRevisions(t testing.TB, b *storage.Bucket, userID string) []int64 {
	t.Helper()
	var rec record
	if err := json.Unmarshal(RecordJSON(t, b, userID), &rec); err != nil {
		t.Fatal(err)
	}
	var revs []int64
	for _, e := range rec.Outbox {
		revs = append(revs, e.Revision)
	}
	return revs
}
