package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/pngdec"
	"github.com/profilephoto/photo/storage"
)

// Service is what an application needs of profile photos. *Manager
// implements it; programs that take a Service can be given a fake in their
// own tests.
type Service interface {
	// Set validates the image read from r, renders it and makes it the
	// user's photo. On any error the previous photo stays as it was.
	Set(ctx context.Context, userID string, r io.Reader, opts *SetOptions) (*Photo, error)
	// SetFromFile is Set with the bytes of a stored file's version (the
	// latest when version is 0), as Chatter's fileId and versionNumber.
	SetFromFile(ctx context.Context, userID, fileID string, version int, opts *SetOptions) (*Photo, error)
	// Get returns the user's photo, or an error wrapping ErrNotFound.
	Get(ctx context.Context, userID string) (*Photo, error)
	// Delete removes the user's photo, or returns an error wrapping
	// ErrNotFound when there is none.
	Delete(ctx context.Context, userID string, opts *DeleteOptions) error
}

// Status says whether a photo is usable.
type Status string

// The statuses of a Photo.
const (
	// StatusReady: the photo's renditions are stored and served.
	StatusReady Status = "ready"
	// StatusDownloading: a URL import is in progress; the previous photo,
	// if any, is still the one described and served.
	StatusDownloading Status = "downloading"
	// StatusFailed: the last URL import failed (Photo.Error says why); the
	// previous photo, if any, is still described and served.
	StatusFailed Status = "failed"
)

// Photo describes a user's photo as Get returns it.
type Photo struct {
	// UserID is the user's ID.
	UserID string
	// VersionID changes whenever the photo's bytes change and is the same
	// for the same upload with the same settings. Clients cache by it (it is
	// Chatter's photoVersionId). Empty while a first import downloads.
	VersionID string
	// Revision counts the changes to the user's photo record; pass it back
	// in SetOptions.IfRevision or DeleteOptions.IfRevision for an
	// optimistic-concurrency check.
	Revision int64
	// Status is ready, downloading or failed.
	Status Status
	// Error says why the last import failed, when Status is failed.
	Error *ImportError
	// SourceType is the media type of the upload (image/jpeg, ...).
	SourceType string
	// Width and Height are the upright upload's dimensions.
	Width, Height int
	// Bytes is the upload's length.
	Bytes int64
	// Crop is the crop box applied, or nil when the image was fitted.
	Crop *Crop
	// Fit is how a non-square image was made square when Crop is nil.
	Fit Fit
	// Source names the file version the photo was set from, if any.
	Source *FileRef
	// Created is when this version was committed.
	Created time.Time
	// Original is the normalised original: upright, metadata stripped, at
	// most Options.OriginalMaxSide a side. Its Size is 0.
	Original Rendition
	// Renditions are the square renditions in ascending Size.
	Renditions []Rendition
}

// Rendition describes one stored image of a photo.
type Rendition struct {
	// Size is the square size asked for (0 for the original).
	Size int
	// Width and Height are the real pixel dimensions; a rendition is never
	// scaled up, so they are less than Size when the source is smaller.
	Width, Height int
	// ContentType is image/jpeg or image/png.
	ContentType string
	// Bytes is the encoded length.
	Bytes int64
	// ETag is a strong validator of the bytes (without quotes).
	ETag string
}

// Rendition returns the rendition of the given size and whether there is
// one.
func (p *Photo) Rendition(size int) (Rendition, bool) {
	for _, r := range p.Renditions {
		if r.Size == size {
			return r, true
		}
	}
	return Rendition{}, false
}

// Largest returns the largest rendition (the zero Rendition if none).
func (p *Photo) Largest() Rendition {
	if len(p.Renditions) == 0 {
		return Rendition{}
	}
	return p.Renditions[len(p.Renditions)-1]
}

