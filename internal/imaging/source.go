package imaging

import (
	"fmt"
	"image"
	"image/color"

	"github.com/profilephoto/photo/internal/sched"
)

// kind is the working form of an image, which decides the output type.
type kind int

const (
	// kindYCbCr: Y, Cb and Cr planes, encoded as JPEG from *image.YCbCr.
	kindYCbCr kind = iota
	// kindGray: one Y plane, encoded as a grayscale JPEG.
	kindGray
	// kindRGBA: one plane of premultiplied RGBA, encoded as JPEG (over the
	// background) when opaque and as PNG otherwise.
	kindRGBA
)

// raster is an image in its working form: planes in stored orientation,
// each the base of a pyramid of halved levels.
type raster struct {
	kind   kind
	w, h   int  // the stored image's size: the frame
	alpha  bool // some pixel is not fully opaque
	planes []*pyramid
	pool   *sched.Pool // the CPU tokens the work on it may use
}

// pyramid is one plane at successive halvings; levels[0] is the plane as
// converted (often the decoder's own buffer, not a copy).
type pyramid struct {
	levels []level
	// chroma marks the Cb and Cr planes, which outputs hold at 4:2:0.
	chroma bool
}

// subsampling returns the chroma subsampling factors of r.
func subsampling(r image.YCbCrSubsampleRatio) (sx, sy int, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 1, 1, true
	case image.YCbCrSubsampleRatio422:
		return 2, 1, true
	case image.YCbCrSubsampleRatio420:
		return 2, 2, true
	case image.YCbCrSubsampleRatio440:
		return 1, 2, true
	case image.YCbCrSubsampleRatio411:
		return 4, 1, true
	case image.YCbCrSubsampleRatio410:
		return 4, 2, true
	}
	return 0, 0, false
}

func single(p plane, gx, gy geom, chroma bool) *pyramid {
	return &pyramid{levels: []level{{plane: p, gx: gx, gy: gy}}, chroma: chroma}
}

var unit = geom{o: 0, s: 1}

