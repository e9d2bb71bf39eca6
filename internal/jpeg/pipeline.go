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
// ringSlots rows of blockCoef (260 bytes a block: 1.2 MB for a
// 4000-pixel-wide 4:2:0 photo), whatever the height.
//
// Both goroutines run the same code on the same values as the sequential
// path, so the output is the same byte for byte. The helper writes only
// plane rows of MCU rows the caller has finished with and only reads what
// the caller does not write during the scan (the quantization tables,
// the planes' geometry).

// ringSlots is the number of MCU-row buffers between the two goroutines:
// one being decoded, one being transformed, one spare so that neither
// waits for the other on a row that happens to cost more.
const ringSlots = 3

// pipelineMinBlocks is the size of scan (in blocks) from which a second
// goroutine pays for its start and hand-overs (a few microseconds): about
// a 256x256 image.
const pipelineMinBlocks = 1024

// rowJob is one finished MCU row: which ring slot holds it and its row
// number in the scan.
type rowJob struct{ slot, y int }

// pipelinedScan is sequentialScan with the transforms on a helper
// goroutine, which holds the token the caller took for it and gives it
// back when it ends. It returns only after the helper has ended, on
// every path (errors and panics included). A panic on the helper becomes
// the returned error; an error of the entropy decoding takes precedence,
// so that a file gets the same verdict as on one goroutine.
func (d *decoder) pipelinedScan(sc []*component, mx, my, per int) (err error) {
	rowBlocks := mx * per
	buf := make([]blockCoef, ringSlots*rowBlocks)
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
					d.transformRow(sc, buf[j.slot*rowBlocks:][:rowBlocks], mx, j.y)
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
	for y := 0; y < my; y++ {
		slot := <-free
		row := buf[slot*rowBlocks:][:rowBlocks]
		i := 0
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
					if err := d.baselineBlock(c, &row[i]); err != nil {
						return err
					}
					i++
				}
			}
			if d.br.overrun() {
				return d.br.overrunError()
			}
		}
		full <- rowJob{slot, y}
	}
	return nil
}

// transformRow transforms MCU row y of a scan, decoded into row in the
// order pipelinedScan decodes it, and leaves row zero.
func (d *decoder) transformRow(sc []*component, row []blockCoef, mx, y int) {
	bs := 8 / d.scale
	i := 0
	for x := 0; x < mx; x++ {
		for _, c := range sc {
			bh, bv := 1, 1
			if len(sc) > 1 {
				bh, bv = c.h, c.v
			}
			for v := 0; v < bv; v++ {
				for h := 0; h < bh; h++ {
					d.transformBlock(c, &row[i], (x*bh+h)*bs, (y*bv+v)*bs)
					i++
				}
			}
		}
	}
}
