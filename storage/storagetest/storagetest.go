// Package storagetest is the conformance suite of storage drivers. Every
// backend runs it from a test file of a few lines:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) driver.Bucket { return memstore.New() }, nil)
//	}
//
// newDriver is called once per subtest and must return an empty store (a
// new directory, a new key prefix, ...); it registers its own clean-up with
// t.Cleanup. The suite runs the driver through a storage.Bucket, as every
// caller does, so what it proves holds for them; the subtests under
// "Driver/" call the driver directly, for what the portable type relies on
// (page sizes and tokens, wrapped sentinel errors, io.WriterTo).
//
// The suite is written with the standard testing package and go-cmp only,
// so that importing it adds no flags and prints nothing of its own.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
)

// Options tell the suite what a backend documents about itself. A nil
// *Options is the zero value: a streaming backend whose ETag changes on
// every write.
type Options struct {
	// InMemory says that the backend keeps its objects in memory, so a Put
	// may hold a whole object at once; the large-object test then does not
	// bound the memory that Put and Open use.
	InMemory bool
	// ContentETag says that the backend's ETag is a function of the bytes
	// alone (S3's is their MD5), so rewriting identical bytes may keep it.
	// The ETag must still change whenever the bytes change.
	ContentETag bool
	// KeysAreFiles says that the backend, or the service behind it, maps
	// keys to files, so that a key cannot also be the "directory" of other
	// keys ("a" and "a/b") and a segment cannot be longer than a file name
	// (255 bytes): versitygw's and MinIO's file-system backends, for
	// instance. The suite then stores no such keys.
	KeysAreFiles bool
	// LargeSize is the length of the large-object test's object; 0 means
	// 32 MiB.
	LargeSize int64
}

// keys returns keys, less those that are the directory of another when
// the backend cannot store both.
func (o *Options) keys(keys []string) []string {
	if !o.KeysAreFiles {
		return keys
	}
	return slices.DeleteFunc(slices.Clone(keys), func(k string) bool {
		for seg := range strings.SplitSeq(k, "/") {
			if len(seg) > 255 {
				return true
			}
		}
		return slices.ContainsFunc(keys, func(other string) bool { return strings.HasPrefix(other, k+"/") })
	})
}

// Run runs the conformance suite against the drivers that newDriver makes,
// one per subtest. A nil opts is the zero Options.
func Run(t *testing.T, newDriver func(t *testing.T) driver.Bucket, opts *Options) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.LargeSize <= 0 {
		o.LargeSize = 32 << 20
	}
	s := &suite{newDriver: newDriver, opts: o}
	tests := []struct {
		name string
		run  func(t *testing.T, st *storage.Bucket)
	}{
		{"RoundTrip", s.testRoundTrip},
		{"NoContentType", s.testNoContentType},
		{"NotFound", s.testNotFound},
		{"Overwrite", s.testOverwrite},
		{"Delete", s.testDelete},
		{"Empty", s.testEmpty},
		{"Large", s.testLarge},
		{"LargeConditional", s.testLargeConditional},
		{"OddKeys", s.testOddKeys},
		{"CancelledPut", s.testCancelledPut},
		{"CancelledContext", s.testCancelledContext},
		{"FailingReader", s.testFailingReader},
		{"Preconditions", s.testPreconditions},
		{"ConcurrentWriters", s.testConcurrentWriters},
		{"IfAbsentRace", s.testIfAbsentRace},
		{"IfMatchRace", s.testIfMatchRace},
		{"List", s.testList},
		{"Seek", s.testSeek},
		{"OpenSnapshot", s.testOpenSnapshot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, storage.NewBucket(newDriver(t)))
		})
	}
	driverTests := []struct {
		name string
		run  func(t *testing.T, d driver.Bucket)
	}{
		{"ListPageSize", s.testListPageSize},
		{"NotFoundWraps", s.testNotFoundWraps},
		{"PreconditionWraps", s.testPreconditionWraps},
		{"ReaderWriterTo", s.testReaderWriterTo},
	}
	for _, tc := range driverTests {
		t.Run("Driver/"+tc.name, func(t *testing.T) {
			tc.run(t, newDriver(t))
		})
	}
}

type suite struct {
	newDriver func(t *testing.T) driver.Bucket
	opts      Options
}

// approxTime compares times with the tolerance of backends that keep
// seconds only (S3) and of a Put that reports the local clock.
var approxTime = cmpopts.EquateApproxTime(time.Minute)

