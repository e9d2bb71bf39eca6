package photo_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo"
)

// TestImports runs the import handle through its outcomes: superseded,
// refused bytes, success, and a failure the application reports.
func TestImports(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, &photo.Options{Sizes: []int{32}})
	old, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(40, 40))), nil)
	if err != nil {
		t.Fatal(err)
	}

	im, err := m.StartImport(ctx, "u", "https://example.com/a.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if im.Photo.Status != photo.StatusDownloading || im.Photo.VersionID != old.VersionID {
		t.Fatalf("started: %s %s, want downloading and the old photo still served", im.Photo.Status, im.Photo.VersionID)
	}

	// A newer import supersedes this one.
	im2, err := m.StartImport(ctx, "u", "https://example.com/b.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.Finish(ctx, bytes.NewReader(encodeJPEG(t, quadrants(50, 40))), nil); !errors.Is(err, photo.ErrConflict) {
		t.Fatalf("Finish of a superseded import: %v, want ErrConflict", err)
	}
	if err := im.Fail(ctx, errors.New("late")); !errors.Is(err, photo.ErrConflict) {
		t.Fatalf("Fail of a superseded import: %v, want ErrConflict", err)
	}
	got, err := m.Get(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != photo.StatusDownloading || got.VersionID != old.VersionID {
		t.Fatalf("after the superseded Finish: %s %s", got.Status, got.VersionID)
	}

	// Refused bytes fail the import and keep the old photo.
	if _, err := im2.Finish(ctx, strings.NewReader("not an image"), nil); photo.CodeOf(err) != photo.CodeNotImage {
		t.Fatalf("Finish with text: %v, want CodeNotImage", err)
	}
	got, err = m.Get(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	want := &photo.Error{Code: photo.CodeNotImage, Message: "the file is not an image (it looks like text/plain)"}
	if got.Status != photo.StatusFailed || got.VersionID != old.VersionID {
		t.Fatalf("after refused bytes: %s %s, want failed with the old photo", got.Status, got.VersionID)
	}
	if diff := cmp.Diff(want, got.ImportError); diff != "" {
		t.Errorf("ImportError (-want +got):\n%s", diff)
	}

	im3, err := m.StartImport(ctx, "u", "https://example.com/c.jpg")
	if err != nil {
		t.Fatal(err)
	}
	p, err := im3.Finish(ctx, bytes.NewReader(encodeJPEG(t, quadrants(60, 40))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != photo.StatusReady || p.VersionID == old.VersionID || p.ImportError != nil {
		t.Fatalf("after Finish: %+v, want a new ready photo", p)
	}

	// A failure the application decides keeps its code and message; any
	// other error is recorded as a failed download, without its text.
	for _, tc := range []struct {
		cause error
		want  *photo.Error
	}{
		{&photo.Error{Code: photo.CodeURLNotAllowed, Message: "no"}, &photo.Error{Code: photo.CodeURLNotAllowed, Message: "no"}},
		{errors.New("dial tcp 10.0.0.1:80: secret detail"), &photo.Error{Code: photo.CodeDownloadFailed, Message: "the download failed"}},
	} {
		im, err := m.StartImport(ctx, "new", "https://user:password@example.com/d.jpg")
		if err != nil {
			t.Fatal(err)
		}
		if im.Photo.VersionID != "" || im.Photo.Status != photo.StatusDownloading {
			t.Fatalf("a first import: %+v", im.Photo)
		}
		if err := im.Fail(ctx, tc.cause); err != nil {
			t.Fatal(err)
		}
		got, err := m.Get(ctx, "new")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got.ImportError); diff != "" || got.Status != photo.StatusFailed {
			t.Errorf("Fail(%v): status %s, ImportError (-want +got):\n%s", tc.cause, got.Status, diff)
		}
	}
}

// TestImportTimesOut checks that an import pending for longer than
// Options.ImportTimeout reads as interrupted.
func TestImportTimesOut(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m, _ := newManager(t, &photo.Options{Now: clock, ImportTimeout: time.Minute})
	if _, err := m.StartImport(context.Background(), "u", "https://example.com/a.jpg"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	p, err := m.Get(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != photo.StatusFailed || photo.CodeOf(p.ImportError) != photo.CodeDownloadInterrupted {
		t.Fatalf("Get = %s, %v; want failed with CodeDownloadInterrupted", p.Status, p.ImportError)
	}
	if !errors.Is(p.ImportError, photo.ErrBusy) {
		t.Errorf("an interrupted download does not match ErrBusy")
	}
}
