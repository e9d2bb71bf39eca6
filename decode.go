package photo

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/png"
	"io"
	"slices"
	"strings"

	"golang.org/x/image/webp"

	"github.com/profilephoto/photo/internal/heifdec"
	"github.com/profilephoto/photo/internal/imgcheck"
	jpegdec "github.com/profilephoto/photo/internal/jpeg"
	"github.com/profilephoto/photo/internal/pngdec"
	"github.com/profilephoto/photo/internal/sched"
)

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

// source is an upload that passed validation, decoded.
type source struct {
	img         image.Image // as stored, before orientation
	mime        string      // image/jpeg, image/png, image/gif, image/webp, image/heic, image/heif or image/avif
	orientation int         // EXIF orientation, 1 to 8 (1 when absent)
	width       int         // upright width (after orientation)
	height      int         // upright height
	frames      int         // 1, or the frame count of an animation
	bytes       int64       // upload length
	sum         [32]byte    // SHA-256 of the upload
	scale       int         // img is the 1/scale decode of a JPEG (0 or 1: full size)
	// rows, when not nil, decodes the pixels row by row instead of img
	// (PNG files that are not interlaced); see prepareSource.
	rows *pngdec.Decoder
	// heif is what imgcheck.ReadHEIF read of a HEIC or AVIF.
	heif *imgcheck.HEIFInfo
}

// readSource reads r (at most lim.MaxBytes) and judges and decodes it:
//
//  1. read with a byte cap (a declared length is never trusted), honouring
//     ctx between reads;
//  2. sniff the format from the bytes (never the name or a declared type):
//     JPEG, PNG (APNG too: its default image), GIF, static WebP and HEIC
//     and AVIF stills are accepted; other image formats (image sequences
//     among them) are CodeUnsupportedFormat, anything else CodeNotImage;
//  3. read the header and the structure without decoding pixels: the
//     dimensions against the limits (every ispe of a HEIF file), the frames of GIF and APNG
//     animations and each frame's extent, the compressed PNG metadata, the
//     EXIF orientation;
//  4. only then decode the pixels (the first frame of an animation), and
//     classify a decoder's refusal as CodeTruncated or CodeCorrupt.
//
// Orientation is read from a JPEG's APP1 EXIF segment, a WebP's EXIF
// chunk and a PNG's eXIf chunk: browsers apply all three, so the upright
// image is what the uploader saw. Orientation recorded only in XMP is
// ignored, as browsers do. Malformed EXIF gives orientation 1; it never
// fails an image whose pixels are fine. A HEIC or AVIF is turned by its
// HEIF transforms (irot, imir) alone: an EXIF Orientation tag inside it is
// ignored, so that an image is never turned twice.
func readSource(ctx context.Context, r io.Reader, lim Limits) (*source, error) {
	lim = lim.withDefaults()
	data, err := readUpload(ctx, r, lim)
	if err != nil {
		return nil, err
	}
	return decodeSource(ctx, data, lim, nil)
}

// readUpload is readSource's first step: it reads r up to lim.MaxBytes.
func readUpload(ctx context.Context, r io.Reader, lim Limits) ([]byte, error) {
	return readCapped(ctxReader{ctx, r}, lim.MaxBytes)
}

// decodeSource is readSource's other steps, on the bytes of an upload. A
// JPEG is decoded at 1/scale(src) when scale is not nil (src has every
// field but img then).
func decodeSource(ctx context.Context, data []byte, lim Limits, scale func(*source) int) (*source, error) {
	src, format, err := inspect(data, lim)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if format == imgcheck.JPEG && scale != nil {
		src.scale = scale(src)
	}
	if src.img, err = decode(format, data, src, nil); err != nil {
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

// decode decodes the pixels of data, which inspect has passed. A GIF's
// first frame is placed on its logical screen, so every image returned
// starts at (0,0) and has the dimensions inspect judged. A JPEG uses a
// second core of pool while one is free; the caller holds a token of it
// (nil: one goroutine).
func decode(format imgcheck.Format, data []byte, src *source, pool *sched.Pool) (image.Image, error) {
	var (
		img image.Image
		err error
	)
	r := bytes.NewReader(data)
	switch format {
	case imgcheck.JPEG:
		// inspect approved the declared size: the decoder allocates no more.
		img, err = jpegdec.Decode(data, &jpegdec.Options{Scale: max(src.scale, 1),
			MaxPixels: int64(src.width) * int64(src.height), Pool: pool})
	case imgcheck.PNG:
		img, err = png.Decode(r)
	case imgcheck.GIF:
		img, err = gif.Decode(r)
	case imgcheck.WebP:
		img, err = webp.Decode(r)
	case imgcheck.HEIF:
		// inspect judged the header. The decoders cannot be cancelled
		// once started; the callers check their context just before.
		img, err = heifdec.Decode(context.Background(), data, *src.heif)
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
	if format == imgcheck.JPEG {
		w, h = jpegdec.ScaledSize(w, h, max(src.scale, 1))
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
