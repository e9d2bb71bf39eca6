package imaging

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"slices"

	"github.com/profilephoto/photo/internal/sched"
)

// output is one image that render makes.
type output struct {
	size   int             // Encoded.Size: 0 for the original
	w, h   int             // upright size
	canvas image.Rectangle // what it shows, in stored coordinates
	same   int             // index of an identical earlier output, or -1
}

// shape is the size and place of a pyramid level, known before it is made.
type shape struct {
	w, h   int
	gx, gy geom
}

func shapeOf(l level) shape { return shape{l.w, l.h, l.gx, l.gy} }

// chainFrom returns the shapes of every level that halving a base of
// shape b can give, b first; halve makes exactly these.
func chainFrom(b shape) []shape {
	s := []shape{b}
	for {
		c := s[len(s)-1]
		if c.w < 2 && c.h < 2 {
			return s
		}
		if c.w >= 2 {
			c.w /= 2
			c.gx.s *= 2
		}
		if c.h >= 2 {
			c.h /= 2
			c.gy.s *= 2
		}
		s = append(s, c)
	}
}

// reduceGap is how much of the reduction the final filter keeps for
// itself: pyramid levels are used down to within 2*reduceGap of the
// output, so the last pass reduces by 2 to 4. Halving until within 2x
// would be cheaper (3% of Render's CPU time at 1 MP, 13% at 12 MP), but each
// 2x2 box halving keeps much of the band just below its own Nyquist limit
// (71% of a quarter-frequency sine), which folds into frequencies that
// the final pass must keep: fine stripes then come out as moire with up to
// a third of their contrast (TestStripesAboveNyquist). libvips and Pillow
// keep the same gap of 2 for their box reductions.
const reduceGap = 2

// job is the work for one plane of one output: the pyramid and level to
// read and how each axis maps onto it.
type job struct {
	src, level int
	ax, ay     axis
}

// slack absorbs rounding when pitches are compared.
const slack = 1 + 1e-9

func render(ctx context.Context, img image.Image, spec Spec, withOriginal bool) (res *Result, err error) {
	if img == nil {
		return nil, fmt.Errorf("%w: no image", ErrInvalid)
	}
	r := img.Bounds()
	pool := ownPool(spec.Pool)
	return renderFrom(ctx, r.Dx(), r.Dy(), func(int) (*raster, error) { return newRaster(pool, img) }, 0, spec, withOriginal)
}

