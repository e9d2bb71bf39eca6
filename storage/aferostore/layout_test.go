package aferostore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/storagetest"
)

// TestLayout checks the files a store makes on disk: every name fits 255
// bytes, nothing lands outside the root, and only the store's own files
// start with a dot.
func TestLayout(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	st := newBucket(t, afero.NewBasePathFs(afero.NewOsFs(), root), nil)
	ctx := context.Background()
	keys := append(storagetest.OddKeys(), "a/..b/c", "..a", "a..")
	for _, k := range keys {
		if _, err := st.Put(ctx, k, strings.NewReader(k), nil); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	entries, err := os.ReadDir(base)
	if err != nil || len(entries) != 1 || entries[0].Name() != "root" {
		t.Fatalf("the store wrote beside its root: %v %v", entries, err)
	}
	files := 0
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if len(name) > 255 {
			t.Errorf("name of %d bytes: %.60s...", len(name), name)
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(name, ".") && name != ".locks" && !strings.HasPrefix(rel, ".locks"+string(filepath.Separator)) {
			t.Errorf("unexpected internal file %s", rel)
		}
		if strings.ContainsAny(name, `\:*?"<>| `) || strings.HasSuffix(name, ".") {
			t.Errorf("name %q is not portable", name)
		}
		if !d.IsDir() && !strings.HasPrefix(rel, ".locks") {
			files++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != len(keys) {
		t.Errorf("%d object files for %d keys", files, len(keys))
	}
	// Deleting every key leaves no directories behind but the lock files.
	for _, k := range keys {
		if err := st.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ = os.ReadDir(root)
	for _, e := range entries {
		if e.Name() != ".locks" {
			t.Errorf("left behind after deleting everything: %s", e.Name())
		}
	}
}

// TestForeignFiles: files the store did not write (an operator's README,
// a crash's temporary file, a name that is not canonical) are not objects.
func TestForeignFiles(t *testing.T) {
	fsys := afero.NewMemMapFs()
	st := newBucket(t, fsys, nil)
	ctx := context.Background()
	if _, err := st.Put(ctx, "a/b", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/README", "/a~/.tmp-0123", "/a~/B", "/a~/%zz", "/a~/%41", "/.DS_Store"} {
		if err := afero.WriteFile(fsys, name, []byte("foreign"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for a, err := range st.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	if len(keys) != 1 || keys[0] != "a/b" {
		t.Errorf("List = %q, want only a/b", keys)
	}
	// A file without the trailer is reported as broken, not served.
	if err := afero.WriteFile(fsys, "/plain", []byte("no trailer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Open(ctx, "plain"); err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open of a foreign file: %v, want an error", err)
	}
}

// TestErrorsHidePaths: the real directory never appears in an error.
func TestErrorsHidePaths(t *testing.T) {
	root := t.TempDir()
	st := storage.NewBucket(newStore(t, afero.NewBasePathFs(afero.NewOsFs(), root), nil))
	// A file where the store needs a directory makes every write under it
	// fail in the file system.
	if err := os.WriteFile(filepath.Join(root, "blocked~"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := st.Put(context.Background(), "blocked/key", strings.NewReader("x"), nil)
	if err == nil {
		t.Fatal("Put under a file succeeded")
	}
	if strings.Contains(err.Error(), root) {
		t.Errorf("error reveals the real path: %v", err)
	}
	if !strings.Contains(err.Error(), "blocked/key") {
		t.Errorf("error does not name the key: %v", err)
	}
	if _, err := st.Stat(context.Background(), "blocked/key"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat under a file: %v, want ErrNotFound", err)
	}
}

// TestTidy: stale temporary files and empty directories go; fresh ones,
// objects and the lock files stay.
func TestTidy(t *testing.T) {
	fsys := afero.NewMemMapFs()
	st := newStore(t, fsys, nil)
	ctx := context.Background()
	if _, err := storage.NewBucket(st).Put(ctx, "keep/me", strings.NewReader("object"), nil); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{"/keep~/.tmp-old", "/gone~/deeper~/.tmp-old", "/.tmp-old"} {
		if err := afero.WriteFile(fsys, name, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Chtimes(name, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := afero.WriteFile(fsys, "/keep~/.tmp-fresh", []byte("streaming"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll("/empty~/dirs~", 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := st.Tidy(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := (aferostore.TidyResult{TempFiles: 3, Dirs: 4}); res != want {
		t.Errorf("Tidy = %+v, want %+v", res, want)
	}
	for name, want := range map[string]bool{
		"/keep~/me": true, "/keep~/.tmp-fresh": true, "/.locks": true,
		"/keep~/.tmp-old": false, "/gone~": false, "/empty~": false, "/.tmp-old": false,
	} {
		if ok, _ := afero.Exists(fsys, name); ok != want {
			t.Errorf("%s exists: %v, want %v", name, ok, want)
		}
	}
	if _, err := st.Tidy(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.Tidy(cctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Tidy with a cancelled context: %v", err)
	}
}
