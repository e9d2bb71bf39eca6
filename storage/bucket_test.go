package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/profilephoto/photo/storage/driver"
)

// fakeDriver is a driver.Bucket over a map. With strict set, any call fails
// the test: it checks that Bucket refuses bad arguments itself.
type fakeDriver struct {
	t       *testing.T
	strict  bool
	objects map[string][]byte
	keys    []string // extra listed keys the map does not hold (foreign objects)
	calls   []string // "op key" of every call
	gotOpts *driver.PutOptions
	noETag  bool
	err     error  // returned by every call when set
	token   string // when set, every ListPage returns it as NextPageToken
}

func newFake(t *testing.T, keys ...string) *fakeDriver {
	f := &fakeDriver{t: t, objects: map[string][]byte{}}
	for _, k := range keys {
		f.objects[k] = []byte(k)
	}
	return f
}

func (f *fakeDriver) call(op, key string) error {
	if f.strict {
		f.t.Errorf("driver called: %s %q", op, key)
	}
	f.calls = append(f.calls, op+" "+key)
	return f.err
}

func (f *fakeDriver) Put(ctx context.Context, key string, r io.Reader, opts *driver.PutOptions) (driver.Attrs, error) {
	if err := f.call("put", key); err != nil {
		return driver.Attrs{}, err
	}
	f.gotOpts = opts
	data, err := io.ReadAll(r)
	if err != nil {
		return driver.Attrs{}, err
	}
	f.objects[key] = data
	a := driver.Attrs{Key: key, Size: int64(len(data)), ETag: "e"}
	if f.noETag {
		a.ETag = ""
	}
	return a, nil
}

type fakeReader struct{ *bytes.Reader }

func (fakeReader) Close() error                     { return nil }
func (fakeReader) Attrs() driver.Attrs              { return driver.Attrs{} }
func (fakeReader) WriteTo(io.Writer) (int64, error) { return 0, nil }

func (f *fakeDriver) Open(ctx context.Context, key string) (driver.Reader, error) {
	if err := f.call("open", key); err != nil {
		return nil, err
	}
	d, ok := f.objects[key]
	if !ok {
		return nil, driver.ErrNotFound
	}
	return fakeReader{bytes.NewReader(d)}, nil
}

func (f *fakeDriver) Stat(ctx context.Context, key string) (driver.Attrs, error) {
	if err := f.call("stat", key); err != nil {
		return driver.Attrs{}, err
	}
	d, ok := f.objects[key]
	if !ok {
		return driver.Attrs{}, driver.ErrNotFound
	}
	return driver.Attrs{Key: key, Size: int64(len(d)), ETag: "e"}, nil
}

func (f *fakeDriver) Delete(ctx context.Context, key string) error {
	if err := f.call("delete", key); err != nil {
		return err
	}
	delete(f.objects, key)
	return nil
}

func (f *fakeDriver) ListPage(ctx context.Context, prefix, token string, size int) (driver.ListPage, error) {
	if err := f.call("list", token); err != nil {
		return driver.ListPage{}, err
	}
	keys := slices.Clone(f.keys)
	for k := range f.objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var p driver.ListPage
	for _, k := range keys {
		if k <= token || !strings.HasPrefix(k, prefix) {
			continue
		}
		if len(p.Objects) == size {
			p.NextPageToken = p.Objects[size-1].Key
			break
		}
		p.Objects = append(p.Objects, driver.Attrs{Key: k})
	}
	if f.token != "" {
		p.NextPageToken = f.token
	}
	return p, nil
}

func listKeys(t *testing.T, b *Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for a, err := range b.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		keys = append(keys, a.Key)
	}
	return keys
}

