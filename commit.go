package photo

// The commit protocol: a Set writes its blobs under a prefix of its own,
// then switches the user's record with a compare-and-swap on its ETag,
// then removes what the record no longer references.

import (
	"context"
	"errors"
	"time"

	"github.com/profilephoto/photo/storage"
)

// commit applies change to the user's record with a compare-and-swap,
// retrying when another writer came first (unless ifRevision pins the
// revision and the other writer changed it, in which case the loser gets
// ErrConflict: an acknowledgement of events rewrites the record without a
// new revision). It returns the new
// record and the one that it replaced (a record without a version when
// there was none); dropUnreferenced removes what only the latter
// referenced. change must not modify the slices of the record it is
// given in place: they are shared with the previous record.
//
// A Put that fails may have been applied all the same: S3 reports a write
// whose response was lost (a timeout, a cancellation that came too late)
// as an error, and its SDK retries a conditional write whose first attempt
// was applied, which the retry then reports as a lost precondition. So
// after a failed Put commit reads the record again, and a record carrying
// the attempt's nonce means that the write happened. An error whose write
// may yet happen (the request may still be on its way) is an
// *unsettledError: the caller must not remove what the write references.
func (m *Manager) commit(ctx context.Context, userID string, ifRevision int64, change func(*record) error) (*record, *record, error) {
	for attempt := 0; ; attempt++ {
		rec, etag, err := loadRecord(ctx, m.bucket, userID)
		if err != nil {
			return nil, nil, err
		}
		if rec == nil {
			rec = &record{UserID: userID}
		}
		if ifRevision != 0 && rec.Revision != ifRevision {
			if attempt > 0 {
				return nil, nil, &Error{Code: ErrConflict, Message: "the photo changed meanwhile"}
			}
			return nil, nil, inputError(ErrConflict, nil, "the revision is %d, not %d", rec.Revision, ifRevision)
		}
		next := *rec
		if err := change(&next); err != nil {
			return nil, nil, err
		}
		next.Revision++
		next.Updated = m.cfg.now().UTC()
		next.Commit = newNonce(10)
		if m.events != nil && next.emit != nil {
			// The change's event goes into the record in the same
			// write, so that it outlives this process (events.go).
			next.addEvent(*next.emit)
		}
		err = storeRecord(ctx, m.bucket, &next, etag)
		if err == nil {
			return &next, rec, nil
		}
		if m.landed(ctx, userID, next.Commit) {
			return &next, rec, nil
		}
		if !errors.Is(err, storage.ErrPrecondition) {
			return nil, nil, &unsettledError{err}
		}
		if attempt >= 100 {
			return nil, nil, wrapErr(err, "record of %q keeps changing", userID)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
	}
}

// unsettledError is a failed write that may still happen or have happened.
type unsettledError struct{ err error }

func (e *unsettledError) Error() string { return e.err.Error() }
func (e *unsettledError) Unwrap() error { return e.err }

// landed reports whether the user's record is the one that the write with
// nonce commit made. It reads on a context of its own, as the caller's may
// be what failed the write.
func (m *Manager) landed(ctx context.Context, userID, commit string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	rec, _, err := loadRecord(ctx, m.bucket, userID)
	return err == nil && rec != nil && rec.Commit == commit
}

// abandon cleans up after a Set whose commit failed with err: it removes
// the blobs under prefix unless a record may reference them. A record that
// does reference them means that the Set happened after all (its write
// was applied, then a later change such as StartImport kept the version):
// abandon then returns that photo and record, and the Set succeeded. Blobs whose fate
// is unknown (the record could not be read, or err says the write may
// still be applied) are left for Sweep, which judges them once they are
// older than its grace period.
func (m *Manager) abandon(ctx context.Context, userID, prefix string, err error) (*Photo, *record) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	rec, _, lerr := loadRecord(rctx, m.bucket, userID)
	cancel()
	switch {
	case lerr != nil:
		m.cfg.log.Warn("photo: cannot tell whether a failed Set is referenced; Sweep will judge its blobs", "prefix", prefix, "err", lerr)
		return nil, nil
	case rec != nil && rec.Current != nil && rec.Current.Prefix == prefix:
		return m.photo(rec), rec
	case rec.references(prefix):
		// The Set happened, and a later one already replaced it; the
		// version is kept in the history.
		return nil, nil
	}
	var unsettled *unsettledError
	if errors.As(err, &unsettled) {
		m.cfg.log.Info("photo: a Set's commit failed and may yet be applied; Sweep will judge its blobs", "prefix", prefix, "err", err)
		return nil, nil
	}
	m.discard(ctx, prefix)
	return nil, nil
}

// dropUnreferenced removes, after a commit that replaced prev with next,
// the blobs of the versions that prev referenced and next does not: a
// replaced current version that is not kept, a kept one dropped from the
// history. A version's prefix is unique to the Set that wrote it and no
// change ever puts a version back once it left the record (a restore only
// moves one from the history to current), so blobs removed here can never
// be referenced again.
func (m *Manager) dropUnreferenced(ctx context.Context, prev, next *record) {
	for _, v := range prev.versions() {
		if !next.references(v.Prefix) {
			m.discard(ctx, v.Prefix)
		}
	}
}

// discard removes blobs that no record references, on a context of its own
// so that a cancelled Set still cleans up after itself. Failures only leave
// garbage for Sweep.
func (m *Manager) discard(ctx context.Context, prefix string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := deletePrefix(ctx, m.bucket, prefix); err != nil {
		m.cfg.log.Warn("photo: clean-up failed; Sweep will remove the blobs", "prefix", prefix, "err", err)
	}
}
