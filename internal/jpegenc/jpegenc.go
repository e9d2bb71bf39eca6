// Package jpegenc writes baseline JPEG files straight from the planes the
// image pipeline holds (*image.YCbCr and *image.Gray), faster than
// image/jpeg: a floating-point AAN forward DCT whose scale factors are
// folded into the quantization step, Huffman codes looked up from
// precomputed tables, a 64-bit bit writer, and, for large images, stripes
// of MCU rows entropy-coded on several goroutines and joined with restart
// markers. It writes no metadata segments at all.
//
// The quantization tables are the example tables of ITU T.81 Annex K
// scaled by quality as the IJG library scales them, so a quality means
// what it means to image/jpeg and libjpeg, and files come out about the
// same size.
package jpegenc

import (
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"math/bits"
	"sync"
)

// Options configure Encode. A nil *Options means quality 75 in one stripe.
type Options struct {
	// Quality is 1 to 100; 0 means 75.
	Quality int
	// Stripes is how many goroutines may entropy-code parts of the image
	// at once; 0 or 1 means one. Each stripe costs a restart marker (two
	// bytes) and restarts DC prediction; the decoded pixels are the same.
	Stripes int
}

// ErrUnsupported is returned for an image type or subsampling the encoder
// does not write.
var ErrUnsupported = errors.New("jpegenc: unsupported image")

// component is one colour component as the encoder walks it.
type component struct {
	pix    []byte
	stride int
	w, h   int // the plane's real size; blocks past it repeat its edge
	hs, vs int // sampling factors
	table  int // 0 luminance tables, 1 chrominance
}

// encoder holds what one Encode call needs; it is read-only while
// stripes are coded.
type encoder struct {
	comps      []component
	mcuW, mcuH int // MCU size in pixels of the full-resolution plane
	mcusX      int
	mcusY      int
	quant      [2][64]uint8   // zigzag order, as DQT writes them
	scale      [2][64]float32 // natural order: 1 / (quant x AAN scale x 8)
}

// Encode writes m to w as a baseline JPEG. m must be an *image.Gray or an
// *image.YCbCr with 4:4:4, 4:2:2 or 4:2:0 subsampling.
func Encode(w io.Writer, m image.Image, o *Options) error {
	var opt Options
	if o != nil {
		opt = *o
	}
	q := opt.Quality
	if q == 0 {
		q = 75
	}
	if q < 1 || q > 100 {
		return fmt.Errorf("jpegenc: quality %d is not between 1 and 100", q)
	}
	e, err := newEncoder(m, q)
	if err != nil {
		return err
	}
	b := m.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx() > 0xffff || b.Dy() > 0xffff {
		return fmt.Errorf("%w: size %dx%d", ErrUnsupported, b.Dx(), b.Dy())
	}
	stripes := max(1, min(opt.Stripes, e.mcusY))
	rowsPer := (e.mcusY + stripes - 1) / stripes
	stripes = (e.mcusY + rowsPer - 1) / rowsPer
	parts := make([][]byte, stripes)
	if stripes == 1 {
		parts[0] = e.encodeRows(0, e.mcusY)
	} else {
		var wg sync.WaitGroup
		for i := range stripes {
			wg.Go(func() {
				parts[i] = e.encodeRows(i*rowsPer, min((i+1)*rowsPer, e.mcusY))
			})
		}
		wg.Wait()
	}
	size := 1024
	for _, p := range parts {
		size += len(p) + 2
	}
	out := make([]byte, 0, size)
	out = e.appendHeaders(out, b.Dx(), b.Dy(), stripes > 1, rowsPer*e.mcusX)
	for i, p := range parts {
		if i > 0 {
			out = append(out, 0xff, 0xd0+byte((i-1)%8))
		}
		out = append(out, p...)
	}
	out = append(out, 0xff, 0xd9)
	_, err = w.Write(out)
	return err
}

