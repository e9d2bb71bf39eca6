package photo_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo"
)

// TestSweepSkipsUnreadableRecords checks that one record that
// Sweep cannot read protects its own blobs but does not stop the
// removal of everything else.
func TestSweepSkipsUnreadableRecords(t *testing.T) {
	ctx := context.Background()
	m, st := newManager(t, &photo.Options{Sizes: []int{32}})
	orphans := []string{
		"users/00000000000000000000000000000000/v/aaaaaaaaaaaaaaaa.aaaaaaaa/32.jpg", // no record
		"users/ffffffffffffffffffffffffffffffff/v/aaaaaaaaaaaaaaaa.aaaaaaaa/32.jpg", // no record
		"files/069zzzzzzzzzzzzzzz/aaaaaaaa",                                         // no record
	}
	protected := []string{
		"users/11111111111111111111111111111111/record.json",
		"users/11111111111111111111111111111111/v/aaaaaaaaaaaaaaaa.aaaaaaaa/32.jpg",
		"files/069000000000000000/meta.json",
		"files/069000000000000000/aaaaaaaa",
	}
	for _, k := range append(slices.Clone(orphans), protected...) {
		if _, err := st.Put(ctx, k, strings.NewReader("{not json"), nil); err != nil {
			t.Fatal(err)
		}
	}
	res, err := m.Sweep(ctx, time.Nanosecond)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if res != len(orphans) {
		t.Errorf("Sweep removed %d objects, want %d", res, len(orphans))
	}
	left := append(allKeys(t, st, "files/"), allKeys(t, st, "users/")...)
	slices.Sort(left)
	want := slices.Sorted(slices.Values(protected))
	if !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
}

// TestSweep leaves what a crashed Set and a crashed file version
// leave, and checks that Sweep removes them once they are older
// than its grace period, and nothing that a record references.
func TestSweep(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m, st := newManager(t, &photo.Options{Sizes: []int{32}, Now: clock})
	p, err := m.Set(ctx, "u", bytes.NewReader(encodeJPEG(t, quadrants(40, 40))), nil)
	if err != nil {
		t.Fatal(err)
	}
	live := allKeys(t, st, "users/")
	rec, ok := strings.CutSuffix(live[0], "/record.json") // "users/<hash>"
	if !ok {
		t.Fatalf("the first key is %s, not a record", live[0])
	}
	for _, k := range []string{
		rec + "/v/orphanorphanorph.aaaaaaaa/original.jpg",
		rec + "/v/orphanorphanorph.aaaaaaaa/32.jpg",
		"files/069AAAAAAAAAAAAAAA/zzzzzzzz",
	} {
		if _, err := st.Put(ctx, k, strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
	}

	// Young orphans are left alone: a Set may be about to commit them.
	if n, err := m.Sweep(ctx, 0); err != nil || n != 0 {
		t.Fatalf("Sweep of young blobs = %d, %v; want 0", n, err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if n, err := m.Sweep(ctx, 0); err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3", n, err)
	}
	if diff := cmp.Diff(live, allKeys(t, st, "users/")); diff != "" {
		t.Errorf("users/ after Sweep (-want +got):\n%s", diff)
	}
	if left := allKeys(t, st, "files/"); len(left) != 0 {
		t.Errorf("files/ after Sweep: %q", left)
	}
	for _, r := range p.Renditions {
		decodeRendition(t, m, p, r.Size)
	}
}
