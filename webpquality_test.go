package photo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/imaging/testimage"
	"github.com/profilephoto/photo/internal/jpegenc"
	"github.com/profilephoto/photo/internal/quality"
	"github.com/profilephoto/photo/internal/webpenc"
	"github.com/profilephoto/photo/storage"
)

// The WebP quality measurements: for renditions of real photos and a
// generated one, the JPEG that Set stores (quality 85) and the WebP that
// OpenRendition makes are compared, in bytes and in closeness to the same
// unencoded reference pixels (the rendition as the pipeline computes it,
// before any encoder).

// qualitySample is one source image of the measurements.
type qualitySample struct {
	name string
	img  image.Image
}

// qualitySamples returns the measured photos: three real ones from the
// shared test images (skipped when absent) and two generated ones.
func qualitySamples(t testing.TB) []qualitySample {
	t.Helper()
	samples := []qualitySample{
		{"generated 1600x1200", testimage.Photo(1600, 1200, 4)},
		// A square whose original (2048) serves the largest size.
		{"generated 2048x2048", testimage.Photo(2048, 2048, 5)},
	}
	dir := filepath.Join("..", "shared", "testdata")
	for _, name := range []string{
		"exif-orientation-examples/Landscape_1.jpg", // 1800x1200
		"pillow/junk_jpeg_header.jpg",               // 1024x768
		"exif-samples/DSCN0010.jpg",                 // 640x480
	} {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Logf("skipping %s: %v", name, err)
			continue
		}
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		samples = append(samples, qualitySample{name, img})
	}
	return samples
}

// toNRGBA copies m into a new *image.NRGBA at the origin.
func toNRGBA(m image.Image) *image.NRGBA {
	b := m.Bounds()
	n := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(n, n.Rect, m, b.Min, draw.Src)
	return n
}

// ssim and psnr compare b with the reference a as makeWebP does.
func ssim(a, b image.Image) float64 { return quality.SSIM(quality.Luma(a), quality.Luma(b)) }
func psnr(a, b image.Image) float64 { return quality.PSNR(a, b) }

