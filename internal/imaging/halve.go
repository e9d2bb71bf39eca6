package imaging

import "github.com/profilephoto/photo/internal/sched"

// halve returns the next, coarser pyramid level of l: each pixel is the
// average of a 2x2 block (of a 2x1 or 1x2 pair when one axis is down to a
// single pixel). A trailing odd row or column is left out rather than
// averaged with itself, so that every pixel of the new level is a true box
// average centred where its geometry says; the resampler clamps to the
// edge, so the half pixel lost there does not show. odd alternates the
// rounding between levels so that repeated halving does not drift brighter.
// halve reports false when l cannot shrink.
func halve(pool *sched.Pool, l level, odd bool) (level, bool, error) {
	hx, hy := l.w >= 2, l.h >= 2
	if !hx && !hy {
		return l, false, nil
	}
	w, h := l.w, l.h
	gx, gy := l.gx, l.gy
	if hx {
		w /= 2
		gx.s *= 2
	}
	if hy {
		h /= 2
		gy.s *= 2
	}
	src := l.plane
	dst := newPlane(w, h, src.ch)
	var err error
	switch {
	case hx && hy:
		rnd := uint32(2)
		if odd {
			rnd = 1
		}
		if src.ch == 1 {
			err = forRows(pool, h, 4*w, func(lo, hi int) { halve2x2Gray(dst, src, lo, hi, rnd) })
		} else {
			err = forRows(pool, h, 4*w*src.ch, func(lo, hi int) { halve2x2(dst, src, lo, hi, rnd) })
		}
	case hx:
		rnd := uint32(1)
		if odd {
			rnd = 0
		}
		err = forRows(pool, h, 2*w*src.ch, func(lo, hi int) { halveX(dst, src, lo, hi, rnd) })
	default:
		rnd := uint32(1)
		if odd {
			rnd = 0
		}
		err = forRows(pool, h, 2*w*src.ch, func(lo, hi int) { halveY(dst, src, lo, hi, rnd) })
	}
	if err != nil {
		return level{}, false, err
	}
	return level{plane: dst, gx: gx, gy: gy}, true, nil
}

func halve2x2Gray(dst, src plane, lo, hi int, rnd uint32) {
	for y := lo; y < hi; y++ {
		d := dst.row(y)
		r0 := src.row(2 * y)[:2*len(d)]
		r1 := src.row(2*y + 1)[:len(r0)]
		for x := range d {
			i := 2 * x
			a := uint32(r0[i]) + uint32(r0[i+1]) + uint32(r1[i]) + uint32(r1[i+1])
			d[x] = uint8((a + rnd) >> 2)
		}
	}
}

func halve2x2(dst, src plane, lo, hi int, rnd uint32) {
	ch := src.ch
	for y := lo; y < hi; y++ {
		d := dst.row(y)
		r0 := src.row(2 * y)[:2*len(d)]
		r1 := src.row(2*y + 1)[:len(r0)]
		for x := 0; x < dst.w; x++ {
			i, o := 2*x*ch, x*ch
			for c := range ch {
				a := uint32(r0[i+c]) + uint32(r0[i+ch+c]) + uint32(r1[i+c]) + uint32(r1[i+ch+c])
				d[o+c] = uint8((a + rnd) >> 2)
			}
		}
	}
}

func halveX(dst, src plane, lo, hi int, rnd uint32) {
	ch := src.ch
	for y := lo; y < hi; y++ {
		d := dst.row(y)
		r := src.row(y)
		for x := 0; x < dst.w; x++ {
			i, o := 2*x*ch, x*ch
			for c := range ch {
				d[o+c] = uint8((uint32(r[i+c]) + uint32(r[i+ch+c]) + rnd) >> 1)
			}
		}
	}
}

func halveY(dst, src plane, lo, hi int, rnd uint32) {
	for y := lo; y < hi; y++ {
		d := dst.row(y)
		r0 := src.row(2 * y)[:len(d)]
		r1 := src.row(2*y + 1)[:len(d)]
		for i := range d {
			d[i] = uint8((uint32(r0[i]) + uint32(r1[i]) + rnd) >> 1)
		}
	}
}
