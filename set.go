package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"io"
	"strconv"
	"sync"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/imgcheck"
	"github.com/profilephoto/photo/internal/thumbhash"
	"github.com/profilephoto/photo/storage"
)

// Set validates the image read from r (at most Limits.MaxBytes), renders
// it and makes it the user's photo. Setting the same bytes with the same
// settings again changes nothing and returns the current photo. A refused
// image is an *Error matching ErrInvalidInput; on any error the previous
// photo stays as it was.
func (m *Manager) Set(ctx context.Context, userID string, r io.Reader, opts *SetOptions) (*Photo, error) {
	return m.set(ctx, userID, r, opts, setArgs{})
}

// setArgs are the arguments of set that only the library passes.
type setArgs struct {
	// importID, if not "", is the import that the Set finishes: it
	// commits only while that import is pending.
	importID string
	// source is the file version the bytes come from, if any.
	source *storedSource
}

// set is Set with the library's own arguments.
func (m *Manager) set(ctx context.Context, userID string, r io.Reader, opts *SetOptions, args setArgs) (*Photo, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, &Error{Code: CodeMissing}
	}
	var o SetOptions
	if opts != nil {
		o = *opts
	}
	fit := m.cfg.fit
	if o.Fit != 0 {
		if !o.Fit.valid() {
			return nil, inputError(CodeBadArgument, nil, "unknown fit %d", int(o.Fit))
		}
		fit = o.Fit
	}
	// The upload is read before a rendering slot is taken, so that a slow
	// client never holds one.
	data, err := readUpload(ctx, r, m.cfg.limits)
	if err != nil {
		return nil, err
	}
	src, res, current, err := m.render(ctx, userID, data, &o, fit, args.importID != "")
	if err != nil || current != nil {
		return current, err
	}
	vid := src.versionID
	v := &version{
		ID:         vid,
		Prefix:     blobPrefix(userID, vid),
		SourceType: src.mime,
		Width:      src.width,
		Height:     src.height,
		Bytes:      src.bytes,
		Created:    m.cfg.now().UTC(),
		Source:     args.source,
		// The placeholder comes from the smallest rendition's pixels as
		// rendered (no decode): a few microseconds at 24 px. A photo
		// without one (an image thumbhash cannot hash) simply has none.
		Placeholder: placeholderOf(res.Smallest),
	}
	if c := o.Crop; c != nil {
		v.Crop = &storedCrop{X: c.X, Y: c.Y, Size: c.Size}
	}
	if o.Crop == nil {
		v.Fit = fit.String()
	}
	if err := m.writeBlobs(ctx, v, res); err != nil {
		m.discard(ctx, v.Prefix)
		return nil, wrapErr(err, "set %q: store", userID)
	}
	rec, old, err := m.commit(ctx, userID, o.IfRevision, func(rec *record) error {
		if args.importID != "" && (rec.Pending == nil || rec.Pending.ID != args.importID || rec.Pending.Failed != nil) {
			return &Error{Code: ErrConflict, Message: "the import was superseded"}
		}
		rec.Current = v
		rec.Pending = nil
		return nil
	})
	if err != nil {
		if p := m.abandon(ctx, userID, v.Prefix, err); p != nil {
			return p, nil
		}
		return nil, wrapErr(err, "set %q", userID)
	}
	if old != nil && old.Prefix != v.Prefix {
		m.discard(ctx, old.Prefix)
	}
	return m.photo(rec), nil
}

// placeholderOf returns the ThumbHash of m in its string form, or "" for
// a nil or empty image.
func placeholderOf(m image.Image) string {
	if m == nil {
		return ""
	}
	s, err := thumbhash.EncodeToString(m)
	if err != nil {
		return ""
	}
	return s
}

// rendered is what render found out about an upload.
type rendered struct {
	*source
	versionID string
}

// render decodes data and renders it while it holds its estimated memory
// and a CPU slot. When the upload with these settings is already the
// user's current version it renders nothing and returns that photo
// instead (Set is idempotent).
func (m *Manager) render(ctx context.Context, userID string, data []byte, o *SetOptions, fit Fit, importing bool) (*rendered, *imaging.Result, *Photo, error) {
	// Judging the header costs little memory; it comes first so that the
	// reservation can be sized from it.
	src, format, err := prepareSource(data, m.cfg.limits)
	if err != nil {
		return nil, nil, nil, err
	}
	if format == imgcheck.JPEG {
		// A JPEG decodes at the smallest scale that serves every output.
		src.scale = decodeScale(src, o.Crop, fit, m.cfg.sizes, m.cfg.originalMaxSide)
	}
	// The pixels are judged before the crop box: a damaged file is
	// corrupt whatever the crop.
	var cropErr error
	if o.Crop != nil {
		cropErr = o.Crop.check(src.width, src.height)
	}
	if cropErr != nil && src.rows != nil {
		if err := drain(src.rows); err != nil {
			return nil, nil, nil, decodeError(format, err)
		}
		return nil, nil, nil, cropErr
	}
	spec := m.spec(src, o.Crop, fit)
	need := footprint(format, data, src, spec)
	if err := m.acquire(ctx, need); err != nil {
		return nil, nil, nil, wrapErr(err, "set %q", userID)
	}
	defer m.release(need)
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	if src.rows == nil {
		if src.img, err = decode(format, data, src, m.cpu); err != nil {
			return nil, nil, nil, err
		}
	}
	if cropErr != nil {
		return nil, nil, nil, cropErr
	}
	vid := versionID(src.sum, o.Crop, fit, &m.cfg)
	if rec, _, err := loadRecord(ctx, m.bucket, userID); err == nil && rec != nil &&
		rec.Current != nil && rec.Current.ID == vid && rec.Pending == nil &&
		(o.IfRevision == 0 || o.IfRevision == rec.Revision) && !importing {
		return nil, nil, m.photo(rec), nil
	}

	var res *imaging.Result
	if src.rows != nil {
		res, err = imaging.RenderRows(ctx, src.rows, spec)
		src.rows = nil
	} else {
		res, err = imaging.Render(ctx, src.img, spec)
		src.img = nil
	}
	if err != nil {
		var re *imaging.ReadError
		switch {
		case ctx.Err() != nil:
			return nil, nil, nil, wrapErr(ctx.Err(), "set %q", userID)
		case errors.As(err, &re):
			return nil, nil, nil, decodeError(format, re.Err)
		}
		return nil, nil, nil, wrapErr(err, "set %q: render", userID)
	}
	return &rendered{source: src, versionID: vid}, res, nil, nil
}

