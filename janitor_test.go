package photo_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/profilephoto/photo"
)

// TestRemoveOrphansSkipsUnreadableRecords checks that one record RemoveOrphans
// cannot read protects its own blobs but does not stop the removal of everything else.
func TestRemoveOrphansSkipsUnreadableRecords(t *testing.T) {
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
	res, err := m.RemoveOrphans(ctx, time.Nanosecond)
	if err != nil {
		t.Fatalf("RemoveOrphans: %v", err)
	}
	if res != len(orphans) {
		t.Errorf("RemoveOrphans removed %d objects, want %d", res, len(orphans))
	}
	left := append(allKeys(t, st, "files/"), allKeys(t, st, "users/")...)
	slices.Sort(left)
	want := slices.Sorted(slices.Values(protected))
	if !slices.Equal(left, want) {
		t.Errorf("left %q, want %q", left, want)
	}
}