// renderFrom is render for an image of w by h stored pixels whose working
// form mk makes. mk is given the number of 2x2 halvings it may apply while
// it decodes (at most maxShift): the most that still leaves every output
// at least one level pixel per output pixel.
func renderFrom(ctx context.Context, w, h int, mk func(shift int) (*raster, error), maxShift int, spec Spec, withOriginal bool) (res *Result, err error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("%w: the image is empty (%dx%d)", ErrInvalid, w, h)
	}
	quality := spec.JPEGQuality
	if quality == 0 {
		quality = DefaultJPEGQuality
	}
	quality = min(max(quality, 1), 100)
	for _, s := range spec.Sizes {
		if s < 1 {
			return nil, fmt.Errorf("%w: rendition size %d", ErrInvalid, s)
		}
	}
	if spec.Fit != Letterbox && spec.Fit != Cover {
		return nil, fmt.Errorf("%w: unknown fit %d", ErrInvalid, spec.Fit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	outs, err := outputs(w, h, spec, withOriginal)
	if err != nil {
		return nil, err
	}
	ras, err := mk(min(maxShift, shiftFor(w, h, spec.Orientation, outs)))
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := orientationOf(spec.Orientation)
	if ras.w != w || ras.h != h {
		return nil, fmt.Errorf("imaging: internal error: a %dx%d raster for a %dx%d image", ras.w, ras.h, w, h)
	}

	bounds := image.Rect(0, 0, ras.w, ras.h)
	letterbox := slices.ContainsFunc(outs, func(out output) bool { return !out.canvas.In(bounds) })
	bg := spec.Background
	if ras.kind == kindGray && letterbox && (bg.R != bg.G || bg.G != bg.B) {
		// Coloured bars around a gray image: add constant chroma planes,
		// one sample each, covering the whole frame.
		neutral := plane{pix: []uint8{128}, stride: 1, w: 1, h: 1, ch: 1}
		g := geom{s: float64(ras.w)}
		gy := geom{s: float64(ras.h)}
		ras.kind = kindYCbCr
		ras.planes = append(ras.planes, single(neutral, g, gy, true), single(neutral, g, gy, true))
	}
	bgs := backgrounds(ras, bg)

	// Plan every plane of every output. Each plane has one or two
	// pyramids to read from: the image's own, and once the original is
	// made (when it is smaller than the image), the original's, already
	// filtered, from which smaller outputs are made more cheaply than from
	// the full image. Every output takes the coarsest level that leaves
	// its final pass a reduction of at least reduceGap.
	np := len(ras.planes)
	pyrs := make([][]*pyramid, np)
	chains := make([][][]shape, np)
	for pi, p := range ras.planes {
		pyrs[pi] = []*pyramid{p}
		chains[pi] = [][]shape{chainFrom(shapeOf(p.levels[0]))}
	}
	jobs := make([][]job, len(outs))
	planOut := func(i int) {
		jobs[i] = make([]job, np)
		for pi, p := range ras.planes {
			jobs[i][pi] = plan(ras, o, outs[i], p.chroma, chains[pi])
		}
	}
	if withOriginal {
		planOut(0)
		for pi, p := range ras.planes {
			ax, ay := jobs[0][pi].ax, jobs[0][pi].ay
			base := p.levels[0]
			if ax.b > base.gx.s*slack && ay.b > base.gy.s*slack {
				pyrs[pi] = append(pyrs[pi], &pyramid{chroma: p.chroma})
				chains[pi] = append(chains[pi], chainFrom(shape{ax.out, ay.out, geom{ax.a, ax.b}, geom{ay.a, ay.b}}))
			}
		}
	}
	for i, out := range outs {
		if out.same < 0 && jobs[i] == nil {
			planOut(i)
		}
	}
	// build makes the levels of pyramid src of every plane that some
	// output reads.
	build := func(src int) error {
		for pi, ps := range pyrs {
			if src >= len(ps) {
				continue
			}
			need := -1
			for _, js := range jobs {
				if js != nil && js[pi].src == src {
					need = max(need, js[pi].level)
				}
			}
			p := ps[src]
			for len(p.levels) <= need {
				if err := ctx.Err(); err != nil {
					return err
				}
				next, ok, err := halve(ras.pool, p.levels[len(p.levels)-1], len(p.levels)%2 == 0)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("imaging: internal error: level %d of a %dx%d plane", len(p.levels), p.levels[0].w, p.levels[0].h)
				}
				p.levels = append(p.levels, next)
			}
		}
		return nil
	}
	if err := build(0); err != nil {
		return nil, err
	}

	// Resample the outputs one after another, the original first, then
	// largest first, each pass spread over the free cores; encode each as
	// soon as it is ready, on a goroutine of its own while a core is free
	// (in parallel with the next), else right here.
	order := make([]int, 0, len(outs))
	for i, out := range outs {
		if out.same < 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		if withOriginal && (a == 0 || b == 0) {
			return a - b
		}
		return outs[b].w*outs[b].h - outs[a].w*outs[a].h
	})
	encoded := make([]Encoded, len(outs))
	// smallest is the output whose pixels Result.Smallest keeps.
	// A rendition identical to an earlier output (the original, for a
	// small source) is that output's pixels.
	smallest := -1
	for i, out := range outs {
		if i == 0 && withOriginal {
			continue
		}
		j := i
		if out.same >= 0 {
			j = out.same
		}
		if smallest < 0 || outs[j].w*outs[j].h < outs[smallest].w*outs[smallest].h {
			smallest = j
		}
	}
	var kept image.Image
	var waits []func() error
	defer func() {
		for _, wait := range waits {
			wait()
		}
	}()
	for _, i := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out := outs[i]
		planes := make([]plane, np)
		for pi := range ras.planes {
			jb := jobs[i][pi]
			l := pyrs[pi][jb.src].levels[jb.level]
			pl, err := resample(ras.pool, l, jb.ax, jb.ay, bgs[pi])
			if err != nil {
				return nil, err
			}
			planes[pi] = pl
		}
		if withOriginal && i == 0 {
			// The original, in stored orientation, is the base of the
			// second pyramids. The encoder only reads it too.
			for pi, ps := range pyrs {
				if len(ps) > 1 {
					jb := jobs[0][pi]
					ps[1].levels = []level{{plane: planes[pi], gx: geom{jb.ax.a, jb.ax.b}, gy: geom{jb.ay.a, jb.ay.b}}}
				}
			}
			if err := build(1); err != nil {
				return nil, err
			}
		}
		waits = append(waits, ras.pool.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			e, m, err := finish(ras, o, planes, out, bg, quality, spec.Encoder)
			encoded[i] = e
			if i == smallest {
				kept = m
			}
			return err
		}))
	}
	for _, wait := range waits {
		if err := wait(); err != nil {
			return nil, err
		}
	}
	waits = nil
	res = &Result{Smallest: kept}
	for i, out := range outs {
		e := encoded[i]
		if out.same >= 0 {
			e = encoded[out.same]
		}
		e.Size = out.size
		if i == 0 && withOriginal {
			res.Original = e
		} else {
			res.Renditions = append(res.Renditions, e)
		}
	}
	return res, nil
}