// SetOptions are the optional arguments of Set. A nil *SetOptions is the
// zero value: no crop, the Manager's fit, no revision check.
type SetOptions struct {
	// Crop, if not nil, is the square to cut from the upright image.
	Crop *Crop
	// Fit overrides Options.Fit for this call when FitSet is true.
	Fit    Fit
	FitSet bool
	// IfRevision, when non-zero, makes Set fail with ErrConflict unless the
	// user's current revision is IfRevision. Revisions start at 1.
	IfRevision int64
	// importID is set by CompleteImport.
	importID string
	source   *FileRef
}

// DeleteOptions are the optional arguments of Delete. A nil *DeleteOptions
// is the zero value.
type DeleteOptions struct {
	// IfRevision, when non-zero, makes Delete fail with ErrConflict unless
	// the user's current revision is IfRevision.
	IfRevision int64
}

// DefaultSizes returns the square rendition sizes made when Options.Sizes
// is nil: Slack's 24, 32, 48, 72, 192, 512 and 1024, and Chatter's 64, 160
// and 200. Each call returns a new slice.
func DefaultSizes() []int { return []int{24, 32, 48, 64, 72, 160, 192, 200, 512, 1024} }

// DefaultOnDemandSizes returns the sizes, besides Options.Sizes, that
// OpenRendition makes on first request when Options.OnDemandSizes is nil.
// Each call returns a new slice.
func DefaultOnDemandSizes() []int {
	return []int{16, 40, 80, 96, 100, 128, 150, 256, 300, 384, 400, 640, 800}
}

