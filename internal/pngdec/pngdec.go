// Package pngdec decodes non-interlaced PNG images row by row, straight into
// 8-bit samples, so that an image is never held whole at its stored depth:
// a 7000x7000 16-bit RGBA file needs two rows of 56 KB here where
// image/png allocates 392 MB.
//
// Rows come out in one of two working forms: one channel of gray, for gray
// images without transparency, or four channels of premultiplied RGBA for
// everything else. The samples are exactly those that package imaging
// derives from image/png's decoded image (16-bit samples keep their high
// byte, straight alpha is premultiplied with the same rounding), so the two
// paths render the same pixels.
//
// The file is judged as image/png judges it: the same chunk order rules,
// chunk and zlib checksums, IDAT continuation, trailing chunks up to IEND.
// Data that ends early yields an error wrapping io.ErrUnexpectedEOF; every
// other refusal is a FormatError. Callers judge the declared size first:
// a decoder holds two rows of the declared width.
package pngdec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image/color"
	"io"
)

// FormatError is a PNG file that breaks the format's rules.
type FormatError string

func (e FormatError) Error() string { return "pngdec: invalid format: " + string(e) }

// ErrInterlaced is returned by NewDecoder for an Adam7-interlaced image,
// which cannot be read row by row; decode those with image/png.
var ErrInterlaced = errors.New("pngdec: interlaced images are not decoded row by row")

const signature = "\x89PNG\r\n\x1a\n"

// Colour types of IHDR.
const (
	ctGray      = 0
	ctRGB       = 2
	ctPalette   = 3
	ctGrayAlpha = 4
	ctRGBA      = 6
)

// Header is what IHDR declares.
type Header struct {
	Width, Height int
	Depth         int // bits per sample: 1, 2, 4, 8 or 16
	ColorType     int // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
	Interlaced    bool
}

// ReadHeader reads the IHDR of data without checking anything beyond its
// place and length.
func ReadHeader(data []byte) (Header, error) {
	if len(data) < len(signature)+8+13 || string(data[:8]) != signature || string(data[12:16]) != "IHDR" {
		return Header{}, FormatError("no IHDR chunk")
	}
	b := data[16:29]
	return Header{
		Width:      int(binary.BigEndian.Uint32(b[0:])),
		Height:     int(binary.BigEndian.Uint32(b[4:])),
		Depth:      int(b[8]),
		ColorType:  int(b[9]),
		Interlaced: b[12] == 1,
	}, nil
}

// Channels returns the channels of the working form of an image with this
// header and whether it has a tRNS chunk: 1 (gray) or 4 (premultiplied
// RGBA).
func (h Header) Channels(trns bool) int {
	if h.ColorType == ctGray && !trns {
		return 1
	}
	return 4
}

// bits returns the bits per pixel.
func (h Header) bits() int {
	n := map[int]int{ctGray: 1, ctRGB: 3, ctPalette: 1, ctGrayAlpha: 2, ctRGBA: 4}[h.ColorType]
	return n * h.Depth
}

// Decoder reads the rows of one PNG image. It is not safe for concurrent
// use.
type Decoder struct {
	hdr  Header
	trns bool
	tr   [6]byte       // the tRNS colour (gray: low depths scaled to 8 bits)
	lut  [256][4]uint8 // premultiplied palette
	data []byte
	pos  int // the next unread byte of data outside IDAT
	idat idatReader
	z    io.ReadCloser
	cur  []byte
	prev []byte
	bpp  int // bytes per complete pixel, at least 1
	y    int
	err  error
}

