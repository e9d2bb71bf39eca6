package aferostore

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// TidyResult says what Tidy removed.
type TidyResult struct {
	// TempFiles is how many temporary files were removed.
	TempFiles int
	// Dirs is how many empty directories were removed.
	Dirs int
}

// Tidy removes what crashed writers leave behind: temporary files (".tmp-*")
// not written to for longer than olderThan, and directories left empty. A
// Put in progress keeps its temporary file's modification time fresh while
// it streams, so any olderThan well above the slowest upload's pauses is
// safe; one hour is a good choice. Objects are never touched. Tidy is safe
// to run at any time, from any process sharing the directory; it is the
// file-system counterpart of photo's Sweep, and a janitor may call both.
func (s *Store) Tidy(ctx context.Context, olderThan time.Duration) (TidyResult, error) {
	var res TidyResult
	cutoff := s.now().Add(-olderThan)
	var walk func(dir string) (empty bool, err error)
	walk = func(dir string) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		d, err := s.fs.Open(dir)
		if notFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil && err != io.EOF {
			return false, err
		}
		left := len(names)
		for _, n := range names {
			p := path.Join(dir, n)
			switch {
			case strings.HasPrefix(n, ".tmp-"):
				fi, err := s.fs.Stat(p)
				if err == nil && fi.ModTime().Before(cutoff) && s.fs.Remove(p) == nil {
					res.TempFiles++
					left--
				}
			case strings.HasPrefix(n, "."):
				// The store's own files (.locks) and anything foreign.
			default:
				if _, kind, ok := decodeName(n); !ok || kind == kindFile {
					continue
				}
				empty, err := walk(p)
				if err != nil {
					return false, err
				}
				if empty && s.removeEmptyDir(p) {
					res.Dirs++
					left--
				}
			}
		}
		return left == 0, nil
	}
	if _, err := walk("/"); err != nil {
		return res, fmt.Errorf("aferostore: tidy: %w", clean(err))
	}
	return res, nil
}

// removeEmptyDir removes dir if it is still empty, in step with writers
// that are creating files in it (see Store.dirs).
func (s *Store) removeEmptyDir(dir string) bool {
	s.dirs.Lock()
	defer s.dirs.Unlock()
	d, err := s.fs.Open(dir)
	if err != nil {
		return false
	}
	names, err := d.Readdirnames(1)
	d.Close()
	if len(names) > 0 || (err != nil && err != io.EOF) {
		return false
	}
	return s.fs.Remove(dir) == nil
}