// Options configure a Manager. A nil *Options, and every zero field, takes
// the documented default.
type Options struct {
	// Limits bound uploads; zero fields take the defaults of Limits.
	Limits Limits
	// Quotas bound what one user keeps in storage (open resumable uploads,
	// files); zero fields take the defaults of Quotas, negative ones are
	// off.
	Quotas Quotas
	// Sizes are the square rendition sizes; nil means DefaultSizes().
	Sizes []int
	// OnDemandSizes are further sizes made on first request and then
	// stored; nil means DefaultOnDemandSizes(). Each must be at most the
	// largest of Sizes.
	OnDemandSizes []int
	// Fit is how a non-square image without a crop box becomes square;
	// the default is Letterbox.
	Fit Fit
	// Background is the letterbox colour of opaque output; nil means white.
	// Output that keeps transparency uses transparent bars instead.
	Background color.Color
	// JPEGQuality is the quality of JPEG output; default 85.
	JPEGQuality int
	// OriginalMaxSide bounds the normalised original's longer side; default
	// 2048.
	OriginalMaxSide int
	// MemoryBudget bounds the memory, in bytes, that the images being
	// decoded and rendered at once may take; default DefaultMemoryBudget
	// (512 MiB). Each decode reserves an estimate made from the image's
	// header before any pixel is decoded (see the package documentation's
	// "Memory"), and waits while it does not fit. An image whose estimate
	// alone exceeds the budget waits until nothing else is decoding, then
	// runs alone. Size GOMEMLIMIT above it: the estimate bounds what the
	// pipeline allocates, and the garbage collector needs headroom.
	MemoryBudget int64
	// MaxWait bounds how long a Set (or the first request of an on-demand
	// size) waits for room in the memory budget or for a CPU slot before
	// it fails with an error wrapping ErrBusy, which callers may retry
	// later; the caller's context may end the wait sooner. Default
	// DefaultMaxWait (5 seconds).
	MaxWait time.Duration
	// MaxConcurrent bounds how many images are decoded and rendered at
	// once, whatever the memory budget: the CPU slots (each render spreads
	// over up to 8 goroutines). Default GOMAXPROCS.
	MaxConcurrent int
	// ImportTimeout is how long an import may stay downloading before Get
	// reports it failed (a process that crashed mid-download never
	// finishes it); default 10 minutes.
	ImportTimeout time.Duration
	// Logger receives warnings about clean-up that failed (the photo
	// itself is never affected); nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

type config struct {
	limits          Limits
	quotas          Quotas
	maxWait         time.Duration
	sizes           []int
	onDemand        []int
	fit             Fit
	background      color.NRGBA
	quality         int
	originalMaxSide int
	importTimeout   time.Duration
	log             *slog.Logger
	now             func() time.Time
}

// Manager is the Service over a storage.Store. It holds no state of its own
// besides its settings: any number of Managers, in any number of processes,
// may share one store. A Manager is safe for concurrent use.
type Manager struct {
	store storage.Store
	cfg   config
	gate  *gate
	// versions caches immutable facts of versions for serving.
	versions *versionCache
}

var _ Service = (*Manager)(nil)

// New returns a Manager that keeps photos in store.
func New(store storage.Store, opts *Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("photo: New: nil store")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	c := config{
		limits:          o.Limits.withDefaults(),
		quotas:          o.Quotas.withDefaults(),
		sizes:           slices.Clone(o.Sizes),
		onDemand:        slices.Clone(o.OnDemandSizes),
		fit:             o.Fit,
		background:      color.NRGBA{255, 255, 255, 255},
		quality:         o.JPEGQuality,
		originalMaxSide: o.OriginalMaxSide,
		importTimeout:   o.ImportTimeout,
		log:             o.Logger,
		now:             o.Now,
	}
	if c.sizes == nil {
		c.sizes = DefaultSizes()
	}
	if c.onDemand == nil {
		c.onDemand = DefaultOnDemandSizes()
	}
	slices.Sort(c.sizes)
	c.sizes = slices.Compact(c.sizes)
	if len(c.sizes) == 0 || c.sizes[0] < 1 || c.sizes[len(c.sizes)-1] > 4096 {
		return nil, fmt.Errorf("photo: New: sizes must be between 1 and 4096 pixels, got %v", c.sizes)
	}
	largest := c.sizes[len(c.sizes)-1]
	c.onDemand = slices.DeleteFunc(c.onDemand, func(s int) bool { return s < 1 || s > largest || slices.Contains(c.sizes, s) })
	slices.Sort(c.onDemand)
	c.onDemand = slices.Compact(c.onDemand)
	if o.Background != nil {
		c.background = color.NRGBAModel.Convert(o.Background).(color.NRGBA)
	}
	if c.fit != Letterbox && c.fit != Cover {
		return nil, fmt.Errorf("photo: New: unknown fit %v", c.fit)
	}
	if c.quality == 0 {
		c.quality = 85
	}
	if c.quality < 1 || c.quality > 100 {
		return nil, fmt.Errorf("photo: New: JPEG quality %d is not between 1 and 100", c.quality)
	}
	if c.originalMaxSide <= 0 {
		c.originalMaxSide = 2048
	}
	if c.importTimeout <= 0 {
		c.importTimeout = 10 * time.Minute
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	n := o.MaxConcurrent
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	budget := o.MemoryBudget
	if budget <= 0 {
		budget = DefaultMemoryBudget
	}
	c.maxWait = o.MaxWait
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxWait
	}
	return &Manager{store: store, cfg: c, gate: newGate(budget, n), versions: newVersionCache(defaultVersionCacheEntries)}, nil
}

// Store returns the storage the Manager keeps its objects in.
func (m *Manager) Store() storage.Store { return m.store }

// Limits returns the limits in force, defaults filled in.
func (m *Manager) Limits() Limits { return m.cfg.limits }

// Sizes returns the rendition sizes made by every Set, ascending.
func (m *Manager) Sizes() []int { return slices.Clone(m.cfg.sizes) }

// OnDemandSizes returns the further sizes OpenRendition accepts, ascending.
func (m *Manager) OnDemandSizes() []int { return slices.Clone(m.cfg.onDemand) }

// Set implements Service.
func (m *Manager) Set(ctx context.Context, userID string, r io.Reader, opts *SetOptions) (*Photo, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrMissing
	}
	var o SetOptions
	if opts != nil {
		o = *opts
	}
	fit := m.cfg.fit
	if o.FitSet {
		fit = o.Fit
	}
	// The upload is read before a rendering slot is taken, so that a slow
	// client never holds one.
	data, err := readUpload(ctx, r, m.cfg.limits)
	if err != nil {
		return nil, err
	}
	src, res, current, err := m.render(ctx, userID, data, &o, fit)
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
		Crop:       o.Crop,
		Created:    m.cfg.now().UTC(),
		Source:     o.source,
	}
	if o.Crop == nil {
		v.Fit = fit.String()
	}
	if err := m.writeBlobs(ctx, v, res); err != nil {
		m.discard(v.Prefix)
		return nil, fmt.Errorf("photo: set %q: store: %w", userID, err)
	}
	rec, old, err := m.commit(ctx, userID, o.IfRevision, func(rec *record) error {
		if o.importID != "" && (rec.Pending == nil || rec.Pending.ID != o.importID || rec.Pending.Failed != nil) {
			return fmt.Errorf("%w: import %s was superseded", ErrConflict, o.importID)
		}
		rec.Current = v
		rec.Pending = nil
		return nil
	})
	if err != nil {
		if p := m.abandon(ctx, userID, v.Prefix, err); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("photo: set %q: %w", userID, err)
	}
	if old != nil && old.Prefix != v.Prefix {
		m.discard(old.Prefix)
	}
	return m.photo(rec), nil
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
func (m *Manager) render(ctx context.Context, userID string, data []byte, o *SetOptions, fit Fit) (*rendered, *imaging.Result, *Photo, error) {
	// Judging the header costs little memory; it comes first so that the
	// reservation can be sized from it.
	src, format, err := prepareSource(data, m.cfg.limits)
	if err != nil {
		return nil, nil, nil, err
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
		return nil, nil, nil, fmt.Errorf("photo: set %q: %w", userID, err)
	}
	defer m.release(need)
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	if src.rows == nil {
		if src.img, err = decode(format, data, src); err != nil {
			return nil, nil, nil, err
		}
	}
	if cropErr != nil {
		return nil, nil, nil, cropErr
	}
	vid := versionID(src.sum, o.Crop, fit, &m.cfg)
	if rec, _, err := loadRecord(ctx, m.store, userID); err == nil && rec != nil &&
		rec.Current != nil && rec.Current.ID == vid && rec.Pending == nil &&
		(o.IfRevision == 0 || o.IfRevision == rec.Revision) && o.importID == "" {
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
			return nil, nil, nil, fmt.Errorf("photo: set %q: %w", userID, ctx.Err())
		case errors.As(err, &re):
			return nil, nil, nil, decodeError(format, re.Err)
		}
		return nil, nil, nil, fmt.Errorf("photo: set %q: render: %w", userID, err)
	}
	return &rendered{source: src, versionID: vid}, res, nil, nil
}

