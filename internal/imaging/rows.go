package imaging

import (
	"context"
	"fmt"

	"github.com/profilephoto/photo/internal/sched"
)

// Rows is an image that a decoder hands over row by row, top to bottom,
// already in the pipeline's working form, so that the whole image is never
// held at its stored depth (package pngdec's Decoder is one).
type Rows interface {
	// Size returns the image's width and height in stored pixels.
	Size() (w, h int)
	// Channels is 1 when rows are gray samples and 4 when they are
	// premultiplied 8-bit RGBA.
	Channels() int
	// ReadRow fills dst (width times Channels() bytes) with the next row.
	// The error for the last row also judges what follows it.
	ReadRow(dst []byte) error
}

// ReadError is the error of RenderRows when Rows.ReadRow failed: the
// decoder refused the data. Err is the decoder's error.
type ReadError struct {
	Row int
	Err error
}

func (e *ReadError) Error() string { return fmt.Sprintf("imaging: row %d: %v", e.Row, e.Err) }

// Unwrap returns the decoder's error.
func (e *ReadError) Unwrap() error { return e.Err }

// RenderRows is Render for an image read row by row. Where every output
// needs far less than full resolution, rows are averaged in 2x2 blocks as
// they arrive (the halvings of Render's pyramid, made on the fly), as long
// as each output keeps at least one level pixel per output pixel: a
// 7000x7000 image whose largest output is 2048 pixels is held as a
// 3500x3500 plane. The outputs are then those of Render on the same
// pixels but for the finest one, whose final pass starts from one halving
// more (a little softer).
func RenderRows(ctx context.Context, src Rows, spec Spec) (*Result, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: no image", ErrInvalid)
	}
	w, h := src.Size()
	ch := src.Channels()
	if ch != 1 && ch != 4 {
		return nil, fmt.Errorf("%w: rows of %d channels", ErrInvalid, ch)
	}
	pool := ownPool(spec.Pool)
	mk := func(shift int) (*raster, error) { return rowsRaster(ctx, pool, src, w, h, ch, shift) }
	return renderFrom(ctx, w, h, mk, 30, spec, !spec.NoOriginal)
}

// rowsRaster reads every row of src and keeps them halved shift times.
// The halvings are those of halve, with the same rounding at each level
// and the same odd last row or column left out, so the plane is exactly
// the pyramid level that halving the full plane would give.
func rowsRaster(ctx context.Context, pool *sched.Pool, src Rows, w, h, ch, shift int) (*raster, error) {
	ws, hs := make([]int, shift+1), make([]int, shift+1)
	ws[0], hs[0] = w, h
	for j := 1; j <= shift; j++ {
		ws[j], hs[j] = ws[j-1]/2, hs[j-1]/2
	}
	base := newPlane(ws[shift], hs[shift], ch)
	ras := &raster{w: w, h: h, kind: kindRGBA, pool: pool}
	if ch == 1 {
		ras.kind = kindGray
	}
	// pending[j] holds an unpaired row of level j; tmp[j] a row of level j
	// being passed down.
	pending := make([][]byte, shift)
	has := make([]bool, shift)
	tmp := make([][]byte, shift+1)
	for j := range shift {
		pending[j] = make([]byte, ws[j]*ch)
		tmp[j+1] = make([]byte, ws[j+1]*ch)
	}
	out := 0
	var push func(j int, row []byte)
	push = func(j int, row []byte) {
		if j == shift {
			if out < base.h {
				copy(base.row(out), row)
			}
			out++
			return
		}
		if !has[j] {
			copy(pending[j], row)
			has[j] = true
			return
		}
		has[j] = false
		// Level j+1 is made as halve makes it: odd levels round up by 2,
		// even ones by 1.
		rnd := uint32(2)
		if (j+1)%2 == 0 {
			rnd = 1
		}
		d, r0, r1 := tmp[j+1], pending[j], row
		for x := range ws[j+1] {
			i, o := 2*x*ch, x*ch
			for c := range ch {
				a := uint32(r0[i+c]) + uint32(r0[i+ch+c]) + uint32(r1[i+c]) + uint32(r1[i+ch+c])
				d[o+c] = uint8((a + rnd) >> 2)
			}
		}
		push(j+1, d)
	}
	var row []byte
	if shift > 0 {
		row = make([]byte, w*ch)
	}
	for y := range h {
		if y%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		dst := row
		if shift == 0 {
			dst = base.row(y)
		}
		if err := src.ReadRow(dst); err != nil {
			return nil, &ReadError{Row: y, Err: err}
		}
		if ch == 4 && !ras.alpha {
			for i := 3; i < len(dst); i += 4 {
				if dst[i] != 255 {
					ras.alpha = true
					break
				}
			}
		}
		if shift > 0 {
			push(0, dst)
		}
	}
	geo := geom{o: 0, s: float64(int(1) << shift)}
	ras.planes = []*pyramid{single(base, geo, geo, false)}
	return ras.check()
}

// Footprint estimates the most bytes that rendering an image of w by h
// stored pixels allocates, besides the decoded image itself: the working
// plane when rows is true (RenderRows; Render works on the decoder's
// planes or converts them, which the caller counts), the pyramid levels,
// the resampler's intermediate rows, and every output with its encoding
// copies. ch is the working form's bytes per pixel: 1 for gray, 3 for
// YCbCr (a bound: chroma is usually subsampled), 4 for RGBA.
func Footprint(w, h, ch int, spec Spec, rows bool) int64 {
	withOriginal := !spec.NoOriginal
	outs, err := outputs(w, h, spec, withOriginal)
	if err != nil || w <= 0 || h <= 0 {
		return 0
	}
	shift := 0
	if rows {
		shift = shiftFor(w, h, spec.Orientation, outs)
	}
	lw, lh := int64(w>>shift), int64(h>>shift)
	c := int64(ch)
	base := lw * lh * c
	var n int64
	if rows {
		n += base + 2*int64(w)*8 // the plane, the decoder's two rows
	}
	n += base / 3 // the pyramid's further levels
	for i, out := range outs {
		if out.same >= 0 {
			continue
		}
		px := int64(out.w) * int64(out.h)
		side := int64(max(out.w, out.h))
		// The plane, and the resampler's intermediate plane: one output
		// side by the level's other side, where the level is the base
		// for the original and at most four times the output for the
		// others (the pyramid level it reads).
		orig := withOriginal && i == 0
		lvl := max(lw, lh)
		if !orig {
			lvl = min(lvl, 4*side+8)
		}
		n += px*c + side*lvl*c
		if orig {
			n += px * c / 3 // the original's own pyramid
		}
		// Turning upright, unpremultiplying or flattening, and the
		// encoder's buffers: three RGBA-sized copies at most; a quarter
		// of that for YCbCr and gray, encoded from their own planes.
		if ch == 4 {
			// Plus a PNG encoder's compressor state, for output with
			// transparency.
			n += px*12 + 3<<19
		} else {
			n += px * 3
		}
	}
	return n + 1<<20
}
