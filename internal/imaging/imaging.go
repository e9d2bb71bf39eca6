// Package imaging turns a decoded image into the normalised original and the
// square renditions of a photo: orientation, crop or fit, high-quality
// downscaling and encoding, with no metadata carried over.
//
// The pipeline works on the decoder's own pixel planes. A JPEG stays in its
// Y, Cb and Cr planes at whatever subsampling it was stored with; other
// images are converted once to premultiplied 8-bit RGBA (gray stays gray),
// so that transparent pixels lend no colour to their neighbours. Each plane
// is halved with 2x2 box averages into a pyramid, and every output is one
// separable, fixed-point Catmull-Rom pass from the coarsest level that
// still leaves that pass a reduction of 2 or more: large reductions cost
// little and do not alias. Renditions smaller than the original are made
// from the original once it is made (and from its halvings) rather than
// from the full image. Crops are sub-ranges of the planes, letterbox bars
// are part of the filter (no padded copy is made), and the EXIF orientation
// is applied to the finished, small planes: crop, fit and letterbox
// geometry are mapped into the stored image's coordinates first, which
// gives the pixels that turning the full image upright first would give,
// at a fraction of the cost. JPEG output is encoded straight from
// *image.YCbCr (4:2:0) or *image.Gray; PNG output, for images with
// transparency, from *image.NRGBA.
//
// Work is spread over at most min(GOMAXPROCS, 8) goroutines per stage; the
// output does not depend on how it was split, so Render is deterministic.
package imaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"

	"github.com/profilephoto/photo/internal/sched"
)

// Fit says how a non-square image becomes square when Spec.Crop is empty.
type Fit int

const (
	// Letterbox pads the short side with the background.
	Letterbox Fit = iota
	// Cover cuts the largest centred square.
	Cover
)

// DefaultJPEGQuality is the JPEG quality used when Spec.JPEGQuality is 0.
const DefaultJPEGQuality = 85

// ErrInvalid is wrapped by the errors of Render and Rescale for inputs they
// cannot work with: an empty or malformed image, a crop outside the image,
// a size below 1, undecodable data.
var ErrInvalid = errors.New("imaging: invalid input")

// Spec says what Render makes.
type Spec struct {
	// Orientation is the EXIF orientation (1 to 8) of the decoded image; 0
	// and other values mean 1. Render applies it first; every other field
	// is in upright coordinates.
	Orientation int
	// Crop is the square to cut from the upright image, in coordinates
	// relative to its top-left corner; empty means Fit. A crop that is not
	// square or not inside the image is an error.
	Crop image.Rectangle
	// Fit applies when Crop is empty and the image is not square.
	Fit Fit
	// Background fills letterbox bars and transparent pixels of JPEG
	// output; its alpha is ignored, since JPEG output is opaque. Images
	// with transparency keep it (PNG output, transparent bars).
	Background color.NRGBA
	// Sizes are the square rendition sizes in pixels, each at least 1. A
	// rendition is never larger than the square it is cut from: its side
	// is min(size, side).
	Sizes []int
	// OriginalMaxSide bounds the normalised original's longer side; 0
	// means no bound.
	OriginalMaxSide int
	// NoOriginal, when true, makes the renditions alone: Result.Original
	// is then the zero Encoded and OriginalMaxSide does not apply. False
	// (the default) makes the original too.
	NoOriginal bool
	// JPEGQuality is the quality of JPEG output (1 to 100); 0 means
	// DefaultJPEGQuality.
	JPEGQuality int
	// Encoder, when not nil, encodes every output in place of JPEG and
	// PNG (JPEGQuality then does not apply).
	Encoder Encoder
	// Pool shares the cores among every Render of the process: the caller
	// holds one of its tokens while Render runs, and Render spreads work
	// over more goroutines only for tokens that are free at the time (see
	// package sched). Nil gives this Render up to GOMAXPROCS (at most 8)
	// goroutines of its own.
	Pool *sched.Pool
}

// Encoder encodes one finished output: m is upright, with its top-left
// pixel at Pix[0], and is an *image.YCbCr (4:2:0), *image.Gray or opaque
// *image.RGBA when alpha is false, and an *image.NRGBA (straight alpha)
// when the image has transparency. It returns the bytes and their media
// type, and must not keep m. Render calls it from several goroutines at
// once, one output each.
type Encoder func(m image.Image, alpha bool) (data []byte, contentType string, err error)

// Encoded is one encoded image.
type Encoded struct {
	// Size is the requested square size; 0 for the original.
	Size int
	// Width and Height are the encoded image's real dimensions.
	Width, Height int
	// ContentType is "image/jpeg" or "image/png".
	ContentType string
	// Data holds the encoded bytes.
	Data []byte
}

// Result is what Render makes. Renditions that come out the same (sizes
// above the square's side) share their Data.
type Result struct {
	// Original is the whole upright image, at most OriginalMaxSide a side
	// (zero when Spec.NoOriginal).
	Original Encoded
	// Renditions follow Spec.Sizes' order.
	Renditions []Encoded
	// Smallest is the upright image of the smallest rendition, as it was
	// encoded (before compression), for placeholders computed from its
	// pixels without a decode; nil when there are no renditions. Only it
	// is kept: the other outputs' pixels are dropped once encoded.
	Smallest image.Image
}

// Render makes the original and the renditions of img as spec says. Output
// is JPEG when every pixel of img is opaque and PNG otherwise. img is only
// read; Render may be called concurrently. It checks ctx between stages and
// returns ctx.Err() once it is done.
func Render(ctx context.Context, img image.Image, spec Spec) (*Result, error) {
	return render(ctx, img, spec, !spec.NoOriginal)
}

// Rescale makes a square rendition of size from an encoded square image
// (a larger rendition), for sizes generated on demand, with Render's
// filter. The result is never larger than the source; a source that is not
// square is cut to its centred square. quality 0 means DefaultJPEGQuality.
// pool is as Spec.Pool.
func Rescale(ctx context.Context, pool *sched.Pool, data []byte, size, quality int) (Encoded, error) {
	return RescaleWith(ctx, data, size, Spec{JPEGQuality: quality, Pool: pool})
}

// RescaleWith is Rescale with the JPEGQuality, Encoder and Pool of spec
// (its other fields are ignored).
func RescaleWith(ctx context.Context, data []byte, size int, spec Spec) (Encoded, error) {
	if size < 1 {
		return Encoded{}, fmt.Errorf("%w: rendition size %d", ErrInvalid, size)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Encoded{}, fmt.Errorf("%w: rescale: %w", ErrInvalid, err)
	}
	// The data is a rendition this package made, but a bound keeps a
	// damaged or foreign blob from claiming gigabytes.
	if cfg.Width > maxRescaleSide || cfg.Height > maxRescaleSide {
		return Encoded{}, fmt.Errorf("%w: rescale: a %dx%d source is larger than a rendition", ErrInvalid, cfg.Width, cfg.Height)
	}
	if err := ctx.Err(); err != nil {
		return Encoded{}, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return Encoded{}, fmt.Errorf("%w: rescale: %w", ErrInvalid, err)
	}
	res, err := render(ctx, img, Spec{Fit: Cover, Sizes: []int{size}, JPEGQuality: spec.JPEGQuality, Encoder: spec.Encoder, Pool: spec.Pool}, false)
	if err != nil {
		return Encoded{}, err
	}
	return res.Renditions[0], nil
}

// maxRescaleSide bounds the sources of Rescale: twice the largest size
// that photo allows.
const maxRescaleSide = 8192
