package photo

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/profilephoto/photo/internal/sched"
	"github.com/profilephoto/photo/storage"
)

// Service is what an application needs of profile photos: set one (from
// an upload or a stored file), read it, delete it. *Manager implements it
// and more (files, resumable uploads, URL imports, serving); a program
// that takes a Service can be given a fake in its own tests, or a wrapper
// that adds metrics, caching or policy.
type Service interface {
	// Set validates the image read from r, renders it and makes it the
	// user's photo. On any error the previous photo stays as it was.
	Set(ctx context.Context, userID string, r io.Reader, opts *SetOptions) (*Photo, error)
	// SetFromFile is Set with the bytes of a stored file's version (the
	// latest when version is 0), as Chatter's fileId and versionNumber.
	SetFromFile(ctx context.Context, userID, fileID string, version int, opts *SetOptions) (*Photo, error)
	// Get returns the user's photo, or an error matching ErrNotFound.
	Get(ctx context.Context, userID string) (*Photo, error)
	// Delete removes the user's photo, or returns an error matching
	// ErrNotFound when there is none.
	Delete(ctx context.Context, userID string, opts *DeleteOptions) error
}

var _ Service = (*Manager)(nil)

// Manager is the Service over a *storage.Bucket. It holds no state of its
// own besides its settings and caches: any number of Managers, in any
// number of processes, may share one bucket. A Manager is safe for
// concurrent use.
type Manager struct {
	bucket *storage.Bucket
	opts   Options // as given, every default filled in
	cfg    config
	gate   *gate
	// cpu has a token for each core (GOMAXPROCS), shared by every
	// decode, render and encode of the Manager.
	cpu *sched.Pool
	// versions caches immutable facts of versions for serving.
	versions *versionCache
}