// renderAll renders img with Set's pipeline (cover fit, the default
// sizes) through enc; nil enc gives the JPEG that Set stores.
func renderAll(t testing.TB, img image.Image, enc imaging.Encoder) *imaging.Result {
	t.Helper()
	res, err := imaging.Render(t.Context(), img, imaging.Spec{
		Fit: imaging.Cover, Sizes: defaultSizes(), OriginalMaxSide: 2048, Background: color.NRGBA{255, 255, 255, 255}, Encoder: enc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func defaultSizes() []int {
	var o Options
	if err := o.fill(); err != nil {
		panic(err)
	}
	return o.Sizes
}

// decodeNRGBA decodes a JPEG or PNG with Go's decoders and a WebP with
// libwebp's (golang.org/x/image/webp would read its colours as full
// range).
func decodeNRGBA(t testing.TB, data []byte) *image.NRGBA {
	t.Helper()
	if bytes.HasPrefix(data, []byte("RIFF")) {
		m, err := webpenc.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return toNRGBA(m)
}

// measured is one encoding of one rendition.
type measured struct {
	bytes      int
	ssim, psnr float64
	ms         float64 // the first request: deciding, making and storing it
	encMS      float64 // encoding the reference pixels
	webp       bool    // served as WebP ("served" only)
	quality    int     // of the last WebP encoded ("served" only)
	encodes    int     // WebPs encoded ("served" only)
	// makeWebP's SSIM of its last WebP and of the stored rendition,
	// against the pixels it gave the encoder ("served" only).
	judgedSSIM, judgedStored float64
}

// judged collects makeWebP's debug records ("photo: WebP rendition
// judged"), by size.
type judged struct {
	mu     sync.Mutex
	bySize map[int]slog.Record
}

func (j *judged) Enabled(context.Context, slog.Level) bool { return true }
func (j *judged) WithAttrs([]slog.Attr) slog.Handler       { return j }
func (j *judged) WithGroup(string) slog.Handler            { return j }
func (j *judged) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "photo: WebP rendition judged" {
		return nil
	}
	size := 0
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "size" {
			size = int(a.Value.Int64())
		}
		return true
	})
	j.mu.Lock()
	defer j.mu.Unlock()
	j.bySize[size] = r
	return nil
}

// attr returns the value of key in r.
func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// measure stores the renditions of sample as Set does (JPEG, "jpeg")
// and opens each of sizes as a WebP client does, through openVersion
// with the WebP quality q ("served": a WebP, or the stored JPEG when
// makeWebP found none smaller and as close, or webpPays no source twice
// as large), both against the unencoded reference; explore adds WebPs at
// quality q made from other sources.
func measure(t testing.TB, s qualitySample, q int, sizes []int, explore bool) map[string]map[int]measured {
	t.Helper()
	ref := map[int]*image.NRGBA{}
	var mu sync.Mutex // the encoder runs on several goroutines
	renderAll(t, s.img, func(m image.Image, alpha bool) ([]byte, string, error) {
		n := toNRGBA(m)
		mu.Lock()
		defer mu.Unlock()
		ref[n.Rect.Dx()] = n // renditions of equal size are equal
		return nil, "x", nil
	})
	jpegs := renderAll(t, s.img, nil)
	stored := map[int][]byte{}
	for _, e := range jpegs.Renditions {
		stored[e.Size] = e.Data
	}
	out := map[string]map[int]measured{}
	put := func(kind string, size int, data []byte, ms float64) measured {
		if out[kind] == nil {
			out[kind] = map[int]measured{}
		}
		got := decodeNRGBA(t, data)
		want := ref[got.Rect.Dx()]
		r := measured{bytes: len(data), ssim: ssim(want, got), psnr: psnr(want, got), ms: ms}
		out[kind][size] = r
		return r
	}
	webp := func(m image.Image, alpha bool) ([]byte, string, error) {
		d, err := webpenc.Encode(t.Context(), m, q)
		return d, webpenc.ContentType, err
	}
	// The version as Set stores it, in a bucket of its own, opened by
	// openVersion: OpenRendition's way, sources, judgement and all.
	j := &judged{bySize: map[int]slog.Record{}}
	m, err := New(newBucket(t), &Options{Fit: Cover, WebPQuality: q, Sizes: defaultSizes(), Logger: slog.New(j)})
	if err != nil {
		t.Fatal(err)
	}
	v := &version{
		ID: "v", Prefix: "users/u/v/", Width: s.img.Bounds().Dx(), Height: s.img.Bounds().Dy(), Fit: Cover.String(),
	}
	if err := m.writeBlobs(t.Context(), v, jpegs); err != nil {
		t.Fatal(err)
	}
	for _, size := range sizes {
		put("jpeg", size, stored[size], 0)
		start := time.Now()
		b, err := m.openVersion(t.Context(), "u", v, size, true)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(b)
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := put("served", size, data, float64(time.Since(start).Microseconds())/1000)
		r.webp = b.Rendition.ContentType == webpenc.ContentType
		if rec, ok := j.bySize[size]; ok {
			r.quality, r.encodes = int(attr(rec, "quality").Int64()), int(attr(rec, "encodes").Int64())
			r.judgedSSIM, r.judgedStored = attr(rec, "ssim").Float64(), attr(rec, "stored_ssim").Float64()
		}
		out["served"][size] = r
		if r := ref[refSide(ref, size)]; r != nil {
			ycc := toYCbCr(r)
			start := time.Now()
			if _, err := webpenc.Encode(t.Context(), ycc, q); err != nil {
				t.Fatal(err)
			}
			m := out["served"][size]
			m.encMS = float64(time.Since(start).Microseconds()) / 1000
			out["served"][size] = m
			start = time.Now()
			if err := jpegenc.Encode(io.Discard, ycc, &jpegenc.Options{Quality: imaging.DefaultJPEGQuality}); err != nil {
				t.Fatal(err)
			}
			m = out["jpeg"][size]
			m.encMS = float64(time.Since(start).Microseconds()) / 1000
			out["jpeg"][size] = m
		}
		if !explore {
			continue
		}
		for _, src := range []struct {
			name string
			data []byte
		}{
			{"webp-same", stored[size]},
			{"webp-next", stored[nextSize(size)]},
			{"webp-orig", jpegs.Original.Data},
		} {
			if src.data == nil {
				continue // no larger size
			}
			e, err := imaging.RescaleWith(t.Context(), src.data, size, imaging.Spec{Encoder: webp})
			if err != nil {
				t.Fatal(err)
			}
			put(src.name, size, e.Data, 0)
		}
		// From the reference pixels themselves (as Set would make it).
		d, err := webpenc.Encode(t.Context(), ref[refSide(ref, size)], q)
		if err != nil {
			t.Fatal(err)
		}
		put("webp-pixels", size, d, 0)
	}
	return out
}

// toYCbCr converts m to 4:2:0 planes (chroma of each block's top-left
// pixel: for timing encoders, not for quality).
func toYCbCr(m *image.NRGBA) *image.YCbCr {
	y := image.NewYCbCr(m.Rect, image.YCbCrSubsampleRatio420)
	for py := range m.Rect.Dy() {
		for px := range m.Rect.Dx() {
			c := m.NRGBAAt(px, py)
			l, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			y.Y[y.YOffset(px, py)] = l
			if px%2 == 0 && py%2 == 0 {
				y.Cb[y.COffset(px, py)], y.Cr[y.COffset(px, py)] = cb, cr
			}
		}
	}
	return y
}

func refSide(ref map[int]*image.NRGBA, size int) int {
	best := 0
	for s := range ref {
		if s <= size && s > best {
			best = s
		}
	}
	return best
}

func nextSize(size int) int {
	for _, s := range defaultSizes() {
		if s > size {
			return s
		}
	}
	return 0
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// TestWebPSmallerAndAsGood is OpenRendition's promise for WebP
// clients, photo by photo at 64, 200, 512 and 1024 pixels: a WebP is
// served only where a source twice its side exists (webpPays), and then
// only when it is smaller than the JPEG that Set stores and at least as
// close to the unencoded pixels in SSIM (within 0.001: makeWebP's
// reference is the rendition resampled from that source, not those
// pixels); everywhere else WebP clients get the stored JPEG. At 64, 200
// and 512 pixels at least one photo must get a WebP (else the promise
// would be kept by never serving one). It logs
// the table of medians: bytes, SSIM, PSNR, the quality chosen and the
// first request's time.
func TestWebPSmallerAndAsGood(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes a few dozen renditions")
	}
	samples := qualitySamples(t)
	if len(samples) < 4 {
		t.Skip("skipping: fewer than two real photos in the shared test images")
	}
	largest := slices.Max(defaultSizes())
	sizes := []int{64, 200, 512, largest}
	all := map[int]map[string][]measured{}
	eligible := map[int]int{}
	for _, s := range samples {
		bySample := measure(t, s, 0, sizes, false)
		for _, size := range sizes {
			j, w := bySample["jpeg"][size], bySample["served"][size]
			t.Logf("%-42s %4d  JPEG %7d B SSIM %.4f PSNR %5.2f  served %-4s %7d B SSIM %.4f PSNR %5.2f q%d (%d encodes, judged %.4f against %.4f) %.0f ms",
				s.name, size, j.bytes, j.ssim, j.psnr, map[bool]string{true: "WebP", false: "JPEG"}[w.webp], w.bytes, w.ssim, w.psnr, w.quality, w.encodes, w.judgedSSIM, w.judgedStored, w.ms)
			// A stored rendition twice the side, or for the largest
			// size the cover square of the original (at most 2048).
			dx, dy := s.img.Bounds().Dx(), s.img.Bounds().Dy()
			twice := min(dx, dy) >= 2*size && (size < largest || dx == dy)
			switch {
			case !w.webp:
				if w.bytes != j.bytes {
					t.Errorf("%s %d px: served a JPEG of %d bytes, the stored one has %d", s.name, size, w.bytes, j.bytes)
				}
			case !twice:
				t.Errorf("%s %d px: a WebP served with no source twice its side", s.name, size)
			case w.bytes >= j.bytes || w.ssim < j.ssim-0.001:
				t.Errorf("%s %d px: WebP %d bytes SSIM %.4f, JPEG %d bytes SSIM %.4f: want smaller and as close", s.name, size, w.bytes, w.ssim, j.bytes, j.ssim)
			}
			if all[size] == nil {
				all[size] = map[string][]measured{}
			}
			all[size]["jpeg"] = append(all[size]["jpeg"], j)
			all[size]["served"] = append(all[size]["served"], w)
			if twice {
				eligible[size]++
			}
			if w.webp {
				all[size]["webp"] = append(all[size]["webp"], w)
				all[size]["jpeg of those"] = append(all[size]["jpeg of those"], j)
			}
		}
	}
	t.Logf("medians over %d photos (WebP from quality %d, JPEG %d):", len(samples), webpenc.DefaultQuality, imaging.DefaultJPEGQuality)
	t.Logf("%5s  %-14s %6s %8s %7s %6s %8s %8s", "size", "", "photos", "bytes", "SSIM", "PSNR", "quality", "make ms")
	for _, size := range sizes {
		for _, k := range []string{"jpeg", "served", "webp", "jpeg of those"} {
			ms := all[size][k]
			if len(ms) == 0 {
				continue
			}
			var b, ss, ps, q, mk []float64
			for _, m := range ms {
				b = append(b, float64(m.bytes))
				ss = append(ss, m.ssim)
				ps = append(ps, m.psnr)
				q = append(q, float64(m.quality))
				mk = append(mk, m.ms)
			}
			t.Logf("%5d  %-14s %6d %8.0f %7.4f %6.2f %8.0f %8.1f", size, k, len(ms), median(b), median(ss), median(ps), median(q), median(mk))
		}
		n := len(all[size]["webp"])
		t.Logf("%5d  %d of the %d photos with a source twice as large served as WebP", size, n, eligible[size])
		if size < largest && n == 0 {
			t.Errorf("%d px: no photo served as WebP", size)
		}
	}
}

// TestWebPExplore prints the measurements for several qualities and
// sources (PHOTO_WEBP_EXPLORE=1).
func TestWebPExplore(t *testing.T) {
	if os.Getenv("PHOTO_WEBP_EXPLORE") == "" {
		t.Skip("set PHOTO_WEBP_EXPLORE=1")
	}
	samples := qualitySamples(t)
	sizes := []int{64, 200, 512}
	for _, q := range []int{80, 86, 92} {
		all := map[string]map[int][]measured{}
		for _, s := range samples {
			for kind, bySize := range measure(t, s, q, sizes, true) {
				if all[kind] == nil {
					all[kind] = map[int][]measured{}
				}
				for size, m := range bySize {
					all[kind][size] = append(all[kind][size], m)
				}
			}
		}
		kinds := []string{"jpeg", "served", "webp-pixels", "webp-same", "webp-next", "webp-orig"}
		for _, size := range sizes {
			for _, k := range kinds {
				var b, ss, ps, ms []float64
				for _, m := range all[k][size] {
					b = append(b, float64(m.bytes))
					ss = append(ss, m.ssim)
					ps = append(ps, m.psnr)
					ms = append(ms, m.ms)
				}
				fmt.Printf("q%d %4d %-12s bytes %7.0f ssim %.4f psnr %5.2f ms %6.1f\n", q, size, k, median(b), median(ss), median(ps), median(ms))
			}
		}
	}
}

// BenchmarkRenditionEncode times the encoders alone on a photo's
// rendition pixels (4:2:0 planes): JPEG (the project's encoder, quality
// 85) and WebP (default quality; -tags nodynamic for the WebAssembly
// build, else a system libwebp when one is found).
func BenchmarkRenditionEncode(b *testing.B) {
	for _, size := range []int{64, 200, 512} {
		m := toYCbCr(toNRGBA(testimage.Photo(size, size, 4)))
		b.Run(fmt.Sprintf("jpeg/%d", size), func(b *testing.B) {
			for b.Loop() {
				if err := jpegenc.Encode(io.Discard, m, &jpegenc.Options{Quality: imaging.DefaultJPEGQuality}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("webp/%d", size), func(b *testing.B) {
			webpenc.Warm()
			for b.Loop() {
				if _, err := webpenc.Encode(b.Context(), m, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestWebPQualityEscalates: a rendition whose WebP at the starting
// quality is less close than its JPEG gets one at a higher quality (3 a
// step), judged smaller and at least as close, and served.
func TestWebPQualityEscalates(t *testing.T) {
	j := &judged{bySize: map[int]slog.Record{}}
	m, err := New(newBucket(t), &Options{Sizes: []int{32, 64, 128, 256}, Logger: slog.New(j)})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testimage.Photo(300, 200, 1), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	p, err := m.Set(t.Context(), "u", &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.OpenRendition(t.Context(), "u", p.VersionID, 64, webpType)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	stored, err := m.OpenRendition(t.Context(), "u", p.VersionID, 64, "")
	if err != nil {
		t.Fatal(err)
	}
	stored.Close()
	r, ok := j.bySize[64]
	if !ok {
		t.Fatal("no verdict logged")
	}
	q, n := int(attr(r, "quality").Int64()), int(attr(r, "encodes").Int64())
	ss, st := attr(r, "ssim").Float64(), attr(r, "stored_ssim").Float64()
	t.Logf("served %s, %d bytes (JPEG %d), quality %d after %d encodes, SSIM %.4f (JPEG %.4f)", b.Rendition.ContentType, b.Rendition.Bytes, stored.Rendition.Bytes, q, n, ss, st)
	if b.Rendition.ContentType != webpType || n < 2 || q != webpenc.DefaultQuality+webpQualityStep*(n-1) {
		t.Errorf("served %s at quality %d after %d encodes: want a WebP after more than one, %d a step from %d", b.Rendition.ContentType, q, n, webpQualityStep, webpenc.DefaultQuality)
	}
	if b.Rendition.Bytes >= stored.Rendition.Bytes || ss < st {
		t.Errorf("WebP %d bytes SSIM %.4f, JPEG %d bytes SSIM %.4f: want smaller and as close", b.Rendition.Bytes, ss, stored.Rendition.Bytes, st)
	}
}

// BenchmarkWebPFirstRequest times a WebP client's first request for a
// rendition (what OpenRendition does when no WebP nor verdict is stored
// yet): reading the stored rendition and the source, resampling, the
// encodes and comparisons, storing the WebP or the verdict. Each
// iteration deletes what the previous one stored. Sizes without a source
// twice as large are skipped (they serve the JPEG at once).
func BenchmarkWebPFirstRequest(b *testing.B) {
	webpenc.Warm()
	for _, s := range qualitySamples(b) {
		if s.name != "generated 2048x2048" && s.name != "exif-orientation-examples/Landscape_1.jpg" {
			continue
		}
		jpegs := renderAll(b, s.img, nil)
		m, err := New(newBucket(b), &Options{Fit: Cover, Sizes: defaultSizes(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		v := &version{ID: "v", Prefix: "users/u/v/", Width: s.img.Bounds().Dx(), Height: s.img.Bounds().Dy(), Fit: Cover.String()}
		if err := m.writeBlobs(b.Context(), v, jpegs); err != nil {
			b.Fatal(err)
		}
		for _, size := range []int{64, 200, 512, 1024} {
			if !webpPays(v, size) {
				continue
			}
			b.Run(fmt.Sprintf("%s/%d", s.name, size), func(b *testing.B) {
				for b.Loop() {
					if err := m.bucket.Delete(b.Context(), v.Prefix+"w"+strconv.Itoa(size)); err != nil && !errors.Is(err, storage.ErrNotFound) {
						b.Fatal(err)
					}
					bl, err := m.openVersion(b.Context(), "u", v, size, true)
					if err != nil {
						b.Fatal(err)
					}
					bl.Close()
				}
			})
		}
	}
}