func put(t testing.TB, st *storage.Bucket, key string, data []byte, opts *storage.PutOptions) storage.Attrs {
	t.Helper()
	a, err := st.Put(context.Background(), key, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return a
}

// read returns the bytes and attributes of the object at key.
func read(t testing.TB, st *storage.Bucket, key string) ([]byte, storage.Attrs) {
	t.Helper()
	r, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return data, r.Attrs()
}

// mustHave checks that key holds exactly want.
func mustHave(t testing.TB, st *storage.Bucket, key string, want []byte) storage.Attrs {
	t.Helper()
	got, a := read(t, st, key)
	if !bytes.Equal(got, want) {
		t.Fatalf("%q holds %d bytes %.40q, want %d bytes %.40q", key, len(got), got, len(want), want)
	}
	if a.Size != int64(len(want)) {
		t.Fatalf("%q: Attrs().Size = %d, want %d", key, a.Size, len(want))
	}
	return a
}

func mustBeAbsent(t testing.TB, st *storage.Bucket, key string) {
	t.Helper()
	if a, err := st.Stat(context.Background(), key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat(%q) = %+v, %v; want ErrNotFound", key, a, err)
	}
}

// listAll returns every object under prefix, through Bucket.List.
func listAll(t testing.TB, st *storage.Bucket, prefix string) []storage.Attrs {
	t.Helper()
	var all []storage.Attrs
	for a, err := range st.List(context.Background(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		all = append(all, a)
	}
	return all
}

func keysOf(as []storage.Attrs) []string {
	keys := make([]string, len(as))
	for i, a := range as {
		keys[i] = a.Key
	}
	return keys
}

func (s *suite) testRoundTrip(t *testing.T, st *storage.Bucket) {
	ctx := context.Background()
	data := []byte("hello, storage\x00\xff binary too")
	before := time.Now()
	pa := put(t, st, "dir/sub/object.bin", data, &storage.PutOptions{ContentType: "image/jpeg"})
	want := storage.Attrs{Key: "dir/sub/object.bin", Size: int64(len(data)), ContentType: "image/jpeg", ETag: pa.ETag, ModTime: before}
	if pa.ETag == "" {
		t.Fatal("Put returned an empty ETag")
	}
	if strings.Contains(pa.ETag, `"`) {
		t.Errorf("ETag %s has quotes; the contract says without", pa.ETag)
	}
	if diff := cmp.Diff(want, pa, approxTime); diff != "" {
		t.Errorf("Put attrs (-want +got):\n%s", diff)
	}
	oa := mustHave(t, st, "dir/sub/object.bin", data)
	if diff := cmp.Diff(want, oa, approxTime); diff != "" {
		t.Errorf("Open attrs (-want +got):\n%s", diff)
	}
	sa, err := st.Stat(ctx, "dir/sub/object.bin")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, sa, approxTime); diff != "" {
		t.Errorf("Stat attrs (-want +got):\n%s", diff)
	}
	if !sa.ModTime.Equal(oa.ModTime) {
		t.Errorf("Stat ModTime %v differs from Open's %v", sa.ModTime, oa.ModTime)
	}
	// A sibling and a parent-looking key are other objects.
	mustBeAbsent(t, st, "dir/sub")
	mustBeAbsent(t, st, "dir/sub/object.bi")
}

func (s *suite) testNoContentType(t *testing.T, st *storage.Bucket) {
	a := put(t, st, "plain", []byte("x"), nil)
	_, oa := read(t, st, "plain")
	for _, got := range []string{a.ContentType, oa.ContentType} {
		if got != "" {
			t.Errorf("ContentType = %q for a Put without one, want \"\"", got)
		}
	}
}

func (s *suite) testNotFound(t *testing.T, st *storage.Bucket) {
	ctx := context.Background()
	const key = "missing/käse 1"
	put(t, st, "missing/other", []byte("x"), nil)
	r, err := st.Open(ctx, key)
	if !errors.Is(err, storage.ErrNotFound) {
		if r != nil {
			r.Close()
		}
		t.Fatalf("Open of a missing key: %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("Open error %q does not name the key %q", err, key)
	}
	_, err = st.Stat(ctx, key)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat of a missing key: %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("Stat error %q does not name the key %q", err, key)
	}
}

func (s *suite) testOverwrite(t *testing.T, st *storage.Bucket) {
	a1 := put(t, st, "k", []byte("first"), &storage.PutOptions{ContentType: "text/plain"})
	a2 := put(t, st, "k", []byte("second, longer"), &storage.PutOptions{ContentType: "image/png"})
	if a1.ETag == a2.ETag {
		t.Errorf("ETag %q did not change when the bytes did", a1.ETag)
	}
	got := mustHave(t, st, "k", []byte("second, longer"))
	if got.ETag != a2.ETag || got.ContentType != "image/png" {
		t.Errorf("after overwrite: ETag %q type %q, want %q %q", got.ETag, got.ContentType, a2.ETag, "image/png")
	}
	a3 := put(t, st, "k", []byte("second, longer"), &storage.PutOptions{ContentType: "image/png"})
	if a3.ETag == a2.ETag && !s.opts.ContentETag {
		t.Errorf("rewriting identical bytes kept the ETag %q", a3.ETag)
	}
	if got := mustHave(t, st, "k", []byte("second, longer")); got.ETag != a3.ETag {
		t.Errorf("stored ETag %q, Put returned %q", got.ETag, a3.ETag)
	}
}

func (s *suite) testDelete(t *testing.T, st *storage.Bucket) {
	ctx := context.Background()
	put(t, st, "del/a", []byte("a"), nil)
	put(t, st, "del/b", []byte("b"), nil)
	if err := st.Delete(ctx, "del/a"); err != nil {
		t.Fatal(err)
	}
	mustBeAbsent(t, st, "del/a")
	mustHave(t, st, "del/b", []byte("b"))
	if err := st.Delete(ctx, "del/a"); err != nil {
		t.Errorf("second Delete: %v, want nil", err)
	}
	if err := st.Delete(ctx, "never/was/here"); err != nil {
		t.Errorf("Delete of a key never written: %v, want nil", err)
	}
	if got := keysOf(listAll(t, st, "del/")); !slices.Equal(got, []string{"del/b"}) {
		t.Errorf("List after Delete = %q", got)
	}
	// The key can be written again after a Delete, IfAbsent included.
	put(t, st, "del/a", []byte("again"), &storage.PutOptions{IfAbsent: true})
	mustHave(t, st, "del/a", []byte("again"))
}

func (s *suite) testEmpty(t *testing.T, st *storage.Bucket) {
	a := put(t, st, "empty", nil, &storage.PutOptions{ContentType: "application/octet-stream"})
	if a.Size != 0 || a.ETag == "" {
		t.Errorf("Put of an empty object: %+v", a)
	}
	mustHave(t, st, "empty", []byte{})
	put(t, st, "empty", []byte("now full"), nil)
	put(t, st, "empty", []byte{}, nil)
	mustHave(t, st, "empty", []byte{})
}

// generator is an io.Reader of n pseudo-random bytes that hashes what it
// produces and, every sampleEvery bytes, records how much heap is live.
type generator struct {
	rng        *rand.ChaCha8
	left       int64
	h          hash.Hash
	sample     func()
	sinceCheck int64
}

const sampleEvery = 4 << 20

func newGenerator(n int64, seed byte, sample func()) *generator {
	return &generator{rng: rand.NewChaCha8([32]byte{seed}), left: n, h: sha256.New(), sample: sample}
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.rng.Read(p)
	g.h.Write(p[:n])
	g.left -= int64(n)
	g.sinceCheck += int64(n)
	if g.sinceCheck >= sampleEvery && g.sample != nil {
		g.sinceCheck = 0
		g.sample()
	}
	return n, nil
}

func (g *generator) sum() [32]byte {
	var s [32]byte
	copy(s[:], g.h.Sum(nil))
	return s
}

// heapWatch measures the live heap above a baseline, at the moments that
// sample is called; it forces a collection first so that garbage does not
// count.
type heapWatch struct {
	base, peak uint64
}

func newHeapWatch() *heapWatch {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &heapWatch{base: ms.HeapAlloc}
}

func (w *heapWatch) sample() {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > w.base && ms.HeapAlloc-w.base > w.peak {
		w.peak = ms.HeapAlloc - w.base
	}
}

// sampleWriter hashes what is written to it and samples the heap every
// sampleEvery bytes.
type sampleWriter struct {
	w      io.Writer
	n      int64
	sample func()
}

func (s *sampleWriter) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	if s.n >= sampleEvery && s.sample != nil {
		s.n = 0
		s.sample()
	}
	return s.w.Write(p)
}

