package jpeg

import (
	"image"
	"image/color"

	"github.com/profilephoto/photo/internal/sched"
)

// DefaultMaxPixels is Options.MaxPixels's default: 128 Mi pixels.
const DefaultMaxPixels = 1 << 27

// Options tune Decode. The zero value decodes at full scale.
type Options struct {
	// Scale is the denominator of the output scale: 1, 2, 4 or 8. The
	// output is ceil(width/Scale) x ceil(height/Scale) pixels, each the
	// mean of its Scale x Scale footprint in the full-size image. Zero
	// means 1; other values are refused.
	Scale int
	// MaxPixels refuses, with ErrTooLarge and before any pixel memory is
	// allocated, a frame whose width times height exceeds it. Zero means
	// DefaultMaxPixels.
	MaxPixels int64
	// Pool lends Decode a second core: when one of its tokens is free,
	// sequential scans transform finished MCU rows on a helper goroutine
	// while the calling goroutine goes on with the entropy decoding, and
	// the final transform of progressive images is split across the free
	// tokens. The caller must hold a token of Pool (sched's rule). nil
	// (the default), or no free token: everything runs on the calling
	// goroutine. The output is the same either way, byte for byte.
	Pool *sched.Pool
}

// ColorSpace is what a JPEG's components hold.
type ColorSpace int

// The colour spaces of Info.ColorSpace.
const (
	Gray  ColorSpace = iota + 1 // one component
	YCbCr                       // three components, JFIF
	RGB                         // three components marked RGB (Adobe transform 0 or ids 'R','G','B')
	CMYK                        // four components, Adobe transform 0 (stored inverted)
	YCCK                        // four components, Adobe transform 2
)

// Info is what the headers say about an image.
type Info struct {
	Width, Height int
	Components    int
	ColorSpace    ColorSpace
	// Subsampling is the chroma subsampling of a YCbCr image (and the
	// subsampling the second and third planes of other images would have);
	// 4:4:4 for grayscale.
	Subsampling image.YCbCrSubsampleRatio
	Progressive bool
}

// ScaledSize is the size of the output of Decode at the given scale.
func ScaledSize(width, height, scale int) (int, int) {
	return (width + scale - 1) / scale, (height + scale - 1) / scale
}

// PickScale returns the smallest output scale 1/s, s in 8, 4, 2, 1, that
// keeps a region of side pixels at least need pixels on a side:
// the largest s with floor(side/s) >= need, or 1.
func PickScale(side, need int) int {
	for _, s := range [...]int{8, 4, 2} {
		if need > 0 && side/s >= need {
			return s
		}
	}
	return 1
}

// component is one component of the frame.
type component struct {
	id   byte
	h, v int // sampling factors
	tq   int // quantisation table
	// bw x bh blocks cover the component in the interleaved MCU grid;
	// nbw x nbh blocks cover it alone (its non-interleaved scans).
	bw, bh   int
	nbw, nbh int
	plane    []byte // output samples, stride bw*8/scale
	stride   int
	coef     []int16 // progressive only: bw*bh blocks of 64, natural order
	nz       []uint8 // progressive only: per block, the last zigzag index ever non-zero
	pred     int32   // DC predictor
	td, ta   int     // Huffman tables of the current scan
	scanned  bool    // in a scan yet
}

// maxLegit bounds the dequantized coefficients of 8-bit samples: |F| is at
// most 2048 (T.81 A.3.3 on samples of -128..127), and a quantized value
// rounds to at most twice that.
const maxLegit = 4096

// maxScans bounds the scans of one image. Each scan may visit every block
// for a few bytes of data (an end-of-band run covers up to 32767 blocks),
// so a small hostile file of many scans costs time in proportion to the
// pixels times the scans. Encoders write 10 (libjpeg's default
// progression) to a few dozen.
const maxScans = 100

// decoder holds the state of one decode. Nothing in it is shared.
type decoder struct {
	data      []byte
	pos       int
	scale     int
	maxPixels int64
	info      bool // headers only

	width, height int
	ncomp         int
	comp          [4]component
	hmax, vmax    int
	mcusX, mcusY  int
	sof           bool
	progressive   bool
	jfif          bool
	adobe         bool
	transform     byte
	ri            int

	quant [4][64]int32 // zigzag order
	dc    [4]huffTable
	ac    [4]huffTable

	planesReady bool
	// checkWild (tests only) sets wild when a dequantized coefficient is
	// beyond what 8-bit samples produce: the transforms then overflow, and
	// two decoders need not agree on the (meaningless) samples.
	checkWild, wild bool
	scans           int
	eobrun          int32
	br              bitReader
	pool            *sched.Pool // nil: one goroutine
	pipeMin         int         // pipelineMinBlocks; tests lower it
	panicRow        int         // tests only: the pipeline's helper panics on MCU row panicRow-1
	one             blockCoef   // the sequential path's block
}

