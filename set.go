package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"io"
	"slices"
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
	rec, prev, err := m.commit(ctx, userID, o.IfRevision, func(rec *record) error {
		if args.importID != "" && (rec.Pending == nil || rec.Pending.ID != args.importID || rec.Pending.Failed != nil) {
			return &Error{Code: ErrConflict, Message: "the import was superseded"}
		}
		rec.makeCurrent(v, m.opts.KeepVersions)
		rec.Pending = nil
		rec.emit = &storedEvent{Kind: eventSet, VersionID: v.ID}
		return nil
	})
	if err != nil {
		if p, rec := m.abandon(ctx, userID, v.Prefix, err); p != nil {
			// The event is delivered now if rec is still the record
			// that the Set's write made, else by Sweep.
			m.notify(rec)
			return p, nil
		}
		return nil, wrapErr(err, "set %q", userID)
	}
	m.notify(rec)
	m.dropUnreferenced(ctx, prev, rec)
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
	if src.rows != nil && m.opts.BeforeCommit != nil {
		// The hook needs the whole image: decode it as an interlaced PNG
		// is (the budget below counts that).
		src.rows = nil
	}
	spec := m.spec(src, o.Crop, fit)
	need := footprint(format, data, src, spec)
	if err := m.acquire(ctx, need); err != nil {
		return nil, nil, nil, wrapErr(err, "set %q", userID)
	}
	// The CPU token is given back while the BeforeCommit hook runs.
	cpuHeld := true
	defer func() {
		if cpuHeld {
			m.cpu.Release()
		}
		m.gate.release(need)
	}()
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
	if m.opts.BeforeCommit != nil {
		// src.rows is nil: the image was decoded whole.
		m.cpu.Release()
		cpuHeld = false
		if err := m.vet(ctx, userID, imaging.Upright(src.img, src.orientation)); err != nil {
			return nil, nil, nil, err
		}
		if err := m.cpu.Acquire(ctx); err != nil {
			return nil, nil, nil, wrapErr(err, "set %q", userID)
		}
		cpuHeld = true
	}

	res, err := renderSource(ctx, src, spec)
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

// renderSource renders src, decoded (src.img) or read row by row
// (src.rows), as spec says, and drops its pixels.
func renderSource(ctx context.Context, src *source, spec imaging.Spec) (*imaging.Result, error) {
	if src.rows != nil {
		rows := src.rows
		src.rows = nil
		return imaging.RenderRows(ctx, rows, spec)
	}
	img := src.img
	src.img = nil
	return imaging.Render(ctx, img, spec)
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

// Delete removes the user's photo with its whole history (the kept
// earlier versions), or returns ErrNotFound when there is none: a user who
// deletes their photo expects every version gone. The record is kept as a
// tombstone that names no version, so that revisions keep counting up and
// a conditional write after a delete still works.
//
// With DeleteOptions.VersionID, Delete removes only that kept earlier
// version (ErrNotFound when it is not kept); the current version is not
// removed this way (ErrConflict: restore another one, or delete the
// photo).
func (m *Manager) Delete(ctx context.Context, userID string, opts *DeleteOptions) error {
	if err := checkUserID(userID); err != nil {
		return err
	}
	var o DeleteOptions
	if opts != nil {
		o = *opts
	}
	rec, prev, err := m.commit(ctx, userID, o.IfRevision, func(rec *record) error {
		if o.VersionID != "" {
			rec.emit = &storedEvent{Kind: eventDelete, VersionID: o.VersionID}
			return deleteKept(rec, o.VersionID)
		}
		if rec.Current == nil && rec.Pending == nil && len(rec.History) == 0 {
			return notFound("the user has no photo")
		}
		rec.emit = &storedEvent{Kind: eventDelete}
		if rec.Current != nil {
			rec.emit.VersionID = rec.Current.ID
		}
		rec.Current = nil
		rec.History = nil
		rec.Pending = nil
		return nil
	})
	if err != nil {
		return wrapErr(err, "delete %q", userID)
	}
	m.notify(rec)
	m.dropUnreferenced(ctx, prev, rec)
	return nil
}

// deleteKept removes the kept version id from rec's history, into a new
// slice.
func deleteKept(rec *record, id string) error {
	if rec.Current != nil && rec.Current.ID == id {
		return &Error{Code: ErrConflict, Message: "the version is the current one: restore another, or delete the photo"}
	}
	i := slices.IndexFunc(rec.History, func(v *version) bool { return v.ID == id })
	if i < 0 {
		return notFound("the photo keeps no version %s", id)
	}
	rec.History = slices.Concat(rec.History[:i], rec.History[i+1:])
	if len(rec.History) == 0 {
		rec.History = nil
	}
	return nil
}

// Restore makes the kept earlier version versionID (one of Photo.History)
// the user's photo again, as a new revision with the same version ID, so
// that rendition URLs cached for it stay valid; the version's Created
// stays when it was first committed. The replaced current version goes
// into the history, as with Set, within Options.KeepVersions. It renders
// nothing: the version's stored renditions serve again.
//
// Only opts.IfRevision applies (ErrConflict when the revision differs); a
// Crop or Fit is refused with CodeBadArgument, since a version keeps the
// settings it was made with (Set the image again to change them). An
// unknown or no longer kept version is ErrNotFound. Restoring the current
// version changes nothing and returns the photo, as a Set of the same
// upload does (unless an import is pending, which the restore then
// supersedes, as a Set would).
func (m *Manager) Restore(ctx context.Context, userID, versionID string, opts *SetOptions) (*Photo, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	var o SetOptions
	if opts != nil {
		o = *opts
	}
	if o.Crop != nil || o.Fit != 0 {
		return nil, inputError(CodeBadArgument, nil, "a restored version keeps its own crop and fit")
	}
	if !isVersionID(versionID) {
		return nil, notFound("the photo keeps no version %s", versionID)
	}
	var unchanged *record
	rec, prev, err := m.commit(ctx, userID, o.IfRevision, func(rec *record) error {
		if c := rec.Current; c != nil && c.ID == versionID && rec.Pending == nil {
			unchanged = rec
			return errUnchanged
		}
		v := rec.find(versionID)
		if v == nil {
			return notFound("the photo keeps no version %s", versionID)
		}
		rec.makeCurrent(v, m.opts.KeepVersions)
		rec.Pending = nil
		rec.emit = &storedEvent{Kind: eventRestore, VersionID: v.ID}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return m.photo(unchanged), nil
	}
	if err != nil {
		return nil, wrapErr(err, "restore %q", userID)
	}
	m.notify(rec)
	m.dropUnreferenced(ctx, prev, rec)
	return m.photo(rec), nil
}

// errUnchanged is what a commit's change returns when there is nothing to
// write.
var errUnchanged = errors.New("unchanged")

// photo turns a record into the Photo that callers see.
func (m *Manager) photo(rec *record) *Photo {
	return rec.photo(m.cfg.now(), m.cfg.importTimeout)
}
