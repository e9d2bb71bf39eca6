package photo

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

// SweepOptions are the optional arguments of Sweep. A nil *SweepOptions is
// the zero value.
type SweepOptions struct {
	// GracePeriod protects young blobs: a blob written less than this long
	// ago is never removed, because a Set may be about to commit it.
	// Default one hour; a Set commits within seconds of writing its blobs.
	GracePeriod time.Duration
	// DryRun counts what would be removed without removing it.
	DryRun bool
}

// SweepResult says what a Sweep found.
type SweepResult struct {
	// Scanned is how many objects were looked at.
	Scanned int
	// Removed is how many unreferenced objects were removed (or, with
	// DryRun, would have been).
	Removed int
	// RemovedBytes is their total size.
	RemovedBytes int64
}

// Sweep removes blobs that no record references: what a Set or Delete that
// crashed, or whose clean-up failed, left behind. It never touches a blob
// that a record references, nor one younger than the grace period (which
// a Set in progress may be about to commit), nor the blobs of a record it
// cannot read (it logs a warning and goes on). It is safe to run at any
// time, from any number of processes sharing the store.
func (m *Manager) Sweep(ctx context.Context, opts *SweepOptions) (SweepResult, error) {
	var o SweepOptions
	if opts != nil {
		o = *opts
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = time.Hour
	}
	cutoff := m.cfg.now().Add(-o.GracePeriod)
	var res SweepResult
	remove := func(a storage.Attrs) error {
		if !a.ModTime.Before(cutoff) {
			return nil
		}
		res.Removed++
		res.RemovedBytes += a.Size
		if o.DryRun {
			return nil
		}
		return m.store.Delete(ctx, a.Key)
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
			m.cfg.log.Warn("photo: sweep: skipping the blobs of an unreadable record", "prefix", user, "err", err)
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
	err := m.each(ctx, "users/", func(a storage.Attrs) error {
		res.Scanned++
		parts := strings.SplitN(a.Key, "/", 3) // users, <user>, rest
		if len(parts) < 3 {
			return nil
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
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, fmt.Errorf("photo: sweep: %w", err)
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
		if err != nil && !errors.Is(err, ErrFileNotFound) {
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
	err = m.each(ctx, "files/", func(a storage.Attrs) error {
		res.Scanned++
		parts := strings.SplitN(a.Key, "/", 3)
		if len(parts) < 3 {
			return nil
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
		return nil
	})
	if err == nil {
		err = fflush()
	}
	if err != nil {
		return res, fmt.Errorf("photo: sweep files: %w", err)
	}
	return res, nil
}

// referencedPrefix returns the blob prefix the record at key names, or ""
// when there is no record or it names no version.
func (m *Manager) referencedPrefix(ctx context.Context, key string) (string, error) {
	r, err := m.store.Open(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer r.Close()
	var rec record
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&rec); err != nil {
		// An unreadable record protects its user's blobs: never delete
		// what might be referenced.
		return "", fmt.Errorf("record %s: %w", key, err)
	}
	if rec.Current == nil {
		return "", nil
	}
	return rec.Current.Prefix, nil
}

// each calls fn for every object under prefix, in key order.
func (m *Manager) each(ctx context.Context, prefix string, fn func(storage.Attrs) error) error {
	token := ""
	for {
		page, err := m.store.List(ctx, prefix, &storage.ListOptions{PageToken: token})
		if err != nil {
			return err
		}
		for _, a := range page.Objects {
			if err := fn(a); err != nil {
				return err
			}
		}
		if page.NextPageToken == "" {
			return nil
		}
		token = page.NextPageToken
	}
}
