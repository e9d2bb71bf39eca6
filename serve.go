package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/storage"
)

// Blob is an open rendition, ready to be served. The caller must Close it.
//
// The embedded ReadSeekCloser is the storage driver's own reader, which may
// implement io.WriterTo (aferostore's does, so that copying a file to a
// network connection can use sendfile): copy from b.ReadSeekCloser, not
// from b, to keep that path, as in io.Copy(w, b.ReadSeekCloser).
type Blob struct {
	io.ReadSeekCloser
	// Rendition describes the bytes.
	Rendition Rendition
	// ModTime is when the version was committed.
	ModTime time.Time
}

// OpenRendition opens the bytes of a user's rendition of the given size (0
// for the normalised original) if versionID is still the current version
// or a kept earlier one (Options.KeepVersions).
// A size from OnDemandSizes that is not stored yet is made from the
// nearest larger stored rendition and stored. Otherwise it returns an error
// ErrNotFound. A failure of the storage is an error without a Code, never
// ErrNotFound. The caller must Close the Blob.
func (m *Manager) OpenRendition(ctx context.Context, userID, versionID string, size int) (*Blob, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	if !isVersionID(versionID) {
		return nil, renditionNotFound(userID, versionID, size)
	}
	// A version seen before needs no record read: its blobs are there
	// while it is current or kept, and gone once a change dropped it.
	if v := m.versions.get(userID, versionID); v != nil {
		b, err := m.openVersion(ctx, userID, v, size)
		if !errors.Is(err, ErrNotFound) {
			return b, err
		}
		m.versions.forget(userID, v)
	}
	rec, _, err := loadRecord(ctx, m.bucket, userID)
	if err != nil {
		return nil, wrapErr(err, "open %q", userID)
	}
	v := rec.find(versionID)
	if v == nil {
		return nil, renditionNotFound(userID, versionID, size)
	}
	b, err := m.openVersion(ctx, userID, v, size)
	if err == nil {
		m.versions.put(userID, v)
	}
	return b, err
}

func renditionNotFound(userID, versionID string, size int) error {
	return notFound("the photo has no version %s of size %d", versionID, size)
}

// openVersion opens the blob of size in v, or returns an error wrapping
// ErrNotFound if v has no such size or its blobs are gone.
func (m *Manager) openVersion(ctx context.Context, userID string, v *version, size int) (*Blob, error) {
	var b *blob
	if size == 0 {
		b = &v.Original
	} else if i := slices.IndexFunc(v.Renditions, func(b blob) bool { return b.Size == size }); i >= 0 {
		b = &v.Renditions[i]
	}
	if b == nil {
		if !slices.Contains(m.cfg.onDemand, size) {
			return nil, renditionNotFound(userID, v.ID, size)
		}
		return m.openOnDemand(ctx, userID, v, size)
	}
	r, err := m.bucket.Open(ctx, v.Prefix+b.Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return nil, renditionNotFound(userID, v.ID, size)
	}
	if err != nil {
		return nil, wrapErr(err, "open %q", userID)
	}
	return &Blob{ReadSeekCloser: r, Rendition: b.rendition(), ModTime: v.Created}, nil
}

// openOnDemand serves a size that is not in the record: a stored copy made
// earlier, or a new one made from the nearest larger rendition. These blobs
// live under the version's prefix, so they go when the version goes.
func (m *Manager) openOnDemand(ctx context.Context, userID string, v *version, size int) (*Blob, error) {
	key := v.Prefix + "d" + strconv.Itoa(size)
	open := func() (*Blob, error) {
		r, err := m.bucket.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		a := r.Attrs()
		c, _, err := image.DecodeConfig(r)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("the stored rendition %s is unreadable: %w", key, err)
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			r.Close()
			return nil, err
		}
		return &Blob{ReadSeekCloser: r, ModTime: v.Created, Rendition: Rendition{
			Size: size, Width: c.Width, Height: c.Height, ContentType: a.ContentType, Bytes: a.Size, ETag: etagOf(v.ID, size),
		}}, nil
	}
	if b, err := open(); err == nil {
		return b, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, wrapErr(err, "open size %d", size)
	}
	i := slices.IndexFunc(v.Renditions, func(b blob) bool { return b.Size >= size })
	if i < 0 {
		// No larger rendition to make it from (the sizes changed).
		return nil, renditionNotFound(userID, v.ID, size)
	}
	// Making a size is rendering: it waits for a slot like Set, so that a
	// burst of first requests cannot take every CPU.
	// The source is a rendition (at most 4096 pixels a side): its decoded
	// image, the working copy and the output.
	sw, sh := v.Renditions[i].Width, v.Renditions[i].Height
	need := 16*int64(sw)*int64(sh) + 1<<20
	if err := m.acquire(ctx, need); err != nil {
		return nil, wrapErr(err, "open")
	}
	defer m.release(need)
	src, err := m.bucket.Open(ctx, v.Prefix+v.Renditions[i].Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return nil, renditionNotFound(userID, v.ID, size)
	}
	if err != nil {
		return nil, wrapErr(err, "open size %d", size)
	}
	data, err := io.ReadAll(src)
	src.Close()
	if err != nil {
		return nil, wrapErr(err, "open")
	}
	e, err := imaging.Rescale(ctx, m.cpu, data, size, m.cfg.quality)
	if err != nil {
		return nil, wrapErr(err, "rescale")
	}
	_, err = m.bucket.Put(ctx, key, bytes.NewReader(e.Data), &storage.PutOptions{ContentType: e.ContentType, IfAbsent: true})
	if err != nil && !errors.Is(err, storage.ErrPrecondition) {
		return nil, wrapErr(err, "store")
	}
	b, err := open()
	if err != nil {
		return nil, wrapErr(err, "open size %d", size)
	}
	return b, nil
}

// etagOf makes a strong ETag for an on-demand rendition: the pipeline is
// deterministic, so its bytes are a function of the version and the size.
func etagOf(versionID string, size int) string {
	sum := sha256.Sum256([]byte(versionID + "/" + strconv.Itoa(size)))
	return hex.EncodeToString(sum[:16])
}
