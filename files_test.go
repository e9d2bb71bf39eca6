package photo_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo"
)

// TestFiles stores a file in two versions and sets photos from each.
func TestFiles(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, &photo.Options{Sizes: []int{32}})
	v1 := encodeJPEG(t, quadrants(40, 40))
	v2 := encodeJPEG(t, quadrants(80, 40))
	f, err := m.CreateFile(ctx, "alice", "me.jpg", bytes.NewReader(v1))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(18, len(f.ID)); diff != "" {
		t.Fatalf("len(f.ID) (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(f.ID, "069") {
		t.Fatal("want strings.HasPrefix(f.ID, \"069\")")
	}
	f, err = m.AddFileVersion(ctx, f.ID, bytes.NewReader(v2))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(2, len(f.Versions)); diff != "" {
		t.Fatalf("len(f.Versions) (-want +got):\n%s", diff)
	}

	latest, err := m.SetFromFile(ctx, "alice", f.ID, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(80, latest.Width); diff != "" {
		t.Fatalf("latest.Width (-want +got):\n%s", diff)
	}
	if latest.SourceFileID != f.ID || latest.SourceFileVersion != 2 {
		t.Fatalf("source %s version %d, want %s version 2", latest.SourceFileID, latest.SourceFileVersion, f.ID)
	}
	first, err := m.SetFromFile(ctx, "alice", f.ID, 1, &photo.SetOptions{Crop: &photo.Crop{X: 0, Y: 0, Size: 20}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(40, first.Width); diff != "" {
		t.Fatalf("first.Width (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(photo.Crop{X: 0, Y: 0, Size: 20}, *first.Crop); diff != "" {
		t.Fatalf("*first.Crop (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		id      string
		version int
	}{{f.ID, 3}, {f.ID, -1}, {"069000000000000000", 0}, {"../../x", 0}} {
		_, err = m.SetFromFile(ctx, "alice", tc.id, tc.version, nil)
		if !errors.Is(err, photo.ErrNotFound) {
			t.Fatal("want errors.Is(err, photo.ErrNotFound)")
		}
	}
	got, err := m.Get(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first.VersionID, got.VersionID); diff != "" {
		t.Fatalf("got.VersionID (-want +got):\n%s", diff)
	}
}

// TestFileLimits checks that a file's name and its number of versions are
// bounded: its record is read back with a size limit, and a record that
// grew past it would make the file, and Sweep, fail. The versions are
// bounded by Quotas.FileVersions, and never beyond 250.
func TestFileLimits(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, nil)
	img := testJPEG(t, 1)
	tests := []struct {
		name     string
		fileName string
		ok       bool
	}{
		{"plain", "me.jpg", true},
		{"unicode", "fötö 写真.jpg", true},
		{"empty", "", true},
		{"longest", strings.Repeat("a", 255), true},
		{"too long", strings.Repeat("a", 255+1), false},
		{"huge", strings.Repeat("a", 2<<20), false},
		{"control character", "a\x00b", false},
		{"bad UTF-8", "a\xffb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.CreateFile(ctx, "u", tt.fileName, bytes.NewReader(img))
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, photo.ErrInvalidInput)) {
				t.Fatalf("CreateFile(name of %d bytes) = %v, want ok %v or ErrInvalidInput", len(tt.fileName), err, tt.ok)
			}
		})
	}
	unlimited, _ := newManager(t, &photo.Options{Quotas: photo.Quotas{FileVersions: -1, FileBytes: -1}})
	for _, tc := range []struct {
		name string
		m    *photo.Manager
		max  int
	}{
		{"versions by default", m, 10},
		{"versions at most MaxFileVersions", unlimited, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.Options().Quotas.FileVersions; got != tc.max {
				t.Fatalf("Quotas().FileVersions = %d, want %d", got, tc.max)
			}
			f, err := tc.m.CreateFile(ctx, "versions", "a", bytes.NewReader(img))
			if err != nil {
				t.Fatal(err)
			}
			for i := 2; i <= tc.max; i++ {
				if _, err := tc.m.AddFileVersion(ctx, f.ID, bytes.NewReader(img)); err != nil {
					t.Fatalf("version %d: %v", i, err)
				}
			}
			_, err = tc.m.AddFileVersion(ctx, f.ID, bytes.NewReader(img))
			if !isQuotaError(err, "file_versions", int64(tc.max)) {
				t.Fatalf("version %d: %v, want the refusal of quota file_versions", tc.max+1, err)
			}
			if f, err = tc.m.File(ctx, f.ID); err != nil || len(f.Versions) != tc.max {
				t.Fatalf("File after the limit: %v", err)
			}
			if _, err := tc.m.Sweep(ctx, 0); err != nil {
				t.Fatalf("Sweep: %v", err)
			}
		})
	}
}
