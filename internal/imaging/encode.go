package imaging

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"

	"github.com/profilephoto/photo/internal/jpegenc"
)

// finish turns the resampled planes of one output upright, wraps them in
// the image type its encoder reads fastest and encodes it, with enc when
// it is not nil. It also returns the image it encoded.
func finish(ras *raster, o orientation, planes []plane, out output, bg color.NRGBA, quality int, enc Encoder) (Encoded, image.Image, error) {
	e := Encoded{Size: out.size, Width: out.w, Height: out.h}
	rect := image.Rect(0, 0, out.w, out.h)
	var m image.Image
	var transparent *image.NRGBA // the output with transparency, as PNG keeps it
	switch ras.kind {
	case kindYCbCr:
		y, cb, cr := o.upright(ras.pool, planes[0]), o.upright(ras.pool, planes[1]), o.upright(ras.pool, planes[2])
		if cb.stride != cr.stride {
			cb, cr = compact(cb), compact(cr)
		}
		m = &image.YCbCr{
			Y: y.pix, Cb: cb.pix, Cr: cr.pix, YStride: y.stride, CStride: cb.stride,
			SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: rect,
		}
	case kindGray:
		y := o.upright(ras.pool, planes[0])
		m = &image.Gray{Pix: y.pix, Stride: y.stride, Rect: rect}
	default:
		p := planes[0]
		rgba := o.uprightRGBA(ras.pool, &image.RGBA{Pix: p.pix, Stride: p.stride, Rect: image.Rect(0, 0, p.w, p.h)})
		if ras.alpha {
			transparent = unpremultiply(rgba)
			m = transparent
		} else {
			m = over(rgba, bg)
		}
	}
	var err error
	switch {
	case enc != nil:
		e.Data, e.ContentType, err = enc(m, ras.alpha)
	case transparent != nil:
		e.ContentType = "image/png"
		e.Data, err = encodePNG(transparent)
	default:
		e.ContentType = "image/jpeg"
		e.Data, err = encodeJPEG(m, quality)
	}
	return e, m, err
}

// compact returns a copy of p whose rows follow each other without gaps.
func compact(p plane) plane {
	c := newPlane(p.w, p.h, p.ch)
	for y := range p.h {
		copy(c.row(y), p.row(y))
	}
	return c
}

// encodeJPEG encodes m at quality: planes (YCbCr, gray) with the
// project's own encoder, which reads them as they are and is about twice
// as fast as image/jpeg; RGBA, which only opaque images over a background
// reach, with image/jpeg.
func encodeJPEG(m image.Image, quality int) ([]byte, error) {
	var buf bytes.Buffer
	// About two bits a pixel: one allocation for most photos.
	r := m.Bounds()
	buf.Grow(r.Dx()*r.Dy()/4 + 1024)
	var err error
	switch m.(type) {
	case *image.YCbCr, *image.Gray:
		err = jpegenc.Encode(&buf, m, &jpegenc.Options{Quality: quality})
	default:
		err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: quality})
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pngFastAbove is the pixel count above which PNG output trades size for
// speed. Default compression makes files 10-17% smaller than BestSpeed but
// takes about five times as long (a 512x512 photo-like image: 105 ms
// against 21 ms); small renditions, served most often, are worth it.
const pngFastAbove = 256 * 256

func encodePNG(m *image.NRGBA) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if r := m.Bounds(); r.Dx()*r.Dy() > pngFastAbove {
		enc.CompressionLevel = png.BestSpeed
	}
	if err := enc.Encode(&buf, m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unpremultiply converts premultiplied RGBA to straight alpha for PNG.
func unpremultiply(m *image.RGBA) *image.NRGBA {
	r := m.Rect
	n := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := range r.Dy() {
		s := m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):][:4*r.Dx()]
		d := n.Pix[y*n.Stride:][:4*r.Dx()]
		for i := 0; i < len(s); i += 4 {
			a := uint32(s[i+3])
			switch a {
			case 0:
				d[i], d[i+1], d[i+2], d[i+3] = 0, 0, 0, 0
			case 255:
				copy(d[i:i+4], s[i:i+4])
			default:
				for c := range 3 {
					d[i+c] = uint8(min((uint32(s[i+c])*255+a/2)/a, 255))
				}
				d[i+3] = uint8(a)
			}
		}
	}
	return n
}

// over composites premultiplied m onto the opaque colour bg: what a
// translucent pixel looks like on the page the JPEG replaces it for. It
// returns m itself when m is opaque.
func over(m *image.RGBA, bg color.NRGBA) *image.RGBA {
	r := m.Rect
	if opaque(rgbaPlane(m), 3) {
		return m
	}
	n := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := range r.Dy() {
		s := m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):][:4*r.Dx()]
		d := n.Pix[y*n.Stride:][:4*r.Dx()]
		for i := 0; i < len(s); i += 4 {
			t := 255 - uint32(s[i+3])
			d[i] = uint8(min(uint32(s[i])+uint32(mul8(uint32(bg.R), t)), 255))
			d[i+1] = uint8(min(uint32(s[i+1])+uint32(mul8(uint32(bg.G), t)), 255))
			d[i+2] = uint8(min(uint32(s[i+2])+uint32(mul8(uint32(bg.B), t)), 255))
			d[i+3] = 255
		}
	}
	return n
}
