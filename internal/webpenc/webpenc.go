// Package webpenc encodes WebP without cgo, through
// github.com/gen2brain/webp (libwebp compiled to WebAssembly and run by
// wazero), so that the rest of the module depends on that package here
// only.
//
// How the encoder behaves, which shapes this package:
//
//   - The package compiles its embedded module once per process, on its
//     first call (Warm does it ahead of time); every Encode then
//     instantiates a fresh module from the compiled one and closes it
//     afterwards, so no encoder state outlives a call and concurrent
//     encodes are safe. The compiled module is the pool; the instances are
//     bounded by the caller (photo's memory budget and CPU slots admit
//     each encode, with Footprint as its estimate).
//   - An encode cannot be cancelled (wazero runs with
//     context.Background); Encode checks ctx before it starts, and its
//     length is bounded by the image's size.
//   - libwebp takes 4:2:0 planes as they are, but in the limited range of
//     BT.601 (Y 16 to 235, chroma 16 to 240), which is how every WebP
//     decoder (browsers: libwebp) reads them back, while Go's and JPEG's
//     YCbCr is full range (JFIF). *image.YCbCr and *image.Gray input is
//     therefore mapped to the limited range sample by sample, with no
//     conversion through RGB and no resubsampling; handing the JFIF
//     planes over unchanged would show with stretched contrast and
//     colour. (golang.org/x/image/webp reads WebP as full range, so it is
//     no reference; Decode is.) *image.NRGBA input keeps its alpha (lossy
//     colour, lossless alpha).
//   - On a dynamically linked binary that finds libwebp.so the package
//     calls that library through purego instead; build with -tags
//     nodynamic (or CGO_ENABLED=0) to always use WebAssembly.
package webpenc

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"

	"github.com/gen2brain/webp"
)

// ContentType is the media type of Encode's output.
const ContentType = "image/webp"

// DefaultQuality is the quality Encode uses for 0, and package photo's
// starting quality: at it most photos' small WebP renditions are smaller
// than their JPEG ones at quality 85 and at least as close to the
// unencoded pixels (webpquality_test.go in package photo measures it;
// photo judges each WebP and raises the quality where it is not).
const DefaultQuality = 86

// method is libwebp's speed/size trade-off (0 fast to 6 slow); 4 is its
// default.
const method = 4

// Encode encodes m as a lossy WebP at quality (1 to 100; 0 means
// DefaultQuality). m is an *image.YCbCr at 4:2:0, *image.Gray, *image.RGBA
// (read as opaque), *image.NRGBA (straight alpha, kept), or any other image
// (converted through its colour model).
func Encode(ctx context.Context, m image.Image, quality int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if quality == 0 {
		quality = DefaultQuality
	}
	quality = min(max(quality, 1), 99) // 100 would mean lossless
	r := m.Bounds()
	if r.Dx() <= 0 || r.Dy() <= 0 {
		return nil, fmt.Errorf("webpenc: the image is empty (%v)", r)
	}
	return encode(m, webp.Options{Quality: quality, Method: method}, r.Dx()*r.Dy()/8+1024)
}

// encode runs the encoder on m with opts, into a buffer of hint bytes to
// start with.
func encode(m image.Image, opts webp.Options, hint int) (data []byte, err error) {
	in := input(m)
	defer func() {
		// The package panics when wazero cannot compile or start its
		// module; an image must never take the process down.
		if p := recover(); p != nil {
			data, err = nil, fmt.Errorf("webpenc: encoder failed: %v", p)
		}
	}()
	var buf bytes.Buffer
	buf.Grow(hint)
	if err := webp.Encode(&buf, in, opts); err != nil {
		return nil, fmt.Errorf("webpenc: %w", err)
	}
	return buf.Bytes(), nil
}

// EncodeLossless encodes m as a lossless WebP: decoded, it has m's
// pixels exactly, but for the colour under fully transparent pixels
// (premultiplied, every pixel is kept). For images that PNG would store:
// the result is usually a fifth to a third smaller.
// LosslessFootprint estimates what it allocates.
func EncodeLossless(ctx context.Context, m *image.NRGBA) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := m.Bounds()
	if r.Dx() <= 0 || r.Dy() <= 0 {
		return nil, fmt.Errorf("webpenc: the image is empty (%v)", r)
	}
	return encode(m, webp.Options{Lossless: true, Quality: losslessEffort, Method: losslessMethod}, 0)
}

