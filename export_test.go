package photo

import (
	"context"
	"io"
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
