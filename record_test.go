package photo

import (
	"context"
	"io"
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

// TestRecordHistoryFormat checks that a record without a history (as
// every record before KeepVersions) reads as one with none and is written
// back without the field, and that a kept version in a record is listed
// and restorable.
func TestRecordHistoryFormat(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t)
	m, err := New(b, &Options{KeepVersions: 1})
	if err != nil {
		t.Fatal(err)
	}
	const a, c = "aaaaaaaaaaaaaaaa", "cccccccccccccccc"
	v := func(id string) string {
		return `{"id":"` + id + `","prefix":"` + userKey("u") + `/v/` + id + `.xxxxxxxx/","sourceType":"image/png","width":8,"height":8,"bytes":10,"created":"2020-01-01T00:00:00Z","original":{"name":"original.png"},"renditions":[]}`
	}
	raw := func() string {
		t.Helper()
		r, err := b.Open(ctx, recordKey("u"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var sb strings.Builder
		if _, err := io.Copy(&sb, r); err != nil {
			t.Fatal(err)
		}
		return sb.String()
	}
	if _, err := b.Put(ctx, recordKey("u"), strings.NewReader(`{"userId":"u","revision":2,"current":`+v(c)+`,"updated":"2020-01-01T00:00:00Z"}`), nil); err != nil {
		t.Fatal(err)
	}
	p, err := m.Get(ctx, "u")
	if err != nil || p.VersionID != c || p.History != nil {
		t.Fatalf("an old record: %+v, %v; want version %s and no history", p, err, c)
	}
	if _, err := m.Restore(ctx, "u", a, nil); CodeOf(err) != ErrNotFound {
		t.Errorf("restoring a version an old record does not keep: %v, want ErrNotFound", err)
	}

	if err := b.Delete(ctx, recordKey("u")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, recordKey("u"), strings.NewReader(`{"v":1,"userId":"u","revision":3,"current":`+v(c)+`,"history":[`+v(a)+`],"updated":"2020-01-01T00:00:00Z"}`), nil); err != nil {
		t.Fatal(err)
	}
	p, err = m.Get(ctx, "u")
	if err != nil || len(p.History) != 1 || p.History[0].VersionID != a || p.History[0].Revision != 3 {
		t.Fatalf("a record with a kept version: %+v, %v", p, err)
	}
	p, err = m.Restore(ctx, "u", a, &SetOptions{IfRevision: 3})
	if err != nil || p.VersionID != a || p.Revision != 4 || len(p.History) != 1 || p.History[0].VersionID != c {
		t.Fatalf("Restore = %+v, %v; want %s at revision 4 with %s kept", p, err, a, c)
	}
	if err := m.Delete(ctx, "u", &DeleteOptions{VersionID: c}); err != nil {
		t.Fatal(err)
	}
	if s := raw(); strings.Contains(s, `"history"`) {
		t.Errorf("a record without kept versions is written with a history: %s", s)
	}
}
