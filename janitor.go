package photo

// Maintenance: what a server runs now and then, from any number of
// processes sharing the bucket.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/profilephoto/photo/storage"
)

// Sweep reclaims the space of what is no longer needed, and returns how
// many uploads, files and objects it removed. A server should call it now
// and then (photod does every -janitor-every); it is safe to run at any
// time, from any number of processes sharing the bucket.
//
// It removes every resumable upload whose Expires has passed, with its
// bytes, and every file whose Expires has passed (see Quotas.FileTTL),
// with its versions; expired uploads and files are refused as soon as
// they expire whether or not Sweep runs. It removes chunk objects that no
// upload lists (left by a crash between a chunk's write and its record's)
// once they are an hour old.
//
// Then it removes the photo and file blobs that no record references:
// what a Set, Delete or file version that crashed, or whose clean-up
// failed, left behind (their count and bytes go to the log). It never
// touches a blob that a record references, the current version's or a
// kept earlier one's (Options.KeepVersions), nor one younger than
// olderThan (which a Set in progress may be about to commit; zero or less
// means one hour), nor the blobs of a record it cannot read (it logs a
// warning and goes on).
//
// Last, when Options.OnChange is set, it delivers again the events that
// records still hold unacknowledged once they are Options.RedeliverAfter
// old (their first delivery failed, or the process that committed them
// stopped first), oldest first for each user, calling OnChange with ctx,
// and removes those it accepted from the records. Events that this
// Manager is still delivering are left to it. A failed delivery is
// logged and tried again by the next Sweep; after 3 failures in a row a
// Sweep stops delivering. One Sweep delivers the events of at most 10,000
// users; the next one goes on. The events delivered are not counted in
// the result.
func (m *Manager) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	n, err := m.removeExpired(ctx)
	if err != nil {
		return n, err
	}
	due, o, err := m.removeOrphans(ctx, olderThan)
	if err != nil || len(due) == 0 {
		return n + o, err
	}
	if _, err := m.redeliver(ctx, due, m.cfg.now().Add(-m.opts.RedeliverAfter)); err != nil {
		return n + o, wrapErr(err, "sweep: events")
	}
	return n + o, nil
}

