package photo

// Per-user quotas on what waits in storage: open resumable uploads and
// stored files.
//
// Counting what a user holds needs state that every instance sharing the
// store sees, so each user has an index object per kind:
//
//	quotas/<user hash>/uploads.json  one entry per open upload: declared length, expiry
//	quotas/<user hash>/files.json    one entry per file: bytes of its versions, expiry
//
// An index is only ever replaced with a compare-and-swap on its ETag, so
// concurrent creates by one user, in any number of processes, are
// serialised by the store: each must win a swap that saw every earlier
// entry, and none can overshoot. The index errs on the side of counting
// too much, never too little:
//
//   - an entry is added (or grown) before the upload or file it stands for
//     is written, and removed only after that is gone;
//   - an entry carries its object's expiry and is dropped once that passes,
//     so a crash between the two writes never locks a user out for longer
//     than the object would have lived;
//   - when a reservation would be refused, entries that have not changed
//     (or been checked) for quotaSettle are checked against their objects:
//     an entry whose upload or file is gone is dropped, and one whose
//     object exists takes its bytes and expiry from the object's record.
//     So what a crash leaves costs a user at most quotaSettle of waiting,
//     and a user asking again and again at a full quota costs at most one
//     read per entry per quotaSettle.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/profilephoto/photo/storage"
)

// Quotas bound what one user may keep in storage at once. A zero field
// takes its default; a negative one turns that quota off. Refusals are
// *Error values with ErrQuotaExceeded, whose message names the quota.
type Quotas struct {
	// Uploads is the most open resumable uploads (created, not yet used,
	// deleted or expired) per user. Default 10.
	Uploads int
	// UploadBytes bounds the sum of the declared lengths of a user's open
	// uploads. Default 200 MiB.
	UploadBytes int64
	// Files is the most stored files per user. Default 20.
	Files int
	// FileVersions is the most versions one file may have. Default 10;
	// negative means maxFileVersions, the hard bound, as does any larger
	// value.
	FileVersions int
	// FileBytes bounds the bytes of all versions of all of a user's files.
	// Default 200 MiB.
	FileBytes int64
	// FileTTL is how long a file that no photo was set from lives after
	// its latest version was stored. Expired files are not found, and
	// Sweep removes them. A file that a photo was set from
	// (SetFromFile) no longer expires: it stays, and counts, until
	// deleted; the photo itself holds its own renditions and never needs
	// the file. Default 24 hours; negative means that files never expire.
	FileTTL time.Duration
}

// maxQuotaEntries bounds a user's index of one kind whatever the options
// say, so that it stays a small object: a count quota that is off still
// allows no more than this many uploads (or files) per user while the
// kind's bytes quota is on. With both of a kind's quotas off no index is
// kept at all.
const maxQuotaEntries = 10000

// quotaSettle is how long an index entry must have stood unchanged before
// a refusal checks it against its object: the object is written within a
// moment of its entry, so an entry older than this whose object is missing
// was left by a crash.
const quotaSettle = time.Minute

func (q Quotas) withDefaults() Quotas {
	if q.Uploads == 0 {
		q.Uploads = 10
	}
	if q.UploadBytes == 0 {
		q.UploadBytes = 200 << 20
	}
	if q.Files == 0 {
		q.Files = 20
	}
	if q.FileVersions == 0 {
		q.FileVersions = 10
	}
	if q.FileVersions < 0 || q.FileVersions > maxFileVersions {
		q.FileVersions = maxFileVersions
	}
	if q.FileBytes == 0 {
		q.FileBytes = 200 << 20
	}
	if q.FileTTL == 0 {
		q.FileTTL = 24 * time.Hour
	}
	return q
}

// quotaIndex is what a user's index object holds.
type quotaIndex struct {
	V       int                   `json:"v,omitempty"`
	UserID  string                `json:"userId"`
	Entries map[string]quotaEntry `json:"entries"`
}