// New returns a Manager that keeps photos in b. Options that are out of
// range are an error naming the field.
func New(b *storage.Bucket, opts *Options) (*Manager, error) {
	if b == nil {
		return nil, errors.New("photo: New: nil bucket")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.fill(); err != nil {
		return nil, fmt.Errorf("photo: New: %w", err)
	}
	c := config{
		limits:          o.Limits,
		quotas:          o.Quotas,
		maxWait:         o.MaxWait,
		sizes:           o.Sizes,
		onDemand:        o.OnDemandSizes,
		fit:             o.Fit,
		background:      color.NRGBAModel.Convert(o.Background).(color.NRGBA),
		quality:         o.JPEGQuality,
		webpQuality:     o.WebPQuality,
		originalMaxSide: o.OriginalMaxSide,
		importTimeout:   o.ImportTimeout,
		log:             o.Logger,
		now:             o.Now,
	}
	return &Manager{bucket: b, opts: o, cfg: c, gate: newGate(o.MemoryBudget, o.MaxConcurrent), cpu: sched.New(runtime.GOMAXPROCS(0)),
		versions: newVersionCache(defaultVersionCacheEntries)}, nil
}

// Options returns the options in force, every default filled in (Quotas'
// FileVersions is the bound that applies, at most 250). The slices are
// copies.
func (m *Manager) Options() Options {
	o := m.opts
	o.Sizes = slices.Clone(o.Sizes)
	o.OnDemandSizes = slices.Clone(o.OnDemandSizes)
	return o
}

// Options configure a Manager. A nil *Options is the zero value, and every
// zero field takes the documented default.
type Options struct {
	// Limits bound uploads; zero fields take the defaults of Limits.
	Limits Limits
	// Quotas bound what one user keeps in storage (open resumable uploads,
	// files); zero fields take the defaults of Quotas, negative ones are
	// off.
	Quotas Quotas
	// Sizes are the square rendition sizes made by every Set, each 1 to
	// 4096 pixels. Default: 24, 32, 48, 64, 72, 160, 192, 200, 512 and
	// 1024 (Slack's 24, 32, 48, 72, 192, 512 and 1024, and Chatter's 64,
	// 160 and 200).
	Sizes []int
	// OnDemandSizes are further sizes made on first request and then
	// stored; those larger than the largest of Sizes are dropped. Default:
	// 16, 40, 80, 96, 100, 128, 150, 256, 300, 384, 400, 640 and 800.
	OnDemandSizes []int
	// Fit is how a non-square image without a crop box becomes square;
	// zero means Letterbox.
	Fit Fit
	// Background is the letterbox colour of opaque output; nil means white.
	// Output that keeps transparency uses transparent bars instead.
	Background color.Color
	// JPEGQuality is the quality of JPEG output, 1 to 100; zero means 85.
	JPEGQuality int
	// WebPQuality is the quality of the WebP renditions that
	// OpenRendition makes on request, 1 to 100; zero means 86, at which
	// they are smaller than the JPEGs of quality 85 and at least as close
	// to the unencoded pixels (SSIM, measured). Negative turns WebP off:
	// OpenRendition then opens the stored JPEG or PNG for "image/webp".
	WebPQuality int
	// OriginalMaxSide bounds the normalised original's longer side; zero
	// means 2048. A large JPEG is decoded at 1/2, 1/4 or 1/8 scale when
	// that keeps every rendition's size and at least 7/8 of the
	// original's side, so its original can be up to an eighth smaller
	// than the bound (2000x1500 for a 4000x3000 photo).
	OriginalMaxSide int
	// MemoryBudget bounds the memory, in bytes, that the images being
	// decoded and rendered at once may take; zero means 512 MiB. Each
	// decode reserves an estimate made from the image's header before any
	// pixel is decoded (see the package documentation's "Memory"), and
	// waits while it does not fit. An image whose estimate alone exceeds
	// the budget waits until nothing else is decoding, then runs alone.
	// Size GOMEMLIMIT above it: the estimate bounds what the pipeline
	// allocates, and the garbage collector needs headroom.
	MemoryBudget int64
	// MaxWait bounds how long a Set (or the first request of an on-demand
	// size) waits for room in the memory budget or for a CPU slot before
	// it fails with ErrBusy, which callers may retry later; the caller's
	// context may end the wait sooner. Zero means 5 seconds.
	MaxWait time.Duration
	// MaxConcurrent bounds how many images are decoded and rendered at
	// once, whatever the memory budget: the CPU slots (each render spreads
	// over up to 8 goroutines). Zero means GOMAXPROCS.
	MaxConcurrent int
	// ImportTimeout is how long an import may stay downloading before Get
	// reports it failed with CodeDownloadInterrupted (a process that
	// crashed mid-download never finishes it); zero means 10 minutes.
	ImportTimeout time.Duration
	// Logger receives warnings about clean-up that failed (the photo
	// itself is never affected); nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Limits bound what an upload may be. A zero field takes its default, so
// the zero Limits is the default set.
type Limits struct {
	// MaxBytes is the largest upload in bytes. Default 20 MiB.
	MaxBytes int64
	// MinSide is the shortest side in pixels. Default 1.
	MinSide int
	// MaxSide is the longest side in pixels. Default 10000.
	MaxSide int
	// MaxPixels is the most pixels (width times height, also of every
	// animation frame's extent). Default 50,000,000.
	MaxPixels int64
	// MaxFrames is the most frames of an animated GIF or APNG. Default 100.
	MaxFrames int
	// MaxMetadataBytes bounds what compressed ancillary PNG chunks (zTXt,
	// iTXt, iCCP) may inflate to in total. Go's decoder skips them, so a
	// decompression bomb hidden there needs its own check. Default 1 MiB.
	MaxMetadataBytes int64
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
	// StatusFailed: the last URL import failed (Photo.ImportError says
	// why); the previous photo, if any, is still described and served.
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
	// ImportError says why the last import failed, when Status is failed.
	ImportError *Error
	// SourceType is the media type of the upload (image/jpeg, ...).
	SourceType string
	// Width and Height are the upright upload's dimensions.
	Width, Height int
	// Bytes is the upload's length.
	Bytes int64
	// Crop is the crop box applied, or nil when the image was fitted.
	Crop *Crop
	// Fit is how a non-square image was made square when Crop is nil:
	// Letterbox or Cover.
	Fit Fit
	// SourceFileID and SourceFileVersion name the file version the photo
	// was set from (SetFromFile); "" and 0 otherwise.
	SourceFileID      string
	SourceFileVersion int
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

// SetOptions are the optional arguments of Set, SetFromFile, SetFromUpload
// and Import.Finish. A nil *SetOptions is the zero value: no crop, the
// Manager's fit, no revision check.
type SetOptions struct {
	// Crop, if not nil, is the square to cut from the upright image (else
	// an *Error with CodeBadCrop when it does not fit).
	Crop *Crop
	// Fit, when not zero, overrides Options.Fit for this call; it must be
	// Letterbox or Cover (else an *Error with CodeBadArgument).
	Fit Fit
	// IfRevision, when not zero, makes the call fail with ErrConflict
	// unless the user's current revision is IfRevision. Revisions start
	// at 1.
	IfRevision int64
}

// DeleteOptions are the optional arguments of Delete. A nil *DeleteOptions
// is the zero value.
type DeleteOptions struct {
	// IfRevision, when not zero, makes Delete fail with ErrConflict unless
	// the user's current revision is IfRevision.
	IfRevision int64
}
