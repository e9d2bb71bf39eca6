package photo

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
)

// Import is a URL import in progress, as StartImport began it: the user's
// photo reads as downloading until Finish or Fail is called, or
// Options.ImportTimeout passes. Call Finish or Fail once; an Import may be
// handed to another goroutine. A newer StartImport, Set or Delete of the
// user supersedes it: Finish and Fail then return ErrConflict.
type Import struct {
	// Photo is the user's photo as the import began: Status is
	// StatusDownloading, and the previous version, if any, is described.
	Photo *Photo

	m      *Manager
	userID string
	id     string
}

// StartImport marks the user's photo as downloading from source (a URL,
// kept for the record without its user name and password, at most 2048
// bytes) and returns the import. The current photo, if any, stays current
// and served.
func (m *Manager) StartImport(ctx context.Context, userID, source string) (*Import, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	id := newNonce(10)
	source = recordableSource(source)
	rec, _, err := m.commit(ctx, userID, 0, func(rec *record) error {
		rec.Pending = &pending{ID: id, Source: source, Started: m.cfg.now().UTC()}
		return nil
	})
	if err != nil {
		return nil, wrapErr(err, "start import for %q", userID)
	}
	return &Import{Photo: m.photo(rec), m: m, userID: userID, id: id}, nil
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

// Finish is Set with the downloaded bytes: it commits only while the
// import is still the pending one, and returns ErrConflict otherwise (the
// new photo is then discarded). Bytes that Set refuses (an *Error matching
// ErrInvalidInput) are recorded as the import's failure, and the refusal
// is returned.
func (im *Import) Finish(ctx context.Context, r io.Reader, opts *SetOptions) (*Photo, error) {
	p, err := im.m.set(ctx, im.userID, r, opts, setArgs{importID: im.id})
	if errors.Is(err, ErrInvalidInput) {
		if fe := im.Fail(ctx, err); fe != nil && !errors.Is(fe, ErrConflict) {
			return nil, errors.Join(err, fe)
		}
	}
	return p, err
}

// Fail records that the import failed with cause: an *Error's Code and
// SafeMessage (an application may make one, with CodeURLNotAllowed or
// CodeDownloadFailed, say), or CodeDownloadFailed with "the download
// failed" for any other error, whose text is never stored. It returns
// ErrConflict if the import is no longer the pending one.
func (im *Import) Fail(ctx context.Context, cause error) error {
	f := &failure{Code: CodeDownloadFailed, Message: CodeDownloadFailed.message()}
	var e *Error
	if errors.As(cause, &e) {
		f = &failure{Code: e.Code, Message: e.SafeMessage()}
	}
	_, _, err := im.m.commit(ctx, im.userID, 0, func(rec *record) error {
		if rec.Pending == nil || rec.Pending.ID != im.id || rec.Pending.Failed != nil {
			return &Error{Code: ErrConflict, Message: "the import is no longer pending"}
		}
		rec.Pending.Failed = f
		return nil
	})
	if err != nil {
		return wrapErr(err, "fail import for %q", im.userID)
	}
	return nil
}
