package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
)

// The subtests under "Driver/": what storage.Bucket relies on a driver for,
// checked on the driver itself.

// listPages lists prefix on d with pages of size from token, checking each
// page against the contract: at most size objects, every key with the
// prefix, keys strictly ascending across pages.
func listPages(t *testing.T, d driver.Bucket, prefix string, size int, token string) []string {
	t.Helper()
	var keys []string
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("ListPage(%q, size %d) does not end", prefix, size)
		}
		page, err := d.ListPage(context.Background(), prefix, token, size)
		if err != nil {
			t.Fatalf("ListPage(%q, %q, %d): %v", prefix, token, size, err)
		}
		if len(page.Objects) > size {
			t.Fatalf("ListPage(%q) returned %d objects, more than pageSize %d", prefix, len(page.Objects), size)
		}
		for _, a := range page.Objects {
			if !strings.HasPrefix(a.Key, prefix) {
				t.Fatalf("ListPage(%q) returned %q", prefix, a.Key)
			}
			if n := len(keys); n > 0 && a.Key <= keys[n-1] {
				t.Fatalf("ListPage(%q, size %d): %q after %q", prefix, size, a.Key, keys[n-1])
			}
			keys = append(keys, a.Key)
		}
		if page.NextPageToken == "" {
			return keys
		}
		token = page.NextPageToken
	}
}

func (s *suite) testListPageSize(t *testing.T, d driver.Bucket) {
	st := storage.NewBucket(d)
	var want []string
	for i := range 23 {
		k := fmt.Sprintf("page/%02d", i)
		if i%5 == 0 {
			k += "/nested"
		}
		want = append(want, k)
		put(t, st, k, []byte{byte(i)}, nil)
	}
	put(t, st, "pagf", []byte("outside"), nil)
	slices.Sort(want)
	for _, size := range []int{1, 2, 3, 7, 22, 23, 24, 1000} {
		t.Run(fmt.Sprintf("pageSize %d", size), func(t *testing.T) {
			if diff := cmp.Diff(want, listPages(t, d, "page/", size, "")); diff != "" {
				t.Errorf("paged keys (-want +got):\n%s", diff)
			}
		})
	}
	if got := listPages(t, d, "", 1000, ""); len(got) != len(want)+1 {
		t.Errorf("ListPage(\"\") = %q, want %d keys", got, len(want)+1)
	}
	// Deleting keys between pages neither repeats nor skips the others.
	page, err := d.ListPage(context.Background(), "page/", "", 4)
	if err != nil {
		t.Fatal(err)
	}
	first := keysOf(page.Objects)
	if len(first) == 0 || page.NextPageToken == "" || !slices.IsSorted(first) {
		t.Fatalf("first page of 4: %q, next %q", first, page.NextPageToken)
	}
	for _, k := range want[len(first) : len(first)+2] {
		if err := d.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	rest := listPages(t, d, "page/", 4, page.NextPageToken)
	if diff := cmp.Diff(want[len(first)+2:], rest); diff != "" {
		t.Errorf("after deleting two keys between pages (-want +got):\n%s", diff)
	}
}

func (s *suite) testNotFoundWraps(t *testing.T, d driver.Bucket) {
	ctx := context.Background()
	if r, err := d.Open(ctx, "missing/k"); !errors.Is(err, driver.ErrNotFound) {
		if r != nil {
			r.Close()
		}
		t.Errorf("Open of a missing key: %v, want driver.ErrNotFound", err)
	}
	if _, err := d.Stat(ctx, "missing/k"); !errors.Is(err, driver.ErrNotFound) {
		t.Errorf("Stat of a missing key: %v, want driver.ErrNotFound", err)
	}
	if err := d.Delete(ctx, "missing/k"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	if page, err := d.ListPage(ctx, "missing/", "", 10); err != nil || len(page.Objects) != 0 || page.NextPageToken != "" {
		t.Errorf("ListPage of an empty prefix = %+v, %v", page, err)
	}
}

func (s *suite) testPreconditionWraps(t *testing.T, d driver.Bucket) {
	ctx := context.Background()
	putD := func(key string, opts driver.PutOptions) (driver.Attrs, error) {
		return d.Put(ctx, key, strings.NewReader("data of "+key), &opts)
	}
	a, err := putD("k", driver.PutOptions{IfAbsent: true})
	if err != nil || a.ETag == "" || a.Key != "k" {
		t.Fatalf("IfAbsent Put of a new key = %+v, %v", a, err)
	}
	for _, tc := range []struct {
		name string
		key  string
		opts driver.PutOptions
	}{
		{"IfAbsent over an object", "k", driver.PutOptions{IfAbsent: true}},
		{"IfMatch with a made-up ETag", "k", driver.PutOptions{IfMatch: "no-such-etag"}},
		{"IfMatch on a missing key", "absent", driver.PutOptions{IfMatch: a.ETag}},
	} {
		if _, err := putD(tc.key, tc.opts); !errors.Is(err, driver.ErrPrecondition) {
			t.Errorf("%s: %v, want driver.ErrPrecondition", tc.name, err)
		}
	}
	if b, err := putD("k", driver.PutOptions{IfMatch: a.ETag}); err != nil || b.ETag == "" {
		t.Errorf("IfMatch with the current ETag = %+v, %v", b, err)
	}
}

// testReaderWriterTo: a Reader that implements io.WriterTo (aferostore's,
// for sendfile) writes exactly the object's bytes from its current offset,
// and moves the offset to the end.
func (s *suite) testReaderWriterTo(t *testing.T, d driver.Bucket) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4000)
	if _, err := d.Put(ctx, "wt", bytes.NewReader(data), &driver.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := d.Open(ctx, "wt")
	if err != nil {
		t.Fatal(err)
	}
	_, ok := r.(io.WriterTo)
	r.Close()
	if !ok {
		t.Skip("the driver's Reader does not implement io.WriterTo")
	}
	size := int64(len(data))
	for _, from := range []int64{0, 3, size - 1, size} {
		r, err := d.Open(ctx, "wt")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Seek(from, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		n, err := r.(io.WriterTo).WriteTo(&buf)
		if err != nil || n != size-from || !bytes.Equal(buf.Bytes(), data[from:]) {
			t.Errorf("WriteTo from %d: %d bytes (%v), want the object's last %d", from, n, err, size-from)
		}
		if pos, err := r.Seek(0, io.SeekCurrent); err != nil || pos != size {
			t.Errorf("WriteTo from %d: position %d (%v) after, want %d", from, pos, err, size)
		}
		if m, err := r.Read(make([]byte, 1)); m != 0 || err != io.EOF {
			t.Errorf("WriteTo from %d: Read after = %d, %v; want 0, EOF", from, m, err)
		}
		r.Close()
	}
}
