// Package imaging turns a decoded image into the normalised original and the
// square renditions of a photo: orientation, crop or fit, high-quality
// downscaling and encoding, with no metadata carried over.
package imaging

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"

	xdraw "golang.org/x/image/draw"
)

// Fit says how a non-square image becomes square when Spec.Crop is empty.
type Fit int

const (
	// Letterbox pads the short side with the background.
	Letterbox Fit = iota
	// Cover cuts the largest centred square.
	Cover
)

// Spec says what Render makes.
type Spec struct {
	// Orientation is the EXIF orientation (1 to 8) of the decoded image; 0
	// means 1. Render applies it first; every other field is in upright
	// coordinates.
	Orientation int
	// Crop is the square to cut from the upright image; empty means Fit.
	Crop image.Rectangle
	// Fit applies when Crop is empty and the image is not square.
	Fit Fit
	// Background fills letterbox bars and transparent pixels of JPEG
	// output. Images with transparency keep it (PNG output, transparent
	// bars).
	Background color.NRGBA
	// Sizes are the square rendition sizes in pixels. A rendition is never
	// larger than the square it is cut from: its side is min(size, side).
	Sizes []int
	// OriginalMaxSide bounds the normalised original's longer side.
	OriginalMaxSide int
	// JPEGQuality is the quality of JPEG output (1 to 100).
	JPEGQuality int
}

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

// Result is what Render makes.
type Result struct {
	// Original is the whole upright image, at most OriginalMaxSide a side.
	Original Encoded
	// Renditions follow Spec.Sizes' order.
	Renditions []Encoded
}

// Render makes the original and the renditions of img as spec says.
func Render(ctx context.Context, img image.Image, spec Spec) (*Result, error) {
	up := orient(img, spec.Orientation)
	b := up.Bounds()
	alpha := !opaque(up)
	res := &Result{}
	w, h := b.Dx(), b.Dy()
	if m := max(w, h); spec.OriginalMaxSide > 0 && m > spec.OriginalMaxSide {
		w = max(1, w*spec.OriginalMaxSide/m)
		h = max(1, h*spec.OriginalMaxSide/m)
	}
	orig, err := encode(scale(up, b, w, h), alpha, spec, 0)
	if err != nil {
		return nil, err
	}
	res.Original = orig

	var sq image.Image
	switch {
	case !spec.Crop.Empty():
		sq = cut(up, spec.Crop.Add(b.Min))
	case b.Dx() == b.Dy():
		sq = up
	case spec.Fit == Cover:
		side := min(b.Dx(), b.Dy())
		r := image.Rect(0, 0, side, side).Add(b.Min).Add(image.Pt((b.Dx()-side)/2, (b.Dy()-side)/2))
		sq = cut(up, r)
	default:
		side := max(b.Dx(), b.Dy())
		canvas := image.NewNRGBA(image.Rect(0, 0, side, side))
		if !alpha {
			draw.Draw(canvas, canvas.Bounds(), image.NewUniform(spec.Background), image.Point{}, draw.Src)
		}
		off := image.Pt((side-b.Dx())/2, (side-b.Dy())/2)
		draw.Draw(canvas, b.Sub(b.Min).Add(off), up, b.Min, draw.Over)
		sq = canvas
	}
	side := sq.Bounds().Dx()
	for _, s := range spec.Sizes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := min(s, side)
		e, err := encode(scale(sq, sq.Bounds(), d, d), alpha, spec, s)
		if err != nil {
			return nil, err
		}
		res.Renditions = append(res.Renditions, e)
	}
	return res, nil
}

// Rescale makes a square rendition of size from an encoded square image
// (a larger rendition), for sizes generated on demand.
func Rescale(ctx context.Context, data []byte, size, quality int) (Encoded, error) {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return Encoded{}, err
	}
	d := min(size, img.Bounds().Dx())
	return encode(scale(img, img.Bounds(), d, d), !opaque(img), Spec{JPEGQuality: quality}, size)
}

func cut(img image.Image, r image.Rectangle) image.Image {
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	dst := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(dst, dst.Bounds(), img, r.Min, draw.Src)
	return dst
}

func scale(img image.Image, r image.Rectangle, w, h int) image.Image {
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, r, xdraw.Src, nil)
	return dst
}

func opaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

func encode(img image.Image, alpha bool, spec Spec, size int) (Encoded, error) {
	var buf bytes.Buffer
	e := Encoded{Size: size, Width: img.Bounds().Dx(), Height: img.Bounds().Dy()}
	if alpha {
		e.ContentType = "image/png"
		if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
			return e, err
		}
	} else {
		e.ContentType = "image/jpeg"
		q := spec.JPEGQuality
		if q == 0 {
			q = 85
		}
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			return e, err
		}
	}
	e.Data = buf.Bytes()
	return e, nil
}

// orient returns img turned upright from EXIF orientation o.
func orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if o >= 5 {
		w, h = h, w
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = b.Dx()-1-x, y
			case 3:
				dx, dy = b.Dx()-1-x, b.Dy()-1-y
			case 4:
				dx, dy = x, b.Dy()-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = b.Dy()-1-y, x
			case 7:
				dx, dy = b.Dy()-1-y, b.Dx()-1-x
			case 8:
				dx, dy = y, b.Dx()-1-x
			}
			dst.Set(dx, dy, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}