// spec says what to render of src.
func (m *Manager) spec(src *source, crop *Crop, fit Fit) imaging.Spec {
	spec := imaging.Spec{
		Orientation:     src.orientation,
		Fit:             imaging.Fit(fit),
		Background:      m.cfg.background,
		Sizes:           m.cfg.sizes,
		OriginalMaxSide: m.cfg.originalMaxSide,
		JPEGQuality:     m.cfg.quality,
	}
	if crop != nil {
		spec.Crop = crop.Rect()
	}
	return spec
}

// drain reads every row of d, to judge the pixels without keeping them.
func drain(d *pngdec.Decoder) error {
	w, _ := d.Size()
	row := make([]byte, w*d.Channels())
	for {
		switch err := d.ReadRow(row); err {
		case nil:
		case io.EOF:
			return nil
		default:
			return err
		}
	}
}

// acquire waits for need bytes of the memory budget and a CPU slot, at
// most Options.MaxWait.
func (m *Manager) acquire(ctx context.Context, need int64) error {
	return m.gate.acquire(ctx, need, m.cfg.maxWait)
}

func (m *Manager) release(need int64) { m.gate.release(need) }

func (m *Manager) writeBlobs(ctx context.Context, v *version, res *imaging.Result) error {
	put := func(e imaging.Encoded, name string) (blob, error) {
		sum := sha256.Sum256(e.Data)
		b := blob{
			Name: name, Size: e.Size, Width: e.Width, Height: e.Height,
			ContentType: e.ContentType, Bytes: int64(len(e.Data)),
			ETag: hex.EncodeToString(sum[:16]),
		}
		_, err := m.store.Put(ctx, v.Prefix+name, bytes.NewReader(e.Data),
			&storage.PutOptions{ContentType: e.ContentType, IfAbsent: true})
		return b, err
	}
	var err error
	if v.Original, err = put(res.Original, "original"+ext(res.Original.ContentType)); err != nil {
		return err
	}
	for _, e := range res.Renditions {
		b, err := put(e, strconv.Itoa(e.Size)+ext(e.ContentType))
		if err != nil {
			return err
		}
		v.Renditions = append(v.Renditions, b)
	}
	return nil
}

