package photo

import (
	"errors"
	"fmt"
)

// ErrQuotaExceeded is matched (errors.Is) by a refusal because the caller
// already holds as much as a quota allows: open uploads, files, file
// versions or their bytes. A *QuotaError says which quota. Unlike an input
// error, the same request may succeed once the caller has freed something.
var ErrQuotaExceeded = errors.New("photo: quota exceeded")

// QuotaError is the detail of a refusal matching ErrQuotaExceeded.
type QuotaError struct {
	// Quota names the quota: "uploads", "upload_bytes", "files",
	// "file_versions" or "file_bytes".
	Quota string
	// Limit is the quota's value (a count, or bytes).
	Limit int64
}

// Error implements error.
func (e *QuotaError) Error() string {
	return fmt.Sprintf("photo: quota exceeded: at most %d %s", e.Limit, quotaUnits[e.Quota])
}

// Is reports whether target is ErrQuotaExceeded.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }

var quotaUnits = map[string]string{
	"uploads":       "open uploads per user",
	"upload_bytes":  "bytes of open uploads per user",
	"files":         "files per user",
	"file_versions": "versions per file",
	"file_bytes":    "bytes of files per user",
}

// ErrBusy is returned when the Manager has no room to do the work now (its
// memory budget or rendering slots stay taken for longer than a caller may
// wait). Nothing changed; the same call may succeed later, so it is the one
// error that asks to be retried.
var ErrBusy = errors.New("photo: busy, try again later")
