package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
)

// Code is a stable, machine-readable reason why an input was refused. The
// HTTP adapter maps each code to every dialect's own error (Slack's
// bad_image, profile-image's invalid-file-format, ...); programs may switch
// on it. Codes never change meaning between releases.
type Code string

// The codes an *Error carries. Each has a sentinel of the same meaning for
// errors.Is.
const (
	// CodeMissing: no image was given at all (nil reader, empty field name).
	CodeMissing Code = "missing"
	// CodeFileTooLarge: the upload has more bytes than Limits.MaxBytes.
	CodeFileTooLarge Code = "file_too_large"
	// CodeNotImage: the bytes are not an image (empty, text, archive, ...).
	CodeNotImage Code = "not_an_image"
	// CodeUnsupportedFormat: an image, but not one of the accepted formats
	// (HEIC, AVIF, SVG, TIFF, ICO, animated WebP, unusual JPEG sampling).
	CodeUnsupportedFormat Code = "unsupported_format"
	// CodeCorrupt: an accepted format whose data a decoder refuses.
	CodeCorrupt Code = "corrupt"
	// CodeTruncated: an accepted format whose data ends early.
	CodeTruncated Code = "truncated"
	// CodeImageTooLarge: declared dimensions, pixel count or decompressed
	// size beyond the limits (decompression bombs included).
	CodeImageTooLarge Code = "image_too_large"
	// CodeTooSmall: a side shorter than Limits.MinSide.
	CodeTooSmall Code = "too_small"
	// CodeTooManyFrames: an animation with more than Limits.MaxFrames frames.
	CodeTooManyFrames Code = "too_many_frames"
	// CodeBadCrop: a crop box that is empty, not inside the image, or not
	// square.
	CodeBadCrop Code = "bad_crop"
)

// Sentinels, one for each Code: errors.Is(err, ErrCorrupt) holds for an
// *Error whose Code is CodeCorrupt.
var (
	ErrMissing           = &Error{Code: CodeMissing}
	ErrFileTooLarge      = &Error{Code: CodeFileTooLarge}
	ErrNotImage          = &Error{Code: CodeNotImage}
	ErrUnsupportedFormat = &Error{Code: CodeUnsupportedFormat}
	ErrCorrupt           = &Error{Code: CodeCorrupt}
	ErrTruncated         = &Error{Code: CodeTruncated}
	ErrImageTooLarge     = &Error{Code: CodeImageTooLarge}
	ErrTooSmall          = &Error{Code: CodeTooSmall}
	ErrTooManyFrames     = &Error{Code: CodeTooManyFrames}
	ErrBadCrop           = &Error{Code: CodeBadCrop}
)

// ErrInvalidInput is matched by every *Error: errors.Is(err,
// ErrInvalidInput) tells an input the caller must fix from a failure of the
// service.
var ErrInvalidInput = errors.New("photo: invalid input")

// Error is the error returned for an input that the library refuses. It
// carries a stable Code and a message safe to show to the person who sent
// the input (it never holds paths or internal detail); Err, if any, is the
// underlying cause, for logs.
type Error struct {
	// Code says what is wrong.
	Code Code
	// Message explains it in words, for people; "" uses a default per code.
	Message string
	// Err is the cause (a decoder's error, say), or nil.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = defaultMessages[e.Code]
	}
	if msg == "" {
		msg = string(e.Code)
	}
	return "photo: " + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's code or ErrInvalidInput.
func (e *Error) Is(target error) bool {
	if target == ErrInvalidInput {
		return true
	}
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Err == nil && t.Code == e.Code
}

var defaultMessages = map[Code]string{
	CodeMissing:           "no image was given",
	CodeFileTooLarge:      "the file is too large",
	CodeNotImage:          "the file is not an image",
	CodeUnsupportedFormat: "the image format is not supported; use JPEG, PNG, GIF or WebP",
	CodeCorrupt:           "the image data is corrupt",
	CodeTruncated:         "the image data ends early",
	CodeImageTooLarge:     "the image dimensions are too large",
	CodeTooSmall:          "the image is too small",
	CodeTooManyFrames:     "the animation has too many frames",
	CodeBadCrop:           "the crop box does not fit the image",
}

func inputError(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
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

// Default limits, applied to zero fields of Limits.
const (
	DefaultMaxBytes         = 20 << 20
	DefaultMinSide          = 1
	DefaultMaxSide          = 10000
	DefaultMaxPixels        = 50_000_000
	DefaultMaxFrames        = 100
	DefaultMaxMetadataBytes = 1 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MinSide <= 0 {
		l.MinSide = DefaultMinSide
	}
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultMaxSide
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxFrames <= 0 {
		l.MaxFrames = DefaultMaxFrames
	}
	if l.MaxMetadataBytes <= 0 {
		l.MaxMetadataBytes = DefaultMaxMetadataBytes
	}
	return l
}

// source is an upload that passed validation, decoded.
type source struct {
	img         image.Image // as stored, before orientation
	mime        string      // image/jpeg, image/png, image/gif or image/webp
	orientation int         // EXIF orientation, 1 to 8 (1 when absent)
	width       int         // upright width (after orientation)
	height      int         // upright height
	frames      int         // 1, or the frame count of an animation
	bytes       int64       // upload length
	sum         [32]byte    // SHA-256 of the upload
}

// readSource reads r (at most lim.MaxBytes), validates and decodes it.
//
// PLACEHOLDER: to be replaced by the full validation pipeline.
func readSource(ctx context.Context, r io.Reader, lim Limits) (*source, error) {
	data, err := readCapped(r, lim.MaxBytes)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, inputError(CodeCorrupt, err, "cannot decode the image")
	}
	b := img.Bounds()
	return &source{img: img, mime: "image/" + format, orientation: 1, width: b.Dx(), height: b.Dy(),
		frames: 1, bytes: int64(len(data)), sum: sha256.Sum256(data)}, nil
}