func (s *suite) testLarge(t *testing.T, st *storage.Bucket) {
	size := s.opts.LargeSize
	limit := uint64(size / 2)
	ctx := context.Background()

	w := newHeapWatch()
	g := newGenerator(size, 1, w.sample)
	a, err := st.Put(ctx, "large/object", g, &storage.PutOptions{ContentType: "application/octet-stream"})
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", size, err)
	}
	if a.Size != size {
		t.Errorf("Put returned Size %d, want %d", a.Size, size)
	}
	if !s.opts.InMemory && w.peak > limit {
		t.Errorf("Put of %d MiB held %d MiB of heap: it does not stream", size>>20, w.peak>>20)
	}
	t.Logf("Put of %d MiB: peak live heap growth %.1f MiB", size>>20, float64(w.peak)/(1<<20))

	r, err := st.Open(ctx, "large/object")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Attrs().Size != size {
		t.Errorf("Open Attrs().Size = %d, want %d", r.Attrs().Size, size)
	}
	rw := newHeapWatch()
	h := sha256.New()
	n, err := io.Copy(&sampleWriter{w: h, sample: rw.sample}, r)
	if err != nil {
		t.Fatalf("reading back after %d bytes: %v", n, err)
	}
	if n != size {
		t.Fatalf("read back %d bytes, want %d", n, size)
	}
	if got, want := [32]byte(h.Sum(nil)), g.sum(); got != want {
		t.Fatalf("read back bytes differ from those written (sha256 %x, want %x)", got, want)
	}
	if !s.opts.InMemory && rw.peak > limit {
		t.Errorf("reading %d MiB held %d MiB of heap: Open does not stream", size>>20, rw.peak>>20)
	}
}

// hashOf reads key and returns the SHA-256 of its bytes.
func hashOf(t *testing.T, st *storage.Bucket, key string) [32]byte {
	t.Helper()
	r, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return [32]byte(h.Sum(nil))
}

// cancellingReader cancels its context once it has returned half of its
// bytes, then goes on as if nothing happened.
type cancellingReader struct {
	*generator
	at     int64
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.left <= c.at {
		c.cancel()
	}
	return c.generator.Read(p)
}