// quotaEntry is one upload or file of the index.
type quotaEntry struct {
	// Bytes is the upload's declared length, or the file's versions'.
	Bytes int64 `json:"b"`
	// Expires is when the object stops existing; zero for never.
	Expires time.Time `json:"e,omitzero"`
	// Changed is when the entry was last changed, or checked against its
	// object.
	Changed time.Time `json:"c"`
}

// quotaKind is what one index counts.
type quotaKind struct {
	name       string // the index object's name: uploads or files
	countQuota string // the names of its two quotas (see quotaError)
	bytesQuota string
	count      int64 // the limits, negative when off
	bytes      int64
	// truth reads the object that an entry stands for: its entry as the
	// object's record says, or ok false when the object is gone.
	truth func(ctx context.Context, id string) (e quotaEntry, ok bool, err error)
}

func (m *Manager) uploadQuota() *quotaKind {
	q := m.cfg.quotas
	return &quotaKind{name: "uploads", countQuota: "uploads", bytesQuota: "upload_bytes",
		count: int64(q.Uploads), bytes: q.UploadBytes,
		truth: func(ctx context.Context, key string) (quotaEntry, bool, error) {
			rec, _, err := m.readUploadRecord(ctx, key)
			if errors.Is(err, storage.ErrNotFound) {
				return quotaEntry{}, false, nil
			}
			if err != nil {
				return quotaEntry{}, false, err
			}
			return quotaEntry{Bytes: rec.Length, Expires: rec.Expires}, true, nil
		}}
}

func (m *Manager) fileQuota() *quotaKind {
	q := m.cfg.quotas
	return &quotaKind{name: "files", countQuota: "files", bytesQuota: "file_bytes",
		count: int64(q.Files), bytes: q.FileBytes,
		truth: func(ctx context.Context, id string) (quotaEntry, bool, error) {
			f, _, err := m.readFile(ctx, id)
			if errors.Is(err, ErrNotFound) {
				return quotaEntry{}, false, nil
			}
			if err != nil {
				return quotaEntry{}, false, err
			}
			return quotaEntry{Bytes: f.bytes(), Expires: m.fileExpires(f)}, true, nil
		}}
}

// off reports whether neither of the kind's quotas is on: then no index is
// kept.
func (k *quotaKind) off() bool { return k.count < 0 && k.bytes < 0 }

func quotaKey(userID, kind string) string {
	return "quotas/" + strings.TrimPrefix(userKey(userID), "users/") + "/" + kind + ".json"
}

