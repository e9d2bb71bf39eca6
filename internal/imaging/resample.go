package imaging

import (
	"math"

	"github.com/profilephoto/photo/internal/sched"
)

// Fixed-point weights: 14 fractional bits leave room for 255 times the sum
// of a filter's absolute weights in an int32, with margin.
const (
	fixBits = 14
	fixOne  = 1 << fixBits
	fixHalf = 1 << (fixBits - 1)
)

// catmullRom is the Catmull-Rom cubic (Mitchell-Netravali B=0, C=1/2): sharp,
// with small negative lobes, support [-2, 2]. Stretched by the reduction
// ratio, it is the low-pass filter of the final pass; unstretched, it
// interpolates.
func catmullRom(x float64) float64 {
	x = math.Abs(x)
	switch {
	case x < 1:
		return (1.5*x-2.5)*x*x + 1
	case x < 2:
		return ((-0.5*x+2.5)*x-4)*x + 2
	}
	return 0
}

// axis describes one axis of a resampling from a pyramid level to an
// output plane. All positions are in frame units (the stored image's pixel
// grid, origin at its top-left corner).
type axis struct {
	n   int  // level pixels along the axis
	g   geom // where the level's pixels lie
	out int  // output pixels
	// a and b place output pixel j: its centre is at a + b*(j+0.5). b is the
	// output's pixel pitch.
	a, b float64
	// c0 and c1 bound the canvas: the crop, cover square or letterbox
	// square being rendered. Taps past it take its edge.
	c0, c1 float64
	// extent is the image's size along the axis: canvas positions outside
	// [0, extent) are letterbox bars, the background.
	extent float64
	// sub is 1, or 2 for a chroma plane whose pixels cover two output
	// pixels: each output sample is then the mean of the filter at the two
	// positions it covers, like the 2x2 average that a JPEG encoder takes
	// of full-resolution chroma. Filtering at the chroma pitch instead
	// would blur colour edges over twice as many pixels.
	sub int
}

// table holds, for every output pixel j along an axis, the fixed-point
// weights of a run of consecutive level pixels starting at start[j]
// (w[off[j]:off[j+1]]) and the weight of the background, bg[j]. The
// weights of each output sum to fixOne. Level pixels lo to hi-1 are all
// that any output reads (lo == hi when none is).
type table struct {
	start  []int32
	off    []int32
	w      []int32
	bg     []int32
	lo, hi int
}