// TestRefusedBeforeDriver checks that bad arguments and a done context
// never reach the driver.
func TestRefusedBeforeDriver(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	ok := context.Background()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		key  string
		opts *PutOptions
		want error
	}{
		{"empty key", ok, "", nil, ErrInvalidKey},
		{"dot segment", ok, "a/../b", nil, ErrInvalidKey},
		{"empty segment", ok, "a//b", nil, ErrInvalidKey},
		{"leading slash", ok, "/a", nil, ErrInvalidKey},
		{"control character", ok, "a\nb", nil, ErrInvalidKey},
		{"not UTF-8", ok, "a\xffb", nil, ErrInvalidKey},
		{"too long", ok, strings.Repeat("k", MaxKeyLen+1), nil, ErrInvalidKey},
		{"cancelled", cancelled, "a", nil, context.Canceled},
		{"both preconditions", ok, "a", &PutOptions{IfAbsent: true, IfMatch: "e"}, ErrInvalidOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.strict = true
			b := NewBucket(f)
			_, err := b.Put(tc.ctx, tc.key, strings.NewReader("x"), tc.opts)
			errs := map[string]error{"put": err}
			if tc.opts == nil {
				_, errs["open"] = b.Open(tc.ctx, tc.key)
				_, errs["stat"] = b.Stat(tc.ctx, tc.key)
				errs["delete"] = b.Delete(tc.ctx, tc.key)
			}
			for op, err := range errs {
				if !errors.Is(err, tc.want) {
					t.Errorf("%s: got %v, want %v", op, err, tc.want)
				} else if !strings.HasPrefix(err.Error(), "storage: "+op+" ") {
					t.Errorf("%s: message %q does not name the operation", op, err)
				}
			}
		})
	}
}

func TestListRefusedBeforeDriver(t *testing.T) {
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		prefix string
		want   error
	}{
		{"dot segment", t.Context(), "a/../", ErrInvalidKey},
		{"double slash", t.Context(), "a//", ErrInvalidKey},
		{"cancelled", cancelled, "a/", context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.strict = true
			n := 0
			for a, err := range NewBucket(f).List(tc.ctx, tc.prefix) {
				n++
				if !errors.Is(err, tc.want) || a != (Attrs{}) {
					t.Errorf("got (%v, %v), want zero Attrs and %v", a, err, tc.want)
				}
			}
			if n != 1 {
				t.Errorf("List yielded %d times, want once", n)
			}
		})
	}
}

func TestPut(t *testing.T) {
	f := newFake(t)
	b := NewBucket(f)
	a, err := b.Put(t.Context(), "a/b", strings.NewReader("hello"), nil)
	if err != nil || a.ETag != "e" || string(f.objects["a/b"]) != "hello" {
		t.Fatalf("Put = %+v, %v; stored %q", a, err, f.objects["a/b"])
	}
	if f.gotOpts == nil || *f.gotOpts != (PutOptions{}) {
		t.Errorf("driver got opts %+v, want the zero PutOptions", f.gotOpts)
	}
	want := &PutOptions{IfMatch: "e", ContentType: "image/png"}
	if _, err := b.Put(t.Context(), "a/b", strings.NewReader("x"), want); err != nil {
		t.Fatal(err)
	}
	if f.gotOpts == want || *f.gotOpts != *want {
		t.Errorf("driver got opts %p %+v, want a copy of %+v", f.gotOpts, f.gotOpts, want)
	}
	if _, err := b.Put(t.Context(), "a/b", nil, nil); err == nil {
		t.Error("Put with a nil reader succeeded")
	}
	f.noETag = true
	if _, err := b.Put(t.Context(), "a/b", strings.NewReader("x"), nil); err == nil {
		t.Error("Put accepted a driver's empty ETag")
	}
}

// cancelOnRead cancels a context on its first Read and then reads on.
type cancelOnRead struct {
	cancel context.CancelFunc
	r      io.Reader
}

func (c *cancelOnRead) Read(p []byte) (int, error) {
	c.cancel()
	return c.r.Read(p)
}

