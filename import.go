package photo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// ImportCode says why a URL import failed.
type ImportCode string

// The import failure codes besides the Codes of *Error, which an import
// also reports when the downloaded bytes are refused.
const (
	// ImportNotAllowed: the URL's scheme or address is refused by policy.
	ImportNotAllowed ImportCode = "url-not-allowed"
	// ImportDownloadFailed: the download failed (status, timeout, network).
	ImportDownloadFailed ImportCode = "download-failed"
	// ImportInterrupted: the import never finished (its process stopped).
	ImportInterrupted ImportCode = "download-interrupted"
)

// ImportError says why an import failed. Message is safe to show.
type ImportError struct {
	Code    ImportCode `json:"code"`
	Message string     `json:"message"`
}

// Error implements error.
func (e *ImportError) Error() string {
	return "photo: import failed: " + string(e.Code) + ": " + e.Message
}

// BeginImport marks the user's photo as downloading from source (a URL,
// kept for the record) and returns the import's ID. The current photo, if
// any, stays current and served. Finish the import with CompleteImport or
// FailImport; a newer BeginImport, Set or Delete supersedes it.
func (m *Manager) BeginImport(ctx context.Context, userID, source string) (string, *Photo, error) {
	if err := checkUserID(userID); err != nil {
		return "", nil, err
	}
	id := newNonce(10)
	source = recordableSource(source)
	rec, _, err := m.commit(ctx, userID, 0, func(rec *record) error {
		rec.Pending = &pending{ID: id, Source: source, Started: m.cfg.now().UTC()}
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("photo: begin import for %q: %w", userID, err)
	}
	return id, m.photo(rec), nil
}

// maxSourceLen bounds the source an import keeps in the user's record.
const maxSourceLen = 2048

// recordableSource is what of an import's source the record may keep: a
// URL without the user name and password it may carry, at most
// maxSourceLen bytes.
func recordableSource(source string) string {
	if u, err := url.Parse(source); err == nil && u.User != nil {
		u.User = nil
		source = u.String()
	}
	if len(source) > maxSourceLen {
		source = strings.ToValidUTF8(source[:maxSourceLen], "")
	}
	return source
}

// CompleteImport is Set for the import importID: it commits only if that
// import is still the pending one, and fails with ErrConflict otherwise (the
// new photo is then discarded). Refused bytes mark the import failed.
func (m *Manager) CompleteImport(ctx context.Context, userID, importID string, r io.Reader, opts *SetOptions) (*Photo, error) {
	var o SetOptions
	if opts != nil {
		o = *opts
	}
	o.importID = importID
	p, err := m.Set(ctx, userID, r, &o)
	var ie *Error
	if errors.As(err, &ie) {
		// The message is shown as it is: without the package prefix.
		msg := strings.TrimPrefix(ie.Error(), "photo: ")
		fe := m.FailImport(ctx, userID, importID, &ImportError{Code: ImportCode(ie.Code), Message: msg})
		if fe != nil && !errors.Is(fe, ErrConflict) {
			return nil, errors.Join(err, fe)
		}
	}
	return p, err
}

// FailImport records that the import importID failed with cause; an
// *ImportError cause keeps its code, any other becomes download-failed. It
// returns ErrConflict if the import is no longer the pending one.
func (m *Manager) FailImport(ctx context.Context, userID, importID string, cause error) error {
	ie := &ImportError{Code: ImportDownloadFailed, Message: "the download failed"}
	var e *ImportError
	if errors.As(cause, &e) {
		ie = e
	}
	_, _, err := m.commit(ctx, userID, 0, func(rec *record) error {
		if rec.Pending == nil || rec.Pending.ID != importID || rec.Pending.Failed != nil {
			return fmt.Errorf("%w: import %s is not pending", ErrConflict, importID)
		}
		rec.Pending.Failed = ie
		return nil
	})
	if err != nil {
		return fmt.Errorf("photo: fail import for %q: %w", userID, err)
	}
	return nil
}