// newTable computes the filter weights of ax.
func newTable(ax axis) *table {
	t := &table{
		start: make([]int32, ax.out),
		off:   make([]int32, ax.out+1),
		bg:    make([]int32, ax.out),
		lo:    math.MaxInt,
		hi:    math.MinInt,
	}
	sub := max(ax.sub, 1)
	pitch := ax.b / float64(sub)
	stretch := max(pitch/ax.g.s, 1) // level pixels per output sample, at least 1
	radius := 2 * stretch
	// The right canvas edge is exclusive: nudge positions on it into the
	// last pixel inside.
	eps := 1e-7 * ax.g.s
	type tap struct {
		idx int
		w   float64
	}
	var taps []tap
	var dense []float64
	var q []int32
	for j := range ax.out {
		taps = taps[:0]
		bgw := 0.0
		lo, hi := math.MaxInt, math.MinInt
		for si := range sub {
			centre := ax.a + ax.b*float64(j) + pitch*(float64(si)+0.5)
			u := (centre - ax.g.o) / ax.g.s
			kmin := int(math.Floor(u - radius - 0.5))
			kmax := int(math.Ceil(u + radius - 0.5))
			total := 0.0
			for k := kmin; k <= kmax; k++ {
				total += catmullRom((float64(k) + 0.5 - u) / stretch)
			}
			if total <= 1e-9 {
				// Cannot happen for a kernel sampled at unit spacing.
				continue
			}
			// Each sub-sample contributes 1/sub of the output.
			norm := total * float64(sub)
			for k := kmin; k <= kmax; k++ {
				wt := catmullRom((float64(k) + 0.5 - u) / stretch)
				if wt == 0 {
					continue
				}
				wt /= norm
				// Past the canvas, the canvas's edge pixel stands in.
				x := ax.g.o + ax.g.s*(float64(k)+0.5)
				x = min(max(x, ax.c0), ax.c1-eps)
				kk := math.Floor((x - ax.g.o) / ax.g.s)
				// The part of the pixel's footprint (within the canvas)
				// that the image covers is content; the rest is letterbox
				// bar. Splitting the weight, rather than going by the
				// pixel's centre, keeps bar edges in place at coarse
				// levels, whose last pixel may straddle the image's edge
				// or be missing (halve drops an odd last row).
				f0 := max(ax.g.o+ax.g.s*kk, ax.c0)
				f1 := min(ax.g.o+ax.g.s*(kk+1), ax.c1)
				in := 1.0
				if f1 > f0 {
					in = max(0, min(f1, ax.extent)-max(f0, 0)) / (f1 - f0)
				}
				bgw += wt * (1 - in)
				if in == 0 {
					continue
				}
				idx := min(max(int(kk), 0), ax.n-1)
				taps = append(taps, tap{idx, wt * in})
				lo, hi = min(lo, idx), max(hi, idx)
			}
		}
		total := bgw
		for _, tp := range taps {
			total += tp.w
		}
		if total <= 1e-9 {
			// Cannot happen for a kernel sampled at unit spacing; keep
			// the table sane regardless.
			taps, bgw, total = taps[:0], 1, 1
			lo, hi = math.MaxInt, math.MinInt
		}
		qbg := int32(math.Round(bgw / total * fixOne))
		q = q[:0]
		if len(taps) > 0 {
			dense = append(dense[:0], make([]float64, hi-lo+1)...)
			for _, tp := range taps {
				dense[tp.idx-lo] += tp.w / total
			}
			for _, v := range dense {
				q = append(q, int32(math.Round(v*fixOne)))
			}
		}
		// Give the rounding residue to the largest weight so that the sum
		// is exact and flat areas stay flat.
		sum, big := qbg, -1
		for i, v := range q {
			sum += v
			if big < 0 || abs32(v) > abs32(q[big]) {
				big = i
			}
		}
		if big >= 0 && abs32(q[big]) >= abs32(qbg) {
			q[big] += fixOne - sum
		} else {
			qbg += fixOne - sum
		}
		// Trim zero weights at both ends.
		first, last := 0, len(q)
		for first < last && q[first] == 0 {
			first++
		}
		for last > first && q[last-1] == 0 {
			last--
		}
		if first < last {
			t.start[j] = int32(lo + first)
			t.lo = min(t.lo, lo+first)
			t.hi = max(t.hi, lo+last)
			t.w = append(t.w, q[first:last]...)
		}
		t.bg[j] = qbg
		t.off[j+1] = int32(len(t.w))
	}
	if t.lo > t.hi {
		t.lo, t.hi = 0, 0
	}
	return t
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// shifted returns t for a plane whose pixel 0 is pixel -d of the original.
func (t *table) shifted(d int) *table {
	c := *t
	c.start = make([]int32, len(t.start))
	for j, v := range t.start {
		c.start[j] = v + int32(d)
	}
	c.lo, c.hi = t.lo+d, t.hi+d
	return &c
}

// identity reports whether the table copies level pixels first, first+1,
// ... unchanged, and returns first.
func (t *table) identity() (first int, ok bool) {
	for j := range t.bg {
		if t.bg[j] != 0 || t.off[j+1]-t.off[j] != 1 || t.w[t.off[j]] != fixOne || t.start[j] != t.start[0]+int32(j) {
			return 0, false
		}
	}
	if len(t.bg) == 0 {
		return 0, false
	}
	return int(t.start[0]), true
}

// bgAcc returns, for every output pixel and channel, the background's
// contribution plus the rounding half, the starting value of each sum.
func (t *table) bgAcc(bg []uint8) []int32 {
	ch := len(bg)
	acc := make([]int32, len(t.bg)*ch)
	for j, w := range t.bg {
		for c, v := range bg {
			acc[j*ch+c] = w*int32(v) + fixHalf
		}
	}
	return acc
}

// clip turns a fixed-point sum (rounding half included) into a sample.
func clip(acc int32) uint8 {
	v := acc >> fixBits
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// hpass resamples rows lo to hi-1 of src along x; row r of the result is
// row lo+r of src. A table that only copies gives a view of src.
func hpass(pool *sched.Pool, src plane, lo, hi int, t *table, bg []uint8) (plane, error) {
	out := len(t.bg)
	if first, ok := t.identity(); ok {
		return plane{pix: src.pix[lo*src.stride+first*src.ch:], stride: src.stride, w: out, h: hi - lo, ch: src.ch}, nil
	}
	dst := newPlane(out, hi-lo, src.ch)
	acc0 := t.bgAcc(bg)
	runs := t.runs()
	ops := max(len(t.w), 1) * src.ch
	err := forRows(pool, hi-lo, ops, func(r0, r1 int) {
		r := r0
		if src.ch == 1 {
			// Two rows at a time: each weight is loaded once for both.
			for ; r+1 < r1; r += 2 {
				hrowGray2(dst.row(r), dst.row(r+1), src.row(lo+r), src.row(lo+r+1), runs, t.w, acc0)
			}
		}
		for ; r < r1; r++ {
			if src.ch == 1 {
				hrowGray(dst.row(r), src.row(lo+r), runs, t.w, acc0)
			} else {
				hrow(dst.row(r), src.row(lo+r), runs, t.w, acc0, src.ch)
			}
		}
	})
	return dst, err
}

// run is where the weights of one output pixel are and what they read.
type run struct {
	start, off, n int32
}

func (t *table) runs() []run {
	rs := make([]run, len(t.bg))
	for j := range rs {
		rs[j] = run{start: t.start[j], off: t.off[j], n: t.off[j+1] - t.off[j]}
	}
	return rs
}

func hrowGray(d, s []uint8, runs []run, w, acc0 []int32) {
	d = d[:len(runs)]
	for j, r := range runs {
		ws := w[r.off : r.off+r.n]
		acc := acc0[j]
		p := s[r.start:]
		p = p[:len(ws)]
		for i, wt := range ws {
			acc += wt * int32(p[i])
		}
		d[j] = clip(acc)
	}
}

func hrowGray2(d0, d1, s0, s1 []uint8, runs []run, w, acc0 []int32) {
	d0 = d0[:len(runs)]
	d1 = d1[:len(runs)]
	for j, r := range runs {
		ws := w[r.off : r.off+r.n]
		a0, a1 := acc0[j], acc0[j]
		p0 := s0[r.start:]
		p0 = p0[:len(ws)]
		p1 := s1[r.start:]
		p1 = p1[:len(ws)]
		for i, wt := range ws {
			a0 += wt * int32(p0[i])
			a1 += wt * int32(p1[i])
		}
		d0[j] = clip(a0)
		d1[j] = clip(a1)
	}
}

func hrow(d, s []uint8, runs []run, w, acc0 []int32, ch int) {
	if ch == 4 {
		for j, r := range runs {
			ws := w[r.off : r.off+r.n]
			a := acc0[4*j : 4*j+4 : 4*j+4]
			cr, cg, cb, ca := a[0], a[1], a[2], a[3]
			p := s[4*r.start:]
			p = p[:4*len(ws)]
			for i, wt := range ws {
				q := p[4*i : 4*i+4 : 4*i+4]
				cr += wt * int32(q[0])
				cg += wt * int32(q[1])
				cb += wt * int32(q[2])
				ca += wt * int32(q[3])
			}
			o := d[4*j : 4*j+4 : 4*j+4]
			o[0], o[1], o[2], o[3] = clip(cr), clip(cg), clip(cb), clip(ca)
		}
		return
	}
	for j, r := range runs {
		ws := w[r.off : r.off+r.n]
		base := int(r.start) * ch
		for c := range ch {
			acc := acc0[j*ch+c]
			for i, wt := range ws {
				acc += wt * int32(s[base+i*ch+c])
			}
			d[j*ch+c] = clip(acc)
		}
	}
}

// vpass resamples src along y, where row r of src is level row lo+r. A
// table that only copies gives a view of src.
func vpass(pool *sched.Pool, src plane, lo int, t *table, bg []uint8) (plane, error) {
	out := len(t.bg)
	if first, ok := t.identity(); ok {
		return plane{pix: src.pix[(first-lo)*src.stride:], stride: src.stride, w: src.w, h: out, ch: src.ch}, nil
	}
	dst := newPlane(src.w, out, src.ch)
	n := src.w * src.ch
	ch := src.ch
	err := forRows(pool, out, n*max(1, len(t.w)/max(1, out)), func(j0, j1 int) {
		acc := make([]int32, n)
		for j := j0; j < j1; j++ {
			for c := range ch {
				v := t.bg[j]*int32(bg[c]) + fixHalf
				for x := c; x < n; x += ch {
					acc[x] = v
				}
			}
			ws := t.w[t.off[j]:t.off[j+1]]
			base := int(t.start[j]) - lo
			row := func(i int) []uint8 { return src.row(base + i)[:len(acc)] }
			i := 0
			// Four rows at a time: a quarter of the loads and stores of
			// the sums.
			for ; i+4 <= len(ws); i += 4 {
				w0, w1, w2, w3 := ws[i], ws[i+1], ws[i+2], ws[i+3]
				s0, s1, s2, s3 := row(i), row(i+1), row(i+2), row(i+3)
				for x := range acc {
					acc[x] += w0*int32(s0[x]) + w1*int32(s1[x]) + w2*int32(s2[x]) + w3*int32(s3[x])
				}
			}
			for ; i < len(ws); i++ {
				w0, s0 := ws[i], row(i)
				for x := range acc {
					acc[x] += w0 * int32(s0[x])
				}
			}
			d := dst.row(j)
			d = d[:len(acc)]
			for x, v := range acc {
				d[x] = clip(v)
			}
		}
	})
	return dst, err
}
