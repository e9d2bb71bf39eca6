package aferostore

import (
	"strings"
	"testing"

	"github.com/profilephoto/photo/storage/storagetest"
)

func TestKeyPath(t *testing.T) {
	tests := []struct {
		key, dir, name string
	}{
		{"a", "/", "a"},
		{"a/b", "/a~", "b"},
		{"users/0f/record.json", "/users~/0f~", "record.json"},
		{"Upper/Case", "/%55pper~", "%43ase"},
		{"dots/.hidden/a..b/end.", "/dots~/%2Ehidden~/a..b~", "end%2E"},
		{"sp ace/100%/x~y+z", "/sp%20ace~/100%25~", "x%7Ey%2Bz"},
		{"ü/日", "/%C3%BC~", "%E6%97%A5"},
		// Never valid keys, but even they cannot climb out.
		{"a/../b", "/a~/%2E%2E~", "b"},
		{"a/./b", "/a~/%2E~", "b"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			dir, name := keyPath(tc.key)
			if dir != tc.dir || name != tc.name {
				t.Errorf("keyPath(%q) = %q, %q; want %q, %q", tc.key, dir, name, tc.dir, tc.name)
			}
		})
	}
}

// TestKeyPathRoundTrip: every name is short and safe, and decoding the
// names gives the key back.
func TestKeyPathRoundTrip(t *testing.T) {
	keys := append(storagetest.OddKeys(), strings.Repeat("é", 380), strings.Repeat(".", 700), "a/"+strings.Repeat("%", 760))
	for _, key := range keys {
		dir, name := keyPath(key)
		var got strings.Builder
		for _, c := range append(strings.Split(strings.TrimPrefix(dir, "/"), "/"), name) {
			if c == "" {
				continue
			}
			if len(c) > maxName {
				t.Errorf("%.40q: name of %d bytes", key, len(c))
			}
			if c == "." || c == ".." || strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".") || strings.ContainsAny(c, "/\\\x00") {
				t.Errorf("%.40q: unsafe name %q", key, c)
			}
			piece, kind, ok := decodeName(c)
			if !ok {
				t.Fatalf("%.40q: name %q does not decode", key, c)
			}
			got.WriteString(piece)
			if kind == kindDir {
				got.WriteByte('/')
			}
		}
		if got.String() != key {
			t.Errorf("names of %.40q decode to %.40q", key, got.String())
		}
	}
}
