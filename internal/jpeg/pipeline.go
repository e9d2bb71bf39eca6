package jpeg

import "github.com/profilephoto/photo/internal/sched"

// Pipelined sequential scans.
//
// The entropy decoding of a scan is serial: every code's position depends
// on the previous one (restart intervals aside). What follows it per
// block, dequantization, the (reduced) inverse DCT and the plane writes,
// depends on that block alone. So when a second token is free, the
// calling goroutine decodes MCU row after MCU row into a ring of
// ringSlots row buffers and a helper goroutine transforms each finished
// row into the planes, while the caller goes on with the next. Memory is
// ringSlots groups of MCU rows of about groupBlocks blocks, at 8 + 4n
// bytes a block of n non-zero AC coefficients (1.5 MB in all for the
// 12 MP phone photo, 4000 pixels wide), whatever the height.
//
// Both goroutines run the same code on the same values as the sequential
// path, so the output is the same byte for byte. The helper writes only
// plane rows of MCU rows the caller has finished with and only reads what
// the caller does not write during the scan (the quantization tables,
// the planes' geometry).

// ringSlots is the number of buffers between the two goroutines: one
// being decoded, one being transformed, one spare so that neither waits
// for the other on rows that happen to cost more.
const ringSlots = 3

// pipelineMinBlocks is the size of scan (in blocks) from which a second
// goroutine pays for its start and hand-overs (some microseconds each):
// about a 512x512 4:2:0 image.
const pipelineMinBlocks = 6144

// rowJob is a group of finished MCU rows: which ring slot holds them,
// their records, the number of the first row and how many there are.
type rowJob struct {
	slot    int
	rec     []uint32
	y, rows int
}

// groupBlocks is about the fewest blocks handed over at a time: a few MCU
// rows of a narrow image, one of a wide one, so that the helper wakes up
// some tens of times a decode rather than for every row.
const groupBlocks = 4096

// recordMax is the most words sparseBlock writes for one block;
// recordGuess what a slot starts with per block (the blocks of the 12 MP
// phone photo of PERF.md average 25 words), growing when a group needs
// more.
const (
	recordMax   = 2 + 64
	recordGuess = 28
)

// pipelinedScan is sequentialScan with the transforms on a helper
// goroutine, which holds the token the caller took for it and gives it
// back when it ends. It returns only after the helper has ended, on
// every path (errors and panics included). A panic on the helper becomes
// the returned error; an error of the entropy decoding takes precedence,
// so that a file gets the same verdict as on one goroutine.
func (d *decoder) pipelinedScan(sc []*component, mx, my, per int) (err error) {
	// MCU rows a slot holds: about groupBlocks blocks, but at most a
	// quarter of the scan, so that the two goroutines overlap.
	group := max(1, min((groupBlocks+mx*per-1)/(mx*per), my/4))
	var slots [ringSlots][]uint32
	for i := range slots {
		slots[i] = make([]uint32, group*mx*per*recordGuess)
	}
	full := make(chan rowJob, ringSlots)
	free := make(chan int, ringSlots)
	for i := range ringSlots {
		free <- i
	}
	done := make(chan error, 1)
	go func() {
		var herr error
		for j := range full {
			if herr == nil {
				herr = sched.Catch(func() {
					rec := j.rec
					for y := j.y; y < j.y+j.rows; y++ {
						rec = d.transformRow(sc, rec, mx, y)
					}
				})
			}
			free <- j.slot // after a panic, only keep the caller going
		}
		d.pool.Release()
		done <- herr
	}()
	defer func() {
		close(full)
		if herr := <-done; err == nil {
			err = herr
		}
	}()
	rst := 0
	next := byte(0)
	var slot, w int
	var row []uint32 // slots[slot], the caller's until sent
	for y := 0; y < my; y++ {
		if y%group == 0 {
			slot = <-free
			row = slots[slot]
			w = 0
		}
		for x := 0; x < mx; x++ {
			if err := d.mcuStart(sc, &rst, &next); err != nil {
				return err
			}
			for _, c := range sc {
				n := 1
				if len(sc) > 1 {
					n = c.h * c.v
				}
				for range n {
					if len(row)-w < recordMax {
						row = append(row[:w], make([]uint32, max(len(row), recordMax))...)
						slots[slot] = row
					}
					m, err := d.sparseBlock(c, (*[recordMax]uint32)(row[w:]))
					if err != nil {
						return err
					}
					w += m
				}
			}
			if d.br.overrun() {
				return d.br.overrunError()
			}
		}
		if y%group == group-1 || y == my-1 {
			full <- rowJob{slot, row[:w], y - y%group, y%group + 1}
		}
	}
	return nil
}