// testLargeConditional: preconditions, failures and cancellation of objects
// large enough for a backend to write them in parts (S3's multipart
// uploads): the condition holds for the whole object, and a failure
// part-way leaves the previous object whole.
func (s *suite) testLargeConditional(t *testing.T, st *storage.Bucket) {
	size := s.opts.LargeSize / 4
	ctx := context.Background()
	const key = "large/conditional"
	g := newGenerator(size, 2, nil)
	a, err := st.Put(ctx, key, g, &storage.PutOptions{IfAbsent: true})
	if err != nil {
		t.Fatalf("IfAbsent Put of %d bytes on a new key: %v", size, err)
	}
	want := g.sum()
	check := func(what string) {
		t.Helper()
		if hashOf(t, st, key) != want {
			t.Fatalf("%s changed the object", what)
		}
	}
	if _, err := st.Put(ctx, key, newGenerator(size, 3, nil), &storage.PutOptions{IfAbsent: true}); !errors.Is(err, storage.ErrPrecondition) {
		t.Errorf("IfAbsent Put over an object: %v, want ErrPrecondition", err)
	}
	check("a losing IfAbsent Put")
	if _, err := st.Put(ctx, key, newGenerator(size, 4, nil), &storage.PutOptions{IfMatch: "stale"}); !errors.Is(err, storage.ErrPrecondition) {
		t.Errorf("IfMatch Put with a stale ETag: %v, want ErrPrecondition", err)
	}
	check("a losing IfMatch Put")
	g = newGenerator(size, 5, nil)
	if _, err := st.Put(ctx, key, g, &storage.PutOptions{IfMatch: a.ETag}); err != nil {
		t.Fatalf("IfMatch Put with the current ETag: %v", err)
	}
	want = g.sum()
	check("(the winning IfMatch Put)")

	fr := io.MultiReader(newGenerator(size-1, 6, nil), &failingReader{})
	if _, err := st.Put(ctx, key, fr, nil); !errors.Is(err, errReader) {
		t.Errorf("Put from a reader failing after %d bytes: %v, want its error", size-1, err)
	}
	check("a Put whose reader failed")

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cr := &cancellingReader{generator: newGenerator(size, 7, nil), at: size / 2, cancel: cancel}
	if _, err := st.Put(cctx, key, cr, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Put cancelled half-way: %v, want context.Canceled", err)
	}
	check("a cancelled Put")
	if got := keysOf(listAll(t, st, "")); !slices.Equal(got, []string{key}) {
		t.Errorf("List = %q, want only %q", got, key)
	}
}

// OddKeys are valid keys that stress a backend's key mapping: escaping,
// case, dots, long segments, deep nesting, and a key that is also the
// "directory" of another.
func OddKeys() []string {
	long := func(seg string, total int) string {
		// A key of exactly total bytes: "long/" then seg repeated.
		k := "long/"
		for len(k)+len(seg) <= total {
			k += seg
		}
		k += strings.Repeat("x", total-len(k))
		if strings.HasSuffix(k, "/") {
			k = k[:len(k)-1] + "x"
		}
		return k
	}
	deep := "deep"
	for len(deep)+2 <= storage.MaxKeyLen {
		deep += "/d"
	}
	return []string{
		"odd/unicode/日本語/ключ/ü",
		"odd/spaces/a b  c /  lead and trail  ",
		"odd/percent/100%/%2F%2e%2E%00%",
		"odd/dots/a..b/..c/d../...",
		"odd/dots/.hidden",
		"odd/dots/trailing.",
		"odd/dots/.tmp-looks-internal",
		"odd/dots/.lock",
		"odd/case/Name",
		"odd/case/name",
		"odd/case/NAME",
		"odd/punct/~tilde~/+plus+/=eq=/@at/#hash/!bang/&amp;/$dollar",
		"odd/punct/back\\slash/colon:/star*/q?/<lt>/|pipe|/\"quote\"/'single'",
		"odd/both/x",
		"odd/both/x/y",
		"odd/both/x/y/z",
		"odd/emoji/🙂/\u200bzero-width/\ufeffbom",
		"odd/reserved/CON/nul/aux.txt/com1",
		long("a", 300),
		long("é", 700),
		long("ab/", storage.MaxKeyLen-10),
		long("abcdefghij/", storage.MaxKeyLen),
		long("x", storage.MaxKeyLen),
		long("ü", storage.MaxKeyLen),
		deep,
	}
}

