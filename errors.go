package photo

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable reason why the library refused a
// call. Codes and the kinds that group them are one namespace of
// snake_case strings; they never change meaning between releases. Code
// implements error so that the kinds and codes, being constants, can be
// matched with errors.Is:
//
//	errors.Is(err, photo.ErrInvalidInput) // any refusal of the caller's input
//	errors.Is(err, photo.CodeCorrupt)     // this code exactly
//	photo.CodeOf(err)                     // the specific code, "" for a failure of the service
//
// The library itself always returns an *Error, never a bare Code.
type Code string

// The kinds: each is matched (errors.Is) by every *Error whose Code it
// groups, and by an *Error of the kind's own code.
const (
	// ErrInvalidInput is matched by every refusal of the caller's input:
	// the image, the user ID, a name, a crop box, a fit, a chunk's range,
	// an import's URL or download. The caller must fix the input; the same
	// call fails again as it is.
	ErrInvalidInput Code = "invalid_input"
	// ErrNotFound: the photo, version, size, upload (also once expired),
	// file or file version does not exist.
	ErrNotFound Code = "not_found"
	// ErrConflict: a revision check (SetOptions.IfRevision,
	// DeleteOptions.IfRevision) failed, or an import is no longer the
	// pending one; matched by CodeUploadConflict and CodeUploadIncomplete too.
	ErrConflict Code = "conflict"
	// ErrBusy: the Manager had no room to do the work in time (its memory
	// budget or rendering slots stayed taken for Options.MaxWait). Nothing
	// changed; the same call may succeed later. Matched by
	// CodeDownloadInterrupted too.
	ErrBusy Code = "busy"
	// ErrQuotaExceeded: the caller already holds as much as a quota allows
	// (open uploads, files, file versions or their bytes). The *Error's
	// message names the quota and its limit. The same call may succeed
	// once the caller has freed something.
	ErrQuotaExceeded Code = "quota_exceeded"
)

// The codes of refused input; each matches ErrInvalidInput.
const (
	// CodeMissing: no image was given at all (nil reader, no file).
	CodeMissing Code = "missing"
	// CodeFileTooLarge: more bytes than Limits.MaxBytes (an image, a file,
	// an upload's declared length, an import's download).
	CodeFileTooLarge Code = "file_too_large"
	// CodeNotImage: the bytes are not an image (empty, text, archive, ...),
	// or an upload declares no bytes.
	CodeNotImage Code = "not_an_image"
	// CodeUnsupportedFormat: an image, but not one of the accepted formats
	// (HEIC, AVIF, SVG, TIFF, ICO, animated WebP, unusual JPEG sampling),
	// or an upload declares another content type.
	CodeUnsupportedFormat Code = "unsupported_format"
	// CodeCorrupt: an image whose data is malformed: a decoder refuses it,
	// its structure is inconsistent (chunks, boxes, frames outside the
	// image, a zero side) or its signature is damaged. Unsupported HEIF and
	// AVIF files are judged by their structure too.
	CodeCorrupt Code = "corrupt"
	// CodeTruncated: an image whose data ends early.
	CodeTruncated Code = "truncated"
	// CodeImageTooLarge: declared dimensions, pixel count or decompressed
	// size beyond the limits (decompression bombs included).
	CodeImageTooLarge Code = "image_too_large"
	// CodeTooSmall: a side shorter than Limits.MinSide.
	CodeTooSmall Code = "too_small"
	// CodeTooManyFrames: an animation with more than Limits.MaxFrames frames.
	CodeTooManyFrames Code = "too_many_frames"
	// CodeBadCrop: a crop box that is empty or not inside the image.
	CodeBadCrop Code = "bad_crop"
	// CodeBadUserID: a user ID that is empty, longer than 256 bytes or not
	// valid UTF-8.
	CodeBadUserID Code = "bad_user_id"
	// CodeBadArgument: another argument is out of its range: a file or
	// upload name (longer than 255 bytes, not UTF-8, control characters),
	// an unknown Fit, a file with too many versions.
	CodeBadArgument Code = "bad_argument"
	// CodeBadRange: a chunk that cannot belong to the upload: it reaches
	// past the declared length, its total is not the declared length, its
	// range is negative, or the upload has 1024 chunks already.
	CodeBadRange Code = "bad_range"
	// CodeURLNotAllowed: an import's URL scheme or address is refused.
	CodeURLNotAllowed Code = "url_not_allowed"
	// CodeDownloadFailed: an import's download failed (status, timeout,
	// network).
	CodeDownloadFailed Code = "download_failed"
	// CodeRefused: the application's Options.BeforeCommit hook refused
	// the image (a moderation or face-detection policy, say). The
	// *Error's message is the hook's, when the hook returned an *Error.
	CodeRefused Code = "refused"
)

// The codes of other kinds.
const (
	// CodeUploadConflict matches ErrConflict: a chunk that does not
	// continue the upload (a gap, an overlap with different bytes, or
	// another request appended first).
	CodeUploadConflict Code = "upload_conflict"
	// CodeUploadIncomplete matches ErrConflict: SetFromUpload before the
	// upload received all its bytes.
	CodeUploadIncomplete Code = "upload_incomplete"
	// CodeDownloadInterrupted matches ErrBusy: an import that never
	// finished (its process stopped, or it took longer than
	// Options.ImportTimeout).
	CodeDownloadInterrupted Code = "download_interrupted"
)

