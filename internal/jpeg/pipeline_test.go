package jpeg

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/profilephoto/photo/internal/sched"
)

// heldPool is a Pool of n tokens of which the caller holds one, as a
// request holds its own while it decodes.
func heldPool(t testing.TB, n int) *sched.Pool {
	t.Helper()
	p := sched.New(n)
	if err := p.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

// decodeWith decodes with a pipeline threshold of pipeMin blocks (1: every
// scan of two MCU rows or more is pipelined when a token is free).
func decodeWith(data []byte, opts *Options, pipeMin, panicRow int) (image.Image, error) {
	d := decoder{data: data, scale: 1, maxPixels: DefaultMaxPixels, pipeMin: pipeMin, panicRow: panicRow}
	return d.decode(opts)
}

// pixOf is the sample memory of a decoded image, padding included, so
// that two decodes compare byte for byte.
func pixOf(img image.Image) [][]byte {
	switch m := img.(type) {
	case *image.YCbCr:
		return [][]byte{m.Y, m.Cb, m.Cr}
	case *image.Gray:
		return [][]byte{m.Pix}
	case *image.RGBA:
		return [][]byte{m.Pix}
	case *image.CMYK:
		return [][]byte{m.Pix}
	}
	return nil
}

// sameDecode reports how two decodes of one file differ, or "".
func sameDecode(a image.Image, aerr error, b image.Image, berr error) string {
	if fmt.Sprint(aerr) != fmt.Sprint(berr) {
		return fmt.Sprintf("errors %v and %v", aerr, berr)
	}
	if aerr != nil {
		return ""
	}
	if fmt.Sprintf("%T %v", a, a.Bounds()) != fmt.Sprintf("%T %v", b, b.Bounds()) {
		return fmt.Sprintf("%T %v and %T %v", a, a.Bounds(), b, b.Bounds())
	}
	pa, pb := pixOf(a), pixOf(b)
	for i := range pa {
		if !bytes.Equal(pa[i], pb[i]) {
			return fmt.Sprintf("plane %d differs", i)
		}
	}
	return ""
}

// pipelineSamples are the files of the equality tests: image/jpeg's
// (every size has several MCU rows but the smallest), the committed ones
// (subsamplings, restart intervals, progressive, non-interleaved scans)
// and, when present, the shared testdata's JPEGs.
func pipelineSamples(t testing.TB) []sample {
	all := append(generated(t), committed(t)...)
	all = append(all, sample{"gen-1024x768-q85", encode(t, photoLike(1024, 768, 7), 85)})
	for _, r := range manifestIfPresent(t) {
		all = append(all, sample{r.file, readShared(t, r.file)})
	}
	return all
}

// settle waits for the goroutines started since before to end: a helper
// may still be returning when Decode returns, never for long.
func settle(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left running", runtime.NumGoroutine()-before)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPipelineSameOutput: with a second token free, every file decodes
// at every scale to the same bytes (padding included) and the same error
// as on one goroutine, and the token comes back. With no token free the
// decode is the sequential one.
func TestPipelineSameOutput(t *testing.T) {
	for _, s := range pipelineSamples(t) {
		for _, scale := range []int{1, 2, 4, 8} {
			want, werr := decodeWith(s.data, &Options{Scale: scale}, 1, 0)
			for _, tokens := range []int{2, 1} {
				p := heldPool(t, tokens)
				got, err := decodeWith(s.data, &Options{Scale: scale, Pool: p}, 1, 0)
				if diff := sameDecode(want, werr, got, err); diff != "" {
					t.Errorf("%s at 1/%d, %d tokens: %s", s.name, scale, tokens, diff)
				}
				if n := p.TryAcquire(tokens); n != tokens-1 {
					t.Errorf("%s at 1/%d: %d tokens free after the decode, want %d", s.name, scale, n, tokens-1)
				}
			}
		}
	}
}

// TestPipelineErrors: files cut short or broken anywhere get the same
// verdict pipelined as on one goroutine, and leave no goroutine behind.
func TestPipelineErrors(t *testing.T) {
	files := append(committed(t), sample{"gen-333x211", encode(t, photoLike(333, 211, 5), 90)})
	before := runtime.NumGoroutine()
	p := heldPool(t, 2)
	for _, s := range files {
		var variants [][]byte
		for n := len(s.data) / 4; n < len(s.data); n += 1 + len(s.data)/23 {
			variants = append(variants, s.data[:n])
			broken := bytes.Clone(s.data)
			broken[n] = 0xff
			if n+1 < len(broken) {
				broken[n+1] = 0xd9 // EOI inside the entropy-coded data
			}
			variants = append(variants, broken)
			flipped := bytes.Clone(s.data)
			flipped[n] ^= 0x55
			variants = append(variants, flipped)
		}
		for i, v := range variants {
			for _, scale := range []int{1, 2} {
				want, werr := decodeWith(v, &Options{Scale: scale}, 1, 0)
				got, err := decodeWith(v, &Options{Scale: scale, Pool: p}, 1, 0)
				if diff := sameDecode(want, werr, got, err); diff != "" {
					t.Errorf("%s variant %d at 1/%d: %s", s.name, i, scale, diff)
				}
			}
		}
	}
	if n := p.TryAcquire(2); n != 1 {
		t.Errorf("%d tokens free after the decodes, want 1", n)
	}
	settle(t, before)
}

// TestPipelineHelperPanic: a panic on the helper goroutine is an error of
// Decode, not a crash, and the token and the goroutine are given back.
func TestPipelineHelperPanic(t *testing.T) {
	data := encode(t, photoLike(333, 211, 5), 90)
	before := runtime.NumGoroutine()
	p := heldPool(t, 2)
	for _, row := range []int{1, 3, 14} { // first, middle and last MCU row
		img, err := decodeWith(data, &Options{Scale: 2, Pool: p}, 1, row)
		if err == nil || !strings.Contains(err.Error(), "test panic") {
			t.Errorf("panic on row %d: got %T, %v", row-1, img, err)
		}
	}
	if n := p.TryAcquire(2); n != 1 {
		t.Errorf("%d tokens free after the decodes, want 1", n)
	}
	settle(t, before)
}

// TestPipelineMemoryFollowsWidth: what a pipelined decode allocates
// beyond its planes depends on the width, not the height.
func TestPipelineMemoryFollowsWidth(t *testing.T) {
	extra := func(data []byte) uint64 {
		p := heldPool(t, 2)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		img, err := Decode(data, &Options{Pool: p})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		planes := 0
		for _, pix := range pixOf(img) {
			planes += cap(pix)
		}
		return after.TotalAlloc - before.TotalAlloc - uint64(planes)
	}
	short := extra(encode(t, photoLike(1024, 1024, 3), 90))
	tall := extra(encode(t, photoLike(1024, 2048, 3), 90))
	t.Logf("beyond the planes: %d KB for 1024x1024, %d KB for 1024x2048", short>>10, tall>>10)
	if tall > short+256<<10 {
		t.Errorf("a photo twice as tall takes %d KB beyond its planes, the short one %d KB", tall>>10, short>>10)
	}
}