// blockCoef is one block of a sequential scan as the entropy decoder
// leaves it for the transform: dequantized coefficients in natural order
// and the zigzag index of the last non-zero one. transformBlock reads it
// and leaves it zero again.
type blockCoef struct {
	blk  [64]int32
	last int32
}

// unzig maps zigzag index to natural index (T.81 Figure A.6).
var unzig = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// DecodeInfo reads the headers of a JPEG up to its first scan.
func DecodeInfo(data []byte) (Info, error) {
	d := decoder{data: data, info: true, scale: 1, maxPixels: 1 << 62}
	if err := d.run(); err != nil {
		return Info{}, err
	}
	return d.describe(), nil
}

// Decode decodes a JPEG. The result is an *image.YCbCr for YCbCr images
// (chroma planes as subsampled in the file), *image.Gray for grayscale,
// *image.RGBA for RGB and *image.CMYK for CMYK and YCCK. Its bounds start
// at (0,0) and have the size ScaledSize gives. Its planes may be wider than
// the image (their stride is a whole number of blocks).
//
// Memory: the output planes, plus for progressive images a coefficient
// buffer of 129 bytes per 8x8 block of every component at full size
// (2 bytes per full-size sample: 36 MB for a 12 MP 4:2:0 photo) whatever
// the scale, plus about 50 KB of tables. RGB and CMYK images take a
// second, interleaved copy.
func Decode(data []byte, opts *Options) (image.Image, error) {
	d := decoder{data: data, scale: 1, maxPixels: DefaultMaxPixels, pipeMin: pipelineMinBlocks}
	return d.decode(opts)
}

// decode is Decode on a decoder whose test knobs are set.
func (d *decoder) decode(opts *Options) (image.Image, error) {
	if opts != nil {
		switch opts.Scale {
		case 0, 1, 2, 4, 8:
			if opts.Scale != 0 {
				d.scale = opts.Scale
			}
		default:
			return nil, &Error{Kind: ErrUnsupported, Msg: "scale must be 1, 2, 4 or 8"}
		}
		if opts.MaxPixels > 0 {
			d.maxPixels = opts.MaxPixels
		}
		d.pool = opts.Pool
	}
	if err := d.run(); err != nil {
		return nil, err
	}
	return d.output()
}

func (d *decoder) describe() Info {
	in := Info{Width: d.width, Height: d.height, Components: d.ncomp, Progressive: d.progressive,
		Subsampling: image.YCbCrSubsampleRatio444}
	switch d.ncomp {
	case 1:
		in.ColorSpace = Gray
	case 3:
		in.ColorSpace = YCbCr
		if d.isRGB() {
			in.ColorSpace = RGB
		}
	case 4:
		in.ColorSpace = CMYK
		if d.adobe && d.transform != 0 {
			in.ColorSpace = YCCK
		}
	}
	if d.ncomp >= 3 {
		in.Subsampling = ratio(d.comp[0].h/d.comp[1].h, d.comp[0].v/d.comp[1].v)
	}
	return in
}

func ratio(h, v int) image.YCbCrSubsampleRatio {
	switch {
	case h == 1 && v == 1:
		return image.YCbCrSubsampleRatio444
	case h == 1 && v == 2:
		return image.YCbCrSubsampleRatio440
	case h == 2 && v == 1:
		return image.YCbCrSubsampleRatio422
	case h == 2 && v == 2:
		return image.YCbCrSubsampleRatio420
	case h == 4 && v == 1:
		return image.YCbCrSubsampleRatio411
	case h == 4 && v == 2:
		return image.YCbCrSubsampleRatio410
	}
	return 0
}

func (d *decoder) isRGB() bool {
	if d.jfif {
		return false
	}
	if d.adobe && d.transform == 0 {
		return true
	}
	return d.comp[0].id == 'R' && d.comp[1].id == 'G' && d.comp[2].id == 'B'
}

