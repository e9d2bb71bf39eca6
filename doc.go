// Package photo gives a Go application profile photos: upload, validate,
// crop, resize into renditions, version, store, serve and delete, behind one
// Service interface, over pluggable storage.
//
// # The story of a photo
//
// A Manager keeps photos in a *storage.Bucket over a driver:
// storage/memstore for tests, storage/aferostore for a directory (or any
// afero.Fs), storage/s3store for an S3 bucket shared by many instances.
//
//	m, err := photo.New(storage.NewBucket(memstore.New()), nil)
//	p, err := m.Set(ctx, "alice", upload, &photo.SetOptions{Crop: &photo.Crop{X: 10, Y: 0, Size: 600}})
//	switch {
//	case errors.Is(err, photo.ErrInvalidInput):
//		// 4xx: show the client err's SafeMessage; photo.CodeOf(err) says what is wrong
//	case errors.Is(err, photo.ErrBusy):
//		// 503: try again later
//	case err != nil:
//		// 5xx: storage or the context
//	}
//
// Set reads at most Limits.MaxBytes, sniffs the format from the bytes
// (JPEG, PNG, GIF, static WebP and HEIC and AVIF stills are accepted; the
// file name and the declared type are never trusted), checks the
// dimensions, pixel count and frame count before it decodes anything,
// decodes, turns the image upright from its EXIF orientation (a HEIC's or
// AVIF's from its irot and imir transforms alone), cuts the crop box (or
// letterboxes a non-square image, or cuts its centre with Cover), and
// renders a normalised original and one square rendition per configured
// size, JPEG or, where the image has transparency, PNG. Every output is
// re-encoded, so no metadata of the upload (EXIF, GPS, XMP, ICC, comments)
// survives. OpenRendition serves them, and a WebP of any rendition on
// request (made once, from a larger rendition or, for the largest sizes,
// from the normalised original with the version's crop or fit, and stored
// beside the others until the version goes).
//
// A refused upload changes nothing.
//
// # Errors
//
// Every refusal that the library decides is an *Error: a Code, a message
// safe to show to whoever sent the request (SafeMessage), and the cause,
// for logs. Codes are constants of one namespace, in snake_case, grouped
// in five kinds that errors.Is matches:
//
//   - ErrInvalidInput: the caller's input (the image: CodeNotImage,
//     CodeCorrupt, CodeTooManyFrames, ...; CodeBadCrop; CodeBadUserID;
//     CodeBadArgument for a name or a Fit; CodeBadRange for a chunk;
//     CodeURLNotAllowed and CodeDownloadFailed for an import);
//   - ErrNotFound: a photo, version, size, file, upload;
//   - ErrConflict: a revision check, or an import superseded
//     (CodeUploadConflict and CodeUploadIncomplete too);
//   - ErrBusy: no room to work now, try again (CodeDownloadInterrupted
//     too);
//   - ErrQuotaExceeded: a quota, named with its limit by the message.
//
// errors.Is(err, photo.CodeCorrupt) matches one code; photo.CodeOf(err)
// returns it. Failures that the library does not decide (storage, the
// context) have no Code, and CodeOf returns "" for them: they are the
// service's fault, not the caller's.
//
// # Versions and consistency
//
// A photo's VersionID is derived from the upload's bytes and every setting
// that shapes the output, so setting the same file with the same crop twice
// is a no-op, and clients may cache renditions by version for ever. A Set
// writes the new version's blobs under keys of their own, then switches the
// user's record with a compare-and-swap, then removes the previous
// version's blobs (unless Options.KeepVersions keeps it; see "History"):
// a reader sees the old photo or the new one, never a mix,
// and a failed or cancelled Set leaves the old photo intact. Concurrent
// Sets all succeed and the last to commit wins, unless the caller passes
// SetOptions.IfRevision, which turns a lost race into ErrConflict. Blobs
// that a crash leaves behind are removed by Sweep.
//
// Any number of Managers, in any number of processes, may share one
// bucket: the record's compare-and-swap is the only coordination they
// need.
//
// # Storage
//
// The objects live under users/, files/, uploads/ and quotas/ in the
// bucket, as JSON records and image blobs. Each record carries a format
// version, so a later release reads what an earlier one wrote; one written
// by a newer release is refused, never taken for absent.
//
// # Memory
//
// Memory follows a budget, not a count of images. Before it decodes
// anything, Set estimates from the header what decoding and rendering the
// upload will allocate and reserves that much of Options.MemoryBudget
// (default 512 MiB); it waits while the reservation does not fit, at most
// Options.MaxWait (default 5 seconds) and never past its context, and then
// fails with ErrBusy, which asks the client to retry. An
// image whose estimate alone exceeds the budget runs once nothing else
// does. Options.MaxConcurrent (default GOMAXPROCS) still bounds how many
// images are rendered at once, for the CPU's sake.
//
// The estimate is the decoder's buffers plus the pipeline's: per pixel, a
// JPEG's planes (3 bytes, 15 when progressive), an interlaced PNG's image
// and passes (twice its bytes per pixel), a GIF's frame and screen (2), a
// WebP's (4), a HEIC's or AVIF's WebAssembly decoder memory (about 26 and
// 76), plus the working plane when the pixels are converted (4
// bytes, 1 for gray), its pyramid (a third more), the resampler's
// intermediate plane, and each output with three RGBA-sized copies for
// turning, flattening and encoding. A PNG that is not interlaced is never
// held at its stored depth: its rows are inflated, unfiltered and turned
// into 8-bit samples one at a time, and where every output needs far less
// than full resolution, averaged in 2x2 blocks as they arrive, so a
// 7000x7000 16-bit RGBA upload is held as a 3500x3500 8-bit plane (49 MB
// instead of image/png's 392 MB) and its whole estimate,
// outputs with transparency included, is some 230 MB.
//
// # Beyond Set and Get
//
// Files (CreateFile, SetFromFile) give Salesforce Chatter's fileId and
// versionNumber; resumable uploads (CreateUpload, AppendUpload,
// SetFromUpload) give a three-step upload that survives broken
// connections. Options.Quotas bound the uploads and files one user may
// keep at once. The httpadapter package speaks all of these over HTTP in
// the dialects of four real APIs (Chatter's user photo, Slack's
// users.setPhoto, a profile-image resource and the resumable upload), and
// cmd/photod serves it.
//
// # Default photos and placeholders
//
// A user without a photo still has one to show: Default draws an
// identicon from the user ID, or the initials of the name
// Options.DisplayName returns (Options.DefaultImage draws the host's own;
// Options.NoDefaultPhoto turns them off). Defaults are drawn on demand,
// cached in memory within Options.DefaultCacheBytes and never stored.
// Every photo Set stores a placeholder (Photo.Placeholder): a ThumbHash of
// its smallest rendition, a string of about 30 characters from which a
// page draws a blurred preview while the renditions load.
//
// # Imports
//
// Setting a photo from a URL takes a while, and clients are told so:
// StartImport marks the user's photo as downloading (Get reports
// StatusDownloading while the previous photo is still served) and returns
// an *Import. The application downloads the bytes and calls Finish with
// them, or Fail with why it could not; a newer change supersedes the
// import. An import that neither finishes nor fails within
// Options.ImportTimeout reads as failed with CodeDownloadInterrupted.
//
// # Hooks and events
//
// Options.BeforeCommit lets the application refuse an image (moderation,
// face detection) after it was decoded and turned upright and before
// anything is stored: a refusal is an *Error with CodeRefused and leaves
// the previous photo as it was. Options.OnChange is told of every
// committed set, delete and restore as an Event, after the commit and
// without ever delaying it, at least once: the commit records the event
// in the user's record in the same write, and it leaves the record only
// once an OnChange returned nil for it (an acknowledgement). The Manager
// that committed delivers it at once from a goroutine of its own; an
// event still unacknowledged later (OnChange failed, the process
// stopped, the in-memory queue was full) is delivered again by Sweep, in
// any process sharing the bucket, once Options.RedeliverAfter old.
// Consumers deduplicate by Event.ID; a redelivered event may arrive
// after newer ones of the same user. The guarantee's limits: a record
// keeps 64 unacknowledged events, the oldest dropped beyond (counted in
// Event.Dropped), and only Managers with OnChange set record events.
//
// # Janitor
//
// Manager.Sweep reclaims space, and a server calls it now and then (it is
// safe from any number of processes): it removes uploads and files whose
// time is up, then blobs that no record references, left by crashes or
// failed clean-ups. The blobs of kept earlier versions are referenced.
// With Options.OnChange set it also delivers again the events that
// records still hold unacknowledged.
//
// # History
//
// Options.KeepVersions keeps up to that many earlier versions of each
// user's photo besides the current one (default 0: a replaced version's
// blobs are removed as soon as the new one is committed). A Set that
// replaces the current version moves it to the front of the history;
// versions beyond KeepVersions are dropped and their blobs removed after
// the commit. Get lists the kept versions in Photo.History, newest first;
// their rendition URLs keep serving (OpenRendition) while they are kept.
// Restore makes a kept version current again as a new revision with the
// same version ID, so URLs cached for it stay valid. Delete with
// DeleteOptions.VersionID removes one kept version; a plain Delete removes
// the photo with its whole history. The history counts against no quota:
// KeepVersions bounds it (at most 100 versions, each the size of a Set's
// renditions). Lowering KeepVersions trims a user's history at their
// next Set or Restore.
package photo