// codeInfo is what the library knows of each code: its kind ("" for the
// kinds themselves) and its default message.
var codeInfo = map[Code]struct {
	kind Code
	msg  string
}{
	ErrInvalidInput:  {"", "the input is invalid"},
	ErrNotFound:      {"", "the requested resource does not exist"},
	ErrConflict:      {"", "revision conflict"},
	ErrBusy:          {"", "busy, try again later"},
	ErrQuotaExceeded: {"", "quota exceeded"},

	CodeMissing:           {ErrInvalidInput, "no image was given"},
	CodeFileTooLarge:      {ErrInvalidInput, "the file is too large"},
	CodeNotImage:          {ErrInvalidInput, "the file is not an image"},
	CodeUnsupportedFormat: {ErrInvalidInput, "the image format is not supported; use JPEG, PNG, GIF, WebP, HEIC or AVIF"},
	CodeCorrupt:           {ErrInvalidInput, "the image data is corrupt"},
	CodeTruncated:         {ErrInvalidInput, "the image data ends early"},
	CodeImageTooLarge:     {ErrInvalidInput, "the image dimensions are too large"},
	CodeTooSmall:          {ErrInvalidInput, "the image is too small"},
	CodeTooManyFrames:     {ErrInvalidInput, "the animation has too many frames"},
	CodeBadCrop:           {ErrInvalidInput, "the crop box does not fit the image"},
	CodeBadUserID:         {ErrInvalidInput, "the user ID is invalid"},
	CodeBadArgument:       {ErrInvalidInput, "an argument is invalid"},
	CodeBadRange:          {ErrInvalidInput, "the range is not satisfiable"},
	CodeURLNotAllowed:     {ErrInvalidInput, "the URL is not allowed"},
	CodeDownloadFailed:    {ErrInvalidInput, "the download failed"},
	CodeRefused:           {ErrInvalidInput, "the image was refused"},

	CodeUploadConflict:      {ErrConflict, "the chunk does not continue the upload"},
	CodeUploadIncomplete:    {ErrConflict, "the upload has not received all its bytes"},
	CodeDownloadInterrupted: {ErrBusy, "the download did not finish in time"},
}

// Error returns "photo: " and the code's default message.
func (c Code) Error() string { return "photo: " + c.message() }

func (c Code) message() string {
	if i, ok := codeInfo[c]; ok {
		return i.msg
	}
	return string(c)
}

// kind returns the kind that c belongs to, c itself for a kind.
func (c Code) kind() Code {
	if k := codeInfo[c].kind; k != "" {
		return k
	}
	return c
}

// Error is every refusal that the library decides: a Code, a message safe
// to show to whoever sent the request, and the cause, for logs. Programs
// may make their own (an import's download failing, say) to pass to
// Import.Fail.
type Error struct {
	// Code says what is wrong; one of the Code constants.
	Code Code
	// Message explains it in words safe to show (no paths, keys or package
	// names); "" means the code's default message.
	Message string
	// Err is the cause (a decoder's error, a storage failure), or nil; for
	// logs, not for people.
	Err error
}

// Error returns "photo: ", the safe message and, when there is one that
// the message does not already say, the cause.
func (e *Error) Error() string {
	s := "photo: " + e.SafeMessage()
	if e.Err != nil {
		if c := e.Err.Error(); c != e.SafeMessage() {
			s += ": " + c
		}
	}
	return s
}

// SafeMessage returns the message that a client may be shown: Message, or
// the code's default.
func (e *Error) SafeMessage() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Code.message()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Code or the kind of e's Code.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && (c == e.Code || c == e.Code.kind())
}

// CodeOf returns the Code of the first *Error (or Code) in err's chain, or
// "" when there is none: the failure is then the service's (storage, the
// context), not the caller's.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	return ""
}

// inputError returns an *Error with a formatted message.
func inputError(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

var quotaUnits = map[string]string{
	"uploads":       "open uploads per user",
	"upload_bytes":  "bytes of open uploads per user",
	"files":         "files per user",
	"file_versions": "versions per file",
	"file_bytes":    "bytes of files per user",
}

// quotaError is the refusal of a quota: "uploads", "upload_bytes",
// "files", "file_versions" or "file_bytes", whose value is limit. The
// message names the quota and its limit.
func quotaError(quota string, limit int64) *Error {
	return &Error{Code: ErrQuotaExceeded, Message: fmt.Sprintf("quota exceeded: at most %d %s", limit, quotaUnits[quota])}
}

// notFound is an ErrNotFound refusal with a message.
func notFound(format string, args ...any) *Error {
	return &Error{Code: ErrNotFound, Message: fmt.Sprintf(format, args...)}
}

// wrapErr names the operation in a failure that the library does not
// decide (storage, the context), once: a refusal (an error with a Code) is
// returned as it is, so that no message says "photo: " twice.
func wrapErr(err error, format string, args ...any) error {
	if CodeOf(err) != "" {
		return err
	}
	return fmt.Errorf("photo: "+format+": %w", append(args, err)...)
}
