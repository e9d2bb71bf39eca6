package photo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/profilephoto/photo/internal/heifdec"
	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/imgcheck"
	"github.com/profilephoto/photo/internal/pngdec"
)

// Defaults of the memory budget's options.
const (
	// defaultMemoryBudget is Options.MemoryBudget's default: 512 MiB.
	defaultMemoryBudget = 512 << 20
	// defaultMaxWait is Options.MaxWait's default.
	defaultMaxWait = 5 * time.Second
)

// gate admits decodes and renders while their estimated memory fits the
// budget and a CPU slot is free, first come first served. An image whose
// estimate alone exceeds the budget is admitted once nothing else runs,
// and holds the whole budget while it does.
type gate struct {
	mu     sync.Mutex
	budget int64
	slots  int
	used   int64
	active int
	queue  []*waiter
}

type waiter struct {
	need     int64
	ready    chan struct{}
	admitted bool
}

func newGate(budget int64, slots int) *gate {
	return &gate{budget: budget, slots: slots}
}

func (g *gate) fits(need int64) bool {
	return g.active < g.slots && (g.active == 0 || g.used+need <= g.budget)
}

// admit lets in waiters from the head of the queue while they fit. The
// caller holds g.mu.
func (g *gate) admit() {
	for len(g.queue) > 0 && g.fits(g.queue[0].need) {
		w := g.queue[0]
		g.queue = g.queue[1:]
		g.used += w.need
		g.active++
		w.admitted = true
		close(w.ready)
	}
}

// acquire waits until need bytes and a slot are free, at most maxWait and
// while ctx lasts. It returns an error wrapping ErrBusy when the wait runs
// out, or ctx.Err().
func (g *gate) acquire(ctx context.Context, need int64, maxWait time.Duration) error {
	g.mu.Lock()
	if len(g.queue) == 0 && g.fits(need) {
		g.used += need
		g.active++
		g.mu.Unlock()
		return nil
	}
	w := &waiter{need: need, ready: make(chan struct{})}
	g.queue = append(g.queue, w)
	g.mu.Unlock()

	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = &Error{Code: ErrBusy, Err: fmt.Errorf("no room within %v for an image that needs %d MiB of the %d MiB memory budget and a CPU slot",
			maxWait, (need+1<<20-1)>>20, g.budget>>20)}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.admitted {
		// Let in just as the wait ended: the room is ours after all.
		return nil
	}
	for i, q := range g.queue {
		if q == w {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			break
		}
	}
	g.admit() // the head may have changed
	return err
}

// release returns what acquire(need) took.
func (g *gate) release(need int64) {
	g.mu.Lock()
	g.used -= need
	g.active--
	g.admit()
	g.mu.Unlock()
}

// footprint estimates the bytes that decoding and rendering src allocate,
// from what inspect read of its header, before anything is decoded:
//
//	decoder + pipeline
//
// where the decoder holds, per pixel: a JPEG 3 bytes (Y, Cb, Cr planes at
// 4:4:4, a bound for subsampled files) of its decode at the scale chosen
// (decodeScale), plus, when progressive, 6 bytes a pixel of the full-size
// image for the coefficients (three components of 64 int16 per 8x8
// block); a PNG read
// row by row nothing but two rows; an interlaced PNG (which image/png
// decodes whole) twice the bytes per pixel of its colour type and depth
// (the image and its seven passes); a GIF 2 (the frame and its place on
// the screen); a WebP 4; a HEIC or AVIF what heifdec.Footprint measured
// of its WebAssembly decoder (about 26 and 76 bytes a pixel). Only the first frame of an animation is decoded,
// so frames add nothing. The pipeline is imaging.Footprint: the working
// plane (read row by row, and when converted from another pixel type:
// 4 bytes a pixel, or 1 for gray), its pyramid, every output and the
// encoders' copies.
func footprint(format imgcheck.Format, data []byte, src *source, spec imaging.Spec) int64 {
	w, h := int64(src.width), int64(src.height)
	if src.orientation >= 5 {
		w, h = h, w
	}
	px := w * h
	var dec int64
	ch, converted := 4, true
	switch format {
	case imgcheck.JPEG:
		// Decoded at 1/scale (DCT scaling); a progressive file also holds
		// every coefficient at full size, 16 bits each, for three
		// components at most.
		if s := int64(max(src.scale, 1)); s > 1 {
			w, h = (w+s-1)/s, (h+s-1)/s
		}
		dec = 3 * w * h
		if progressiveJPEG(data) {
			dec += 6 * px
		}
		ch, converted = 3, false
	case imgcheck.PNG:
		if src.rows != nil {
			return imaging.Footprint(int(w), int(h), src.rows.Channels(), spec, true)
		}
		hdr, _ := pngdec.ReadHeader(data)
		bpp := map[int]int64{0: 1, 2: 4, 3: 1, 4: 4, 6: 4}[hdr.ColorType]
		if hdr.Depth == 16 {
			bpp *= 2
		}
		dec = 2 * max(bpp, 1) * px
	case imgcheck.GIF:
		dec = 2 * px
	case imgcheck.HEIF:
		// The WebAssembly decoder's memory, which grows by copying, and
		// its result: a HEIC's YCbCr planes live inside that memory and
		// are rendered from there; an AVIF's NRGBA is converted.
		dec = heifdec.Footprint(*src.heif)
		if src.heif.Codec == imgcheck.HEVC {
			ch, converted = 3, false
		}
	default:
		dec = 4 * px
	}
	if converted {
		dec += int64(ch) * w * h
	}
	return dec + imaging.Footprint(int(w), int(h), ch, spec, false)
}

// progressiveJPEG reports whether the frame header of a JPEG is SOF2 (or
// another progressive SOF), found by walking the marker segments.
func progressiveJPEG(data []byte) bool {
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return false
		}
		m := data[p+1]
		if m == 0xff {
			p++
			continue
		}
		switch m {
		case 0xc2, 0xc6, 0xca, 0xce:
			return true
		case 0xc0, 0xc1, 0xc3, 0xc5, 0xc7, 0xc9, 0xcb, 0xcd, 0xcf, 0xda:
			return false
		}
		p += 2 + (int(data[p+2])<<8 | int(data[p+3]))
	}
	return false
}
