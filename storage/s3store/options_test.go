package s3store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/profilephoto/photo/internal/s3test"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/s3store"
)

func TestNewRefuses(t *testing.T) {
	client := s3.New(s3.Options{Region: "us-east-1"})
	tests := []struct {
		name   string
		api    s3store.API
		bucket string
		opts   *s3store.Options
	}{
		{"no client", nil, "b", nil},
		{"no bucket", client, "", nil},
		{"prefix with a dot segment", client, "b", &s3store.Options{Prefix: "../x/"}},
		{"prefix starting with a slash", client, "b", &s3store.Options{Prefix: "/x"}},
		{"prefix too long", client, "b", &s3store.Options{Prefix: strings.Repeat("p", s3store.MaxPrefixLen)}},
		{"part too small", client, "b", &s3store.Options{PartSize: 1 << 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if st, err := s3store.New(tc.api, tc.bucket, tc.opts); err == nil {
				t.Errorf("New = %v, want an error", st)
			}
		})
	}
}

// TestPrefixes: stores with different prefixes share a bucket without
// seeing one another, and a prefix without its "/" gets one.
func TestPrefixes(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	open := func(prefix string) *storage.Bucket {
		st, err := s3store.New(srv.Client(), srv.Bucket, &s3store.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return storage.NewBucket(st)
	}
	list := func(b *storage.Bucket) string {
		var keys []string
		for a, err := range b.List(ctx, "") {
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, a.Key)
		}
		return strings.Join(keys, " ")
	}
	a, ab, root := open("tenant"), open("tenant-b/"), open("")
	for _, st := range []*storage.Bucket{a, ab} {
		if _, err := st.Put(ctx, "k", strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	for name, st := range map[string]*storage.Bucket{"tenant": a, "tenant-b": ab} {
		if got := list(st); got != "k" {
			t.Errorf("%s lists %q, want only its own k", name, got)
		}
	}
	if got := list(root); got != "tenant-b/k tenant/k" {
		t.Errorf("the bucket holds %q", got)
	}
	if err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := ab.Stat(ctx, "k"); err != nil {
		t.Errorf("deleting tenant/k touched tenant-b/k: %v", err)
	}
	if _, err := a.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("tenant/k after its Delete: %v, want ErrNotFound", err)
	}
}
