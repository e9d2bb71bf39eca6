package photo

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/profilephoto/photo/internal/avatar"
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
	// events delivers to Options.OnChange.
	events *notifier
	// defaults caches encoded default photos; avatars encodes them.
	defaults *defaultCache
	avatars  avatar.Encoder
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
	m := &Manager{bucket: b, opts: o, cfg: c, gate: newGate(o.MemoryBudget, o.MaxConcurrent), cpu: sched.New(runtime.GOMAXPROCS(0)),
		versions: newVersionCache(defaultVersionCacheEntries), defaults: newDefaultCache(o.DefaultCacheBytes)}
	m.events = newNotifier(o.OnChange, m.ack, o.EventQueue, o.Logger)
	return m, nil
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
	// WebPQuality is the starting quality of the lossy WebP renditions
	// that OpenRendition makes on request, 1 to 100; zero means 86. Each
	// WebP is kept only if smaller than the stored JPEG and at least as
	// close to the pixels (SSIM); while not as close it is encoded again
	// 3 higher, up to 4 encodes and quality 98 (at 86, most photos' WebPs
	// of 64 and 200 pixels qualify at once: 10 to 25% smaller). Negative
	// turns WebP off: OpenRendition then opens the stored JPEG or PNG for
	// "image/webp".
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
	// KeepVersions is how many earlier versions of each user's photo are
	// kept besides the current one, 0 to 100; zero means none: a replaced
	// version's blobs are removed once the new one is committed. Kept
	// versions are listed in Photo.History, served by OpenRendition, and
	// may be restored (Restore) or deleted one by one (DeleteOptions.
	// VersionID). They count against no quota; each holds a Set's
	// renditions, so KeepVersions bounds what a user keeps. A value out of
	// range is an error matching CodeBadArgument.
	KeepVersions int
	// Logger receives warnings about clean-up that failed (the photo
	// itself is never affected); nil means slog.Default().
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time

	// BeforeCommit, if not nil, is asked about every image that a Set,
	// SetFromFile, SetFromUpload or Import.Finish is about to make the
	// user's photo (a moderation or face-detection check of the
	// application's), after the image passed validation and was decoded,
	// and before anything is stored: when it returns an error nothing is
	// stored or committed and the call fails. Nil (the default) accepts
	// every image.
	//
	// img is the whole upload turned upright (EXIF orientation and HEIF
	// transforms applied), before the crop box, and is only read: it must
	// not be modified nor kept after the call. It may be smaller than the
	// upload: a large JPEG is decoded at 1/2, 1/4 or 1/8 scale (see
	// OriginalMaxSide) and the hook sees that decode, with the upload's
	// aspect ratio. A PNG that the renderer would read row by row is
	// decoded whole when the hook is set. Setting the bytes that are
	// already the user's photo, with the same settings, commits nothing
	// and does not call the hook.
	//
	// The error becomes the call's: an *Error with CodeRefused, whose
	// message is the hook's own when it returned an *Error (its
	// SafeMessage is shown to the client) and the code's default
	// otherwise, with the hook's error as Err. Two exceptions: an *Error
	// matching ErrBusy is returned as it is (a moderation service that is
	// down: the client may retry), and an error returned once ctx is done
	// is ctx's error, not a refusal. A panic in the hook is recovered,
	// logged and returned as a failure of the service (an error with no
	// Code), not a refusal.
	//
	// The hook runs while the image holds its reservation of MemoryBudget
	// and one of MaxConcurrent's slots (not a CPU token): a slow hook
	// delays other uploads once those are taken, so bound its time with
	// ctx, which is the caller's.
	BeforeCommit func(ctx context.Context, userID string, img image.Image) error

	// OnChange, if not nil, is told of every committed change of a user's
	// photo: an Event of kind "set" (Set, SetFromFile, SetFromUpload,
	// Import.Finish), "delete" or "restore" (a kept version made current
	// again). Returning nil acknowledges the event; an error (or a panic,
	// recovered and logged) leaves it to be delivered again. Nil (the
	// default) means no events, and nothing of them is stored.
	//
	// Delivery is at least once, across processes: the commit that makes
	// a change also records its event in the user's record, in the same
	// write, and an event leaves the record only once an OnChange returned
	// nil for it. The Manager that committed delivers it at once, after
	// the commit, from one goroutine of its own (started when an event is
	// queued, gone when the queue is empty) with ctx a background
	// context; the call that committed never waits for it. An event that
	// OnChange refuses is tried again after 1 s and 2 s; one that is
	// still not acknowledged (OnChange kept failing, the process stopped,
	// or the EventQueue was full) is delivered again by Sweep, with Sweep's
	// ctx, in whichever process sharing the bucket runs it with OnChange
	// set, once the event is RedeliverAfter old. OnChange runs once at a
	// time per Manager, live deliveries and Sweep's alike, so a slow one
	// delays the next; it should bound its own time.
	//
	// So an event may be delivered more than once (an acknowledgement that
	// failed, a redelivery racing a slow first delivery): consumers
	// deduplicate by Event.ID, or by UserID and Revision. Order is not
	// guaranteed: events are delivered live in the order their commits
	// returned (commit order, but for concurrent changes of one user), a
	// retried or redelivered event after newer ones; Revision orders the
	// events of a user. The guarantee ends at two
	// bounds: a record keeps at most 64 unacknowledged events, beyond
	// which the oldest are dropped and counted in the next event's
	// Dropped; and only commits made by Managers with OnChange set record
	// events. A consumer that must never miss a change (a cache purge)
	// reconciles with Get when Dropped is not zero.
	//
	// Each event costs one more read and conditional write of the user's
	// record, the acknowledgement; Sweep reads every record to find
	// events to deliver again.
	OnChange func(ctx context.Context, e Event) error
	// EventQueue bounds how many events wait in memory for OnChange; zero
	// means 1024. An event committed while it is full is not lost: it
	// waits in the record for Sweep.
	EventQueue int
	// RedeliverAfter is how old an unacknowledged event must be before
	// Sweep delivers it again, which leaves the live delivery of the
	// process that committed it (and its retries) time to finish first;
	// zero or less means one minute.
	RedeliverAfter time.Duration
	// DisplayName, when set, returns a user's display name for the
	// default photo (see Manager.Default), which then shows the name's
	// initials instead of an identicon; "" (an unknown user) and names
	// whose initials the bundled font cannot draw get the identicon. It
	// is called on every Default, so it should be quick (a host's own
	// cache); an error fails Default. Nil means identicons for everyone.
	DisplayName func(ctx context.Context, userID string) (string, error)
	// NoDefaultPhoto turns default photos off: Default returns ErrNotFound
	// (and the adapter's dialects answer as for a user without a photo).
	// Default false: every user has a default photo.
	NoDefaultPhoto bool
	// DefaultImage, when set, draws the default photo instead of the
	// built-in identicon or initials, for the user, the display name
	// (DisplayName's answer, "" without it) and the size in pixels. An
	// image that is not size x size is scaled to it. It must draw the
	// same image for the same arguments: the result is cached and its
	// ETag is a hash of the encoded bytes (JPEG when the image's Opaque
	// method says so, else PNG). Nil means the built-in drawing.
	DefaultImage func(ctx context.Context, userID, displayName string, size int) (image.Image, error)
	// DefaultCacheBytes bounds the memory that encoded default photos
	// kept for reuse may take, least recently used first out; zero means
	// 8 MiB (some tens of thousands of identicons), negative keeps none.
	DefaultCacheBytes int64
}

