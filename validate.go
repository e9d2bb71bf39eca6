package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"slices"
	"strings"

	"golang.org/x/image/webp"

	"github.com/profilephoto/photo/internal/imgcheck"
	"github.com/profilephoto/photo/internal/pngdec"
	"github.com/profilephoto/photo/storage"
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
	// rows, when not nil, decodes the pixels row by row instead of img
	// (PNG files that are not interlaced); see prepareSource.
	rows *pngdec.Decoder
}

// readSource reads r (at most lim.MaxBytes) and judges and decodes it:
//
//  1. read with a byte cap (a declared length is never trusted), honouring
//     ctx between reads;
//  2. sniff the format from the bytes (never the name or a declared type):
//     JPEG, PNG (APNG too: its default image), GIF and static WebP are
//     accepted; other image formats are CodeUnsupportedFormat, anything
//     else CodeNotImage;
//  3. read the header and the structure without decoding pixels: the
//     dimensions against the limits, the frames of GIF and APNG
//     animations and each frame's extent, the compressed PNG metadata, the
//     EXIF orientation;
//  4. only then decode the pixels (the first frame of an animation), and
//     classify a decoder's refusal as CodeTruncated or CodeCorrupt.
//
// Orientation is read from a JPEG's APP1 EXIF segment, a WebP's EXIF
// chunk and a PNG's eXIf chunk: browsers apply all three, so the upright
// image is what the uploader saw. Orientation recorded only in XMP is
// ignored, as browsers do. Malformed EXIF gives orientation 1; it never
// fails an image whose pixels are fine.
func readSource(ctx context.Context, r io.Reader, lim Limits) (*source, error) {
	lim = lim.withDefaults()
	data, err := readUpload(ctx, r, lim)
	if err != nil {
		return nil, err
	}
	return decodeSource(ctx, data, lim)
}

// readUpload is readSource's first step: it reads r up to lim.MaxBytes.
func readUpload(ctx context.Context, r io.Reader, lim Limits) ([]byte, error) {
	return readCapped(storage.ContextReader(ctx, r), lim.MaxBytes)
}

// decodeSource is readSource's other steps, on the bytes of an upload.
func decodeSource(ctx context.Context, data []byte, lim Limits) (*source, error) {
	src, format, err := inspect(data, lim)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if src.img, err = decode(format, data, src); err != nil {
		return nil, err
	}
	return src, nil
}

// prepareSource is decodeSource for the render path: it judges data as
// inspect does and, for a PNG that is not interlaced, opens a row decoder
// (src.rows) instead of decoding the pixels, so that they can be read
// straight into the pipeline's planes; the decoder's refusals then come
// from reading the rows. Other images are left for decode.
func prepareSource(data []byte, lim Limits) (*source, imgcheck.Format, error) {
	src, format, err := inspect(data, lim)
	if err != nil || format != imgcheck.PNG {
		return src, format, err
	}
	d, err := pngdec.NewDecoder(data)
	switch {
	case errors.Is(err, pngdec.ErrInterlaced):
		// Decoded whole by image/png; the budget counts that.
	case err != nil:
		return nil, format, decodeError(format, err)
	default:
		src.rows = d
	}
	return src, format, nil
}