// NewDecoder reads the chunks of data up to the first IDAT. It returns
// ErrInterlaced for an interlaced image, a *FormatError or an error
// wrapping io.ErrUnexpectedEOF for a file that image/png would refuse
// before its pixels.
func NewDecoder(data []byte) (*Decoder, error) {
	if len(data) < len(signature) {
		return nil, io.ErrUnexpectedEOF
	}
	if string(data[:8]) != signature {
		return nil, FormatError("not a PNG file")
	}
	d := &Decoder{data: data, pos: 8}
	for i := range d.lut {
		d.lut[i] = [4]uint8{0, 0, 0, 255}
	}
	const (
		start = iota
		sawIHDR
		sawPLTE
		sawTRNS
	)
	stage := start
	for {
		typ, length, err := d.head()
		if err != nil {
			return nil, err
		}
		switch typ {
		case "IHDR":
			if stage != start {
				return nil, FormatError("chunk out of order")
			}
			stage = sawIHDR
			if length != 13 {
				return nil, FormatError("bad IHDR length")
			}
			body, err := d.body(length)
			if err != nil {
				return nil, err
			}
			if err := d.parseIHDR(body); err != nil {
				return nil, err
			}
		case "PLTE":
			if stage != sawIHDR {
				return nil, FormatError("chunk out of order")
			}
			stage = sawPLTE
			np := int(length / 3)
			if length%3 != 0 || np <= 0 || np > 256 || np > 1<<d.hdr.Depth {
				return nil, FormatError("bad PLTE length")
			}
			body, err := d.body(length)
			if err != nil {
				return nil, err
			}
			switch d.hdr.ColorType {
			case ctPalette:
				for i := range np {
					d.lut[i] = [4]uint8{body[3*i], body[3*i+1], body[3*i+2], 255}
				}
			case ctRGB, ctRGBA:
			default:
				return nil, FormatError("PLTE, color type mismatch")
			}
		case "tRNS":
			ct := d.hdr.ColorType
			switch {
			case ct == ctPalette && stage != sawPLTE,
				(ct == ctRGB || ct == ctRGBA) && stage != sawIHDR && stage != sawPLTE,
				ct != ctPalette && ct != ctRGB && ct != ctRGBA && stage != sawIHDR:
				return nil, FormatError("chunk out of order")
			}
			stage = sawTRNS
			if err := d.parseTRNS(length); err != nil {
				return nil, err
			}
		case "IDAT":
			if stage == start || (stage == sawIHDR && d.hdr.ColorType == ctPalette) {
				return nil, FormatError("chunk out of order")
			}
			if d.hdr.Interlaced {
				return nil, ErrInterlaced
			}
			if err := d.startPixels(); err != nil {
				return nil, err
			}
			return d, nil
		case "IEND":
			return nil, FormatError("chunk out of order")
		default:
			if length > 0x7fffffff {
				return nil, FormatError(fmt.Sprintf("bad chunk length: %d", length))
			}
			if _, err := d.body(length); err != nil {
				return nil, err
			}
		}
	}
}

// head returns the type and declared length of the chunk at d.pos.
func (d *Decoder) head() (string, uint32, error) {
	p := d.pos
	if p+8 > len(d.data) {
		return "", 0, io.ErrUnexpectedEOF
	}
	return string(d.data[p+4 : p+8]), binary.BigEndian.Uint32(d.data[p:]), nil
}

// body returns the body of the chunk at d.pos, its CRC checked, and moves
// past it.
func (d *Decoder) body(length uint32) ([]byte, error) {
	p := d.pos
	end := uint64(p) + 8 + uint64(length) + 4
	if end > uint64(len(d.data)) {
		return nil, io.ErrUnexpectedEOF
	}
	n := int(length)
	if binary.BigEndian.Uint32(d.data[p+8+n:]) != crc32.ChecksumIEEE(d.data[p+4:p+8+n]) {
		return nil, FormatError("invalid checksum")
	}
	d.pos = int(end)
	return d.data[p+8 : p+8+n], nil
}