// removeExpired is Sweep's first part: expired uploads and files, and
// chunks that no upload lists.
func (m *Manager) removeExpired(ctx context.Context) (int, error) {
	now := m.cfg.now()
	removed := 0
	var key string
	var objs []storage.Attrs
	// judge decides the fate of one upload's objects, listed before its
	// record is read: a chunk committed meanwhile is in the record.
	judge := func() error {
		if key == "" || len(objs) == 0 {
			return nil
		}
		defer func() { objs = objs[:0] }()
		rec, _, err := m.readUploadRecord(ctx, key)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			rec = nil
		case err != nil:
			// An unreadable record protects its upload's bytes: never
			// delete what might be in use. Carry on with the others.
			m.cfg.log.Warn("photo: sweep: skipping an unreadable upload", "upload", key, "err", err)
			return nil
		}
		if rec != nil && !now.Before(rec.Expires) {
			if err := m.deleteUpload(ctx, key, rec.Owner); err != nil {
				return err
			}
			removed++
			return nil
		}
		listed := map[string]bool{uploadMetaKey(key): true}
		if rec != nil {
			for _, c := range rec.Chunks {
				listed[chunkKey(key, c)] = true
			}
		}
		for _, o := range objs {
			if !listed[o.Key] && now.Sub(o.ModTime) > uploadOrphanGrace {
				if err := m.bucket.Delete(ctx, o.Key); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for o, err := range m.bucket.List(ctx, "uploads/") {
		if err != nil {
			return removed, wrapErr(err, "sweep")
		}
		parts := strings.SplitN(o.Key, "/", 3) // uploads, <key>, rest
		if len(parts) < 3 {
			continue
		}
		if parts[1] != key {
			if err := judge(); err != nil {
				return removed, wrapErr(err, "sweep")
			}
			key = parts[1]
		}
		objs = append(objs, o)
	}
	if err := judge(); err != nil {
		return removed, wrapErr(err, "sweep")
	}
	n, err := m.expireFiles(ctx)
	removed += n
	if err != nil {
		return removed, wrapErr(err, "sweep files")
	}
	return removed, nil
}

// expireFiles removes every file whose Expires has passed, and returns how
// many it removed.
func (m *Manager) expireFiles(ctx context.Context) (int, error) {
	now := m.cfg.now()
	removed := 0
	var expired []*fileRecord
	for a, err := range m.bucket.List(ctx, "files/") {
		if err != nil {
			return 0, err
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(a.Key, "files/"), "/meta.json")
		if !ok || !validFileID(id) {
			continue
		}
		f, _, err := m.readFile(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			// An unreadable record protects its file.
			m.cfg.log.Warn("photo: sweep: skipping an unreadable file", "file", id, "err", err)
		case m.fileExpired(f, now):
			expired = append(expired, f)
		}
	}
	for _, f := range expired {
		if err := m.deleteFile(ctx, f); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// removeOrphans is Sweep's second part: the blobs that no record
// references, once older than olderThan. When OnChange is set it reads
// every record, and returns the users whose records hold events due for
// redelivery (at most sweepUsersMax).
func (m *Manager) removeOrphans(ctx context.Context, olderThan time.Duration) ([]string, int, error) {
	if olderThan <= 0 {
		olderThan = time.Hour
	}
	cutoff := m.cfg.now().Add(-olderThan)
	events := m.events != nil
	eventCutoff := m.cfg.now().Add(-m.opts.RedeliverAfter)
	var due []string
	hasRecord := false
	var res struct {
		scanned, removed int
		bytes            int64
	}
	defer func() {
		if res.removed > 0 {
			m.cfg.log.Info("photo: removed orphaned blobs", "scanned", res.scanned, "removed", res.removed, "bytes", res.bytes)
		}
	}()
	remove := func(a storage.Attrs) error {
		if !a.ModTime.Before(cutoff) {
			return nil
		}
		if err := m.bucket.Delete(ctx, a.Key); err != nil {
			return err
		}
		res.removed++
		res.bytes += a.Size
		return nil
	}

	// Photos: users/<user>/record.json and users/<user>/v/<prefix>/<blob>.
	// Keys list in order, so one user's objects are contiguous: gather a
	// user's blobs and judge them against the record when the user changes.
	// The record is read after its blobs were listed, so a Set that commits
	// meanwhile can only move the reference to blobs that are younger than
	// the grace period.
	var user string
	var blobs []storage.Attrs
	flush := func() error {
		if user == "" || (len(blobs) == 0 && !(events && hasRecord)) {
			blobs = blobs[:0]
			return nil
		}
		keep, rec, err := m.referencedPrefixes(ctx, user+"/record.json")
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// An unreadable record protects its user's blobs: never
			// delete what might be referenced. Carry on with the others.
			m.cfg.log.Warn("photo: sweep: skipping the blobs of an unreadable record", "prefix", user, "err", err)
			blobs = blobs[:0]
			return nil
		}
		if events && rec != nil && dueEvents(rec, eventCutoff) {
			if len(due) < sweepUsersMax {
				due = append(due, rec.UserID)
			} else if len(due) == sweepUsersMax {
				m.cfg.log.Info("photo: sweep: more users have events to deliver again than one Sweep delivers; the next one goes on")
			}
		}
		for _, b := range blobs {
			if slices.ContainsFunc(keep, func(p string) bool { return strings.HasPrefix(b.Key, p) }) {
				continue
			}
			if err := remove(b); err != nil {
				return err
			}
		}
		blobs = blobs[:0]
		return nil
	}
	err := func() error {
		for a, err := range m.bucket.List(ctx, "users/") {
			if err != nil {
				return err
			}
			res.scanned++
			parts := strings.SplitN(a.Key, "/", 3) // users, <user>, rest
			if len(parts) < 3 {
				continue
			}
			u := parts[0] + "/" + parts[1]
			if u != user {
				if err := flush(); err != nil {
					return err
				}
				user = u
				hasRecord = false
			}
			if strings.HasPrefix(parts[2], "v/") {
				blobs = append(blobs, a)
			}
			if parts[2] == "record.json" {
				hasRecord = true
			}
		}
		return flush()
	}()
	if err != nil {
		return due, res.removed, wrapErr(err, "sweep")
	}

	// Files: files/<id>/meta.json and files/<id>/<version blob>.
	var file string
	var fblobs []storage.Attrs
	fflush := func() error {
		if file == "" || len(fblobs) == 0 {
			fblobs = fblobs[:0]
			return nil
		}
		f, _, err := m.loadFile(ctx, strings.TrimPrefix(file, "files/"))
		if err != nil && !errors.Is(err, ErrNotFound) {
			if ctx.Err() != nil {
				return err
			}
			// As with records: an unreadable file protects its blobs.
			m.cfg.log.Warn("photo: sweep: skipping the blobs of an unreadable file", "prefix", file, "err", err)
			fblobs = fblobs[:0]
			return nil
		}
		keep := map[string]bool{}
		if f != nil {
			for _, k := range f.Keys {
				keep[k] = true
			}
		}
		for _, b := range fblobs {
			if !keep[b.Key] {
				if err := remove(b); err != nil {
					return err
				}
			}
		}
		fblobs = fblobs[:0]
		return nil
	}
	err = func() error {
		for a, err := range m.bucket.List(ctx, "files/") {
			if err != nil {
				return err
			}
			res.scanned++
			parts := strings.SplitN(a.Key, "/", 3)
			if len(parts) < 3 {
				continue
			}
			f := parts[0] + "/" + parts[1]
			if f != file {
				if err := fflush(); err != nil {
					return err
				}
				file = f
			}
			if parts[2] != "meta.json" {
				fblobs = append(fblobs, a)
			}
		}
		return fflush()
	}()
	if err != nil {
		return due, res.removed, wrapErr(err, "sweep")
	}
	return due, res.removed, nil
}

// referencedPrefixes returns the blob prefixes of the versions that the
// record at key references, current and kept, and the record; none and
// nil when there is no record.
func (m *Manager) referencedPrefixes(ctx context.Context, key string) ([]string, *record, error) {
	r, err := m.bucket.Open(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	var rec record
	if err := json.NewDecoder(io.LimitReader(r, maxJSONBytes)).Decode(&rec); err != nil {
		// An unreadable record protects its user's blobs: never delete
		// what might be referenced.
		return nil, nil, fmt.Errorf("record %s: %w", key, err)
	}
	var prefixes []string
	for _, v := range rec.versions() {
		prefixes = append(prefixes, v.Prefix)
	}
	return prefixes, &rec, nil
}
