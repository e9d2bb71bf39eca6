package aferostore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/storagetest"
)

func newStore(t testing.TB, fsys afero.Fs, opts *aferostore.Options) *aferostore.Store {
	t.Helper()
	st, err := aferostore.New(fsys, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformanceMemMapFs(t *testing.T) {
	storagetest.RunOptions(t, func(t *testing.T) storage.Store {
		return newStore(t, afero.NewMemMapFs(), nil)
	}, &storagetest.Options{InMemory: true})
}

func TestConformanceOsFs(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return newStore(t, afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()), nil)
	})
}

// TestLayout checks the files a store makes on disk: every name fits 255
// bytes, nothing lands outside the root, and only the store's own files
// start with a dot.
func TestLayout(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	st := newStore(t, afero.NewBasePathFs(afero.NewOsFs(), root), nil)
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
	st := newStore(t, fsys, nil)
	ctx := context.Background()
	if _, err := st.Put(ctx, "a/b", strings.NewReader("x"), nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/README", "/a~/.tmp-0123", "/a~/B", "/a~/%zz", "/a~/%41", "/.DS_Store"} {
		if err := afero.WriteFile(fsys, name, []byte("foreign"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	page, err := st.List(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Objects) != 1 || page.Objects[0].Key != "a/b" {
		t.Errorf("List = %+v, want only a/b", page.Objects)
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
	st := newStore(t, afero.NewBasePathFs(afero.NewOsFs(), root), nil)
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

// The two-process test: the test binary runs itself as child processes
// that race on one directory.
const (
	childDirEnv = "AFEROSTORE_TEST_CHILD_DIR"
	childIDEnv  = "AFEROSTORE_TEST_CHILD_ID"
	attempts    = 150
	onceRounds  = 20
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		if err := child(dir, os.Getenv(childIDEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child makes attempts compare-and-swap increments of the key "counter"
// and tries to create each "once/N" key, printing what it won.
func child(dir, id string) error {
	st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), dir), &aferostore.Options{NoSync: true})
	if err != nil {
		return err
	}
	ctx := context.Background()
	wins := 0
	for i := range attempts {
		n, etag := 0, ""
		r, err := st.Open(ctx, "counter")
		switch {
		case err == nil:
			data, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				return err
			}
			if n, err = strconv.Atoi(string(data)); err != nil {
				return fmt.Errorf("counter holds %q", data)
			}
			etag = r.Attrs().ETag
		case !errors.Is(err, storage.ErrNotFound):
			return err
		}
		opts := &storage.PutOptions{IfMatch: etag, IfAbsent: etag == ""}
		_, err = st.Put(ctx, "counter", strings.NewReader(strconv.Itoa(n+1)), opts)
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrPrecondition):
			return err
		}
		if i < onceRounds {
			_, err := st.Put(ctx, fmt.Sprintf("once/%02d", i), strings.NewReader(id), &storage.PutOptions{IfAbsent: true})
			switch {
			case err == nil:
				fmt.Printf("once %d\n", i)
			case !errors.Is(err, storage.ErrPrecondition):
				return err
			}
		}
	}
	fmt.Printf("wins %d\n", wins)
	return nil
}

func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const children = 3
	dir := t.TempDir()
	type result struct {
		wins int
		once []int
		err  error
	}
	results := make([]result, children)
	var wg sync.WaitGroup
	for c := range children {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childIDEnv+"="+strconv.Itoa(c))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				results[c].err = fmt.Errorf("child %d: %v: %s", c, err, stderr.String())
				return
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 2 {
					continue
				}
				n, _ := strconv.Atoi(f[1])
				switch f[0] {
				case "wins":
					results[c].wins = n
				case "once":
					results[c].once = append(results[c].once, n)
				}
			}
		})
	}
	wg.Wait()
	total := 0
	owners := map[int][]int{}
	for c, r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		total += r.wins
		for _, n := range r.once {
			owners[n] = append(owners[n], c)
		}
	}
	st := newStore(t, afero.NewBasePathFs(afero.NewOsFs(), dir), nil)
	r, err := st.Open(context.Background(), "counter")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	r.Close()
	if got := string(data); got != strconv.Itoa(total) {
		t.Errorf("counter = %s after %d successful increments", got, total)
	}
	t.Logf("%d processes: %d of %d increments won", children, total, children*attempts)
	// Each success makes at most one in-flight attempt of every other
	// process fail, so at least a third of all attempts win: fewer means
	// the children failed for some other reason.
	if total < attempts {
		t.Errorf("only %d of %d increments won", total, children*attempts)
	}
	for n := range onceRounds {
		if len(owners[n]) != 1 {
			t.Errorf("once/%02d was created by %v, want exactly one process", n, owners[n])
			continue
		}
		r, err := st.Open(context.Background(), fmt.Sprintf("once/%02d", n))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		r.Close()
		if string(data) != strconv.Itoa(owners[n][0]) {
			t.Errorf("once/%02d holds %q, but process %d won it", n, data, owners[n][0])
		}
	}
}

func BenchmarkMemMapFs(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) storage.Store { return newStore(b, afero.NewMemMapFs(), nil) })
}

func BenchmarkOsFs(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) storage.Store {
		return newStore(b, afero.NewBasePathFs(afero.NewOsFs(), b.TempDir()), nil)
	})
}

func BenchmarkOsFsNoSync(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) storage.Store {
		return newStore(b, afero.NewBasePathFs(afero.NewOsFs(), b.TempDir()), &aferostore.Options{NoSync: true})
	})
}

// TestTidy: stale temporary files and empty directories go; fresh ones,
// objects and the lock files stay.
func TestTidy(t *testing.T) {
	fsys := afero.NewMemMapFs()
	st := newStore(t, fsys, nil)
	ctx := context.Background()
	if _, err := st.Put(ctx, "keep/me", strings.NewReader("object"), nil); err != nil {
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

func TestNewRefusesBareOsFs(t *testing.T) {
	for name, fsys := range map[string]afero.Fs{"nil": nil, "bare OsFs": afero.NewOsFs()} {
		if st, err := aferostore.New(fsys, nil); err == nil {
			t.Errorf("New(%s) = %v, want an error", name, st)
		}
	}
}
