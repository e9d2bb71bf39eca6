package photo

// Maintenance: what a server runs now and then, from any number of
// processes sharing the bucket. Both methods have the shape of a
// periodic task, func(ctx) (int, error).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/profilephoto/photo/storage"
)

// RemoveExpired removes every upload whose Expires has passed, with its
// bytes, and every file whose Expires has passed (see Quotas.FileTTL),
// with its versions, and returns how many uploads and files it removed.
// It also removes chunk objects that no upload lists (left by a crash
// between a chunk's write and its record's) once they are an hour old.
// Expired uploads and files are refused as soon as they expire whether or
// not this runs; it reclaims their space, so a server should call it now
// and then. It is safe to run at any time, from any number of processes
// sharing the store.
func (m *Manager) RemoveExpired(ctx context.Context) (int, error) {
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
			m.cfg.log.Warn("photo: expire uploads: skipping an unreadable upload", "upload", key, "err", err)
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
			return removed, wrapErr(err, "remove expired")
		}
		parts := strings.SplitN(o.Key, "/", 3) // uploads, <key>, rest
		if len(parts) < 3 {
			continue
		}
		if parts[1] != key {
			if err := judge(); err != nil {
				return removed, wrapErr(err, "remove expired")
			}
			key = parts[1]
		}
		objs = append(objs, o)
	}
	if err := judge(); err != nil {
		return removed, wrapErr(err, "remove expired")
	}
	n, err := m.expireFiles(ctx)
	removed += n
	if err != nil {
		return removed, wrapErr(err, "remove expired files")
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
			m.cfg.log.Warn("photo: expire files: skipping an unreadable file", "file", id, "err", err)
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

// RemoveOrphans removes the blobs that no record references: what a Set,
// Delete or file version that crashed, or whose clean-up failed, left
// behind, and returns how many objects it removed (their bytes go to the
// log). It never touches a blob that a record references, nor one younger
// than olderThan (which a Set in progress may be about to commit; zero or
// less means one hour), nor the blobs of a record it cannot read (it logs
// a warning and goes on). It is safe to run at any time, from any number
// of processes sharing the bucket.
func (m *Manager) RemoveOrphans(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		olderThan = time.Hour
	}
	cutoff := m.cfg.now().Add(-olderThan)
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
		if user == "" || len(blobs) == 0 {
			blobs = blobs[:0]
			return nil
		}
		keep, err := m.referencedPrefix(ctx, user+"/record.json")
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// An unreadable record protects its user's blobs: never
			// delete what might be referenced. Carry on with the others.
			m.cfg.log.Warn("photo: remove orphans: skipping the blobs of an unreadable record", "prefix", user, "err", err)
			blobs = blobs[:0]
			return nil
		}
		for _, b := range blobs {
			if keep != "" && strings.HasPrefix(b.Key, keep) {
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
			}
			if strings.HasPrefix(parts[2], "v/") {
				blobs = append(blobs, a)
			}
		}
		return flush()
	}()
	if err != nil {
		return res.removed, wrapErr(err, "remove orphans")
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
			m.cfg.log.Warn("photo: remove orphans: skipping the blobs of an unreadable file", "prefix", file, "err", err)
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
		return res.removed, wrapErr(err, "remove orphans")
	}
	return res.removed, nil
}

// referencedPrefix returns the blob prefix the record at key names, or ""
// when there is no record or it names no version.
func (m *Manager) referencedPrefix(ctx context.Context, key string) (string, error) {
	r, err := m.bucket.Open(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer r.Close()
	var rec record
	if err := json.NewDecoder(io.LimitReader(r, maxJSONBytes)).Decode(&rec); err != nil {
		// An unreadable record protects its user's blobs: never delete
		// what might be referenced.
		return "", fmt.Errorf("record %s: %w", key, err)
	}
	if rec.Current == nil {
		return "", nil
	}
	return rec.Current.Prefix, nil
}
