package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

func TestJanitor(t *testing.T) {
	var logBuf syncBuffer
	logBuf.changed = make(chan struct{}, 1)
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var counts, failures atomic.Int32
	tasks := []janitorTask{
		{"counts", func(ctx context.Context) (int, error) {
			// The context ends during the fourth round, in its first
			// task: the janitor must neither run the task after it nor
			// start another round.
			if counts.Add(1) == 4 {
				cancel()
			}
			return 2, nil
		}},
		{"fails", func(ctx context.Context) (int, error) {
			failures.Add(1)
			return 0, errors.New("store unavailable")
		}},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runJanitor(ctx, 5*time.Millisecond, log, tasks)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the janitor did not stop within a minute of its context ending")
	}
	// A failing task stops neither the janitor nor the tasks after it
	// (three full rounds), and once the context ended nothing more ran.
	if c, f := counts.Load(), failures.Load(); c != 4 || f != 3 {
		t.Errorf("ran counts %d and fails %d times, want 4 and 3", c, f)
	}
	out := logBuf.String()
	if !strings.Contains(out, `task=counts removed=2`) || !strings.Contains(out, `task=fails err="store unavailable"`) {
		t.Errorf("the janitor's log:\n%s", out)
	}
}

// TestJanitorTasks runs photod's real clean-ups on an empty store: the
// memory store has no temporary files, the filesystem store has.
func TestJanitorTasks(t *testing.T) {
	fs, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		driver driver.Bucket
		tasks  string
	}{
		{"memory", memstore.New(), "sweep"},
		{"filesystem", fs, "sweep,tidy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := photo.New(storage.NewBucket(tc.driver), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, task := range janitorTasks(m, tc.driver) {
				names = append(names, task.name)
				if n, err := task.run(t.Context()); n != 0 || err != nil {
					t.Errorf("%s on an empty store: %d, %v", task.name, n, err)
				}
			}
			if got := strings.Join(names, ","); got != tc.tasks {
				t.Errorf("tasks %s, want %s", got, tc.tasks)
			}
		})
	}
}

// TestJanitorTidy: a round of the janitor removes the temporary file a
// crashed write left in the filesystem store, and keeps a fresh one (a
// write in progress) and the objects.
func TestJanitorTidy(t *testing.T) {
	dir := t.TempDir()
	st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := storage.NewBucket(st)
	m, err := photo.New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(t.Context(), "users/ab/record.json", strings.NewReader("{}"), nil); err != nil {
		t.Fatal(err)
	}
	// The object's directory on disk is where a crashed Put leaves its
	// temporary file.
	var objDir string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") && !strings.Contains(p, ".locks") {
			objDir = filepath.Dir(p)
		}
		return nil
	})
	if objDir == "" {
		t.Fatal("the object's file is not under the store's directory")
	}
	stale := filepath.Join(objDir, ".tmp-0123456789abcdef")
	fresh := filepath.Join(objDir, ".tmp-fedcba9876543210")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * tidyAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	ctx, cancel := context.WithCancel(context.Background())
	tasks := janitorTasks(m, st)
	// Stop after one round: the first task ends the second.
	first, rounds := tasks[0].run, 0
	tasks[0].run = func(ctx context.Context) (int, error) {
		if rounds++; rounds == 2 {
			cancel()
			return 0, ctx.Err()
		}
		return first(ctx)
	}
	runJanitor(ctx, time.Millisecond, log, tasks)

	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("the fresh temporary file (a write in progress) was removed: %v", err)
	}
	if _, err := b.Stat(t.Context(), "users/ab/record.json"); err != nil {
		t.Errorf("the object: %v", err)
	}
	if out := logBuf.String(); !strings.Contains(out, "task=tidy removed=1") {
		t.Errorf("the janitor's log:\n%s", out)
	}
}