// newRaster converts img to its working form. It copies only when the
// pixels are not already 8-bit planes that the pipeline can read: YCbCr,
// gray, RGBA and opaque NRGBA images are used in place. (The standard
// library's images hold pixel Rect.Min at Pix[0].)
func newRaster(pool *sched.Pool, img image.Image) (*raster, error) {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%w: the image is empty (%dx%d)", ErrInvalid, w, h)
	}
	ras := &raster{w: w, h: h, pool: pool}
	switch m := img.(type) {
	case *image.YCbCr:
		if ycc, ok := yccPlanes(m); ok {
			ras.kind, ras.planes = kindYCbCr, ycc
			return ras.check()
		}
	case *image.NYCbCrA:
		a := plane{pix: m.A, stride: m.AStride, w: w, h: h, ch: 1}
		if !a.fits() {
			return nil, malformed(img)
		}
		ycc, ok := yccPlanes(&m.YCbCr)
		if ok && opaque(a, 0) {
			ras.kind, ras.planes = kindYCbCr, ycc
			return ras.check()
		}
		if ok {
			for _, p := range ycc {
				if !p.levels[0].fits() {
					return nil, malformed(img)
				}
			}
			// Alpha WebP: to premultiplied RGBA, pixel by pixel from the
			// planes (the colour interface would allocate per pixel).
			sx, sy, _ := subsampling(m.SubsampleRatio)
			yp, cb, cr := ycc[0].levels[0], ycc[1].levels[0], ycc[2].levels[0]
			cx0, cy0 := m.Rect.Min.X/sx, m.Rect.Min.Y/sy
			return ras.premultiplied(func(d []uint8, y int) {
				ys, as := yp.row(y), a.row(y)
				cy := (m.Rect.Min.Y+y)/sy - cy0
				cbs, crs := cb.row(cy), cr.row(cy)
				for x := range w {
					cx := (m.Rect.Min.X+x)/sx - cx0
					r, g, b := color.YCbCrToRGB(ys[x], cbs[cx], crs[cx])
					al := uint32(as[x])
					d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = mul8(uint32(r), al), mul8(uint32(g), al), mul8(uint32(b), al), as[x]
				}
			})
		}
	case *image.Gray:
		p := plane{pix: m.Pix, stride: m.Stride, w: w, h: h, ch: 1}
		ras.kind, ras.planes = kindGray, []*pyramid{single(p, unit, unit, false)}
		return ras.check()
	case *image.Gray16:
		src := plane{pix: m.Pix, stride: m.Stride, w: w, h: h, ch: 2}
		if !src.fits() {
			return nil, malformed(img)
		}
		// Samples are big-endian: the high byte comes first.
		p := newPlane(w, h, 1)
		err := forRows(pool, h, w, func(lo, hi int) {
			for y := lo; y < hi; y++ {
				d, s := p.row(y), src.row(y)
				for x := range d {
					d[x] = s[2*x]
				}
			}
		})
		if err != nil {
			return nil, err
		}
		ras.kind, ras.planes = kindGray, []*pyramid{single(p, unit, unit, false)}
		return ras.check()
	case *image.RGBA:
		p := plane{pix: m.Pix, stride: m.Stride, w: w, h: h, ch: 4}
		if !p.fits() {
			return nil, malformed(img)
		}
		ras.kind, ras.alpha, ras.planes = kindRGBA, !opaque(p, 3), []*pyramid{single(p, unit, unit, false)}
		return ras.check()
	case *image.NRGBA:
		src := plane{pix: m.Pix, stride: m.Stride, w: w, h: h, ch: 4}
		if !src.fits() {
			return nil, malformed(img)
		}
		if opaque(src, 3) {
			// Opaque straight alpha is premultiplied alpha: no copy.
			ras.kind, ras.planes = kindRGBA, []*pyramid{single(src, unit, unit, false)}
			return ras.check()
		}
		return ras.premultiplied(func(d []uint8, y int) {
			s := src.row(y)
			for i := 0; i < len(d); i += 4 {
				a := uint32(s[i+3])
				d[i], d[i+1], d[i+2], d[i+3] = mul8(uint32(s[i]), a), mul8(uint32(s[i+1]), a), mul8(uint32(s[i+2]), a), uint8(a)
			}
		})
	case *image.Paletted:
		// One lookup per pixel through a premultiplied copy of the
		// palette; indices past its end show as opaque black, as
		// decoders pad short palettes.
		var lut [256][4]uint8
		for i := range lut {
			lut[i] = [4]uint8{0, 0, 0, 255}
		}
		for i, c := range m.Palette {
			if i < len(lut) && c != nil {
				pr, pg, pb, pa := c.RGBA()
				lut[i] = [4]uint8{uint8(pr >> 8), uint8(pg >> 8), uint8(pb >> 8), uint8(pa >> 8)}
			}
		}
		src := plane{pix: m.Pix, stride: m.Stride, w: w, h: h, ch: 1}
		if !src.fits() {
			return nil, malformed(img)
		}
		return ras.premultiplied(func(d []uint8, y int) {
			for x, ci := range src.row(y) {
				c := &lut[ci]
				d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = c[0], c[1], c[2], c[3]
			}
		})
	case *image.RGBA64:
		src := plane{pix: m.Pix, stride: m.Stride, w: w, h: h, ch: 8}
		if !src.fits() {
			return nil, malformed(img)
		}
		// Premultiplied already: keep the high bytes.
		return ras.premultiplied(func(d []uint8, y int) {
			s := src.row(y)
			for i := range len(d) {
				d[i] = s[2*i]
			}
		})
	case *image.NRGBA64:
		src := plane{pix: m.Pix, stride: m.Stride, w: w, h: h, ch: 8}
		if !src.fits() {
			return nil, malformed(img)
		}
		// Premultiplied at 16 bits, as color.NRGBA64.RGBA does, then
		// the high bytes.
		return ras.premultiplied(func(d []uint8, y int) {
			s := src.row(y)
			for i := 0; i < len(d); i += 4 {
				q := s[2*i : 2*i+8 : 2*i+8]
				a := uint32(q[6])<<8 | uint32(q[7])
				for c := range 3 {
					v := uint32(q[2*c])<<8 | uint32(q[2*c+1])
					d[i+c] = uint8(v * a / 0xffff >> 8)
				}
				d[i+3] = q[6]
			}
		})
	case *image.CMYK:
		src := plane{pix: m.Pix, stride: m.Stride, w: w, h: h, ch: 4}
		if !src.fits() {
			return nil, malformed(img)
		}
		return ras.premultiplied(func(d []uint8, y int) {
			s := src.row(y)
			for i := 0; i < len(d); i += 4 {
				d[i], d[i+1], d[i+2] = color.CMYKToRGB(s[i], s[i+1], s[i+2], s[i+3])
				d[i+3] = 255
			}
		})
	}
	// Everything else, through the generic colour interface: slower, but
	// only for what no decoder we accept produces in bulk (YCbCr with
	// alpha or an unusual subsampling or origin, image.Alpha, ...).
	// image.Image promises premultiplied 16-bit values from RGBA().
	return ras.premultiplied(func(d []uint8, y int) {
		for x := range w {
			cr, cg, cb, ca := img.At(r.Min.X+x, r.Min.Y+y).RGBA()
			d[4*x], d[4*x+1], d[4*x+2], d[4*x+3] = uint8(cr>>8), uint8(cg>>8), uint8(cb>>8), uint8(ca>>8)
		}
	})
}