// inspect judges data without decoding pixels. On success the source has
// every field but img.
func inspect(data []byte, lim Limits) (*source, imgcheck.Format, error) {
	format, mime := imgcheck.Sniff(data)
	src := &source{mime: mime, orientation: 1, frames: 1, bytes: int64(len(data))}
	il := imgcheck.Limits{MaxSide: lim.MaxSide, MaxPixels: lim.MaxPixels, MaxFrames: lim.MaxFrames,
		MaxMetadataBytes: lim.MaxMetadataBytes}
	var (
		cfg       image.Config
		err       error
		truncated bool
	)
	rd := bytes.NewReader(data)
	switch format {
	case imgcheck.NotImage:
		if len(data) == 0 {
			return nil, format, inputError(CodeNotImage, nil, "the file is empty")
		}
		mime, _, _ = strings.Cut(mime, ";")
		return nil, format, inputError(CodeNotImage, nil, "the file is not an image (it looks like %s)", mime)
	case imgcheck.OtherImage:
		return nil, format, inputError(CodeUnsupportedFormat, nil, "%s images are not supported; use JPEG, PNG, GIF or WebP", mime)
	case imgcheck.BrokenPNG:
		return nil, format, inputError(CodeCorrupt, nil, "the image data is corrupt: the PNG signature is damaged")
	case imgcheck.HEIF:
		if err := imgcheck.ScanHEIF(data, il); err != nil {
			return nil, format, checkError(err)
		}
		return nil, format, inputError(CodeUnsupportedFormat, nil, "%s images are not supported; use JPEG, PNG, GIF or WebP", mime)
	case imgcheck.JPEG:
		if cfg, err = jpeg.DecodeConfig(rd); err != nil {
			return nil, format, decodeError(format, err)
		}
		src.orientation = imgcheck.JPEGOrientation(data)
	case imgcheck.PNG:
		// The chunk scan comes first: a damaged chunk structure is corrupt
		// whatever the header says, and a metadata bomb is refused
		// before anything inflates the rest.
		info, err := imgcheck.ScanPNG(data, il)
		if err != nil {
			return nil, format, checkError(err)
		}
		if cfg, err = png.DecodeConfig(rd); err != nil {
			return nil, format, decodeError(format, err)
		}
		src.orientation, src.frames, truncated = info.Orientation, info.Frames, info.Truncated
	case imgcheck.GIF:
		if cfg, err = gif.DecodeConfig(rd); err != nil {
			return nil, format, decodeError(format, err)
		}
		// The screen is judged before the frames: a zero-sized screen is
		// corrupt whatever its frames declare.
		if err := checkSize(cfg.Width, cfg.Height, lim); err != nil {
			return nil, format, err
		}
		info, err := imgcheck.ScanGIF(data, il)
		if err != nil {
			return nil, format, checkError(err)
		}
		src.frames = max(1, info.Frames)
	case imgcheck.WebP:
		info := imgcheck.ScanWebP(data)
		if info.Animated {
			return nil, format, inputError(CodeUnsupportedFormat, nil,
				"animated WebP images are not supported; use a still WebP, an animated GIF or PNG")
		}
		if cfg, err = webp.DecodeConfig(rd); err != nil {
			return nil, format, decodeError(format, err)
		}
		src.orientation = info.Orientation
	default:
		return nil, format, inputError(CodeNotImage, nil, "the file is not an image")
	}
	if err := checkSize(cfg.Width, cfg.Height, lim); err != nil {
		return nil, format, err
	}
	if truncated {
		return nil, format, inputError(CodeTruncated, nil, "the image data ends early")
	}
	if src.frames > lim.MaxFrames {
		return nil, format, inputError(CodeTooManyFrames, nil,
			"the animation has %d frames; at most %d are allowed", src.frames, lim.MaxFrames)
	}
	src.width, src.height = cfg.Width, cfg.Height
	if src.orientation >= 5 { // 5 to 8 turn the image a quarter
		src.width, src.height = src.height, src.width
	}
	src.sum = sha256.Sum256(data)
	return src, format, nil
}

// checkSize judges declared dimensions: a zero side is corrupt, a side or
// pixel count beyond the limits is too large (the usual decompression
// bomb: a small file declaring a huge image), and a side below MinSide too
// small.
func checkSize(w, h int, lim Limits) error {
	switch {
	case w <= 0 || h <= 0:
		return inputError(CodeCorrupt, nil, "the image data is corrupt: it declares a size of %dx%d pixels", w, h)
	case w > lim.MaxSide || h > lim.MaxSide || int64(w)*int64(h) > lim.MaxPixels:
		return inputError(CodeImageTooLarge, nil,
			"the image is %dx%d pixels; at most %d pixels a side and %d pixels in all are allowed", w, h, lim.MaxSide, lim.MaxPixels)
	case w < lim.MinSide || h < lim.MinSide:
		return inputError(CodeTooSmall, nil, "the image is %dx%d pixels; each side must be at least %d", w, h, lim.MinSide)
	}
	return nil
}