// run walks the markers until EOI (or, for DecodeInfo, the first SOS).
func (d *decoder) run() error {
	data := d.data
	if len(data) < 2 {
		return truncated("no SOI marker")
	}
	if data[0] != 0xff || data[1] != 0xd8 {
		return corrupt("missing SOI marker")
	}
	d.pos = 2
	for {
		// Find the next marker, skipping extraneous bytes and fill bytes.
		for d.pos < len(data) && data[d.pos] != 0xff {
			d.pos++
		}
		for d.pos < len(data) && data[d.pos] == 0xff {
			d.pos++
		}
		if d.pos >= len(data) {
			return truncated("no EOI marker")
		}
		m := data[d.pos]
		d.pos++
		switch {
		case m == 0x00, 0xd0 <= m && m <= 0xd7:
			continue // stray stuffed byte or restart marker
		case m == 0xd9: // EOI
			if d.info {
				return corrupt("missing SOS marker")
			}
			if !d.sof || !d.planesReady {
				return corrupt("missing SOS marker")
			}
			return nil
		case m == 0xd8:
			return corrupt("unexpected SOI marker")
		}
		if m == 0xc3 || 0xc5 <= m && m <= 0xcf && m != 0xc8 && m != 0xcc {
			return unsupported("lossless, hierarchical or arithmetic-coded JPEG")
		}
		if d.pos+2 > len(data) {
			return truncated("segment length")
		}
		n := int(data[d.pos])<<8 | int(data[d.pos+1])
		if n < 2 {
			return corrupt("short segment length")
		}
		if d.pos+n > len(data) {
			return truncated("segment data")
		}
		seg := data[d.pos+2 : d.pos+n]
		d.pos += n
		var err error
		switch {
		case m == 0xc0 || m == 0xc1 || m == 0xc2:
			err = d.processSOF(m, seg)
		case m == 0xc4:
			err = d.processDHT(seg)
		case m == 0xdb:
			err = d.processDQT(seg)
		case m == 0xdd:
			if len(seg) != 2 {
				return corrupt("DRI has wrong length")
			}
			d.ri = int(seg[0])<<8 | int(seg[1])
		case m == 0xda:
			if d.info {
				if !d.sof {
					return corrupt("missing SOF marker")
				}
				return nil
			}
			err = d.processSOS(seg)
		case m == 0xe0:
			if len(seg) >= 5 && string(seg[:5]) == "JFIF\x00" {
				d.jfif = true
			}
		case m == 0xee:
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				d.adobe, d.transform = true, seg[11]
			}
		case 0xe1 <= m && m <= 0xef || m == 0xfe:
			// APPn, COM: nothing we need.
		case m < 0xc0:
			return corrupt("unknown marker")
		default:
			return unsupported("unknown marker")
		}
		if err != nil {
			return err
		}
	}
}

func (d *decoder) processSOF(m byte, seg []byte) error {
	if d.sof {
		return corrupt("multiple SOF markers")
	}
	if len(seg) < 6 {
		return corrupt("SOF has wrong length")
	}
	n := int(seg[5])
	switch n {
	case 1, 3, 4:
	default:
		return unsupported("number of components")
	}
	if len(seg) != 6+3*n {
		return corrupt("SOF has wrong length")
	}
	if seg[0] != 8 {
		return unsupported("precision other than 8 bits")
	}
	d.progressive = m == 0xc2
	d.height = int(seg[1])<<8 | int(seg[2])
	d.width = int(seg[3])<<8 | int(seg[4])
	if d.width == 0 || d.height == 0 {
		return corrupt("zero width or height")
	}
	d.ncomp = n
	for i := 0; i < n; i++ {
		c := &d.comp[i]
		c.id = seg[6+3*i]
		for j := 0; j < i; j++ {
			if d.comp[j].id == c.id {
				return corrupt("repeated component identifier")
			}
		}
		hv := seg[7+3*i]
		h, v := int(hv>>4), int(hv&15)
		c.tq = int(seg[8+3*i])
		if c.tq > 3 {
			return corrupt("bad Tq value")
		}
		if h < 1 || h > 4 || v < 1 || v > 4 {
			return corrupt("bad sampling factors")
		}
		if h == 3 || v == 3 {
			return unsupported("sampling factor 3")
		}
		switch n {
		case 1:
			h, v = 1, 1 // a single component is never interleaved (T.81 A.2)
		case 3:
			switch i {
			case 0:
				if v == 4 {
					return unsupported("luma/chroma subsampling ratio")
				}
			case 1:
				if d.comp[0].h%h != 0 || d.comp[0].v%v != 0 {
					return unsupported("luma/chroma subsampling ratio")
				}
			case 2:
				if d.comp[1].h != h || d.comp[1].v != v {
					return unsupported("luma/chroma subsampling ratio")
				}
			}
		case 4:
			switch i {
			case 0:
				if hv != 0x11 && hv != 0x22 {
					return unsupported("luma/chroma subsampling ratio")
				}
			case 1, 2:
				if hv != 0x11 {
					return unsupported("luma/chroma subsampling ratio")
				}
			case 3:
				if d.comp[0].h != h || d.comp[0].v != v {
					return unsupported("luma/chroma subsampling ratio")
				}
			}
		}
		c.h, c.v = h, v
	}
	d.sof = true
	if int64(d.width)*int64(d.height) > d.maxPixels {
		return &Error{Kind: ErrTooLarge, Msg: "the frame has more pixels than allowed"}
	}
	d.hmax, d.vmax = d.comp[0].h, d.comp[0].v
	d.mcusX = (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcusY = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := 0; i < n; i++ {
		c := &d.comp[i]
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		cw := (d.width*c.h + d.hmax - 1) / d.hmax
		ch := (d.height*c.v + d.vmax - 1) / d.vmax
		c.nbw, c.nbh = (cw+7)/8, (ch+7)/8
	}
	return nil
}

func (d *decoder) processDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return corrupt("DHT has wrong length")
		}
		tc, th := seg[0]>>4, seg[0]&15
		if tc > 1 {
			return corrupt("bad Tc value")
		}
		if th > 3 {
			return corrupt("bad Th value")
		}
		var counts [16]byte
		copy(counts[:], seg[1:17])
		total := 0
		for _, c := range counts {
			total += int(c)
		}
		if total == 0 || total > 256 {
			return corrupt("bad Huffman table length")
		}
		if len(seg) < 17+total {
			return corrupt("DHT has wrong length")
		}
		t := &d.dc[th]
		if tc == 1 {
			t = &d.ac[th]
		}
		if err := t.build(&counts, seg[17:17+total]); err != nil {
			return err
		}
		seg = seg[17+total:]
	}
	return nil
}

