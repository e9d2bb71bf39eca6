package photo

import (
	"strconv"
	"testing"
)

func TestVersionCache(t *testing.T) {
	c := newVersionCache(3)
	vs := make([]*version, 5)
	for i := range vs {
		vs[i] = &version{ID: "v" + strconv.Itoa(i)}
	}
	c.put("u", vs[0])
	c.put("u", vs[1])
	c.put("u", vs[2])
	if c.get("u", "v0") != vs[0] { // v0 becomes the most recently used
		t.Fatal("v0 not cached")
	}
	c.put("u", vs[3]) // evicts v1, the least recently used
	for i, want := range []bool{true, false, true, true} {
		if got := c.get("u", vs[i].ID) != nil; got != want {
			t.Errorf("v%d cached = %v, want %v", i, got, want)
		}
	}
	if c.get("other", "v0") != nil {
		t.Error("another user's version found")
	}
	// forget drops only the entry it was given.
	c.forget("u", &version{ID: "v2"})
	if c.get("u", "v2") == nil {
		t.Error("forget dropped an entry it was not given")
	}
	c.forget("u", vs[2])
	if c.get("u", "v2") != nil {
		t.Error("forget kept the entry")
	}
	if n := len(c.byKey); n != c.order.Len() || n > 3 {
		t.Errorf("%d keys, %d in order; at most 3", n, c.order.Len())
	}
	// A zero-sized cache keeps nothing.
	z := newVersionCache(0)
	z.put("u", vs[0])
	if z.get("u", "v0") != nil {
		t.Error("a zero-sized cache kept an entry")
	}
}