// premultiplied fills a new RGBA plane row by row with fill and finds
// whether any pixel is not opaque.
func (ras *raster) premultiplied(fill func(d []uint8, y int)) (*raster, error) {
	p := newPlane(ras.w, ras.h, 4)
	translucent := make([]bool, ras.h)
	err := forRows(ras.pool, ras.h, 4*ras.w, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			d := p.row(y)
			fill(d, y)
			for i := 3; i < len(d); i += 4 {
				if d[i] != 255 {
					translucent[y] = true
					break
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	ras.kind = kindRGBA
	ras.planes = []*pyramid{single(p, unit, unit, false)}
	for _, t := range translucent {
		ras.alpha = ras.alpha || t
	}
	return ras.check()
}

// opaque reports whether channel c of every pixel of p is 255.
func opaque(p plane, c int) bool {
	for y := range p.h {
		r := p.row(y)
		for i := c; i < len(r); i += p.ch {
			if r[i] != 255 {
				return false
			}
		}
	}
	return true
}

// mul8 returns c*a/255 rounded, for 8-bit c and a.
func mul8(c, a uint32) uint8 {
	t := c*a + 128
	return uint8((t + t>>8) >> 8)
}

// yccPlanes returns the Y, Cb and Cr planes of m without copying, or false
// for a subsampling or origin that the planar path does not take.
func yccPlanes(m *image.YCbCr) ([]*pyramid, bool) {
	sx, sy, ok := subsampling(m.SubsampleRatio)
	r := m.Rect
	if !ok || r.Min.X < 0 || r.Min.Y < 0 {
		return nil, false
	}
	y := plane{pix: m.Y, stride: m.YStride, w: r.Dx(), h: r.Dy(), ch: 1}
	// Chroma sample 0 covers the block of luma pixels that holds r.Min,
	// which starts up to sx-1 pixels before it (image.YCbCr.COffset).
	cx0, cy0 := r.Min.X/sx, r.Min.Y/sy
	cw := (r.Max.X-1)/sx - cx0 + 1
	chh := (r.Max.Y-1)/sy - cy0 + 1
	gx := geom{o: float64(cx0*sx - r.Min.X), s: float64(sx)}
	gy := geom{o: float64(cy0*sy - r.Min.Y), s: float64(sy)}
	cb := plane{pix: m.Cb, stride: m.CStride, w: cw, h: chh, ch: 1}
	cr := plane{pix: m.Cr, stride: m.CStride, w: cw, h: chh, ch: 1}
	return []*pyramid{single(y, unit, unit, false), single(cb, gx, gy, true), single(cr, gx, gy, true)}, true
}

// check makes sure that every plane's buffer holds what its geometry names.
func (ras *raster) check() (*raster, error) {
	for _, p := range ras.planes {
		if !p.levels[0].fits() {
			return nil, fmt.Errorf("%w: the %dx%d image's pixel buffers are shorter than its bounds", ErrInvalid, ras.w, ras.h)
		}
	}
	return ras, nil
}

func malformed(img image.Image) error {
	r := img.Bounds()
	return fmt.Errorf("%w: the %dx%d image's pixel buffer is shorter than its bounds", ErrInvalid, r.Dx(), r.Dy())
}