// reserve adds grow bytes to the entry id of owner's index of kind k,
// making the entry if there is none, and moves its expiry to expires if
// that is later (zero is never: an entry's expiry only ever moves later,
// so it is never before its object's); it fails with a
// refusal with ErrQuotaExceeded if the index would then hold more than the quotas allow
// (growing a file already counted is refused only for its bytes).
func (m *Manager) reserve(ctx context.Context, k *quotaKind, owner, id string, grow int64, expires time.Time) error {
	if k.off() {
		return nil
	}
	count := k.count
	if count < 0 || count > maxQuotaEntries {
		count = maxQuotaEntries
	}
	checked := map[string]*quotaEntry{} // entries read from their objects; nil: gone
	key := quotaKey(owner, k.name)
	for attempt := 0; ; attempt++ {
		idx, etag, err := m.loadQuotaIndex(ctx, key, owner)
		if err != nil {
			return err
		}
		now := m.cfg.now()
		prune(idx, now)
		over := func() error {
			_, had := idx.Entries[id]
			total := grow
			for _, e := range idx.Entries {
				total += e.Bytes
			}
			switch {
			case !had && int64(len(idx.Entries)) >= count:
				return quotaError(k.countQuota, count)
			case k.bytes >= 0 && grow > 0 && total > k.bytes:
				return quotaError(k.bytesQuota, k.bytes)
			}
			return nil
		}
		qerr := over()
		changed := false
		if qerr != nil {
			// Before refusing, settle the entries that may be stale.
			for eid, e := range idx.Entries {
				if eid == id || now.Sub(e.Changed) < quotaSettle {
					continue
				}
				t, seen := checked[eid]
				if !seen {
					te, ok, err := k.truth(ctx, eid)
					if err != nil {
						// An object that cannot be read keeps its entry.
						m.cfg.log.Warn("photo: quota: cannot check an entry", "index", key, "entry", eid, "err", err)
						continue
					}
					if ok {
						t = &te
					}
					checked[eid] = t
				}
				// A present entry takes its object's word and is not
				// checked again for quotaSettle, so that a user who keeps
				// asking at a full quota costs one read per entry a
				// minute.
				if t == nil {
					delete(idx.Entries, eid)
				} else {
					t.Changed = now.UTC()
					idx.Entries[eid] = *t
				}
				changed = true
			}
			prune(idx, now)
			qerr = over()
		}
		if qerr == nil {
			e, had := idx.Entries[id]
			e.Bytes += grow
			if had {
				e.Expires = later(e.Expires, expires)
			} else {
				e.Expires = expires
			}
			e.Changed = now.UTC()
			idx.Entries[id] = e
			changed = true
		}
		if !changed {
			return qerr
		}
		_, err = putJSON(ctx, m.bucket, key, idx, etag)
		switch {
		case qerr != nil:
			// The refusal stands; the pruning was a courtesy.
			return qerr
		case err == nil:
			return nil
		case !errors.Is(err, storage.ErrPrecondition):
			// The entry may have been written all the same: it is then
			// dropped once checked, quotaSettle from now.
			return wrapErr(err, "quota index of %q", owner)
		case attempt >= 1000:
			return &Error{Code: ErrBusy, Message: "the quota index keeps changing; try again later"}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// unreserve removes the entry id from owner's index of kind k (shrink < 0),
// or takes shrink bytes off it; clean-up that runs after the object is
// gone or smaller. It works on a context detached from ctx and only logs a
// failure: the entry is then dropped when it expires or is checked.
func (m *Manager) unreserve(ctx context.Context, k *quotaKind, owner, id string, shrink int64) {
	if k.off() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	key := quotaKey(owner, k.name)
	for attempt := 0; ; attempt++ {
		idx, etag, err := m.loadQuotaIndex(ctx, key, owner)
		if err == nil {
			e, ok := idx.Entries[id]
			if !ok {
				return
			}
			if shrink < 0 || e.Bytes <= shrink {
				delete(idx.Entries, id)
			} else {
				e.Bytes -= shrink
				idx.Entries[id] = e
			}
			prune(idx, m.cfg.now())
			_, err = putJSON(ctx, m.bucket, key, idx, etag)
			if err == nil {
				return
			}
		}
		if !errors.Is(err, storage.ErrPrecondition) || attempt >= 100 {
			m.cfg.log.Warn("photo: quota: releasing an entry failed; it is dropped when it expires or is checked", "index", key, "entry", id, "err", err)
			return
		}
	}
}

// later returns the later of two expiries, zero meaning never.
func later(a, b time.Time) time.Time {
	if a.IsZero() || b.IsZero() {
		return time.Time{}
	}
	if a.After(b) {
		return a
	}
	return b
}

// prune drops the entries whose objects have expired.
func prune(idx *quotaIndex, now time.Time) {
	for id, e := range idx.Entries {
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			delete(idx.Entries, id)
		}
	}
}

// loadQuotaIndex reads an index and its ETag; a missing one is empty, with
// ETag "".
func (m *Manager) loadQuotaIndex(ctx context.Context, key, owner string) (*quotaIndex, string, error) {
	idx := &quotaIndex{}
	etag, err := getJSON(ctx, m.bucket, key, idx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return &quotaIndex{UserID: owner, Entries: map[string]quotaEntry{}}, "", nil
	case err != nil:
		return nil, "", wrapErr(err, "quota index of %q", owner)
	case idx.UserID != owner:
		return nil, "", fmt.Errorf("photo: quota index of %q belongs to another user", owner)
	}
	if idx.Entries == nil {
		idx.Entries = map[string]quotaEntry{}
	}
	return idx, etag, nil
}