func (s *suite) testOddKeys(t *testing.T, st *storage.Bucket) {
	ctx := context.Background()
	keys := s.opts.keys(OddKeys())
	for i, key := range keys {
		if err := storage.ValidateKey(key); err != nil {
			t.Fatalf("the suite's key %q is invalid: %v", key, err)
		}
		data := fmt.Appendf(nil, "object %d: %s", i, key)
		a := put(t, st, key, data, &storage.PutOptions{ContentType: "text/plain"})
		if a.Key != key {
			t.Errorf("Put(%q) returned Key %q", key, a.Key)
		}
	}
	for i, key := range keys {
		got := mustHave(t, st, key, fmt.Appendf(nil, "object %d: %s", i, key))
		if got.Key != key {
			t.Errorf("Open(%q).Attrs().Key = %q", key, got.Key)
		}
		sa, err := st.Stat(ctx, key)
		if err != nil || sa.Key != key {
			t.Errorf("Stat(%q) = %q, %v", key, sa.Key, err)
		}
	}
	for _, p := range []string{"odd/", "long/", "deep/"} {
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, p) {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		if got := keysOf(listAll(t, st, p)); !slices.Equal(got, want) {
			t.Errorf("List(%q):\n got %q\nwant %q", p, got, want)
		}
	}
	for _, key := range keys {
		if err := st.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
	}
	if got := listAll(t, st, ""); len(got) != 0 {
		t.Errorf("after deleting every key List lists %q", keysOf(got))
	}
}

// blockingReader returns first, then blocks until release is closed, then
// returns rest.
type blockingReader struct {
	first, rest []byte
	started     chan struct{}
	release     chan struct{}
	state       int
}

func (b *blockingReader) Read(p []byte) (int, error) {
	switch b.state {
	case 0:
		b.state = 1
		close(b.started)
		return copy(p, b.first), nil
	case 1:
		<-b.release
		b.state = 2
		return copy(p, b.rest), nil
	}
	return 0, io.EOF
}

func (s *suite) testCancelledPut(t *testing.T, st *storage.Bucket) {
	tests := []struct {
		name     string
		existing []byte // nil: no object before
	}{
		{"over an object", []byte("the original")},
		{"new key", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "cancel/" + strings.ReplaceAll(tc.name, " ", "-")
			var before storage.Attrs
			if tc.existing != nil {
				before = put(t, st, key, tc.existing, &storage.PutOptions{ContentType: "text/plain"})
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			br := &blockingReader{
				first:   bytes.Repeat([]byte("A"), 1000),
				rest:    bytes.Repeat([]byte("B"), 1000),
				started: make(chan struct{}),
				release: make(chan struct{}),
			}
			done := make(chan error, 1)
			go func() {
				_, err := st.Put(ctx, key, br, &storage.PutOptions{ContentType: "image/gif"})
				done <- err
			}()
			select {
			case <-br.started:
			case err := <-done:
				t.Fatalf("Put returned %v before reading its input", err)
			}
			cancel()
			close(br.release)
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled Put: %v, want context.Canceled", err)
			}
			if tc.existing == nil {
				mustBeAbsent(t, st, key)
				return
			}
			after := mustHave(t, st, key, tc.existing)
			if diff := cmp.Diff(before, after, approxTime); diff != "" {
				t.Errorf("attrs changed by a cancelled Put (-before +after):\n%s", diff)
			}
		})
	}
	if got := keysOf(listAll(t, st, "")); !slices.Equal(got, []string{"cancel/over-an-object"}) {
		t.Errorf("List after cancelled Puts = %q", got)
	}
}

func (s *suite) testCancelledContext(t *testing.T, st *storage.Bucket) {
	put(t, st, "c/k", []byte("original"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := st.Put(ctx, "c/k", strings.NewReader("new"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: %v, want context.Canceled", err)
	}
	if _, err := st.Put(ctx, "c/new", strings.NewReader("new"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Put of a new key: %v, want context.Canceled", err)
	}
	if r, err := st.Open(ctx, "c/k"); !errors.Is(err, context.Canceled) {
		if r != nil {
			r.Close()
		}
		t.Errorf("Open: %v, want context.Canceled", err)
	}
	if _, err := st.Stat(ctx, "c/k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat: %v, want context.Canceled", err)
	}
	if err := st.Delete(ctx, "c/k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: %v, want context.Canceled", err)
	}
	for _, err := range st.List(ctx, "c/") {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("List: %v, want context.Canceled", err)
		}
	}
	mustHave(t, st, "c/k", []byte("original"))
	mustBeAbsent(t, st, "c/new")
}

var errReader = errors.New("storagetest: the reader failed")

// failingReader returns n bytes, then errReader.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errReader
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'F'
	}
	f.n -= k
	return k, nil
}

func (s *suite) testFailingReader(t *testing.T, st *storage.Bucket) {
	for _, n := range []int{0, 10, 100 << 10} {
		t.Run(fmt.Sprintf("after %d bytes", n), func(t *testing.T) {
			key := fmt.Sprintf("fail/%d", n)
			put(t, st, key, []byte("original"), nil)
			if _, err := st.Put(context.Background(), key, &failingReader{n: n}, nil); !errors.Is(err, errReader) {
				t.Errorf("Put from a failing reader: %v, want the reader's error", err)
			}
			mustHave(t, st, key, []byte("original"))
			fresh := key + "-new"
			if _, err := st.Put(context.Background(), fresh, &failingReader{n: n}, &storage.PutOptions{IfAbsent: true}); !errors.Is(err, errReader) {
				t.Errorf("IfAbsent Put from a failing reader: %v, want the reader's error", err)
			}
			mustBeAbsent(t, st, fresh)
		})
	}
}

