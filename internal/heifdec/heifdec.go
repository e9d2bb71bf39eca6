// Package heifdec decodes HEIC and AVIF stills without cgo, through
// github.com/gen2brain/heic (libheif and libde265) and
// github.com/gen2brain/avif (libavif and dav1d) compiled to WebAssembly
// and run by wazero.
//
// How those decoders behave, which shapes this package:
//
//   - Each package compiles its embedded module once per process, on its
//     first decode (about a second of CPU, and tens of megabytes); every
//     decode then instantiates a fresh module from the compiled one and
//     closes it afterwards, so no decoder state outlives a call and
//     concurrent decodes are safe. The compiled module is the pool; the
//     instances are bounded by the caller (photo's memory budget and CPU
//     slots admit each decode).
//   - A decode cannot be cancelled: the packages call wazero with
//     context.Background. Decode checks ctx before it starts; its length
//     is bounded by the pixel limits that imgcheck.ReadHEIF enforced.
//   - The module's linear memory is a Go byte slice that grows as the C
//     code allocates: about 24 bytes a pixel for HEIC and 72 for AVIF (120
//     at high bit depth), measured; see Footprint.
//   - On a dynamically linked binary that finds libheif.so or libavif.so,
//     the packages call that library through purego instead; build with
//     -tags nodynamic (or CGO_ENABLED=0) to always use WebAssembly.
//   - libheif applies the HEIF transforms (irot, imir) itself; libavif
//     does not, and leaves them to the caller (imgcheck.HEIFInfo's
//     Orientation).
package heifdec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/heic"

	"github.com/profilephoto/photo/internal/imgcheck"
)

// ErrUnsupported is returned for a codec neither decoder reads.
var ErrUnsupported = errors.New("heifdec: unsupported codec")

// Decode decodes the primary image of data, which imgcheck.ReadHEIF read
// as info. A HEIC comes back upright, as libheif applies its transforms
// (when a libheif that did not is detected by the image's dimensions,
// Decode applies them); an AVIF comes back as coded, for the caller to
// turn by info.Orientation(). Alpha is straight (*image.NRGBA or
// *image.NRGBA64 for AVIF); HEIC without alpha is an *image.YCbCr.
func Decode(ctx context.Context, data []byte, info imgcheck.HEIFInfo) (img image.Image, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	defer func() {
		// The decoders panic when wazero cannot compile or start their
		// module; a file must never take the process down.
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("heifdec: decoder failed: %v", r)
		}
	}()
	switch info.Codec {
	case imgcheck.HEVC:
		if img, err = heic.Decode(bytes.NewReader(data)); err != nil {
			return nil, err
		}
		uw, uh := info.Upright()
		if b := img.Bounds(); b.Dx() == info.Width && b.Dy() == info.Height && (uw != info.Width || uh != info.Height) {
			// A libheif that left the transforms undone.
			img = Orient(img, info.Orientation())
		}
		return img, nil
	case imgcheck.AV1:
		if img, err = avif.Decode(bytes.NewReader(data)); err != nil {
			return nil, err
		}
		// libavif writes straight alpha; the package labels it
		// premultiplied.
		switch m := img.(type) {
		case *image.RGBA:
			return &image.NRGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}, nil
		case *image.RGBA64:
			return &image.NRGBA64{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}, nil
		}
		return img, nil
	}
	return nil, ErrUnsupported
}

// Footprint estimates the bytes a Decode of info allocates, its result
// included: the decoder module's linear memory (which grows by copying,
// and which a HEIC result's planes share) and the result. The constants
// are measured allocations of the WebAssembly decoders with a margin
// (budget_test.go in package photo checks them).
func Footprint(info imgcheck.HEIFInfo) int64 {
	px := int64(info.Width) * int64(info.Height)
	switch info.Codec {
	case imgcheck.HEVC:
		return 8<<20 + 26*px
	case imgcheck.AV1:
		if info.HighBitDepth {
			return 32<<20 + 124*px
		}
		return 32<<20 + 76*px
	}
	return 0
}

// Orient returns img turned upright by an EXIF orientation (1 to 8), as a
// new *image.NRGBA64 (or img itself for 1). It is the slow path, for a
// decoder that left a transform undone.
func Orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	swap := o >= 5
	ow, oh := w, h
	if swap {
		ow, oh = h, w
	}
	out := image.NewNRGBA64(image.Rect(0, 0, ow, oh))
	for y := range h {
		for x := range w {
			var ux, uy int
			switch o {
			case 2:
				ux, uy = w-1-x, y
			case 3:
				ux, uy = w-1-x, h-1-y
			case 4:
				ux, uy = x, h-1-y
			case 5:
				ux, uy = y, x
			case 6:
				ux, uy = h-1-y, x
			case 7:
				ux, uy = h-1-y, w-1-x
			case 8:
				ux, uy = y, w-1-x
			}
			out.Set(ux, uy, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// Warm compiles both decoders' modules now rather than on the first
// image, which would otherwise wait for it (about a second of CPU for
// HEIC, half for AVIF, measured on one core). It does nothing for a
// decoder that uses a shared library. Safe to call from any goroutine, any
// number of times.
func Warm() {
	heic.Init()
	avif.InitDecoder()
}
