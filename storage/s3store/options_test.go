package s3store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/profilephoto/photo/internal/s3test"
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
	open := func(prefix string) *s3store.Store {
		st, err := s3store.New(srv.Client(), srv.Bucket, &s3store.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, ab, root := open("tenant"), open("tenant-b/"), open("")
	for _, st := range []*s3store.Store{a, ab} {
		if _, err := st.Put(ctx, "k", strings.NewReader("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	for name, st := range map[string]*s3store.Store{"tenant": a, "tenant-b": ab} {
		page, err := st.ListPage(ctx, "", "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Objects) != 1 || page.Objects[0].Key != "k" {
			t.Errorf("%s lists %+v, want only its own k", name, page.Objects)
		}
	}
	page, err := root.ListPage(ctx, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range page.Objects {
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, " ") != "tenant-b/k tenant/k" {
		t.Errorf("the bucket holds %q", keys)
	}
	if err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := ab.Stat(ctx, "k"); err != nil {
		t.Errorf("deleting tenant/k touched tenant-b/k: %v", err)
	}
	if _, err := a.Stat(ctx, "k"); err == nil {
		t.Error("tenant/k survived its Delete")
	}
}
