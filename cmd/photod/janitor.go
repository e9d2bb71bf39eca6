package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/driver"
)

// janitorTask is one periodic clean-up.
type janitorTask struct {
	name string
	run  func(ctx context.Context) (removed int, err error)
}

// tidyAge is how long a temporary file of the filesystem store must have
// gone unwritten before the janitor removes it. A write in progress keeps
// its file's modification time fresh, so only a crashed writer's file
// gets this old; an hour leaves room for the slowest client's pauses.
const tidyAge = time.Hour

// tidier is a storage driver that can remove what crashed writers left
// behind: *aferostore.Store, the filesystem store.
type tidier interface {
	Tidy(ctx context.Context, olderThan time.Duration) (aferostore.TidyResult, error)
}

// janitorTasks are photod's clean-ups: the library's Sweep (resumable
// uploads and Chatter files past their expiry, with their bytes, then
// blobs that no record references, current or kept, left by a crash or a
// failed clean-up, after the library's default grace period of an hour;
// with -webhook, it also posts again the events not yet acknowledged);
// and, when d is the
// filesystem store, temporary files of writes that a crash interrupted
// (Tidy). All are safe while requests run and while other instances share
// the store, so every instance may run them.
func janitorTasks(m *photo.Manager, d driver.Bucket) []janitorTask {
	tasks := []janitorTask{
		{"sweep", func(ctx context.Context) (int, error) {
			return m.Sweep(ctx, 0)
		}},
	}
	if t, ok := d.(tidier); ok {
		tasks = append(tasks, janitorTask{"tidy", func(ctx context.Context) (int, error) {
			res, err := t.Tidy(ctx, tidyAge)
			return res.TempFiles, err
		}})
	}
	return tasks
}

// runJanitor runs every task once a period (and once shortly after start,
// to clean up after a crash) until ctx is done. A task that fails is
// logged and retried on the next round; one round never overlaps the next.
func runJanitor(ctx context.Context, every time.Duration, log *slog.Logger, tasks []janitorTask) {
	first := time.NewTimer(min(every, time.Minute))
	defer first.Stop()
	select {
	case <-ctx.Done():
		return
	case <-first.C:
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, t := range tasks {
			// A round is bounded so that a stuck store cannot wedge it.
			tctx, cancel := context.WithTimeout(ctx, max(every, time.Minute))
			start := time.Now()
			n, err := t.run(tctx)
			cancel()
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				log.Warn("photod: janitor task failed", "task", t.name, "err", err)
			case n > 0:
				log.Info("photod: janitor", "task", t.name, "removed", n, "duration", time.Since(start))
			default:
				log.Debug("photod: janitor", "task", t.name, "removed", 0, "duration", time.Since(start))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// The filesystem store is the one photod tidies.
var _ tidier = (*aferostore.Store)(nil)