func (d *Decoder) parseIHDR(b []byte) error {
	if len(b) != 13 {
		return FormatError("bad IHDR length")
	}
	if b[10] != 0 || b[11] != 0 {
		return FormatError("unsupported compression or filter method")
	}
	if b[12] > 1 {
		return FormatError("invalid interlace method")
	}
	w, h := int32(binary.BigEndian.Uint32(b)), int32(binary.BigEndian.Uint32(b[4:]))
	if w <= 0 || h <= 0 {
		return FormatError("non-positive dimension")
	}
	d.hdr = Header{Width: int(w), Height: int(h), Depth: int(b[8]), ColorType: int(b[9]), Interlaced: b[12] == 1}
	ok := false
	switch d.hdr.Depth {
	case 1, 2, 4:
		ok = d.hdr.ColorType == ctGray || d.hdr.ColorType == ctPalette
	case 8:
		ok = d.hdr.ColorType <= ctRGBA && d.hdr.ColorType != 1 && d.hdr.ColorType != 5
	case 16:
		ok = d.hdr.ColorType <= ctRGBA && d.hdr.ColorType != 1 && d.hdr.ColorType != 5 && d.hdr.ColorType != ctPalette
	}
	if !ok {
		return FormatError(fmt.Sprintf("bit depth %d, color type %d", b[8], b[9]))
	}
	return nil
}

func (d *Decoder) parseTRNS(length uint32) error {
	var want bool
	switch d.hdr.ColorType {
	case ctGray:
		want = length == 2
	case ctRGB:
		want = length == 6
	case ctPalette:
		want = length <= 256
	default:
		return FormatError("tRNS, color type mismatch")
	}
	if !want {
		return FormatError("bad tRNS length")
	}
	b, err := d.body(length)
	if err != nil {
		return err
	}
	if d.hdr.ColorType == ctPalette {
		// Entries past the palette are opaque black until given an alpha.
		for i, a := range b {
			c := d.lut[i]
			r, g, bl, al := color.NRGBA{c[0], c[1], c[2], a}.RGBA()
			d.lut[i] = [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(al >> 8)}
		}
		return nil
	}
	copy(d.tr[:], b)
	if d.hdr.ColorType == ctGray {
		switch d.hdr.Depth {
		case 1:
			d.tr[1] *= 0xff
		case 2:
			d.tr[1] *= 0x55
		case 4:
			d.tr[1] *= 0x11
		}
	}
	d.trns = true
	return nil
}

// Header returns what IHDR declares.
func (d *Decoder) Header() Header { return d.hdr }

// Size returns the image's width and height.
func (d *Decoder) Size() (w, h int) { return d.hdr.Width, d.hdr.Height }

// Channels returns 1 when rows are gray samples and 4 when they are
// premultiplied RGBA.
func (d *Decoder) Channels() int { return d.hdr.Channels(d.trns) }

func (d *Decoder) startPixels() error {
	d.idat = idatReader{data: d.data, pos: d.pos}
	z, err := zlib.NewReader(&d.idat)
	if err != nil {
		return wrap(err)
	}
	d.z = z
	rowBytes := (int64(d.hdr.bits())*int64(d.hdr.Width) + 7) / 8
	if rowBytes+1 != int64(int(rowBytes+1)) {
		return FormatError("dimension overflow")
	}
	d.cur = make([]byte, rowBytes+1)
	d.prev = make([]byte, rowBytes+1)
	d.bpp = max(1, (d.hdr.bits()+7)/8)
	return nil
}

// ReadRow decodes the next row into dst, which holds Width times
// Channels() samples. After the last row it checks the rest of the file
// (the zlib checksum, the chunks up to IEND); an error then means the
// file is refused although every row was read.
func (d *Decoder) ReadRow(dst []byte) error {
	if d.err != nil {
		return d.err
	}
	if d.y >= d.hdr.Height {
		return io.EOF
	}
	if err := d.readRow(dst); err != nil {
		d.err = err
		return err
	}
	d.y++
	if d.y == d.hdr.Height {
		if err := d.finish(); err != nil {
			d.err = err
			return err
		}
	}
	return nil
}

func (d *Decoder) readRow(dst []byte) error {
	if _, err := io.ReadFull(d.z, d.cur); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("pngdec: not enough pixel data: %w", io.ErrUnexpectedEOF)
		}
		return wrap(err)
	}
	cdat, pdat := d.cur[1:], d.prev[1:]
	bpp := d.bpp
	switch d.cur[0] {
	case 0:
	case 1:
		for i := bpp; i < len(cdat); i++ {
			cdat[i] += cdat[i-bpp]
		}
	case 2:
		for i, p := range pdat {
			cdat[i] += p
		}
	case 3:
		for i := 0; i < bpp && i < len(cdat); i++ {
			cdat[i] += pdat[i] / 2
		}
		for i := bpp; i < len(cdat); i++ {
			cdat[i] += uint8((int(cdat[i-bpp]) + int(pdat[i])) / 2)
		}
	case 4:
		paeth(cdat, pdat, bpp)
	default:
		return FormatError("bad filter type")
	}
	d.convert(dst, cdat)
	d.cur, d.prev = d.prev, d.cur
	return nil
}

