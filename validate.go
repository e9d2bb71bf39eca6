package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/image/webp"

	"github.com/profilephoto/photo/internal/imgcheck"
	jpegdec "github.com/profilephoto/photo/internal/jpeg"
)

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
		return nil, format, inputError(CodeUnsupportedFormat, nil, "%s images are not supported; use JPEG, PNG, GIF, WebP, HEIC or AVIF", mime)
	case imgcheck.BrokenPNG:
		return nil, format, inputError(CodeCorrupt, nil, "the image data is corrupt: the PNG signature is damaged")
	case imgcheck.HEIF:
		// The box structure and every ispe are judged before any decoder
		// runs: a bomb is refused here, in microseconds.
		info, err := imgcheck.ReadHEIF(data, il)
		if err != nil {
			return nil, format, checkError(err)
		}
		switch {
		case info.Sequence:
			return nil, format, inputError(CodeUnsupportedFormat, nil,
				"image sequences (%s) are not supported; upload a still HEIC or AVIF, an animated GIF or PNG", mime)
		case info.Codec == imgcheck.UnknownCodec:
			return nil, format, inputError(CodeUnsupportedFormat, nil,
				"%s images coded other than as HEVC or AV1 are not supported", mime)
		}
		src.heif = &info
		// Orientation comes from the HEIF transforms (irot, imir), never
		// from an EXIF Orientation tag inside the file: the transforms
		// are what HEIF readers apply, and a phone that writes both
		// would have the image turned twice. libheif applies them while
		// decoding a HEIC; an AVIF's are left to the renderer, as an
		// EXIF orientation would be.
		cfg.Width, cfg.Height = info.Upright()
		if info.Codec == imgcheck.AV1 {
			src.orientation = info.Orientation()
			cfg.Width, cfg.Height = info.Width, info.Height
		}
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

// maxUserIDLen is the longest user ID, in bytes, that the library accepts.
const maxUserIDLen = 256

// checkUserID refuses a user ID that is empty, longer than maxUserIDLen
// bytes or not valid UTF-8.
func checkUserID(id string) error {
	switch {
	case id == "":
		return &Error{Code: CodeBadUserID, Message: "the user ID is empty"}
	case len(id) > maxUserIDLen:
		return inputError(CodeBadUserID, nil, "the user ID is longer than %d bytes", maxUserIDLen)
	case !utf8.ValidString(id):
		return &Error{Code: CodeBadUserID, Message: "the user ID is not valid UTF-8"}
	}
	return nil
}

// readCapped reads all of r, or fails with ErrFileTooLarge as soon as it
// has more than limit bytes; it never trusts a declared length.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, wrapErr(err, "read upload")
	}
	if n > limit {
		return nil, inputError(CodeFileTooLarge, nil, "the file is larger than %s", formatBytes(limit))
	}
	return buf.Bytes(), nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// validName reports whether name is valid UTF-8 of at most max bytes
// without control characters.
func validName(name string, max int) bool {
	if len(name) > max || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// uploadContentType returns the canonical form of an image type an upload
// may declare (image/jpg is image/jpeg; parameters and case are dropped),
// and false for any other type.
func uploadContentType(contentType string) (string, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	switch mt {
	case "image/jpeg", "image/jpg":
		return "image/jpeg", true
	case "image/png", "image/gif", "image/webp", "image/heic", "image/heif", "image/avif":
		return mt, true
	}
	return "", false
}

// ctxReader fails with ctx's error once ctx is done, so that reading a
// slow upload stops when its request ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// decodeError classifies a decoder's refusal. Data that simply ends early
// is CodeTruncated; a JPEG feature image/jpeg lacks (unusual subsampling,
// arithmetic coding, ...) is CodeUnsupportedFormat, since other decoders
// read such files; anything else, PNG's "unsupported" bit depths and
// colour types included (the PNG specification forbids them), is
// CodeCorrupt.
func decodeError(format imgcheck.Format, err error) error {
	var unsupported jpeg.UnsupportedError
	var jerr *jpegdec.Error
	switch {
	case format == imgcheck.JPEG && errors.As(err, &unsupported):
		return inputError(CodeUnsupportedFormat, err,
			"this JPEG uses a feature that is not supported (%s); save it as a baseline or progressive JPEG", string(unsupported))
	case format == imgcheck.JPEG && errors.As(err, &jerr) && jerr.Kind == jpegdec.ErrUnsupported:
		return inputError(CodeUnsupportedFormat, err,
			"this JPEG uses a feature that is not supported (%s); save it as a baseline or progressive JPEG", jerr.Msg)
	case truncation(err):
		return inputError(CodeTruncated, err, "the image data ends early")
	}
	return inputError(CodeCorrupt, err, "the image data is corrupt")
}