func (d *decoder) processDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, seg[0]&15
		if tq > 3 {
			return corrupt("bad Tq value")
		}
		q := &d.quant[tq]
		switch pq {
		case 0:
			if len(seg) < 65 {
				return corrupt("DQT has wrong length")
			}
			for k := 0; k < 64; k++ {
				q[k] = int32(seg[1+k])
			}
			seg = seg[65:]
		case 1:
			if len(seg) < 129 {
				return corrupt("DQT has wrong length")
			}
			for k := 0; k < 64; k++ {
				q[k] = int32(seg[1+2*k])<<8 | int32(seg[2+2*k])
			}
			seg = seg[129:]
		default:
			return corrupt("bad Pq value")
		}
	}
	return nil
}

// allocate makes the output planes (and progressive coefficients) once the
// first scan starts.
func (d *decoder) allocate() {
	bs := 8 / d.scale
	total := 0
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		c.stride = c.bw * bs
		total += c.stride * c.bh * bs
	}
	buf := make([]byte, total)
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		n := c.stride * c.bh * bs
		c.plane, buf = buf[:n:n], buf[n:]
		if d.progressive {
			c.coef = make([]int16, c.bw*c.bh*64)
			c.nz = make([]uint8, c.bw*c.bh)
		}
	}
	d.planesReady = true
}

func (d *decoder) processSOS(seg []byte) error {
	if !d.sof {
		return corrupt("missing SOF marker")
	}
	if d.scans++; d.scans > maxScans {
		return unsupported("too many scans")
	}
	if len(seg) < 1 {
		return corrupt("SOS has wrong length")
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) != 4+2*ns {
		return corrupt("SOS has wrong length")
	}
	var scomp [4]*component
	for i := 0; i < ns; i++ {
		id, t := seg[1+2*i], seg[2+2*i]
		var c *component
		for j := 0; j < d.ncomp; j++ {
			if d.comp[j].id == id {
				c = &d.comp[j]
			}
		}
		if c == nil {
			return corrupt("unknown component selector")
		}
		for j := 0; j < i; j++ {
			if scomp[j] == c {
				return corrupt("repeated component selector")
			}
		}
		c.td, c.ta = int(t>>4), int(t&15)
		c.scanned = true
		if c.td > 3 || c.ta > 3 {
			return corrupt("bad Td or Ta value")
		}
		scomp[i] = c
	}
	ss, se := int(seg[1+2*ns]), int(seg[2+2*ns])
	ah, al := int(seg[3+2*ns]>>4), int(seg[3+2*ns]&15)
	if ns > 1 {
		blocks := 0
		for i := 0; i < ns; i++ {
			blocks += scomp[i].h * scomp[i].v
		}
		if blocks > 10 {
			return corrupt("total sampling factors too large")
		}
	}
	if d.progressive {
		if ss > 63 || se > 63 || ss > se || (ss == 0) != (se == 0) {
			return corrupt("bad spectral selection bounds")
		}
		if ss != 0 && ns != 1 {
			return corrupt("progressive AC coefficients for more than one component")
		}
		if al > 13 || ah > 13 || ah != 0 && ah != al+1 {
			return corrupt("bad successive approximation values")
		}
	} else {
		ss, se, ah, al = 0, 63, 0, 0
	}
	for i := 0; i < ns; i++ {
		c := scomp[i]
		needDC := ss == 0 && ah == 0
		needAC := se > 0 || !d.progressive
		if needDC && !d.dc[c.td].defined || needAC && !d.ac[c.ta].defined {
			return corrupt("uninitialized Huffman table")
		}
	}
	if !d.planesReady {
		d.allocate()
	}
	d.br = bitReader{data: d.data, pos: d.pos}
	err := d.scan(scomp[:ns], ss, se, ah, al)
	if err != nil {
		return err
	}
	if d.br.overrun() {
		return d.br.overrunError()
	}
	// Continue after the bytes the scan consumed; run skips to the marker.
	d.pos = d.br.pos
	return nil
}