func paeth(cdat, pdat []byte, bpp int) {
	for i := range cdat {
		var a, c int
		b := int(pdat[i])
		if i >= bpp {
			a, c = int(cdat[i-bpp]), int(pdat[i-bpp])
		}
		p := a + b - c
		pa, pb, pc := abs(p-a), abs(p-b), abs(p-c)
		switch {
		case pa <= pb && pa <= pc:
			cdat[i] += uint8(a)
		case pb <= pc:
			cdat[i] += uint8(b)
		default:
			cdat[i] += uint8(c)
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// mul8 returns c*a/255 rounded (package imaging's premultiplication).
func mul8(c, a uint32) uint8 {
	t := c*a + 128
	return uint8((t + t>>8) >> 8)
}

// mul16 premultiplies 16-bit c by 16-bit a and keeps the high byte, as
// package imaging does for image.NRGBA64.
func mul16(c, a uint32) uint8 { return uint8(c * a / 0xffff >> 8) }

// convert turns the unfiltered samples s of a row into the working form.
func (d *Decoder) convert(dst, s []byte) {
	w := d.hdr.Width
	switch d.hdr.ColorType {
	case ctGray:
		depth := d.hdr.Depth
		if depth == 16 {
			ty := uint16(d.tr[0])<<8 | uint16(d.tr[1])
			for x := range w {
				v := uint16(s[2*x])<<8 | uint16(s[2*x+1])
				if !d.trns {
					dst[x] = s[2*x]
				} else if v == ty {
					dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = 0, 0, 0, 0
				} else {
					dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = s[2*x], s[2*x], s[2*x], 255
				}
			}
			return
		}
		scale := uint8(1)
		switch depth {
		case 1:
			scale = 0xff
		case 2:
			scale = 0x55
		case 4:
			scale = 0x11
		}
		perByte := 8 / depth
		mask := uint8(1<<depth - 1)
		for x := range w {
			b := s[x/perByte]
			shift := uint(8 - depth*(x%perByte+1))
			v := (b >> shift & mask) * scale
			if !d.trns {
				dst[x] = v
			} else if v == d.tr[1] {
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = 0, 0, 0, 0
			} else {
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = v, v, v, 255
			}
		}
	case ctPalette:
		depth := d.hdr.Depth
		perByte := 8 / depth
		mask := uint8(1<<depth - 1)
		for x := range w {
			b := s[x/perByte]
			shift := uint(8 - depth*(x%perByte+1))
			c := &d.lut[b>>shift&mask]
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = c[0], c[1], c[2], c[3]
		}
	case ctGrayAlpha:
		if d.hdr.Depth == 8 {
			for x := range w {
				v, a := uint32(s[2*x]), uint32(s[2*x+1])
				g := mul8(v, a)
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = g, g, g, uint8(a)
			}
			return
		}
		for x := range w {
			q := s[4*x : 4*x+4]
			v, a := uint32(q[0])<<8|uint32(q[1]), uint32(q[2])<<8|uint32(q[3])
			g := mul16(v, a)
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = g, g, g, q[2]
		}
	case ctRGB:
		if d.hdr.Depth == 8 {
			for x := range w {
				q := s[3*x : 3*x+3]
				if d.trns && q[0] == d.tr[1] && q[1] == d.tr[3] && q[2] == d.tr[5] {
					dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = 0, 0, 0, 0
					continue
				}
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = q[0], q[1], q[2], 255
			}
			return
		}
		for x := range w {
			q := s[6*x : 6*x+6]
			if d.trns && bytes.Equal(q, d.tr[:]) {
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = 0, 0, 0, 0
				continue
			}
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = q[0], q[2], q[4], 255
		}
	case ctRGBA:
		if d.hdr.Depth == 8 {
			for x := range w {
				q := s[4*x : 4*x+4]
				a := uint32(q[3])
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = mul8(uint32(q[0]), a), mul8(uint32(q[1]), a), mul8(uint32(q[2]), a), q[3]
			}
			return
		}
		for x := range w {
			q := s[8*x : 8*x+8]
			a := uint32(q[6])<<8 | uint32(q[7])
			for c := range 3 {
				dst[4*x+c] = mul16(uint32(q[2*c])<<8|uint32(q[2*c+1]), a)
			}
			dst[4*x+3] = q[6]
		}
	}
}

// finish checks what follows the last row, as image/png does: the zlib
// stream ends there with a good checksum and no IDAT bytes to spare, and
// the chunks after it, trailing IDATs included, are whole and sound up
// to IEND.
func (d *Decoder) finish() error {
	var one [1]byte
	n, err := 0, error(nil)
	for i := 0; n == 0 && err == nil; i++ {
		if i == 100 {
			return FormatError(io.ErrNoProgress.Error())
		}
		n, err = d.z.Read(one[:])
	}
	if err != nil && err != io.EOF {
		return wrap(err)
	}
	if n != 0 || d.idat.left != 0 {
		return FormatError("too much pixel data")
	}
	if err := d.idat.checkCRC(); err != nil {
		return err
	}
	d.pos = d.idat.pos
	for {
		typ, length, err := d.head()
		if err != nil {
			return err
		}
		switch typ {
		case "IHDR", "PLTE", "tRNS":
			return FormatError("chunk out of order")
		case "IEND":
			if length != 0 {
				return FormatError("bad IEND length")
			}
			_, err := d.body(0)
			return err
		}
		// Trailing IDAT chunks are ignored like unknown ones, but must be
		// whole.
		if length > 0x7fffffff {
			return FormatError(fmt.Sprintf("bad chunk length: %d", length))
		}
		if _, err := d.body(length); err != nil {
			return err
		}
	}
}

// wrap keeps truncation recognisable and makes every other error a
// FormatError.
func wrap(err error) error {
	var fe FormatError
	if errors.As(err, &fe) || errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return FormatError(err.Error())
}

// idatReader presents the bodies of consecutive IDAT chunks as one
// stream, checking each chunk's CRC when it is used up.
type idatReader struct {
	data  []byte
	pos   int // the start of the current chunk
	body  int // the start of its unread body
	left  int // its unread body bytes
	crc   uint32
	begun bool
	err   error
}

func (r *idatReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for !r.begun || r.left == 0 {
		if r.begun {
			if err := r.checkCRC(); err != nil {
				r.err = err
				return 0, err
			}
		}
		if r.pos+8 > len(r.data) {
			r.err = io.ErrUnexpectedEOF
			return 0, r.err
		}
		length := binary.BigEndian.Uint32(r.data[r.pos:])
		if string(r.data[r.pos+4:r.pos+8]) != "IDAT" {
			r.err = fmt.Errorf("pngdec: not enough pixel data: %w", io.ErrUnexpectedEOF)
			return 0, r.err
		}
		r.begun = true
		r.body = r.pos + 8
		r.left = int(length)
		r.crc = crc32.ChecksumIEEE(r.data[r.pos+4 : r.pos+8])
	}
	avail := min(r.left, len(r.data)-r.body)
	if avail <= 0 {
		r.err = io.ErrUnexpectedEOF
		return 0, r.err
	}
	n := copy(p, r.data[r.body:r.body+avail])
	r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:n])
	r.body += n
	r.left -= n
	return n, nil
}

// checkCRC checks the CRC after the current chunk's body, which must be
// used up, and moves past it.
func (r *idatReader) checkCRC() error {
	if r.body+4 > len(r.data) {
		return io.ErrUnexpectedEOF
	}
	if binary.BigEndian.Uint32(r.data[r.body:]) != r.crc {
		return FormatError("invalid checksum")
	}
	r.pos = r.body + 4
	return nil
}
