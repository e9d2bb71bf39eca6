package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage/memstore"
)

func TestJanitor(t *testing.T) {
	var logBuf syncBuffer
	logBuf.changed = make(chan struct{}, 1)
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var sweeps, failures atomic.Int32
	rounds := make(chan struct{}, 100)
	tasks := []janitorTask{
		{"counts", func(ctx context.Context) (int, error) {
			sweeps.Add(1)
			return 2, nil
		}},
		{"fails", func(ctx context.Context) (int, error) {
			failures.Add(1)
			rounds <- struct{}{}
			return 0, errors.New("store unavailable")
		}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { runJanitor(ctx, 5*time.Millisecond, log, tasks) })
	// A failing task neither stops the janitor nor the tasks after it:
	// wait for three rounds.
	for range 3 {
		select {
		case <-rounds:
		case <-time.After(time.Minute):
			t.Fatal("the janitor did not run three rounds in a minute")
		}
	}
	cancel()
	wg.Wait()
	if sweeps.Load() < 3 || failures.Load() < 3 {
		t.Errorf("ran counts %d and fails %d times, want at least 3 each", sweeps.Load(), failures.Load())
	}
	out := logBuf.String()
	if !strings.Contains(out, `task=counts removed=2`) || !strings.Contains(out, `task=fails err="store unavailable"`) {
		t.Errorf("the janitor's log:\n%s", out)
	}
	// Once stopped it runs nothing more.
	n := sweeps.Load()
	time.Sleep(20 * time.Millisecond)
	if sweeps.Load() != n {
		t.Error("the janitor kept running after its context ended")
	}
}

// TestJanitorTasks runs photod's real clean-ups on an empty store.
func TestJanitorTasks(t *testing.T) {
	m, err := photo.New(memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := janitorTasks(m)
	var names []string
	for _, task := range tasks {
		names = append(names, task.name)
		if n, err := task.run(t.Context()); n != 0 || err != nil {
			t.Errorf("%s on an empty store: %d, %v", task.name, n, err)
		}
	}
	if got := strings.Join(names, ","); got != "expire uploads,sweep" {
		t.Errorf("tasks %s", got)
	}
}