func TestPutStopsReadingWhenCancelled(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithCancel(t.Context())
	r := &cancelOnRead{cancel, strings.NewReader(strings.Repeat("x", 1<<20))}
	_, err := NewBucket(f).Put(ctx, "k", io.MultiReader(r, strings.NewReader("tail")), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	if _, ok := f.objects["k"]; ok {
		t.Error("the object was stored")
	}
}

func TestErrorsNameOpAndKey(t *testing.T) {
	f := newFake(t)
	b := NewBucket(f)
	_, err := b.Open(t.Context(), "users/x")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Open = %v, want ErrNotFound", err)
	}
	if got, want := err.Error(), `storage: open "users/x": object not found`; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	_, err = b.Stat(t.Context(), strings.Repeat("k", 100))
	if want := `storage: stat "` + strings.Repeat("k", 64) + `...": object not found`; err == nil || err.Error() != want {
		t.Errorf("Stat of a long key: %v, want %q", err, want)
	}
	boom := errors.New("boom")
	f.err = boom
	_, errPut := b.Put(t.Context(), "k", strings.NewReader(""), nil)
	_, errOpen := b.Open(t.Context(), "k")
	_, errStat := b.Stat(t.Context(), "k")
	errDelete := b.Delete(t.Context(), "k")
	var errList error
	for _, err := range b.List(t.Context(), "p") {
		errList = err
	}
	for op, err := range map[string]error{"put": errPut, "open": errOpen, "stat": errStat, "delete": errDelete, "list": errList} {
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "storage: "+op+" ") {
			t.Errorf("%s: %v, want %q wrapping the driver's error", op, err, "storage: "+op+" ...")
		}
	}
}

func TestOpenReturnsDriverReader(t *testing.T) {
	b := NewBucket(newFake(t, "k"))
	r, err := b.Open(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(io.WriterTo); !ok {
		t.Error("the Reader lost the driver's io.WriterTo")
	}
}

func TestListPages(t *testing.T) {
	keys := []string{"a", "a-b", "a/b", "a/c", "a/d", "a/e", "a0", "b"}
	f := newFake(t, keys...)
	b := NewBucket(f)
	b.pageSize = 2
	if got := listKeys(t, b, ""); !slices.Equal(got, keys) {
		t.Errorf("List(\"\") = %q, want %q", got, keys)
	}
	if got, want := listKeys(t, b, "a/"), []string{"a/b", "a/c", "a/d", "a/e"}; !slices.Equal(got, want) {
		t.Errorf("List(a/) = %q, want %q", got, want)
	}
	// Breaking out after the first object asks for no second page.
	f.calls = nil
	for range b.List(t.Context(), "") {
		break
	}
	if len(f.calls) != 1 {
		t.Errorf("driver calls after break: %q, want one", f.calls)
	}
}

func TestListSkipsForeignKeys(t *testing.T) {
	f := newFake(t, "a/b")
	f.keys = []string{"a//x", "a/./y", "a/\x01"}
	if got, want := listKeys(t, NewBucket(f), "a/"), []string{"a/b"}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
}

func TestListStops(t *testing.T) {
	f := newFake(t, "a", "b", "c")
	b := NewBucket(f)
	b.pageSize = 1
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []string
	var last error
	for a, err := range b.List(ctx, "") {
		if err != nil {
			last = err
			continue
		}
		got = append(got, a.Key)
		cancel()
	}
	if !slices.Equal(got, []string{"a"}) || !errors.Is(last, context.Canceled) {
		t.Errorf("cancelled listing yielded %q then %v, want [a] then context.Canceled", got, last)
	}

	f.token = "a" // a driver that never advances
	last = nil
	n := 0
	for _, err := range b.List(t.Context(), "") {
		if err != nil {
			last = err
		}
		if n++; n > 10 {
			t.Fatal("List loops on a repeated page token")
		}
	}
	if last == nil {
		t.Error("no error for a repeated page token")
	}
}