func (s *suite) testPreconditions(t *testing.T, st *storage.Bucket) {
	ctx := context.Background()
	existing := put(t, st, "pre/existing", []byte("v1"), nil)
	stale := existing.ETag
	current := put(t, st, "pre/existing", []byte("v2"), nil)
	tests := []struct {
		name    string
		key     string
		opts    storage.PutOptions
		wantErr error // nil: the write wins
	}{
		{"IfAbsent on an absent key wins", "pre/new", storage.PutOptions{IfAbsent: true}, nil},
		{"IfAbsent on an existing key loses", "pre/existing", storage.PutOptions{IfAbsent: true}, storage.ErrPrecondition},
		{"IfMatch with the current ETag wins", "pre/existing", storage.PutOptions{IfMatch: current.ETag}, nil},
		{"IfMatch with a stale ETag loses", "pre/existing", storage.PutOptions{IfMatch: stale}, storage.ErrPrecondition},
		{"IfMatch with a made-up ETag loses", "pre/existing", storage.PutOptions{IfMatch: "no-such-etag"}, storage.ErrPrecondition},
		{"IfMatch on an absent key loses", "pre/absent", storage.PutOptions{IfMatch: current.ETag}, storage.ErrPrecondition},
		{"IfAbsent and IfMatch together are refused", "pre/existing", storage.PutOptions{IfAbsent: true, IfMatch: current.ETag}, storage.ErrInvalidOptions},
		{"IfAbsent and IfMatch together on an absent key", "pre/absent2", storage.PutOptions{IfAbsent: true, IfMatch: "x"}, storage.ErrInvalidOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeErr := st.Stat(ctx, tc.key)
			data := []byte("written by " + tc.name)
			a, err := st.Put(ctx, tc.key, bytes.NewReader(data), &tc.opts)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Put: %v, want success", err)
				}
				got := mustHave(t, st, tc.key, data)
				if got.ETag != a.ETag {
					t.Errorf("stored ETag %q, Put returned %q", got.ETag, a.ETag)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Put: %v, want %v", err, tc.wantErr)
			}
			if errors.Is(err, storage.ErrPrecondition) && !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name the key", err)
			}
			after, afterErr := st.Stat(ctx, tc.key)
			if (beforeErr == nil) != (afterErr == nil) {
				t.Fatalf("a losing Put changed whether %q exists: %v, then %v", tc.key, beforeErr, afterErr)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("a losing Put changed the object (-before +after):\n%s", diff)
			}
		})
	}
	// Chained conditional writes: each Put's ETag is the next one's IfMatch.
	a := put(t, st, "pre/chain", []byte("0"), &storage.PutOptions{IfAbsent: true})
	for i := 1; i <= 5; i++ {
		a = put(t, st, "pre/chain", fmt.Appendf(nil, "%d", i), &storage.PutOptions{IfMatch: a.ETag})
	}
	mustHave(t, st, "pre/chain", []byte("5"))
	// After a Delete, IfMatch with the last ETag loses and IfAbsent wins.
	if err := st.Delete(ctx, "pre/chain"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "pre/chain", strings.NewReader("x"), &storage.PutOptions{IfMatch: a.ETag}); !errors.Is(err, storage.ErrPrecondition) {
		t.Errorf("IfMatch after Delete: %v, want ErrPrecondition", err)
	}
	mustBeAbsent(t, st, "pre/chain")
	put(t, st, "pre/chain", []byte("reborn"), &storage.PutOptions{IfAbsent: true})
}

// payload is the content one writer of the concurrency tests writes: its
// identity repeated, so that a reader can tell a whole version from a mix.
func payload(writer, round, size int) []byte {
	line := fmt.Appendf(nil, "writer %03d round %03d|", writer, round)
	return bytes.Repeat(line, size/len(line)+1)[:size/len(line)*len(line)]
}

func checkPayload(data []byte) error {
	if len(data) == 0 {
		return errors.New("empty")
	}
	line := data[:bytes.IndexByte(data, '|')+1]
	if len(line) == 0 {
		return fmt.Errorf("no version marker in %.40q", data)
	}
	if len(data)%len(line) != 0 || !bytes.Equal(data, bytes.Repeat(line, len(data)/len(line))) {
		return fmt.Errorf("%d bytes mix versions (starts %.40q)", len(data), data)
	}
	return nil
}