func newEncoder(m image.Image, quality int) (*encoder, error) {
	e := &encoder{}
	b := m.Bounds()
	switch m := m.(type) {
	case *image.Gray:
		e.comps = []component{{pix: m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], stride: m.Stride, w: b.Dx(), h: b.Dy(), hs: 1, vs: 1}}
	case *image.YCbCr:
		var hs, vs int
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio444:
			hs, vs = 1, 1
		case image.YCbCrSubsampleRatio422:
			hs, vs = 2, 1
		case image.YCbCrSubsampleRatio420:
			hs, vs = 2, 2
		default:
			return nil, fmt.Errorf("%w: subsampling %v", ErrUnsupported, m.SubsampleRatio)
		}
		if b.Min.X%hs != 0 || b.Min.Y%vs != 0 {
			// The chroma samples would straddle the first pixels.
			return nil, fmt.Errorf("%w: a subsampled image whose origin %v is not on a chroma sample", ErrUnsupported, b.Min)
		}
		cw, ch := (b.Max.X+hs-1)/hs-b.Min.X/hs, (b.Max.Y+vs-1)/vs-b.Min.Y/vs
		co := m.COffset(b.Min.X, b.Min.Y)
		e.comps = []component{
			{pix: m.Y[m.YOffset(b.Min.X, b.Min.Y):], stride: m.YStride, w: b.Dx(), h: b.Dy(), hs: hs, vs: vs},
			{pix: m.Cb[co:], stride: m.CStride, w: cw, h: ch, hs: 1, vs: 1, table: 1},
			{pix: m.Cr[co:], stride: m.CStride, w: cw, h: ch, hs: 1, vs: 1, table: 1},
		}
	default:
		return nil, fmt.Errorf("%w: %T", ErrUnsupported, m)
	}
	hmax, vmax := e.comps[0].hs, e.comps[0].vs
	e.mcuW, e.mcuH = 8*hmax, 8*vmax
	e.mcusX = (b.Dx() + e.mcuW - 1) / e.mcuW
	e.mcusY = (b.Dy() + e.mcuH - 1) / e.mcuH
	e.setQuality(quality)
	return e, nil
}

// aanScale[k] is the factor by which the AAN forward DCT's output k
// exceeds the true DCT coefficient (before the overall 1/8).
var aanScale = func() [8]float64 {
	var s [8]float64
	s[0] = 1
	for k := 1; k < 8; k++ {
		s[k] = math.Cos(float64(k)*math.Pi/16) * math.Sqrt2
	}
	return s
}()

// setQuality scales the Annex K tables as the IJG library does, and
// folds the DCT's scale factors into the reciprocal quantization steps.
func (e *encoder) setQuality(q int) {
	scale := 200 - 2*q
	if q < 50 {
		scale = 5000 / q
	}
	for t := range 2 {
		for i := range 64 {
			v := (int(baseQuant[t][i])*scale + 50) / 100
			v = min(max(v, 1), 255)
			e.scale[t][i] = float32(1 / (float64(v) * aanScale[i/8] * aanScale[i%8] * 8))
		}
		for zi := range 64 {
			n := zigzag[zi]
			v := (int(baseQuant[t][n])*scale + 50) / 100
			e.quant[t][zi] = uint8(min(max(v, 1), 255))
		}
	}
}

// appendHeaders writes SOI, DQT, SOF0, DHT, DRI (when restart is set)
// and SOS.
func (e *encoder) appendHeaders(b []byte, w, h int, restart bool, interval int) []byte {
	b = append(b, 0xff, 0xd8)
	nt := 1
	if len(e.comps) == 3 {
		nt = 2
	}
	b = append(b, 0xff, 0xdb)
	b = be16(b, 2+65*nt)
	for t := range nt {
		b = append(b, byte(t))
		b = append(b, e.quant[t][:]...)
	}
	b = append(b, 0xff, 0xc0)
	b = be16(b, 8+3*len(e.comps))
	b = append(b, 8)
	b = be16(b, h)
	b = be16(b, w)
	b = append(b, byte(len(e.comps)))
	for i, c := range e.comps {
		b = append(b, byte(i+1), byte(c.hs<<4|c.vs), byte(c.table))
	}
	b = append(b, 0xff, 0xc4)
	n := 2
	for i := range 2 * nt {
		n += 17 + len(huffSpecs[i].values)
	}
	b = be16(b, n)
	for i := range 2 * nt {
		class, id := byte(i%2), byte(i/2)
		b = append(b, class<<4|id)
		b = append(b, huffSpecs[i].counts[:]...)
		b = append(b, huffSpecs[i].values...)
	}
	if restart {
		b = append(b, 0xff, 0xdd)
		b = be16(b, 4)
		b = be16(b, interval)
	}
	b = append(b, 0xff, 0xda)
	b = be16(b, 6+2*len(e.comps))
	b = append(b, byte(len(e.comps)))
	for i, c := range e.comps {
		b = append(b, byte(i+1), byte(c.table<<4|c.table))
	}
	return append(b, 0, 63, 0)
}