// scan decodes the entropy-coded data of one scan.
func (d *decoder) scan(sc []*component, ss, se, ah, al int) error {
	for _, c := range sc {
		c.pred = 0
	}
	d.eobrun = 0
	var mx, my int
	if len(sc) == 1 {
		mx, my = sc[0].nbw, sc[0].nbh
	} else {
		mx, my = d.mcusX, d.mcusY
	}
	if !d.progressive {
		return d.sequentialScan(sc, mx, my)
	}
	rst := 0
	next := byte(0)
	for y := 0; y < my; y++ {
		for x := 0; x < mx; x++ {
			if err := d.mcuStart(sc, &rst, &next); err != nil {
				return err
			}
			for _, c := range sc {
				bh, bv := 1, 1
				if len(sc) > 1 {
					bh, bv = c.h, c.v
				}
				for v := 0; v < bv; v++ {
					for h := 0; h < bh; h++ {
						bx, by := x*bh+h, y*bv+v
						coef := c.coef[(by*c.bw+bx)*64:][:64:64]
						var err error
						switch {
						case ss == 0 && ah == 0:
							err = d.dcFirst(c, coef, al)
						case ss == 0:
							d.dcRefine(coef, al)
						case ah == 0:
							err = d.acFirst(c, coef, &c.nz[by*c.bw+bx], ss, se, al)
						default:
							err = d.acRefine(c, coef, &c.nz[by*c.bw+bx], ss, se, al)
						}
						if err != nil {
							return err
						}
					}
				}
			}
			if d.br.overrun() {
				return d.br.overrunError()
			}
		}
	}
	return nil
}

// mcuStart consumes the restart marker due before the next MCU, if any:
// *rst counts the MCUs of the interval so far, *next is the marker's
// number.
func (d *decoder) mcuStart(sc []*component, rst *int, next *byte) error {
	if d.ri > 0 && *rst == d.ri {
		if err := d.restart(*next); err != nil {
			return err
		}
		*next = (*next + 1) & 7
		*rst = 0
		for _, c := range sc {
			c.pred = 0
		}
		d.eobrun = 0
	}
	*rst++
	return nil
}

// sequentialScan decodes a sequential scan of my rows of mx MCUs, each
// block transformed as soon as it is decoded, or by pipelinedScan when a
// second core is free and the scan is large enough to be worth it.
func (d *decoder) sequentialScan(sc []*component, mx, my int) error {
	per := mcuBlocks(sc)
	if d.pool != nil && my >= 2 && mx*my*per >= d.pipeMin && d.pool.TryAcquire(1) == 1 {
		return d.pipelinedScan(sc, mx, my, per)
	}
	bs := 8 / d.scale
	rst := 0
	next := byte(0)
	for y := 0; y < my; y++ {
		for x := 0; x < mx; x++ {
			if err := d.mcuStart(sc, &rst, &next); err != nil {
				return err
			}
			for _, c := range sc {
				bh, bv := 1, 1
				if len(sc) > 1 {
					bh, bv = c.h, c.v
				}
				for v := 0; v < bv; v++ {
					for h := 0; h < bh; h++ {
						if err := d.baselineBlock(c, &d.one); err != nil {
							return err
						}
						d.transformBlock(c, &d.one, (x*bh+h)*bs, (y*bv+v)*bs)
					}
				}
			}
			if d.br.overrun() {
				return d.br.overrunError()
			}
		}
	}
	return nil
}

// mcuBlocks is the number of blocks in one MCU of a scan of sc.
func mcuBlocks(sc []*component) int {
	if len(sc) == 1 {
		return 1
	}
	n := 0
	for _, c := range sc {
		n += c.h * c.v
	}
	return n
}