// Event is a committed change of a user's photo, as Options.OnChange
// receives it, once or more (see OnChange).
type Event struct {
	// ID is unique to the change, and the same on every delivery of it:
	// consumers deduplicate by it.
	ID string
	// Kind is "set", "delete" or "restore".
	Kind string
	// UserID is the user whose photo changed.
	UserID string
	// VersionID is the version made current (set, restore) or removed
	// (delete; "" when the delete only cancelled an import). A delete
	// with DeleteOptions.VersionID removes one kept version: VersionID
	// names it, and the photo itself stays (see Get).
	VersionID string
	// Revision is the user's record revision after the change.
	Revision int64
	// Time is when the change was committed.
	Time time.Time
	// Photo is the photo after the change; nil for every delete. An event
	// delivered again by Sweep carries the photo as it is then (its
	// Revision may be newer than the event's), or nil when VersionID is
	// no longer the current version.
	Photo *Photo
	// Dropped counts the earlier events of the same user that were
	// dropped, never acknowledged, from the user's full record (which
	// keeps 64) when this one was committed: changes that OnChange may
	// never see.
	Dropped int64
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
	// History are the earlier versions kept (Options.KeepVersions), newest
	// first, each described as the current one is (VersionID, Created,
	// dimensions, Renditions, ...) with Status ready and no History of its
	// own. Their Revision is the record's, the same as the current
	// photo's: pass it to Restore or Delete as IfRevision. Nil when none
	// is kept.
	History []Photo
	// Placeholder is a ThumbHash of the photo (of its smallest rendition):
	// 23 to 34 characters of standard base64 without padding that a page
	// decodes into a blurred preview, with its average colour, aspect
	// ratio and transparency, to show while the renditions load. Empty
	// for photos set before placeholders existed.
	Placeholder string
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
	// VersionID, when not "", makes Delete remove only that kept earlier
	// version (one of Photo.History) and its blobs: ErrNotFound when it
	// is not kept, ErrConflict when it is the current version. "" removes
	// the photo with its whole history.
	VersionID string
}
