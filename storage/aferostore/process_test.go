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
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
)

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
	d, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), dir), &aferostore.Options{NoSync: true})
	if err != nil {
		return err
	}
	st := storage.NewBucket(d)
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
	st := newBucket(t, afero.NewBasePathFs(afero.NewOsFs(), dir), nil)
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