// libwebp's effort (its quality setting in lossless mode, 0 to 100) and
// method for lossless encodes: fast ones, since a rendition of 1024
// pixels a side took 0.4 s (a gradient) to 0.85 s (noise) so, and 0.5 to
// 2.4 s at its defaults (75 and 4).
const (
	losslessEffort = 50
	losslessMethod = 1
)

// input returns m in a form the encoder reads without conversion: 4:2:0
// planes in one buffer (the WebAssembly path reads Y, U, V and A as one
// contiguous run), or tightly packed NRGBA at Pix[0].
func input(m image.Image) image.Image {
	r := m.Bounds()
	w, h := r.Dx(), r.Dy()
	switch m := m.(type) {
	case *image.YCbCr:
		if m.SubsampleRatio == image.YCbCrSubsampleRatio420 {
			p := planes(w, h)
			cx0, cy0 := r.Min.X/2, r.Min.Y/2
			for y := range h {
				mapRow(p.Y[y*w:][:w], m.Y[m.YOffset(r.Min.X, r.Min.Y+y):], &lumaRange)
			}
			cw, ch := (w+1)/2, (h+1)/2
			for y := range ch {
				o := (cy0+y-m.Rect.Min.Y/2)*m.CStride + (cx0 - m.Rect.Min.X/2)
				mapRow(p.Cb[y*cw:][:cw], m.Cb[o:], &chromaRange)
				mapRow(p.Cr[y*cw:][:cw], m.Cr[o:], &chromaRange)
			}
			return p
		}
	case *image.Gray:
		p := planes(w, h)
		for y := range h {
			mapRow(p.Y[y*w:][:w], m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):], &lumaRange)
		}
		for i := range p.Cb {
			p.Cb[i], p.Cr[i] = 128, 128
		}
		return p
	case *image.NRGBA:
		if m.Stride == 4*w && r.Min == (image.Point{}) {
			return m
		}
	case *image.RGBA:
		// Opaque: straight and premultiplied are the same bytes.
		n := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			copy(n.Pix[y*n.Stride:][:4*w], m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):])
		}
		return n
	}
	n := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n.Set(x, y, color.NRGBAModel.Convert(m.At(r.Min.X+x, r.Min.Y+y)))
		}
	}
	return n
}

// lumaRange and chromaRange map full-range (JFIF) samples to BT.601's
// limited range, rounded: luma 0..255 to 16..235, chroma 0..255 to
// 16..240 around 128.
var lumaRange, chromaRange = func() (l, c [256]uint8) {
	for v := range 256 {
		l[v] = uint8(16 + (v*219+127)/255)
		d := (v - 128) * 224
		if d >= 0 {
			c[v] = uint8(128 + (d+127)/255)
		} else {
			c[v] = uint8(128 - (-d+127)/255)
		}
	}
	return l, c
}()

// mapRow writes table[src[i]] to each dst[i].
func mapRow(dst, src []uint8, table *[256]uint8) {
	for i := range dst {
		dst[i] = table[src[i]]
	}
}