// spec says what to render of src.
func (m *Manager) spec(src *source, crop *Crop, fit Fit) imaging.Spec {
	spec := imaging.Spec{
		Orientation:     src.orientation,
		Fit:             imaging.Fit(fit.fitHash()),
		Background:      m.cfg.background,
		Sizes:           m.cfg.sizes,
		OriginalMaxSide: m.cfg.originalMaxSide,
		JPEGQuality:     m.cfg.quality,
		Pool:            m.cpu,
	}
	if crop != nil {
		spec.Crop = scaleCrop(crop.rect(), src.scale, src.width, src.height)
	}
	return spec
}

// acquire waits for need bytes of the memory budget and a CPU slot, at
// most Options.MaxWait, then for one of the process's CPU tokens (m.cpu),
// which the caller computes on. Renders, decodes and encodes take more
// tokens only while they are free (internal/sched), so however many
// uploads run, no more goroutines compute at once than there are cores,
// and one upload alone uses them all.
func (m *Manager) acquire(ctx context.Context, need int64) error {
	if err := m.gate.acquire(ctx, need, m.cfg.maxWait); err != nil {
		return err
	}
	if err := m.cpu.Acquire(ctx); err != nil {
		m.gate.release(need)
		return err
	}
	return nil
}

// release returns what acquire(need) took.
func (m *Manager) release(need int64) {
	m.cpu.Release()
	m.gate.release(need)
}

func (m *Manager) writeBlobs(ctx context.Context, v *version, res *imaging.Result) error {
	all := append([]imaging.Encoded{res.Original}, res.Renditions...)
	blobs := make([]blob, len(all))
	for i, e := range all {
		name := "original" + ext(e.ContentType)
		if i > 0 {
			name = strconv.Itoa(e.Size) + ext(e.ContentType)
		}
		sum := sha256.Sum256(e.Data)
		blobs[i] = blob{
			Name: name, Size: e.Size, Width: e.Width, Height: e.Height,
			ContentType: e.ContentType, Bytes: int64(len(e.Data)),
			ETag: hex.EncodeToString(sum[:16]),
		}
	}
	// The writes wait on the store (a file system's fsync, a network round
	// trip), not on a core: a few at a time overlap those waits.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(all))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(blobWriters, len(all)) {
		wg.Go(func() {
			for i := range next {
				_, errs[i] = m.bucket.Put(ctx, v.Prefix+blobs[i].Name, bytes.NewReader(all[i].Data),
					&storage.PutOptions{ContentType: all[i].ContentType, IfAbsent: true})
				if errs[i] != nil {
					cancel()
				}
			}
		})
	}
	for i := range all {
		next <- i
	}
	close(next)
	wg.Wait()
	// The first failure that is not the cancellation of the others.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	v.Original, v.Renditions = blobs[0], blobs[1:]
	return nil
}

// blobWriters is how many blobs of one Set are written at once.
const blobWriters = 4

func ext(contentType string) string {
	if contentType == "image/png" {
		return ".png"
	}
	return ".jpg"
}

// Get returns the user's photo, or ErrNotFound when there is none. While
// an import downloads, or after it failed, Status says so and the previous
// photo, if any, is still described.
func (m *Manager) Get(ctx context.Context, userID string) (*Photo, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rec, _, err := loadRecord(ctx, m.bucket, userID)
	if err != nil {
		return nil, wrapErr(err, "get %q", userID)
	}
	if rec == nil || (rec.Current == nil && rec.Pending == nil) {
		return nil, notFound("the user has no photo")
	}
	return m.photo(rec), nil
}

// Delete removes the user's photo, or returns ErrNotFound when there is
// none. The record is kept as a tombstone that names
// no version, so that revisions keep counting up and a conditional write
// after a delete still works.
func (m *Manager) Delete(ctx context.Context, userID string, opts *DeleteOptions) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	var o DeleteOptions
	if opts != nil {
		o = *opts
	}
	_, old, err := m.commit(ctx, userID, o.IfRevision, func(rec *record) error {
		if rec.Current == nil && rec.Pending == nil {
			return notFound("the user has no photo")
		}
		rec.Current = nil
		rec.Pending = nil
		return nil
	})
	if err != nil {
		return wrapErr(err, "delete %q", userID)
	}
	if old != nil {
		m.discard(ctx, old.Prefix)
	}
	return nil
}

// photo turns a record into the Photo that callers see.
func (m *Manager) photo(rec *record) *Photo {
	return rec.photo(m.cfg.now(), m.cfg.importTimeout)
}