// checkError turns an *imgcheck.Error into the *Error of its kind.
func checkError(err error) error {
	var ce *imgcheck.Error
	if !errors.As(err, &ce) {
		return inputError(CodeCorrupt, err, "the image data is corrupt")
	}
	switch ce.Kind {
	case imgcheck.Truncated:
		return inputError(CodeTruncated, err, "the image data ends early: %s", ce.Msg)
	case imgcheck.TooLarge:
		return inputError(CodeImageTooLarge, err, "the image is too large: %s", ce.Msg)
	case imgcheck.TooManyFrames:
		return inputError(CodeTooManyFrames, err, "%s", ce.Msg)
	}
	return inputError(CodeCorrupt, err, "the image data is corrupt: %s", ce.Msg)
}

// decode decodes the pixels of data, which inspect has passed. A GIF's
// first frame is placed on its logical screen, so every image returned
// starts at (0,0) and has the dimensions inspect judged.
func decode(format imgcheck.Format, data []byte, src *source) (image.Image, error) {
	var (
		img image.Image
		err error
	)
	r := bytes.NewReader(data)
	switch format {
	case imgcheck.JPEG:
		img, err = jpeg.Decode(r)
	case imgcheck.PNG:
		img, err = png.Decode(r)
	case imgcheck.GIF:
		img, err = gif.Decode(r)
	case imgcheck.WebP:
		img, err = webp.Decode(r)
	default:
		return nil, inputError(CodeUnsupportedFormat, nil, "the image format is not supported")
	}
	if err != nil {
		return nil, decodeError(format, err)
	}
	w, h := src.width, src.height
	if src.orientation >= 5 {
		w, h = h, w
	}
	if img.Bounds() != image.Rect(0, 0, w, h) {
		if p, ok := img.(*image.Paletted); ok && format == imgcheck.GIF {
			return onScreen(p, w, h), nil
		}
		// A decoder that disagrees with its own header.
		return nil, inputError(CodeCorrupt, nil, "the image data is corrupt: the pixels do not match the declared size")
	}
	return img, nil
}

// onScreen places a GIF frame on a transparent w by h screen, as a browser
// shows it. The frame lies inside the screen (imgcheck.ScanGIF checked).
func onScreen(p *image.Paletted, w, h int) *image.Paletted {
	pal := p.Palette
	bg := -1
	for i, c := range pal {
		if _, _, _, a := c.RGBA(); a == 0 {
			bg = i
			break
		}
	}
	if bg < 0 && len(pal) < 256 {
		pal = append(slices.Clip(pal), color.RGBA{})
		bg = len(pal) - 1
	}
	out := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	if bg > 0 {
		for i := range out.Pix {
			out.Pix[i] = uint8(bg)
		}
	}
	draw.Draw(out, p.Bounds(), p, p.Bounds().Min, draw.Src)
	return out
}

// decodeError classifies a decoder's refusal. Data that simply ends early
// is CodeTruncated; a JPEG feature image/jpeg lacks (unusual subsampling,
// arithmetic coding, ...) is CodeUnsupportedFormat, since other decoders
// read such files; anything else, PNG's "unsupported" bit depths and
// colour types included (the PNG specification forbids them), is
// CodeCorrupt.
func decodeError(format imgcheck.Format, err error) error {
	var unsupported jpeg.UnsupportedError
	switch {
	case format == imgcheck.JPEG && errors.As(err, &unsupported):
		return inputError(CodeUnsupportedFormat, err,
			"this JPEG uses a feature that is not supported (%s); save it as a baseline or progressive JPEG", string(unsupported))
	case truncation(err):
		return inputError(CodeTruncated, err, "the image data ends early")
	}
	return inputError(CodeCorrupt, err, "the image data is corrupt")
}

// truncationMessages are what the decoders say when the data ends early;
// image/gif formats its causes with %v, so errors.Is cannot see them.
var truncationMessages = []string{
	"unexpected EOF",
	"short Huffman data",    // image/jpeg
	"not enough pixel data", // image/png
	"not enough image data", // image/gif
	"short chunk header",    // x/image/riff, under webp
	"short chunk data",
	"missing padding byte",
}

func truncation(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	msg := err.Error()
	for _, m := range truncationMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return strings.HasSuffix(msg, ": EOF")
}