// transformRow transforms MCU row y of a scan from the records
// sparseBlock wrote for it, at the start of rec, into the planes, and
// returns the rest of rec.
func (d *decoder) transformRow(sc []*component, rec []uint32, mx, y int) []uint32 {
	if d.panicRow == y+1 {
		panic("jpeg: test panic on the pipeline's helper")
	}
	bs := 8 / d.scale
	var blk [64]int32
	for x := 0; x < mx; x++ {
		for _, c := range sc {
			bh, bv := 1, 1
			if len(sc) > 1 {
				bh, bv = c.h, c.v
			}
			q := &d.quant[c.tq]
			for v := 0; v < bv; v++ {
				for h := 0; h < bh; h++ {
					blk[0] = int32(rec[0])
					m := int(rec[1])
					last := 0
					for _, e := range rec[2 : 2+m] {
						k := int(e & 63)
						blk[unzig[k]] = int32(int16(e>>16)) * q[k]
						last = k
					}
					d.emit(c, &blk, last, (x*bh+h)*bs, (y*bv+v)*bs)
					switch {
					case last == 0:
					case bs == 8:
						blk = [64]int32{} // idct8 used it as scratch
					default:
						// The reduced transforms only read it: clear what
						// was set.
						for _, e := range rec[2 : 2+m] {
							blk[unzig[e&63]] = 0
						}
					}
					rec = rec[2+m:]
				}
			}
		}
	}
	return rec
}

// sparseBlock is baselineBlock for pipelinedScan: it writes the block as
// a short record for the helper, out[0] the dequantized DC coefficient,
// out[1] the number m of non-zero AC coefficients, then m words
// value<<16 | zigzag index (the quantized value, at most 15 bits and a
// sign), and returns 2+m. Fewer and sequential writes than a whole block
// matter here: the lines the caller writes were last touched by the
// helper on the other core. (Its decoding is baselineBlock's, line for
// line; keep the two alike.)
func (d *decoder) sparseBlock(c *component, out *[2 + 64]uint32) (int, error) {
	b := &d.br
	q0 := d.quant[c.tq][0]
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
		return 0, err
	}
	if s > 16 {
		return 0, unsupported("excessive DC component")
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
	out[0] = uint32(c.pred * q0)
	out[1] = 0
	if d.eobrun > 0 {
		d.eobrun--
		b.acc, b.nb = acc, nb
		return 2, nil
	}
	ac := &d.ac[c.ta]
	m := 0
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
				sz := uint(e >> 8 & 15)
				acc <<= sz
				nb -= int(sz)
				break
			}
			sz := uint(e & 0xff)
			acc <<= sz
			nb -= int(sz)
			out[2+m&63] = uint32(e)&0xffff0000 | uint32(k)
			m++
			k++
			continue
		}
		var rs byte
		if e := ac.fast[acc>>(64-lookBits)]; e != 0 {
			sz := uint(e >> 8)
			acc <<= sz
			nb -= int(sz)
			rs = byte(e)
		} else {
			b.acc, b.nb = acc, nb
			if rs, err = b.decode(ac); err != nil {
				return 0, err
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
		out[2+m&63] = uint32(v)<<16 | uint32(k)
		m++
		k++
	}
	b.acc, b.nb = acc, nb
	out[1] = uint32(m)
	return 2 + m, nil
}
