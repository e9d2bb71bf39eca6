package aferostore_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
)

// TestWriteTo checks that copying a Reader, which goes through its WriteTo
// (and, on OsFs to a network connection, sendfile), yields exactly the
// object's bytes from the current position: never the trailer.
func TestWriteTo(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000) // larger than net/http's first 512-byte copy
	for _, tc := range []struct {
		name string
		fs   func(t *testing.T) afero.Fs
	}{
		{"MemMapFs", func(t *testing.T) afero.Fs { return afero.NewMemMapFs() }},
		{"OsFs", func(t *testing.T) afero.Fs { return afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := newBucket(t, tc.fs(t), &aferostore.Options{NoSync: true})
			if _, err := st.Put(ctx, "a/b", bytes.NewReader(data), nil); err != nil {
				t.Fatal(err)
			}
			for _, from := range []int64{0, 3, int64(len(data)) - 1, int64(len(data))} {
				r, err := st.Open(ctx, "a/b")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := r.Seek(from, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				n, err := io.Copy(&buf, r)
				if err != nil || n != int64(len(data))-from || !bytes.Equal(buf.Bytes(), data[from:]) {
					t.Errorf("from %d: copied %d bytes (%v), want %d equal to the object's", from, n, err, len(data)-int(from))
				}
				// The position moved to the end: nothing more to read.
				if m, _ := r.Read(make([]byte, 1)); m != 0 {
					t.Errorf("from %d: %d bytes read after the copy", from, m)
				}
				r.Close()
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				r, err := st.Open(req.Context(), "a/b")
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				defer r.Close()
				io.Copy(w, r)
			}))
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("over HTTP: got %d bytes (%v), want the object's %d", len(got), err, len(data))
			}
		})
	}
}

// TestReplacedByAnotherStore checks that a Store that has opened an object
// sees it replaced by another Store (another process) on the same files:
// what it remembers of opened files never outlives them.
func TestReplacedByAnotherStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := newBucket(t, afero.NewBasePathFs(afero.NewOsFs(), dir), &aferostore.Options{NoSync: true})
	b := newBucket(t, afero.NewBasePathFs(afero.NewOsFs(), dir), &aferostore.Options{NoSync: true})
	read := func() (string, string) {
		r, err := a.Open(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(data), r.Attrs().ContentType
	}
	for i, v := range []struct{ data, ctype string }{
		{"first", "text/plain"},
		{"other", "image/png"}, // the same length: only the file's identity tells them apart
		{"third!", "image/jpeg"},
	} {
		if _, err := b.Put(ctx, "k", bytes.NewReader([]byte(v.data)), &storage.PutOptions{ContentType: v.ctype}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if data, ct := read(); data != v.data || ct != v.ctype {
				t.Errorf("write %d: read %q %q, want %q %q", i, data, ct, v.data, v.ctype)
			}
			if a2, err := a.Stat(ctx, "k"); err != nil || a2.ContentType != v.ctype || a2.Size != int64(len(v.data)) {
				t.Errorf("write %d: Stat = %+v, %v", i, a2, err)
			}
		}
	}
}
