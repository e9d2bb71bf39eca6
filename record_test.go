package photo

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRecordFormats checks that records written before v1 (no V, import
// codes in kebab-case) read as before, and that one written by a newer
// release is refused rather than taken for absent.
func TestRecordFormats(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	m, err := New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(user, json string) {
		t.Helper()
		if err := b.Delete(ctx, recordKey(user)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Put(ctx, recordKey(user), strings.NewReader(json), nil); err != nil {
			t.Fatal(err)
		}
	}
	put("old", `{"userId":"old","revision":3,"pending":{"id":"x","started":"2020-01-01T00:00:00Z","failed":{"code":"url-not-allowed","message":"not here"}},"updated":"2020-01-01T00:00:00Z"}`)
	p, err := m.Get(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	want := &Error{Code: CodeURLNotAllowed, Message: "not here"}
	if diff := cmp.Diff(want, p.ImportError); diff != "" || p.Status != StatusFailed || p.Revision != 3 {
		t.Errorf("an old record: %s rev %d, ImportError (-want +got):\n%s", p.Status, p.Revision, diff)
	}

	put("newer", `{"v":2,"userId":"newer","revision":1,"updated":"2020-01-01T00:00:00Z"}`)
	if _, err := m.Get(ctx, "newer"); err == nil || CodeOf(err) != "" || !strings.Contains(err.Error(), "newer version") {
		t.Errorf("a record of a newer release: %v, want a failure naming it", err)
	}
}