// Decode decodes a WebP with libwebp's own conversion to RGB, the one
// browsers show, into straight-alpha NRGBA: the reference for
// measurements of Encode's output (photo compares each WebP it makes
// with the stored rendition this way). DecodeFootprint estimates what it
// allocates.
func Decode(data []byte) (n *image.NRGBA, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = nil, fmt.Errorf("webpenc: decoder failed: %v", p)
		}
	}()
	// DecodeAll converts to RGBA inside libwebp (premultiplied); Decode
	// would return its limited-range planes as full-range image.YCbCr.
	all, err := webp.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("webpenc: %w", err)
	}
	if len(all.Image) == 0 {
		return nil, fmt.Errorf("webpenc: no image")
	}
	m := all.Image[0]
	b := m.Bounds()
	n = image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	if rgba, ok := m.(*image.RGBA); ok {
		for y := range b.Dy() {
			src := rgba.Pix[rgba.PixOffset(b.Min.X, b.Min.Y+y):][:4*b.Dx()]
			dst := n.Pix[y*n.Stride:][:4*b.Dx()]
			for i := 0; i < len(src); i += 4 {
				s := src[i : i+4 : i+4]
				switch a := uint32(s[3]); a {
				case 0xff:
					copy(dst[i:i+4], s)
				case 0:
				default:
					dst[i] = uint8((uint32(s[0])*0xff + a/2) / a)
					dst[i+1] = uint8((uint32(s[1])*0xff + a/2) / a)
					dst[i+2] = uint8((uint32(s[2])*0xff + a/2) / a)
					dst[i+3] = s[3]
				}
			}
		}
		return n, nil
	}
	for y := range b.Dy() {
		for x := range b.Dx() {
			n.Set(x, y, color.NRGBAModel.Convert(m.At(b.Min.X+x, b.Min.Y+y)))
		}
	}
	return n, nil
}

// DecodeFootprint estimates the bytes a Decode of a w x h WebP allocates:
// the module's linear memory (the input, libwebp's buffers and its RGBA
// output) and the RGBA and NRGBA images: measured 35 bytes a pixel
// opaque, 51 with alpha, at 1024x1024, 64 with alpha under the race
// detector (TestDecodeFootprint checks it).
func DecodeFootprint(w, h int) int64 {
	return 8<<20 + 64*int64(w)*int64(h)
}

// planes returns an opaque w x h 4:2:0 image whose Y, Cb, Cr and A
// planes follow each other in one buffer, tightly packed.
func planes(w, h int) *image.NYCbCrA {
	cw, ch := (w+1)/2, (h+1)/2
	buf := make([]byte, 2*w*h+2*cw*ch)
	i0, i1, i2 := w*h, w*h+cw*ch, w*h+2*cw*ch
	a := buf[i2:]
	for i := range a {
		a[i] = 0xff
	}
	return &image.NYCbCrA{
		YCbCr: image.YCbCr{
			Y: buf[:i0:i0], Cb: buf[i0:i1:i1], Cr: buf[i1:i2:i2],
			YStride: w, CStride: cw, SubsampleRatio: image.YCbCrSubsampleRatio420,
			Rect: image.Rect(0, 0, w, h),
		},
		A: a, AStride: w,
	}
}

// Footprint estimates the bytes an Encode of a w x h image allocates:
// the input copy, the module's linear memory (which grows by copying as
// libwebp allocates) and the output. rgba says whether the input is RGBA
// or NRGBA (converted to YUV inside the module, and with an alpha plane
// to compress) rather than 4:2:0 planes or gray. Measured with
// runtime.MemStats.TotalAlloc: planes about 30 bytes a pixel for a photo
// at 1024x1024; NRGBA of noise with noisy alpha, the worst case, 157 to
// 205 bytes a pixel from 200 to 1024 pixels a side (TestFootprint checks
// both with a margin).
func Footprint(w, h int, rgba bool) int64 {
	perPixel := int64(96)
	if rgba {
		perPixel = 240
	}
	return 8<<20 + perPixel*int64(w)*int64(h)
}

// LosslessFootprint estimates the bytes an EncodeLossless of a w x h
// image allocates: the input copy, the module's linear memory and the
// output: measured 118 bytes a pixel for a gradient at 1024x1024, 207
// for noise, 250 for noise under the race detector (TestFootprint
// checks it).
func LosslessFootprint(w, h int) int64 {
	return 8<<20 + 280*int64(w)*int64(h)
}

// Warm compiles the encoder's module now rather than on the first
// encode. It does nothing when a shared libwebp is used. Safe to call from
// any goroutine, any number of times.
func Warm() {
	// A 1x1 encode: the package has no exported initialiser.
	_, _ = Encode(context.Background(), image.NewGray(image.Rect(0, 0, 1, 1)), 0)
}

// WebAssembly reports whether Encode runs libwebp compiled to WebAssembly
// (whose memory the Go runtime allocates and counts) rather than a system
// libwebp.
func WebAssembly() bool {
	return webp.Dynamic() != nil
}