func ext(contentType string) string {
	if contentType == "image/png" {
		return ".png"
	}
	return ".jpg"
}

// commit applies change to the user's record with a compare-and-swap,
// retrying when another writer came first (unless ifRevision pins the
// revision, in which case the loser gets ErrConflict). It returns the new
// record and the version that it replaced, if any.
//
// A Put that fails may have been applied all the same: S3 reports a write
// whose response was lost (a timeout, a cancellation that came too late)
// as an error, and its SDK retries a conditional write whose first attempt
// was applied, which the retry then reports as a lost precondition. So
// after a failed Put commit reads the record again, and a record carrying
// the attempt's nonce means that the write happened. An error whose write
// may yet happen (the request may still be on its way) is an
// *unsettledError: the caller must not remove what the write references.
func (m *Manager) commit(ctx context.Context, userID string, ifRevision int64, change func(*record) error) (*record, *version, error) {
	for attempt := 0; ; attempt++ {
		rec, etag, err := loadRecord(ctx, m.store, userID)
		if err != nil {
			return nil, nil, err
		}
		if rec == nil {
			rec = &record{UserID: userID}
		}
		if ifRevision != 0 && rec.Revision != ifRevision {
			return nil, nil, fmt.Errorf("%w: revision is %d, not %d", ErrConflict, rec.Revision, ifRevision)
		}
		old := rec.Current
		next := *rec
		if err := change(&next); err != nil {
			return nil, nil, err
		}
		next.Revision++
		next.Updated = m.cfg.now().UTC()
		next.Commit = newNonce(10)
		err = storeRecord(ctx, m.store, &next, etag)
		if err == nil {
			return &next, old, nil
		}
		if m.landed(ctx, userID, next.Commit) {
			return &next, old, nil
		}
		if !errors.Is(err, storage.ErrPrecondition) {
			return nil, nil, &unsettledError{err}
		}
		if ifRevision != 0 {
			return nil, nil, fmt.Errorf("%w: the record changed meanwhile", ErrConflict)
		}
		if attempt >= 100 {
			return nil, nil, fmt.Errorf("photo: record of %q keeps changing: %w", userID, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
	}
}

// unsettledError is a failed write that may still happen or have happened.
type unsettledError struct{ err error }

func (e *unsettledError) Error() string { return e.err.Error() }
func (e *unsettledError) Unwrap() error { return e.err }

// landed reports whether the user's record is the one that the write with
// nonce commit made. It reads on a context of its own, as the caller's may
// be what failed the write.
func (m *Manager) landed(ctx context.Context, userID, commit string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	rec, _, err := loadRecord(ctx, m.store, userID)
	return err == nil && rec != nil && rec.Commit == commit
}

// abandon cleans up after a Set whose commit failed with err: it removes
// the blobs under prefix unless a record may reference them. A record that
// does reference them means that the Set happened after all (its write
// was applied, then a later change such as BeginImport kept the version):
// abandon then returns that photo, and the Set succeeded. Blobs whose fate
// is unknown (the record could not be read, or err says the write may
// still be applied) are left for Sweep, which judges them once they are
// older than its grace period.
func (m *Manager) abandon(ctx context.Context, userID, prefix string, err error) *Photo {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	rec, _, lerr := loadRecord(rctx, m.store, userID)
	cancel()
	switch {
	case lerr != nil:
		m.cfg.log.Warn("photo: cannot tell whether a failed Set is referenced; Sweep will judge its blobs", "prefix", prefix, "err", lerr)
		return nil
	case rec != nil && rec.Current != nil && rec.Current.Prefix == prefix:
		return m.photo(rec)
	}
	var unsettled *unsettledError
	if errors.As(err, &unsettled) {
		m.cfg.log.Info("photo: a Set's commit failed and may yet be applied; Sweep will judge its blobs", "prefix", prefix, "err", err)
		return nil
	}
	m.discard(prefix)
	return nil
}

// discard removes blobs that no record references, on a context of its own
// so that a cancelled Set still cleans up after itself. Failures only leave
// garbage for Sweep.
func (m *Manager) discard(prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := deletePrefix(ctx, m.store, prefix); err != nil {
		m.cfg.log.Warn("photo: clean-up failed; Sweep will remove the blobs", "prefix", prefix, "err", err)
	}
}

// Get implements Service.
func (m *Manager) Get(ctx context.Context, userID string) (*Photo, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rec, _, err := loadRecord(ctx, m.store, userID)
	if err != nil {
		return nil, fmt.Errorf("photo: get %q: %w", userID, err)
	}
	if rec == nil || (rec.Current == nil && rec.Pending == nil) {
		return nil, fmt.Errorf("photo: get %q: %w", userID, ErrNotFound)
	}
	return m.photo(rec), nil
}

// Delete implements Service. The record is kept as a tombstone that names
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
			return ErrNotFound
		}
		rec.Current = nil
		rec.Pending = nil
		return nil
	})
	if err != nil {
		return fmt.Errorf("photo: delete %q: %w", userID, err)
	}
	if old != nil {
		m.discard(old.Prefix)
	}
	return nil
}