// restart consumes the RSTn marker that must come next.
func (d *decoder) restart(want byte) error {
	b := &d.br
	if b.overrun() {
		return b.overrunError()
	}
	if b.nb-b.pad >= 8 {
		return corrupt("bad RST marker") // whole bytes of data left over
	}
	p := b.pos
	data := d.data
	if p >= len(data) {
		return truncated("entropy-coded data ends early")
	}
	if data[p] != 0xff {
		return corrupt("bad RST marker")
	}
	for p < len(data) && data[p] == 0xff {
		p++
	}
	if p >= len(data) {
		return truncated("entropy-coded data ends early")
	}
	if data[p] != 0xd0+want {
		return corrupt("bad RST marker")
	}
	b.reset(p + 1)
	return nil
}

// baselineBlock decodes one block of a sequential scan into out, which
// must be zero (as transformBlock leaves it). The bit buffer lives in locals
// here (the hot loop of the decoder) and goes back to d.br around refills.
func (d *decoder) baselineBlock(c *component, out *blockCoef) error {
	b := &d.br
	q := &d.quant[c.tq]
	blk := &out.blk
	if b.nb < 32 {
		b.fill()
	}
	var s byte
	var err error
	dc := &d.dc[c.td]
	if e := dc.fast[b.acc>>(64-lookBits)]; e != 0 {
		n := uint(e >> 8)
		b.acc <<= n
		b.nb -= int(n)
		s = byte(e)
	} else if s, err = b.decode(dc); err != nil {
		return err
	}
	if s > 16 {
		return unsupported("excessive DC component")
	}
	acc, nb := b.acc, b.nb
	if s > 0 {
		// At most 16 code bits are gone from the 32 or more there were.
		v := int32(acc >> (64 - s))
		acc <<= s
		nb -= int(s)
		if v < 1<<(s-1) {
			v += -1<<s + 1
		}
		c.pred += v
	}
	blk[0] = c.pred * q[0]
	out.last = 0
	if d.eobrun > 0 {
		d.eobrun--
		b.acc, b.nb = acc, nb
		return nil
	}
	ac := &d.ac[c.ta]
	last := 0
	for k := 1; k < 64; {
		if nb < 32 {
			b.acc, b.nb = acc, nb
			b.fill()
			acc, nb = b.acc, b.nb
		}
		if e := ac.fastAC[acc>>(64-lookBits)]; e != 0 {
			k += int(e >> 12 & 15)
			if k > 63 {
				// A run past the block ends it before its value bits, as
				// in image/jpeg.
				n := uint(e >> 8 & 15)
				acc <<= n
				nb -= int(n)
				break
			}
			n := uint(e & 0xff)
			acc <<= n
			nb -= int(n)
			blk[unzig[k&63]] = e >> 16 * q[k&63]
			last = k
			k++
			continue
		}
		var rs byte
		if e := ac.fast[acc>>(64-lookBits)]; e != 0 {
			n := uint(e >> 8)
			acc <<= n
			nb -= int(n)
			rs = byte(e)
		} else {
			b.acc, b.nb = acc, nb
			if rs, err = b.decode(ac); err != nil {
				return err
			}
			acc, nb = b.acc, b.nb
		}
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if r == 15 {
				k += 16
				continue
			}
			if r > 0 {
				// EOBn is for progressive scans; like image/jpeg, honour
				// it in sequential ones too rather than refuse.
				b.acc, b.nb = acc, nb
				d.eobrun = 1<<uint(r) - 1 + b.bits(r)
				acc, nb = b.acc, b.nb
			}
			break
		}
		k += r
		if k > 63 {
			break
		}
		v := int32(acc >> (64 - s))
		acc <<= s
		nb -= int(s)
		if v < 1<<(s-1) {
			v += -1<<s + 1
		}
		blk[unzig[k&63]] = v * q[k&63]
		last = k
		k++
	}
	b.acc, b.nb = acc, nb
	out.last = int32(last)
	return nil
}

// transformBlock transforms b into c's plane at sample (x, y) of the
// output and leaves b zero again. It touches nothing the entropy decoder
// writes, so that it may run on another goroutine.
func (d *decoder) transformBlock(c *component, b *blockCoef, x, y int) {
	d.emit(c, &b.blk, int(b.last), x, y)
	if b.last > 0 {
		b.blk = [64]int32{}
	} else {
		b.blk[0] = 0
	}
}