func (s *suite) testConcurrentWriters(t *testing.T, st *storage.Bucket) {
	const (
		writers = 6
		readers = 4
		rounds  = 8
		size    = 96 << 10
	)
	ctx := context.Background()
	put(t, st, "race/key", payload(999, 0, size), nil)
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds+readers*rounds*4)
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				if _, err := st.Put(ctx, "race/key", bytes.NewReader(payload(w, r, size+w*1000)), nil); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
				}
			}
		})
	}
	var readersWG sync.WaitGroup
	for range readers {
		readersWG.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n > 0 {
						return
					}
				default:
				}
				r, err := st.Open(ctx, "race/key")
				if err != nil {
					errs <- fmt.Errorf("open: %w", err)
					return
				}
				data, err := io.ReadAll(r)
				a := r.Attrs()
				r.Close()
				if err != nil {
					errs <- fmt.Errorf("read: %w", err)
					return
				}
				if err := checkPayload(data); err != nil {
					errs <- err
					return
				}
				if a.Size != int64(len(data)) {
					errs <- fmt.Errorf("attrs size %d, read %d bytes", a.Size, len(data))
					return
				}
				if sa, err := st.Stat(ctx, "race/key"); err != nil || sa.Size == 0 || sa.ETag == "" {
					errs <- fmt.Errorf("stat during writes: %+v, %v", sa, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readersWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data, _ := read(t, st, "race/key")
	if err := checkPayload(data); err != nil {
		t.Errorf("final object: %v", err)
	}
	if got := keysOf(listAll(t, st, "")); !slices.Equal(got, []string{"race/key"}) {
		t.Errorf("List after concurrent writes = %q (leftovers?)", got)
	}
}

// race runs n goroutines that each call f once, all released together, and
// returns how many succeeded and the index of the last winner.
func race(t *testing.T, n int, f func(i int) error) (wins, winner int) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
	)
	winner = -1
	for i := range n {
		wg.Go(func() {
			<-start
			err := f(i)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				winner = i
			case errors.Is(err, storage.ErrPrecondition):
			default:
				t.Errorf("contender %d: %v, want nil or ErrPrecondition", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return wins, winner
}

func (s *suite) testIfAbsentRace(t *testing.T, st *storage.Bucket) {
	const n = 12
	for round := range 3 {
		key := fmt.Sprintf("once/%d", round)
		wins, winner := race(t, n, func(i int) error {
			_, err := st.Put(context.Background(), key, bytes.NewReader(payload(i, round, 4096)), &storage.PutOptions{IfAbsent: true})
			return err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d of %d IfAbsent writers won, want exactly 1", round, wins, n)
		}
		mustHave(t, st, key, payload(winner, round, 4096))
	}
}

func (s *suite) testIfMatchRace(t *testing.T, st *storage.Bucket) {
	const n = 12
	base := put(t, st, "cas", payload(999, 0, 4096), nil)
	for round := range 3 {
		wins, winner := race(t, n, func(i int) error {
			_, err := st.Put(context.Background(), "cas", bytes.NewReader(payload(i, round, 4096)), &storage.PutOptions{IfMatch: base.ETag})
			return err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d of %d IfMatch writers won, want exactly 1", round, wins, n)
		}
		base = mustHave(t, st, "cas", payload(winner, round, 4096))
	}
}

func (s *suite) testList(t *testing.T, st *storage.Bucket) {
	ctx := context.Background()
	keys := s.opts.keys([]string{
		"list/a", "list/b/c", "list/b/d", "list/b-", "list/ba", "list/b", "list/é", "list/z/z/z",
		"lis", "listing", "list0", "other/a",
	})
	for i, k := range keys {
		put(t, st, k, fmt.Appendf(nil, "%d", i), &storage.PutOptions{ContentType: "text/plain"})
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"list/", []string{"list/a", "list/b", "list/b-", "list/b/c", "list/b/d", "list/ba", "list/z/z/z", "list/é"}},
		{"list/b", []string{"list/b", "list/b-", "list/b/c", "list/b/d", "list/ba"}},
		{"list/b/", []string{"list/b/c", "list/b/d"}},
		{"list", []string{"list/a", "list/b", "list/b-", "list/b/c", "list/b/d", "list/ba", "list/z/z/z", "list/é", "list0", "listing"}},
		{"li", []string{"lis", "list/a", "list/b", "list/b-", "list/b/c", "list/b/d", "list/ba", "list/z/z/z", "list/é", "list0", "listing"}},
		{"list/z/z/z", []string{"list/z/z/z"}},
		{"nothing/", nil},
		{"list/c", nil},
		{"", slices.Sorted(slices.Values(keys))},
	}
	for _, tc := range tests {
		tc.want = slices.DeleteFunc(tc.want, func(k string) bool { return !slices.Contains(keys, k) })
		t.Run(fmt.Sprintf("prefix %q", tc.prefix), func(t *testing.T) {
			got := listAll(t, st, tc.prefix)
			if diff := cmp.Diff(tc.want, keysOf(got), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			for _, a := range got {
				sa, err := st.Stat(ctx, a.Key)
				if err != nil {
					t.Fatal(err)
				}
				// Listings need not carry the content type (S3's do not).
				a.ContentType = sa.ContentType
				if diff := cmp.Diff(sa, a, approxTime); diff != "" {
					t.Errorf("listed attrs of %q differ from Stat (-stat +list):\n%s", a.Key, diff)
				}
			}
		})
	}
	// An empty store lists nothing.
	if got := listAll(t, storage.NewBucket(s.newDriver(t)), ""); len(got) != 0 {
		t.Errorf("List of an empty store = %q", keysOf(got))
	}
}

func (s *suite) testSeek(t *testing.T, st *storage.Bucket) {
	data := make([]byte, 200<<10)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	put(t, st, "seek", data, nil)
	r, err := st.Open(context.Background(), "seek")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size := int64(len(data))
	steps := []struct {
		name   string
		offset int64
		whence int
		want   int64 // the new position
		read   int   // bytes to read after seeking, checked against data
	}{
		// http.ServeContent: size from the end, back to the start.
		{"end", 0, io.SeekEnd, size, 0},
		{"start", 0, io.SeekStart, 0, 100},
		{"current", 0, io.SeekCurrent, 100, 50},
		{"middle", 123456, io.SeekStart, 123456, 4000},
		{"backwards", -1000, io.SeekCurrent, 123456 + 4000 - 1000, 10},
		{"from end", -10, io.SeekEnd, size - 10, 10},
		{"start again", 0, io.SeekStart, 0, 1 << 10},
		{"last byte", size - 1, io.SeekStart, size - 1, 1},
	}
	for _, step := range steps {
		pos, err := r.Seek(step.offset, step.whence)
		if err != nil || pos != step.want {
			t.Fatalf("%s: Seek(%d, %d) = %d, %v; want %d", step.name, step.offset, step.whence, pos, err, step.want)
		}
		buf := make([]byte, step.read)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("%s: reading %d bytes at %d: %v", step.name, step.read, pos, err)
		}
		if !bytes.Equal(buf, data[pos:pos+int64(step.read)]) {
			t.Fatalf("%s: bytes at %d differ", step.name, pos)
		}
	}
	// At the end, Read reports EOF; a seek past the end is allowed and
	// reads nothing; a negative position is an error.
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v; want 0, EOF", n, err)
	}
	if pos, err := r.Seek(size+100, io.SeekStart); err != nil || pos != size+100 {
		t.Errorf("Seek past the end = %d, %v", pos, err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read past the end = %d, %v; want 0, EOF", n, err)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek to -1 succeeded")
	}
	// A range read in the ServeContent way gives the middle bytes.
	if _, err := r.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.LimitReader(r, 5000))
	if err != nil || !bytes.Equal(got, data[1000:6000]) {
		t.Errorf("range 1000-5999: %d bytes, %v", len(got), err)
	}

	// And through http.ServeContent itself, each request on a new Reader.
	serves := []struct {
		rangeHeader string
		code        int
		want        []byte
	}{
		{"", http.StatusOK, data},
		{"bytes=1000-5999", http.StatusPartialContent, data[1000:6000]},
		{fmt.Sprintf("bytes=-%d", 777), http.StatusPartialContent, data[size-777:]},
		{fmt.Sprintf("bytes=%d-", size-1), http.StatusPartialContent, data[size-1:]},
	}
	for _, sv := range serves {
		r, err := st.Open(context.Background(), "seek")
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/seek", nil)
		if sv.rangeHeader != "" {
			req.Header.Set("Range", sv.rangeHeader)
		}
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "seek", r.Attrs().ModTime, r)
		r.Close()
		if rec.Code != sv.code || !bytes.Equal(rec.Body.Bytes(), sv.want) {
			t.Errorf("ServeContent with Range %q: %d and %d bytes, want %d and %d bytes",
				sv.rangeHeader, rec.Code, rec.Body.Len(), sv.code, len(sv.want))
		}
	}
}

// testOpenSnapshot: a Put after Open never mixes into the open Reader. A
// backend either keeps serving the old bytes or fails the Read with an error
// wrapping ErrPrecondition or ErrNotFound (a lazy reader such as S3's that
// pins the ETag it opened).
func (s *suite) testOpenSnapshot(t *testing.T, st *storage.Bucket) {
	old := payload(1, 1, 64<<10)
	newer := payload(2, 2, 80<<10)
	put(t, st, "snap", old, nil)
	tests := []struct {
		name   string
		change func(t *testing.T)
	}{
		{"overwritten", func(t *testing.T) { put(t, st, "snap", newer, nil) }},
		{"deleted", func(t *testing.T) {
			if err := st.Delete(context.Background(), "snap"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			put(t, st, "snap", old, nil)
			r, err := st.Open(context.Background(), "snap")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			head := make([]byte, 100)
			if _, err := io.ReadFull(r, head); err != nil {
				t.Fatal(err)
			}
			tc.change(t)
			rest, err := io.ReadAll(r)
			check := func(what string, got []byte, err error) {
				t.Helper()
				if err != nil {
					if !errors.Is(err, storage.ErrPrecondition) && !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("%s: %v; want the old bytes, or ErrPrecondition/ErrNotFound", what, err)
					}
					return
				}
				if !bytes.Equal(got, old) {
					t.Errorf("%s: the open Reader returned %d bytes that are not the object it opened", what, len(got))
				}
			}
			check("reading on", append(head, rest...), err)
			if err == nil && r.Attrs().Size != int64(len(old)) {
				t.Errorf("Attrs().Size changed to %d", r.Attrs().Size)
			}
			// Seeking back (a new ranged read on lazy backends) too.
			if _, err := r.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			again, err := io.ReadAll(r)
			check("after Seek(0)", again, err)
		})
	}
}