// outputs returns what render makes of an image of w by h stored pixels:
// the original (when withOriginal) and the renditions, in spec's order,
// each marked when an earlier one is identical.
func outputs(w, h int, spec Spec, withOriginal bool) ([]output, error) {
	o := orientationOf(spec.Orientation)
	uw, uh := o.storedSize(w, h) // the swap is its own inverse
	whole := image.Rect(0, 0, uw, uh)
	var outs []output
	if withOriginal {
		w, h := within(uw, uh, spec.OriginalMaxSide)
		outs = append(outs, output{size: 0, w: w, h: h, canvas: o.storedRect(whole, uw, uh), same: -1})
	}
	sq, err := square(spec, uw, uh)
	if err != nil {
		return nil, err
	}
	for _, s := range spec.Sizes {
		d := min(s, sq.Dx())
		outs = append(outs, output{size: s, w: d, h: d, canvas: o.storedRect(sq, uw, uh), same: -1})
	}
	for i := range outs {
		for j := range i {
			if outs[j].same < 0 && outs[j].w == outs[i].w && outs[j].h == outs[i].h && outs[j].canvas == outs[i].canvas {
				outs[i].same = j
				break
			}
		}
	}
	return outs, nil
}

// shiftFor returns how many 2x2 halvings an image of w by h stored pixels
// can take before any of outs would have fewer level pixels than output
// pixels along an axis (and while both sides stay at least 2). The
// finest output's final pass then reduces by 1 to 2, rather than the 2
// to 4 that reduceGap keeps when the full image is at hand: a little
// softer, in exchange for a quarter of the memory at each step.
func shiftFor(w, h, orient int, outs []output) int {
	o := orientationOf(orient)
	pitch := math.Inf(1)
	for _, out := range outs {
		if out.same >= 0 {
			continue
		}
		sw, sh := o.storedSize(out.w, out.h)
		pitch = min(pitch, float64(out.canvas.Dx())/float64(sw), float64(out.canvas.Dy())/float64(sh))
	}
	k := 0
	for s := 2.0; s <= pitch*slack && w >= 2 && h >= 2; s *= 2 {
		k++
		w, h = w/2, h/2
	}
	return k
}

// within returns the size of a w by h image scaled down, aspect kept, so
// that neither side exceeds limit (0: no limit). No side becomes 0.
func within(w, h, limit int) (int, int) {
	long := max(w, h)
	if limit <= 0 || long <= limit {
		return w, h
	}
	scale := func(v int) int { return max(1, (v*limit+long/2)/long) }
	return scale(w), scale(h)
}

// square returns the square that the renditions show, in upright
// coordinates: the crop, the centred cover square, or the letterbox square
// around the image (which extends past it).
func square(spec Spec, w, h int) (image.Rectangle, error) {
	switch c := spec.Crop; {
	case !c.Empty():
		if c.Dx() != c.Dy() || !c.In(image.Rect(0, 0, w, h)) {
			return image.Rectangle{}, fmt.Errorf("%w: crop %v is not a square inside the %dx%d image", ErrInvalid, c, w, h)
		}
		return c, nil
	case w == h:
		return image.Rect(0, 0, w, h), nil
	case spec.Fit == Cover:
		side := min(w, h)
		return image.Rect(0, 0, side, side).Add(image.Pt((w-side)/2, (h-side)/2)), nil
	default:
		side := max(w, h)
		return image.Rect(0, 0, side, side).Sub(image.Pt((side-w)/2, (side-h)/2)), nil
	}
}