// emit transforms blk (dequantized, natural order, zero past zigzag
// index last) into c's plane at sample (x, y) of the output. blk is used
// as scratch.
func (d *decoder) emit(c *component, blk *[64]int32, last, x, y int) {
	if d.checkWild {
		for _, v := range blk {
			if v > maxLegit || v < -maxLegit {
				d.wild = true
			}
		}
	}
	dst := c.plane[y*c.stride+x:]
	if last == 0 {
		// Only the DC coefficient: a flat block at every scale.
		v := idctDC(blk[0])
		n := 8 / d.scale
		for i := 0; i < n; i++ {
			row := dst[i*c.stride : i*c.stride+n]
			for j := range row {
				row[j] = v
			}
		}
		return
	}
	switch d.scale {
	case 1:
		idct8(blk, dst, c.stride)
	case 2:
		idct4x4(blk, dst, c.stride)
	case 4:
		idct2x2(blk, dst, c.stride)
	default:
		dst[0] = idctDC(blk[0])
	}
}

// Progressive scans (T.81 G.1.2). Coefficients are stored unquantized in
// natural order.

func (d *decoder) dcFirst(c *component, coef []int16, al int) error {
	b := &d.br
	s, err := b.decode(&d.dc[c.td])
	if err != nil {
		return err
	}
	if s > 16 {
		return unsupported("excessive DC component")
	}
	if s > 0 {
		c.pred += b.receive(int(s))
	}
	coef[0] = int16(c.pred << uint(al))
	return nil
}

func (d *decoder) dcRefine(coef []int16, al int) {
	if d.br.bit() {
		coef[0] |= int16(1 << uint(al))
	}
}

func (d *decoder) acFirst(c *component, coef []int16, nz *uint8, ss, se, al int) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	b := &d.br
	ac := &d.ac[c.ta]
	for k := ss; k <= se; {
		rs, err := b.decode(ac)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), int(rs&15)
		if s == 0 {
			if r < 15 {
				d.eobrun = 1<<uint(r) - 1
				if r > 0 {
					d.eobrun += b.bits(r)
				}
				break
			}
			k += 16
			continue
		}
		k += r
		if k > se {
			break // a run past the band ends the block, as in image/jpeg
		}
		coef[unzig[k]] = int16(b.receive(s) << uint(al))
		if uint8(k) > *nz {
			*nz = uint8(k)
		}
		k++
	}
	return nil
}

func (d *decoder) acRefine(c *component, coef []int16, nz *uint8, ss, se, al int) error {
	b := &d.br
	p1 := int16(1) << uint(al)
	m1 := int16(-1) << uint(al)
	coef = coef[:64:64]
	k := ss
	// The bit buffer lives in locals, as in baselineBlock.
	acc, nb := b.acc, b.nb
	if d.eobrun == 0 {
		ac := &d.ac[c.ta]
		for ; k <= se; k++ {
			if nb < 32 {
				b.acc, b.nb = acc, nb
				b.fill()
				acc, nb = b.acc, b.nb
			}
			var rs byte
			if e := ac.fast[acc>>(64-lookBits)]; e != 0 {
				n := uint(e >> 8)
				acc <<= n
				nb -= int(n)
				rs = byte(e)
			} else {
				b.acc, b.nb = acc, nb
				var err error
				if rs, err = b.decode(ac); err != nil {
					return err
				}
				acc, nb = b.acc, b.nb
			}
			// At least 16 bits are left: enough for what follows the code.
			r, s := int(rs>>4), int(rs&15)
			var val int16
			switch s {
			case 0:
				if r < 15 {
					d.eobrun = 1 << uint(r)
					if r > 0 {
						d.eobrun += int32(acc >> uint(64-r))
						acc <<= uint(r)
						nb -= r
					}
				}
			case 1:
				val = m1
				if acc>>63 != 0 {
					val = p1
				}
				acc <<= 1
				nb--
			default:
				b.acc, b.nb = acc, nb
				return corrupt("bad Huffman code in refinement scan")
			}
			if d.eobrun > 0 {
				break
			}
			// Pass r zero coefficients (refining the non-zero ones on the
			// way), then place val on the next zero one.
			for ; k <= se; k++ {
				z := unzig[k&63]
				if cz := coef[z]; cz != 0 {
					if nb < 1 {
						b.acc, b.nb = acc, nb
						b.fill()
						acc, nb = b.acc, b.nb
					}
					if acc>>63 != 0 && cz&p1 == 0 {
						if cz >= 0 {
							coef[z] = cz + p1
						} else {
							coef[z] = cz + m1
						}
					}
					acc <<= 1
					nb--
					continue
				}
				if r == 0 {
					if val != 0 {
						coef[z] = val
						if uint8(k) > *nz {
							*nz = uint8(k)
						}
					}
					break
				}
				r--
			}
			if k > se {
				b.acc, b.nb = acc, nb
				return corrupt("too many coefficients")
			}
		}
	}
	if d.eobrun > 0 {
		// Inside an end-of-band run: only correction bits, for the
		// non-zero coefficients, none of which lies past *nz. (This keeps
		// the cost of a run over zero blocks independent of the band.)
		for end := min(se, int(*nz)); k <= end; k++ {
			z := unzig[k&63]
			if cz := coef[z]; cz != 0 {
				if nb < 1 {
					b.acc, b.nb = acc, nb
					b.fill()
					acc, nb = b.acc, b.nb
				}
				if acc>>63 != 0 && cz&p1 == 0 {
					if cz >= 0 {
						coef[z] = cz + p1
					} else {
						coef[z] = cz + m1
					}
				}
				acc <<= 1
				nb--
			}
		}
		d.eobrun--
	}
	b.acc, b.nb = acc, nb
	return nil
}

