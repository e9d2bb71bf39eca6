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

	// A version written before placeholders reads with none; one written
	// since keeps its own.
	const ver = `"id":"abcdefghijklmnop","prefix":"p/","sourceType":"image/jpeg","width":8,"height":8,"bytes":9,"created":"2020-01-01T00:00:00Z","original":{"name":"original.jpg","size":0,"width":8,"height":8,"contentType":"image/jpeg","bytes":9,"etag":"e"},"renditions":[]`
	for user, c := range map[string]struct{ json, want string }{
		"before": {`{"v":1,"userId":"before","revision":1,"current":{` + ver + `},"updated":"2020-01-01T00:00:00Z"}`, ""},
		"since":  {`{"v":1,"userId":"since","revision":1,"current":{` + ver + `,"placeholder":"1QcSHQRnh493V4dIh4eXh1h4kJUI"},"updated":"2020-01-01T00:00:00Z"}`, "1QcSHQRnh493V4dIh4eXh1h4kJUI"},
	} {
		put(user, c.json)
		p, err := m.Get(ctx, user)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if p.VersionID != "abcdefghijklmnop" || p.Placeholder != c.want {
			t.Errorf("%s: version %q placeholder %q, want %q", user, p.VersionID, p.Placeholder, c.want)
		}
	}

	put("newer", `{"v":2,"userId":"newer","revision":1,"updated":"2020-01-01T00:00:00Z"}`)
	if _, err := m.Get(ctx, "newer"); err == nil || CodeOf(err) != "" || !strings.Contains(err.Error(), "newer version") {
		t.Errorf("a record of a newer release: %v, want a failure naming it", err)
	}
}