// photo turns a record into the Photo that callers see.
func (m *Manager) photo(rec *record) *Photo {
	p := &Photo{UserID: rec.UserID, Revision: rec.Revision, Status: StatusReady}
	if v := rec.Current; v != nil {
		p.VersionID = v.ID
		p.SourceType = v.SourceType
		p.Width, p.Height = v.Width, v.Height
		p.Bytes = v.Bytes
		if v.Crop != nil {
			c := *v.Crop
			p.Crop = &c
		}
		if v.Fit == Cover.String() {
			p.Fit = Cover
		}
		if v.Source != nil {
			s := *v.Source
			p.Source = &s
		}
		p.Created = v.Created
		p.Original = v.Original.rendition()
		for _, b := range v.Renditions {
			p.Renditions = append(p.Renditions, b.rendition())
		}
	}
	if pd := rec.Pending; pd != nil {
		switch {
		case pd.Failed != nil:
			p.Status = StatusFailed
			e := *pd.Failed
			p.Error = &e
		case m.cfg.now().Sub(pd.Started) > m.cfg.importTimeout:
			p.Status = StatusFailed
			p.Error = &ImportError{Code: ImportInterrupted, Message: "the download did not finish in time"}
		default:
			p.Status = StatusDownloading
		}
	}
	return p
}

func (b blob) rendition() Rendition {
	return Rendition{Size: b.Size, Width: b.Width, Height: b.Height, ContentType: b.ContentType, Bytes: b.Bytes, ETag: b.ETag}
}

// Blob is an open rendition, ready to be served.
type Blob struct {
	storage.Reader
	// Rendition describes the bytes.
	Rendition Rendition
	// ModTime is when the version was committed.
	ModTime time.Time
}

// OpenRendition opens the bytes of a user's rendition of the given size (0
// for the normalised original) if versionID is still the current version.
// A size from OnDemandSizes that is not stored yet is made from the
// nearest larger stored rendition and stored. Otherwise it returns an error
// wrapping ErrNotFound. The caller must Close the Blob.
func (m *Manager) OpenRendition(ctx context.Context, userID, versionID string, size int) (*Blob, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	if !isVersionID(versionID) {
		return nil, renditionNotFound(userID, versionID, size)
	}
	// A version seen before needs no record read: its blobs are there
	// while it is current, and gone once a change replaced it.
	if v := m.versions.get(userID, versionID); v != nil {
		b, err := m.openVersion(ctx, userID, v, size)
		if !errors.Is(err, ErrNotFound) {
			return b, err
		}
		m.versions.forget(userID, v)
	}
	rec, _, err := loadRecord(ctx, m.store, userID)
	if err != nil {
		return nil, fmt.Errorf("photo: open %q: %w", userID, err)
	}
	if rec == nil || rec.Current == nil || rec.Current.ID != versionID {
		return nil, renditionNotFound(userID, versionID, size)
	}
	b, err := m.openVersion(ctx, userID, rec.Current, size)
	if err == nil {
		m.versions.put(userID, rec.Current)
	}
	return b, err
}