// finishProgressive dequantizes and transforms every block, the rows of
// blocks split across the free tokens of d.pool.
func (d *decoder) finishProgressive() error {
	rows := 0
	for i := 0; i < d.ncomp; i++ {
		if d.comp[i].scanned {
			rows += d.comp[i].bh
		}
	}
	var err error
	if d.pool != nil && rows*d.comp[0].bw >= d.pipeMin {
		err = d.pool.Split(rows, d.pool.Size(), func(lo, hi int) { d.finishRows(lo, hi) })
	} else {
		d.finishRows(0, rows)
	}
	for i := 0; i < d.ncomp; i++ {
		d.comp[i].coef, d.comp[i].nz = nil, nil
	}
	return err
}

// finishRows transforms the block rows lo..hi-1, counting the rows of
// the scanned components one after the other. Components never scanned
// stay zero, as image/jpeg leaves them.
func (d *decoder) finishRows(lo, hi int) {
	bs := 8 / d.scale
	var blk [64]int32
	first := 0
	for i := 0; i < d.ncomp; i++ {
		c := &d.comp[i]
		if !c.scanned {
			continue
		}
		q := &d.quant[c.tq]
		for by := max(lo-first, 0); by < min(hi-first, c.bh); by++ {
			for bx := 0; bx < c.bw; bx++ {
				coef := c.coef[(by*c.bw+bx)*64:][:64:64]
				if d.scale == 8 {
					blk[0] = int32(coef[0]) * q[0] // the mean is all 1/8 needs
					d.emit(c, &blk, 0, bx, by)
					continue
				}
				last := 0
				for k := 0; k < 64; k++ {
					z := unzig[k]
					blk[z] = int32(coef[z]) * q[k]
					if coef[z] != 0 {
						last = k
					}
				}
				d.emit(c, &blk, last, bx*bs, by*bs)
			}
		}
		first += c.bh
	}
}

// output assembles the image.
func (d *decoder) output() (image.Image, error) {
	if d.progressive {
		if err := d.finishProgressive(); err != nil {
			return nil, err
		}
	}
	w, h := ScaledSize(d.width, d.height, d.scale)
	r := image.Rect(0, 0, w, h)
	c := &d.comp
	switch d.ncomp {
	case 1:
		return &image.Gray{Pix: c[0].plane, Stride: c[0].stride, Rect: r}, nil
	case 3:
		if d.isRGB() {
			img := image.NewRGBA(r)
			for y := 0; y < h; y++ {
				row := img.Pix[y*img.Stride:]
				for x := 0; x < w; x++ {
					for j := 0; j < 3; j++ {
						row[4*x+j] = d.sample(j, x, y)
					}
					row[4*x+3] = 255
				}
			}
			return img, nil
		}
		return &image.YCbCr{
			Y: c[0].plane, Cb: c[1].plane, Cr: c[2].plane,
			YStride: c[0].stride, CStride: c[1].stride,
			SubsampleRatio: ratio(c[0].h/c[1].h, c[0].v/c[1].v),
			Rect:           r,
		}, nil
	}
	if !d.adobe {
		return nil, unsupported("4-component JPEG without Adobe APP14 metadata")
	}
	img := image.NewCMYK(r)
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < w; x++ {
			p := row[4*x : 4*x+4 : 4*x+4]
			if d.transform != 0 {
				// YCCK: the YCbCr part gives inverted CMY; K is inverted.
				rr, gg, bb := color.YCbCrToRGB(d.sample(0, x, y), d.sample(1, x, y), d.sample(2, x, y))
				p[0], p[1], p[2], p[3] = rr, gg, bb, 255-d.sample(3, x, y)
			} else {
				for j := 0; j < 4; j++ {
					p[j] = 255 - d.sample(j, x, y)
				}
			}
		}
	}
	return img, nil
}

// sample is component j at output pixel (x, y), the nearest sample of a
// subsampled component.
func (d *decoder) sample(j, x, y int) byte {
	c := &d.comp[j]
	x = x * c.h / d.hmax
	y = y * c.v / d.vmax
	return c.plane[y*c.stride+x]
}
