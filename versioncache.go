package photo

import (
	"container/list"
	"sync"
)

// defaultVersionCacheEntries is how many versions a Manager remembers for
// serving when Options.VersionCacheEntries is zero.
const defaultVersionCacheEntries = 4096

// versionCache remembers the immutable facts of versions recently served
// (where their blobs are, what they hold), so that serving a versioned URL
// needs no record read. It caches no verdict about being current or kept:
// an entry only saves the record read when the blob it names is still
// there. A version is served while the record references it, current or
// kept (Options.KeepVersions); a restore makes it current again with the
// same prefix, so its entry stays true. A version dropped from the record
// has its blobs removed by the change that dropped it, so opening one
// fails and the caller falls back to the record, then forgets the entry;
// that holds for a version whose ID came back with new blobs (the same
// upload set again after it was dropped, or while it was kept): the stale
// entry names the old prefix, whose blobs are gone. It is bounded, least recently
// used first out, and safe for concurrent use.
type versionCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cachedVersion, most recently used first
	byKey map[versionKey]*list.Element
}

type versionKey struct{ userID, versionID string }

type cachedVersion struct {
	key versionKey
	v   *version // never changed once cached
}

func newVersionCache(max int) *versionCache {
	return &versionCache{max: max, order: list.New(), byKey: make(map[versionKey]*list.Element)}
}

// get returns the cached version, or nil.
func (c *versionCache) get(userID, versionID string) *version {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[versionKey{userID, versionID}]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedVersion).v
}

// put remembers v as userID's version v.ID; the caller must not change v
// afterwards.
func (c *versionCache) put(userID string, v *version) {
	if c.max <= 0 {
		return
	}
	k := versionKey{userID, v.ID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		e.Value.(*cachedVersion).v = v
		c.order.MoveToFront(e)
		return
	}
	c.byKey[k] = c.order.PushFront(&cachedVersion{key: k, v: v})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cachedVersion).key)
	}
}

// forget drops the entry of userID's version versionID, if it is v.
func (c *versionCache) forget(userID string, v *version) {
	if c.max <= 0 {
		return
	}
	k := versionKey{userID, v.ID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok && e.Value.(*cachedVersion).v == v {
		c.order.Remove(e)
		delete(c.byKey, k)
	}
}
