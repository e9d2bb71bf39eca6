package photo

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/profilephoto/photo/internal/imaging/testimage"
	"github.com/profilephoto/photo/internal/imgcheck"
	"github.com/profilephoto/photo/internal/webpenc"
)

func TestGateWaitsAndRefuses(t *testing.T) {
	ctx := context.Background()
	g := newGate(100, 4)
	if err := g.acquire(ctx, 60, time.Second); err != nil {
		t.Fatal(err)
	}
	// 60 + 50 is over the budget: a short wait ends in ErrBusy.
	start := time.Now()
	err := g.acquire(ctx, 50, 50*time.Millisecond)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("acquire over the budget = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("gave up after %v, before MaxWait", d)
	}
	// A cancelled context ends the wait with its own error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.acquire(cctx, 50, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a cancelled context = %v, want context.Canceled", err)
	}
	// A waiter is let in when room is released.
	done := make(chan error, 1)
	go func() { done <- g.acquire(ctx, 50, 10*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	g.release(60)
	if err := <-done; err != nil {
		t.Fatalf("waiter after release: %v", err)
	}
	g.release(50)
	if g.used != 0 || g.active != 0 || len(g.queue) != 0 {
		t.Fatalf("gate not empty after every release: used %d, active %d, queue %d", g.used, g.active, len(g.queue))
	}
}

func TestGateOversizedRunsAlone(t *testing.T) {
	ctx := context.Background()
	g := newGate(100, 4)
	if err := g.acquire(ctx, 10, time.Second); err != nil {
		t.Fatal(err)
	}
	// 500 never fits: it waits until nothing else runs.
	if err := g.acquire(ctx, 500, 30*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("oversized while another runs = %v, want ErrBusy", err)
	}
	g.release(10)
	if err := g.acquire(ctx, 500, 30*time.Millisecond); err != nil {
		t.Fatalf("oversized alone = %v, want admitted", err)
	}
	// While it runs, nothing else gets in.
	if err := g.acquire(ctx, 1, 30*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("small beside an oversized one = %v, want ErrBusy", err)
	}
	g.release(500)
}

func TestGateSlotsAndOrder(t *testing.T) {
	ctx := context.Background()
	g := newGate(1000, 2)
	for range 2 {
		if err := g.acquire(ctx, 1, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The slots are full although the budget is not.
	if err := g.acquire(ctx, 1, 20*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("third with two slots = %v, want ErrBusy", err)
	}
	g.release(1)
	g.release(1)
	// First come, first served: a waiter at the head that does not fit
	// is not passed by a smaller one behind it.
	if err := g.acquire(ctx, 500, time.Second); err != nil {
		t.Fatal(err)
	}
	admitted := make(chan int64, 2)
	for _, need := range []int64{600, 5} {
		go func() {
			if err := g.acquire(ctx, need, 10*time.Second); err != nil {
				t.Error(err)
			}
			admitted <- need
		}()
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case n := <-admitted:
		t.Fatalf("%d admitted while the head of the queue waits", n)
	case <-time.After(30 * time.Millisecond):
	}
	g.release(500)
	if a, b := <-admitted, <-admitted; a+b != 605 {
		t.Fatalf("admitted %d and %d, want 600 and 5", a, b)
	}
	g.release(600)
	g.release(5)
}

func TestSetBusy(t *testing.T) {
	m, err := New(newBucket(t), &Options{MemoryBudget: 1 << 20, MaxWait: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Something else holds the budget.
	if err := m.gate.acquire(t.Context(), 1<<20, time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = m.Set(t.Context(), "u", bytes.NewReader(genPNG(t, 64, 64)), nil)
	if !errors.Is(err, ErrBusy) || errors.Is(err, ErrInvalidInput) {
		t.Fatalf("Set with the budget taken = %v, want ErrBusy", err)
	}
	m.gate.release(1 << 20)
	if _, err := m.Set(t.Context(), "u", bytes.NewReader(genPNG(t, 64, 64)), nil); err != nil {
		t.Fatalf("Set once the budget is free: %v", err)
	}
}

// interlacedPNG encodes img as an Adam7-interlaced 8-bit RGBA PNG, which
// image/png cannot write.
func interlacedPNG(t testing.TB, img *image.NRGBA) []byte {
	t.Helper()
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var raw bytes.Buffer
	passes := [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	for _, p := range passes {
		for y := p[1]; y < h; y += p[3] {
			if p[0] >= w {
				break
			}
			raw.WriteByte(0)
			for x := p[0]; x < w; x += p[2] {
				raw.Write(img.Pix[img.PixOffset(x, y) : img.PixOffset(x, y)+4])
			}
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	hdr := make([]byte, 13)
	binary.BigEndian.PutUint32(hdr, uint32(w))
	binary.BigEndian.PutUint32(hdr[4:], uint32(h))
	hdr[8], hdr[9], hdr[12] = 8, 6, 1
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", hdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	out = append(out, pngChunk("IEND", nil)...)
	if _, err := png.Decode(bytes.NewReader(out)); err != nil {
		t.Fatalf("the interlaced PNG does not decode: %v", err)
	}
	return out
}

// photoImage is a photo-like image with a little noise, at the given
// depth.
func photoImage(w, h int, deep, alpha bool) image.Image {
	base := testimage.Photo(w, h, 9)
	rng := rand.New(rand.NewPCG(1, 1))
	if !deep {
		m := image.NewNRGBA(base.Rect)
		for i := 0; i < len(m.Pix); i += 4 {
			copy(m.Pix[i:i+4], base.Pix[i:i+4])
			if alpha {
				m.Pix[i+3] = uint8(i / 4 % 251)
			}
		}
		return m
	}
	m := image.NewNRGBA64(base.Rect)
	for y := range h {
		for x := range w {
			c := base.RGBAAt(x, y)
			n := func(v uint8) uint16 { return uint16(v)<<8 | uint16(rng.IntN(256)) }
			a := uint16(0xffff)
			if alpha {
				a = uint16(x * 0xffff / w)
			}
			m.SetNRGBA64(x, y, color.NRGBA64{n(c.R), n(c.G), n(c.B), a})
		}
	}
	return m
}

// TestFootprintIsHonest compares the estimate that Set reserves with what
// a Set of the same upload really allocates (runtime.MemStats.TotalAlloc,
// which counts every allocation, freed or not, so it bounds the peak from
// above). The estimate may be above the measure but never far below it.
func TestFootprintIsHonest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what is allocated (and makes the inputs slow to make)")
	}
	encPNG := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	jpg := func(w, h int) []byte {
		d, err := testimage.PhotoJPEG(w, h, 3)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name string
		data func() []byte
	}{
		{"png 16-bit RGBA 1200x900 (rows, halved)", func() []byte { return encPNG(photoImage(1200, 900, true, true)) }},
		{"png 16-bit RGB 500x300 (rows)", func() []byte { return encPNG(photoImage(500, 300, true, false)) }},
		{"png 8-bit RGBA 1000x1000 (rows, halved)", func() []byte { return encPNG(photoImage(1000, 1000, false, true)) }},
		{"png interlaced 8-bit RGBA 900x700 (image/png)", func() []byte {
			return interlacedPNG(t, photoImage(900, 700, false, true).(*image.NRGBA))
		}},
		{"jpeg 1600x1200", func() []byte { return jpg(1600, 1200) }},
		{"jpeg 300x200", func() []byte { return jpg(300, 200) }},
		{"gif 1000x800", func() []byte { return genGIF(t, 1, 1000, 800) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data()
			m, err := New(newBucket(t), &Options{MaxConcurrent: 1, OriginalMaxSide: 400, Sizes: []int{64, 256}, Limits: Limits{MaxBytes: 200 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			checkEstimate(t, m, data, nil)
		})
	}
}

// checkEstimate compares the footprint estimate of data with what
// rendering it allocates (after warm, if not nil, has run once) and fails
// when the estimate is far below: under 80%, since TotalAlloc counts what
// was freed before the peak too. The estimate covers decoding and
// rendering, not the upload's bytes nor what the store copies.
func checkEstimate(t *testing.T, m *Manager, data []byte, warm func(format imgcheck.Format, src *source)) {
	t.Helper()
	src, format, err := prepareSource(data, m.cfg.limits)
	if err != nil {
		t.Fatal(err)
	}
	est := footprint(format, data, src, m.spec(src, nil, m.cfg.fit))
	if warm != nil {
		warm(format, src)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, _, _, err := m.render(t.Context(), "u", data, &SetOptions{}, m.cfg.fit, false); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	got := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("estimate %.1f MB, allocated %.1f MB (%.2fx)", float64(est)/1e6, float64(got)/1e6, float64(est)/float64(got))
	if est < got*4/5 {
		t.Errorf("estimate %d bytes is far below the %d bytes allocated", est, got)
	}
}

// TestOriginalWebPFootprintIsHonest is TestFootprintIsHonest for a WebP
// rendition made from a version's normalised original (makeWebP's source
// for the largest sizes): the estimate reserved against what
// renderFromOriginal allocates, the WebP encoder included (its
// WebAssembly memory is Go's; a system libwebp's is not counted, so the
// test runs with the WebAssembly encoder only).
func TestOriginalWebPFootprintIsHonest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what is allocated")
	}
	if !webpenc.WebAssembly() {
		t.Skip("the WebP encoder is a system libwebp, whose memory Go does not count")
	}
	jpg, err := testimage.PhotoJPEG(2048, 1536, 4)
	if err != nil {
		t.Fatal(err)
	}
	var pngData bytes.Buffer
	if err := png.Encode(&pngData, photoImage(1600, 1200, false, true)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		crop *Crop
		fit  Fit
	}{
		{"jpeg 2048x1536 cover", jpg, nil, Cover},
		{"jpeg 2048x1536 crop", jpg, &Crop{X: 600, Y: 100, Size: 1300}, Letterbox},
		{"png RGBA 1600x1200 letterbox (rows)", pngData.Bytes(), nil, Letterbox},
	}
	// One encode (quality 98, the highest tried): makeWebP's encodes
	// follow each other, each one's memory garbage before the next
	// starts, so the estimate holds one, where TotalAlloc would add them.
	m, err := New(newBucket(t), &Options{MaxConcurrent: 1, WebPQuality: webpMaxQuality})
	if err != nil {
		t.Fatal(err)
	}
	webpenc.Warm()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The stored rendition the WebP is compared with: Set's.
			stored, err := m.renderFromOriginal(t.Context(), c.data, c.crop, c.fit, 1024, nil)
			if err != nil {
				t.Fatal(err)
			}
			made := &webpMade{}
			enc := m.webpEncoder(t.Context(), stored, made)
			_, _, _, est, err := m.planFromOriginal(c.data, c.crop, c.fit, 1024, enc)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := m.renderFromOriginal(t.Context(), c.data, c.crop, c.fit, 1024, enc); err != nil && !errors.Is(err, errNoWebP) {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if made.encodes != 1 {
				t.Errorf("%d encodes, want 1", made.encodes)
			}
			got := int64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("estimate %.1f MB, allocated %.1f MB (%.2fx)", float64(est)/1e6, float64(got)/1e6, float64(est)/float64(got))
			if est < got*4/5 {
				t.Errorf("estimate %d bytes is far below the %d bytes allocated", est, got)
			}
		})
	}
}

// TestMakeWebPFootprintIsHonest is TestOriginalWebPFootprintIsHonest
// for makeWebP's other two ways: a lossy WebP resampled from a stored
// JPEG rendition twice as large, and a lossless WebP of a PNG rendition
// (noisy transparency, the encoder's worst case), each with the
// comparison with the stored rendition (one encode: see there).
func TestMakeWebPFootprintIsHonest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what is allocated")
	}
	if !webpenc.WebAssembly() {
		t.Skip("the WebP encoder is a system libwebp, whose memory Go does not count")
	}
	jpg, err := testimage.PhotoJPEG(2048, 2048, 4)
	if err != nil {
		t.Fatal(err)
	}
	noisy := image.NewNRGBA(image.Rect(0, 0, 1024, 1024))
	s := uint32(1)
	for i := 0; i < len(noisy.Pix); i += 4 {
		s = s*1664525 + 1013904223
		noisy.Pix[i], noisy.Pix[i+1], noisy.Pix[i+2], noisy.Pix[i+3] = uint8(s>>24), uint8(s>>16), uint8(s>>8), uint8(s>>4)|1
	}
	var pngData bytes.Buffer
	if err := png.Encode(&pngData, noisy); err != nil {
		t.Fatal(err)
	}
	m, err := New(newBucket(t), &Options{MaxConcurrent: 1, WebPQuality: webpMaxQuality})
	if err != nil {
		t.Fatal(err)
	}
	webpenc.Warm()
	for _, c := range []struct {
		name string
		data []byte
		size int
	}{{"jpeg 512 from 1024", jpg, 512}, {"png 1024 lossless", pngData.Bytes(), 1024}} {
		t.Run(c.name, func(t *testing.T) {
			p, err := m.Set(t.Context(), "u", bytes.NewReader(c.data), nil)
			if err != nil {
				t.Fatal(err)
			}
			rec, _, err := loadRecord(t.Context(), m.bucket, "u")
			if err != nil {
				t.Fatal(err)
			}
			v := rec.find(p.VersionID)
			var est int64
			if v.Renditions[0].ContentType == "image/png" {
				est = losslessWebPFootprint(c.size, c.size)
			} else {
				src, side := webpSource(v.Renditions, c.size)
				est = webpFromRenditionFootprint(src, side)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			made, err := m.makeWebP(t.Context(), "u", v, c.size)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if made.encodes != 1 {
				t.Errorf("%d encodes, want 1", made.encodes)
			}
			got := int64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("estimate %.1f MB, allocated %.1f MB (%.2fx); WebP %v", float64(est)/1e6, float64(got)/1e6, float64(est)/float64(got), made.data != nil)
			if est < got*4/5 {
				t.Errorf("estimate %d bytes is far below the %d bytes allocated", est, got)
			}
		})
	}
}