func be16(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }

// encodeRows entropy-codes MCU rows [from, to) with fresh DC predictions
// and returns the bytes, padded to a whole byte with 1 bits.
func (e *encoder) encodeRows(from, to int) []byte {
	bw := bitWriter{buf: make([]byte, 0, (to-from)*e.mcusX*e.mcuW*e.mcuH/4+64)}
	var pred [3]int32
	var blk [64]float32
	var coef [64]int32
	for my := from; my < to; my++ {
		for mx := range e.mcusX {
			for ci := range e.comps {
				c := &e.comps[ci]
				codes := &stdCodes[c.table]
				for by := range c.vs {
					for bx := range c.hs {
						x0, y0 := (mx*c.hs+bx)*8, (my*c.vs+by)*8
						loadBlock(&blk, c, x0, y0)
						fdct(&blk)
						nz := quantize(&coef, &blk, &e.scale[c.table])
						pred[ci] = bw.block(&coef, nz, pred[ci], codes)
					}
				}
			}
		}
	}
	bw.flush()
	return bw.buf
}

// loadBlock copies the 8x8 block at (x0, y0) of c, level-shifted, into
// blk, repeating the last column and row where the block passes the
// plane's edge.
func loadBlock(blk *[64]float32, c *component, x0, y0 int) {
	if x0+8 <= c.w && y0+8 <= c.h {
		for y := range 8 {
			row := c.pix[(y0+y)*c.stride+x0:][:8]
			d := blk[y*8 : y*8+8 : y*8+8]
			d[0] = float32(row[0]) - 128
			d[1] = float32(row[1]) - 128
			d[2] = float32(row[2]) - 128
			d[3] = float32(row[3]) - 128
			d[4] = float32(row[4]) - 128
			d[5] = float32(row[5]) - 128
			d[6] = float32(row[6]) - 128
			d[7] = float32(row[7]) - 128
		}
		return
	}
	for y := range 8 {
		sy := min(y0+y, c.h-1)
		row := c.pix[sy*c.stride:]
		for x := range 8 {
			blk[y*8+x] = float32(row[min(x0+x, c.w-1)]) - 128
		}
	}
}

// fdct transforms blk in place with the AAN forward DCT, rows then
// columns. Output k of each pass comes out multiplied by aanScale[k];
// quantize divides that out.
func fdct(blk *[64]float32) {
	for i := 0; i < 64; i += 8 {
		d := blk[i : i+8 : i+8]
		fdct1(&d[0], &d[1], &d[2], &d[3], &d[4], &d[5], &d[6], &d[7])
	}
	for i := range 8 {
		fdct1(&blk[i], &blk[8+i], &blk[16+i], &blk[24+i], &blk[32+i], &blk[40+i], &blk[48+i], &blk[56+i])
	}
}

// fdct1 is the one-dimensional 8-point AAN forward DCT.
func fdct1(p0, p1, p2, p3, p4, p5, p6, p7 *float32) {
	s07, d07 := *p0+*p7, *p0-*p7
	s16, d16 := *p1+*p6, *p1-*p6
	s25, d25 := *p2+*p5, *p2-*p5
	s34, d34 := *p3+*p4, *p3-*p4

	// Even part.
	a0, a3 := s07+s34, s07-s34
	a1, a2 := s16+s25, s16-s25
	*p0 = a0 + a1
	*p4 = a0 - a1
	m := (a2 + a3) * 0.70710678
	*p2 = a3 + m
	*p6 = a3 - m

	// Odd part.
	b0 := d34 + d25
	b1 := d25 + d16
	b2 := d16 + d07
	r := (b0 - b2) * 0.38268343
	z2 := 0.54119610*b0 + r
	z4 := 1.30656296*b2 + r
	z3 := b1 * 0.70710678
	u := d07 + z3
	v := d07 - z3
	*p5 = v + z2
	*p3 = v - z2
	*p1 = u + z4
	*p7 = u - z4
}