// backgrounds returns the background sample of each plane: the colour of
// the letterbox bars.
func backgrounds(ras *raster, bg color.NRGBA) [][]uint8 {
	switch ras.kind {
	case kindYCbCr:
		y, cb, cr := color.RGBToYCbCr(bg.R, bg.G, bg.B)
		return [][]uint8{{y}, {cb}, {cr}}
	case kindGray:
		y, _, _ := color.RGBToYCbCr(bg.R, bg.G, bg.B)
		return [][]uint8{{y}}
	}
	if ras.alpha {
		// Output that keeps transparency gets transparent bars.
		return [][]uint8{{0, 0, 0, 0}}
	}
	return [][]uint8{{bg.R, bg.G, bg.B, 255}}
}

// plan works out how one plane of an output is made: which pyramid and
// level it reads and how each axis maps onto it. Outputs are planned in
// stored orientation; chroma output planes are 4:2:0 and, along an axis
// that orientation reverses, aligned to the far edge, so that turning them
// upright gives exactly the 4:2:0 planes of the upright image.
func plan(ras *raster, o orientation, out output, chroma bool, chains [][]shape) job {
	sw, sh := o.storedSize(out.w, out.h)
	c := out.canvas
	mk := func(n, c0, c1 int, extent int, flip bool) axis {
		k := float64(c1-c0) / float64(n) // frame units per output pixel
		ax := axis{out: n, a: float64(c0), b: k, c0: float64(c0), c1: float64(c1), extent: float64(extent)}
		if chroma {
			ax.out = (n + 1) / 2
			ax.b = 2 * k
			if flip {
				ax.a += k * float64(n-2*ax.out)
			}
		}
		return ax
	}
	ax := mk(sw, c.Min.X, c.Max.X, ras.w, o.flipX)
	ay := mk(sh, c.Min.Y, c.Max.Y, ras.h, o.flipY)
	// The coarsest level whose pixels are at most 1/reduceGap of the
	// output plane's, from whichever pyramid has it; the finest level of
	// the image's own pyramid if none is that fine.
	jb := job{ax: ax, ay: ay}
	best := -1.0
	for ci, ch := range chains {
		for li, l := range ch {
			if l.gx.s*reduceGap <= ax.b*slack && l.gy.s*reduceGap <= ay.b*slack && l.gx.s*l.gy.s > best {
				best = l.gx.s * l.gy.s
				jb.src, jb.level = ci, li
			}
		}
	}
	l := chains[jb.src][jb.level]
	jb.ax.n, jb.ax.g = l.w, l.gx
	jb.ay.n, jb.ay.g = l.h, l.gy
	if chroma {
		// Averaging pairs only helps where the level holds finer detail
		// than the output's chroma; where it does not (a 4:2:0 source
		// rendered at its own size), one sample copies it exactly.
		jb.ax.sub, jb.ay.sub = 1, 1
		if l.gx.s*slack < ax.b {
			jb.ax.sub = 2
		}
		if l.gy.s*slack < ay.b {
			jb.ay.sub = 2
		}
	}
	return jb
}

// resample makes one output plane from a level with two separable
// passes, each over only the rows or columns the other needs. The order is
// the cheaper one: a vertical pass costs about 0.6 of a horizontal pass
// per tap and sample (it runs along rows, four taps at a time), so large
// reductions go vertical first.
func resample(pool *sched.Pool, l level, ax, ay axis, bg []uint8) (plane, error) {
	tx, ty := newTable(ax), newTable(ay)
	if ty.hi <= ty.lo || tx.hi <= tx.lo {
		// No pixel of the level is read: all background.
		p := newPlane(ax.out, ay.out, l.ch)
		for i := range p.pix {
			p.pix[i] = bg[i%l.ch]
		}
		return p, nil
	}
	const hCost, vCost = 5, 3
	rows, cols := ty.hi-ty.lo, tx.hi-tx.lo
	hFirst := rows*len(tx.w)*hCost + len(ty.w)*ax.out*vCost
	vFirst := len(ty.w)*cols*vCost + ay.out*len(tx.w)*hCost
	if vFirst < hFirst {
		// The vertical pass over columns tx.lo to tx.hi-1 only.
		cut := plane{pix: l.pix[tx.lo*l.ch:], stride: l.stride, w: cols, h: l.h, ch: l.ch}
		inter, err := vpass(pool, cut, 0, ty, bg)
		if err != nil {
			return plane{}, err
		}
		return hpass(pool, inter, 0, inter.h, tx.shifted(-tx.lo), bg)
	}
	inter, err := hpass(pool, l.plane, ty.lo, ty.hi, tx, bg)
	if err != nil {
		return plane{}, err
	}
	return vpass(pool, inter, ty.lo, ty, bg)
}
