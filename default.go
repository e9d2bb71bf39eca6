package photo

// The default photo of a user who has none: drawn on demand, cached in
// memory, never stored.

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/image/draw"

	"github.com/profilephoto/photo/internal/avatar"
)

// defaultCacheBytes is Options.DefaultCacheBytes' default: with identicons
// of a few hundred bytes, some tens of thousands of users' sizes.
const defaultCacheBytes = 8 << 20

// Default returns the default photo of userID at size: an identicon drawn
// from the user ID, or the initials of the display name that
// Options.DisplayName returns, or what Options.DefaultImage draws. size is
// one of Options.Sizes or OnDemandSizes; 0 is the largest of Sizes. Any
// other size, and every call when Options.NoDefaultPhoto is set, is an
// error matching ErrNotFound.
//
// The default exists for every user, whether or not the user has a photo
// (a page shows it where Get finds none); it is drawn on first request,
// kept in a bounded in-memory cache and never stored. Its bytes depend
// only on the user ID, the display name's initials, the size and the
// drawing's version, and so does its ETag: URLs serving it are stable and
// cacheable, and change content only when the display name (or a release's
// drawing) does. Built-in defaults are PNG, drawn at least 8 pixels a side
// (the Rendition's Width and Height say so for a smaller size). The Blob's
// ModTime is zero; the caller must Close it.
func (m *Manager) Default(ctx context.Context, userID string, size int) (*Blob, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	if m.opts.NoDefaultPhoto {
		return nil, notFound("default photos are off")
	}
	if size == 0 {
		size = m.cfg.sizes[len(m.cfg.sizes)-1]
	} else if !slices.Contains(m.cfg.sizes, size) && !slices.Contains(m.cfg.onDemand, size) {
		return nil, notFound("there is no default photo of size %d", size)
	}
	name := ""
	if f := m.opts.DisplayName; f != nil {
		var err error
		if name, err = f(ctx, userID); err != nil {
			return nil, fmt.Errorf("photo: default %q: display name: %w", userID, err)
		}
	}
	custom := m.opts.DefaultImage != nil
	var key string
	if custom {
		key = "c\x00" + strconv.Itoa(size) + "\x00" + name + "\x00" + userID
	} else {
		// Names with the same initials draw the same picture.
		key = "a\x00" + strconv.Itoa(size) + "\x00" + avatar.Initials(name) + "\x00" + userID
	}
	d := m.defaults.get(key)
	if d == nil {
		if err := m.cpu.Acquire(ctx); err != nil {
			return nil, wrapErr(err, "default %q", userID)
		}
		var err error
		if custom {
			d, err = m.drawCustomDefault(ctx, userID, name, size)
		} else {
			d, err = m.drawDefault(userID, name, size)
		}
		m.cpu.Release()
		if err != nil {
			return nil, err
		}
		m.defaults.put(key, d)
	}
	return &Blob{ReadSeekCloser: readerCloser{bytes.NewReader(d.data)}, Rendition: d.r}, nil
}

// drawDefault draws the built-in default.
func (m *Manager) drawDefault(userID, name string, size int) (*defaultPhoto, error) {
	side := max(size, avatar.MinSize)
	data, ctype, err := m.avatars.Encode(userID, name, side)
	if err != nil {
		return nil, fmt.Errorf("photo: default %q: %w", userID, err)
	}
	return &defaultPhoto{data: data, r: Rendition{
		Size: size, Width: side, Height: side, ContentType: ctype, Bytes: int64(len(data)),
		ETag: strings.Trim(avatar.ETag(userID, name, side), `"`),
	}}, nil
}

// drawCustomDefault encodes what Options.DefaultImage draws, scaled to
// size x size when it is not: JPEG when it says it is opaque, else PNG.
func (m *Manager) drawCustomDefault(ctx context.Context, userID, name string, size int) (*defaultPhoto, error) {
	img, err := m.opts.DefaultImage(ctx, userID, name, size)
	if err != nil {
		return nil, fmt.Errorf("photo: default %q: %w", userID, err)
	}
	if img == nil || img.Bounds().Empty() {
		return nil, fmt.Errorf("photo: default %q: Options.DefaultImage returned no image", userID)
	}
	if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
		dst := image.NewNRGBA(image.Rect(0, 0, size, size))
		draw.CatmullRom.Scale(dst, dst.Rect, img, b, draw.Src, nil)
		img = dst
	}
	var buf bytes.Buffer
	ctype := "image/png"
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		ctype = "image/jpeg"
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: m.cfg.quality})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		return nil, fmt.Errorf("photo: default %q: encode: %w", userID, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return &defaultPhoto{data: buf.Bytes(), r: Rendition{
		Size: size, Width: size, Height: size, ContentType: ctype, Bytes: int64(buf.Len()),
		ETag: "default-" + hex.EncodeToString(sum[:16]),
	}}, nil
}

// readerCloser is a bytes.Reader with a Close that does nothing; its
// WriteTo stays reachable for io.Copy.
type readerCloser struct{ *bytes.Reader }

func (readerCloser) Close() error { return nil }

// defaultPhoto is one encoded default, never changed once made.
type defaultPhoto struct {
	data []byte
	r    Rendition
}

// defaultCache keeps encoded defaults, least recently used first out,
// within a bound on their bytes. It is safe for concurrent use.
type defaultCache struct {
	mu    sync.Mutex
	max   int64 // bytes; <= 0 keeps nothing
	used  int64
	order *list.List // of *defaultEntry, most recently used first
	byKey map[string]*list.Element
}

type defaultEntry struct {
	key string
	d   *defaultPhoto
}

// cost is what an entry counts against the bound: its bytes, its key and
// a little for the bookkeeping.
func (e *defaultEntry) cost() int64 { return int64(len(e.d.data) + 2*len(e.key) + 200) }

func newDefaultCache(max int64) *defaultCache {
	return &defaultCache{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

func (c *defaultCache) get(key string) *defaultPhoto {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*defaultEntry).d
}

func (c *defaultCache) put(key string, d *defaultPhoto) {
	e := &defaultEntry{key: key, d: d}
	if e.cost() > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byKey[key]; ok {
		c.used -= old.Value.(*defaultEntry).cost()
		c.order.Remove(old)
	}
	c.byKey[key] = c.order.PushFront(e)
	c.used += e.cost()
	for c.used > c.max {
		last := c.order.Back()
		le := last.Value.(*defaultEntry)
		c.order.Remove(last)
		delete(c.byKey, le.key)
		c.used -= le.cost()
	}
}

// len returns the number of entries and their cost.
func (c *defaultCache) len() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.used
}