// quantize divides the transformed block by its steps and rounds to the
// nearest integer, in zigzag order, and returns the mask of the AC
// coefficients that are not zero (bit i for zigzag position i).
func quantize(coef *[64]int32, blk *[64]float32, scale *[64]float32) uint64 {
	var mask uint64
	for zi, n := range zigzag {
		// Adding a bias keeps the value positive, so that truncation
		// rounds; the coefficients are far smaller than the bias.
		v := int32(blk[n]*scale[n]+(roundBias+0.5)) - roundBias
		coef[zi] = v
		mask |= uint64(uint32(v|-v)>>31) << zi
	}
	return mask &^ 1
}

const roundBias = 1 << 15

// huffCodes maps each symbol of one table to its code, left-aligned
// nowhere: the low len bits of code.
type huffCodes struct {
	code [256]uint16
	size [256]uint8
}

// stdCodes are the Annex K codes: [0] luminance DC and AC, [1]
// chrominance.
var stdCodes = func() [2][2]huffCodes {
	var c [2][2]huffCodes
	for i, spec := range huffSpecs {
		t := &c[i/2][i%2]
		code, k := uint16(0), 0
		for l, n := range spec.counts {
			for range n {
				s := spec.values[k]
				t.code[s], t.size[s] = code, uint8(l+1)
				code++
				k++
			}
			code <<= 1
		}
	}
	return c
}()

// bitWriter accumulates the entropy-coded bits, stuffing a zero byte after
// every 0xff.
type bitWriter struct {
	acc uint64 // pending bits, the oldest highest
	n   uint   // how many of acc's low bits are pending
	buf []byte
}

// put appends the low size bits of v.
func (w *bitWriter) put(v uint32, size uint) {
	w.acc = w.acc<<size | uint64(v)&(1<<size-1)
	w.n += size
	if w.n >= 32 {
		w.n -= 32
		word := uint32(w.acc >> w.n)
		// A byte 0xff in word is a zero byte in ^word.
		if nw := ^word; (nw-0x01010101)&^nw&0x80808080 == 0 {
			w.buf = append(w.buf, byte(word>>24), byte(word>>16), byte(word>>8), byte(word))
		} else {
			for s := 24; s >= 0; s -= 8 {
				c := byte(word >> s)
				w.buf = append(w.buf, c)
				if c == 0xff {
					w.buf = append(w.buf, 0)
				}
			}
		}
	}
}

// flush pads the pending bits to a whole byte with 1 bits and writes them.
func (w *bitWriter) flush() {
	if pad := (8 - w.n%8) % 8; pad > 0 {
		w.put(1<<pad-1, pad)
	}
	for w.n >= 8 {
		w.n -= 8
		c := byte(w.acc >> w.n)
		w.buf = append(w.buf, c)
		if c == 0xff {
			w.buf = append(w.buf, 0)
		}
	}
}

// block codes one quantized block whose non-zero AC coefficients are
// marked in nz, given the previous DC value of its component, and returns
// its DC value.
func (w *bitWriter) block(coef *[64]int32, nz uint64, pred int32, codes *[2]huffCodes) int32 {
	dc := coef[0]
	w.value(dc-pred, &codes[0], 0)
	ac := &codes[1]
	last := 0
	for nz != 0 {
		zi := bits.TrailingZeros64(nz)
		nz &= nz - 1
		run := zi - last - 1
		for run >= 16 {
			w.put(uint32(ac.code[0xf0]), uint(ac.size[0xf0]))
			run -= 16
		}
		w.value(coef[zi], ac, run)
		last = zi
	}
	if last != 63 {
		w.put(uint32(ac.code[0]), uint(ac.size[0]))
	}
	return dc
}

// value writes the symbol (run, size of v) and v's extra bits.
func (w *bitWriter) value(v int32, t *huffCodes, run int) {
	a := v
	if a < 0 {
		a = -a
		v--
	}
	size := uint(bits.Len32(uint32(a)))
	s := byte(run<<4) | byte(size)
	w.put(uint32(t.code[s])<<size|uint32(v)&(1<<size-1), uint(t.size[s])+size)
}