func renditionNotFound(userID, versionID string, size int) error {
	return fmt.Errorf("photo: open %q/%s/%d: %w", userID, versionID, size, ErrNotFound)
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
		return m.openOnDemand(ctx, v, size)
	}
	r, err := m.store.Open(ctx, v.Prefix+b.Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return nil, renditionNotFound(userID, v.ID, size)
	}
	if err != nil {
		return nil, fmt.Errorf("photo: open %q: %w", userID, err)
	}
	return &Blob{Reader: r, Rendition: b.rendition(), ModTime: v.Created}, nil
}

// openOnDemand serves a size that is not in the record: a stored copy made
// earlier, or a new one made from the nearest larger rendition. These blobs
// live under the version's prefix, so they go when the version goes.
func (m *Manager) openOnDemand(ctx context.Context, v *version, size int) (*Blob, error) {
	key := v.Prefix + "d" + strconv.Itoa(size)
	open := func() (*Blob, error) {
		r, err := m.store.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		a := r.Attrs()
		var w, h int
		if c, _, err := image.DecodeConfig(r); err == nil {
			w, h = c.Width, c.Height
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			r.Close()
			return nil, err
		}
		return &Blob{Reader: r, ModTime: v.Created, Rendition: Rendition{
			Size: size, Width: w, Height: h, ContentType: a.ContentType, Bytes: a.Size, ETag: etagOf(v.ID, size),
		}}, nil
	}
	if b, err := open(); err == nil {
		return b, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("photo: open: %w", err)
	}
	i := slices.IndexFunc(v.Renditions, func(b blob) bool { return b.Size >= size })
	if i < 0 {
		return nil, fmt.Errorf("photo: open: %w", ErrNotFound)
	}
	// Making a size is rendering: it waits for a slot like Set, so that a
	// burst of first requests cannot take every CPU.
	// The source is a rendition (at most 4096 pixels a side): its decoded
	// image, the working copy and the output.
	sw, sh := v.Renditions[i].Width, v.Renditions[i].Height
	need := 16*int64(sw)*int64(sh) + 1<<20
	if err := m.acquire(ctx, need); err != nil {
		return nil, fmt.Errorf("photo: open: %w", err)
	}
	defer m.release(need)
	src, err := m.store.Open(ctx, v.Prefix+v.Renditions[i].Name)
	if err != nil {
		return nil, fmt.Errorf("photo: open: %w", ErrNotFound)
	}
	data, err := io.ReadAll(src)
	src.Close()
	if err != nil {
		return nil, fmt.Errorf("photo: open: %w", err)
	}
	e, err := imaging.Rescale(ctx, data, size, m.cfg.quality)
	if err != nil {
		return nil, fmt.Errorf("photo: rescale: %w", err)
	}
	_, err = m.store.Put(ctx, key, bytes.NewReader(e.Data), &storage.PutOptions{ContentType: e.ContentType, IfAbsent: true})
	if err != nil && !errors.Is(err, storage.ErrPrecondition) {
		return nil, fmt.Errorf("photo: store: %w", err)
	}
	return open()
}

// etagOf makes a strong ETag for an on-demand rendition: the pipeline is
// deterministic, so its bytes are a function of the version and the size.
func etagOf(versionID string, size int) string {
	sum := sha256.Sum256([]byte(versionID + "/" + strconv.Itoa(size)))
	return hex.EncodeToString(sum[:16])
}
