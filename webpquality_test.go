package photo

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/imaging/testimage"
	"github.com/profilephoto/photo/internal/jpegenc"
	"github.com/profilephoto/photo/internal/webpenc"
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
// shared test images (skipped when absent) and a generated one.
func qualitySamples(t testing.TB) []qualitySample {
	t.Helper()
	samples := []qualitySample{{"generated 1600x1200", testimage.Photo(1600, 1200, 4)}}
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

// luma returns the BT.601 luma of each pixel of m, as float64.
func luma(m *image.NRGBA) []float64 {
	out := make([]float64, 0, m.Rect.Dx()*m.Rect.Dy())
	for i := 0; i < len(m.Pix); i += 4 {
		out = append(out, 0.299*float64(m.Pix[i])+0.587*float64(m.Pix[i+1])+0.114*float64(m.Pix[i+2]))
	}
	return out
}

// ssim is the mean structural similarity of the luma of a and b (same
// size) over 8x8 windows placed every 4 pixels (Wang et al. 2004, with
// their constants for 8-bit data and a uniform window). 1 is identical.
func ssim(a, b *image.NRGBA) float64 {
	w, h := a.Rect.Dx(), a.Rect.Dy()
	la, lb := luma(a), luma(b)
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	win := min(8, w, h)
	var sum float64
	n := 0
	for y0 := 0; y0+win <= h; y0 += max(win/2, 1) {
		for x0 := 0; x0+win <= w; x0 += max(win/2, 1) {
			var ma, mb float64
			for y := y0; y < y0+win; y++ {
				for x := x0; x < x0+win; x++ {
					ma += la[y*w+x]
					mb += lb[y*w+x]
				}
			}
			k := float64(win * win)
			ma, mb = ma/k, mb/k
			var va, vb, cov float64
			for y := y0; y < y0+win; y++ {
				for x := x0; x < x0+win; x++ {
					da, db := la[y*w+x]-ma, lb[y*w+x]-mb
					va += da * da
					vb += db * db
					cov += da * db
				}
			}
			va, vb, cov = va/(k-1), vb/(k-1), cov/(k-1)
			sum += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}

// psnr is the peak signal-to-noise ratio of b against a over R, G and B,
// in dB (capped at 99 for identical images).
func psnr(a, b *image.NRGBA) float64 {
	var se float64
	n := 0
	for i := 0; i < len(a.Pix); i += 4 {
		for c := range 3 {
			d := float64(a.Pix[i+c]) - float64(b.Pix[i+c])
			se += d * d
			n++
		}
	}
	if se == 0 {
		return 99
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

func TestSSIMAndPSNRCanTell(t *testing.T) {
	a := toNRGBA(testimage.Photo(64, 64, 1))
	if s, p := ssim(a, a), psnr(a, a); s < 0.9999 || p != 99 {
		t.Errorf("an image against itself: SSIM %v, PSNR %v", s, p)
	}
	noisy := toNRGBA(a)
	for i := range noisy.Pix {
		if i%4 != 3 && i%7 == 0 {
			noisy.Pix[i] ^= 0x1f
		}
	}
	flat := image.NewNRGBA(a.Rect)
	draw.Draw(flat, flat.Rect, image.NewUniform(color.NRGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	if s1, s2 := ssim(a, noisy), ssim(a, flat); !(s1 < 0.99 && s2 < s1) {
		t.Errorf("SSIM against noise %v, against a flat image %v: want both below 1, flat lowest", s1, s2)
	}
	if p := psnr(a, noisy); p > 40 {
		t.Errorf("PSNR against noise %v dB", p)
	}
}

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
	ms         float64 // making it: decoding the source, resizing, encoding
	encMS      float64 // encoding the reference pixels
}

// measure encodes the renditions of sample at sizes as JPEG (as Set
// does) and as WebP at quality q (as OpenRendition does, from the source
// that webpSource picks), against the unencoded reference; explore adds
// WebPs made from other sources.
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
	put := func(kind string, size int, data []byte, ms float64) {
		if out[kind] == nil {
			out[kind] = map[int]measured{}
		}
		got := decodeNRGBA(t, data)
		want := ref[got.Rect.Dx()]
		out[kind][size] = measured{bytes: len(data), ssim: ssim(want, got), psnr: psnr(want, got), ms: ms}
	}
	webp := func(m image.Image, alpha bool) ([]byte, string, error) {
		d, err := webpenc.Encode(t.Context(), m, q)
		return d, webpenc.ContentType, err
	}
	// The version as Set stores it, in a bucket of its own, for
	// makeWebP: OpenRendition's way of making a WebP, sources and all.
	m, err := New(newBucket(t), &Options{Fit: Cover, WebPQuality: q, Sizes: defaultSizes()})
	if err != nil {
		t.Fatal(err)
	}
	v := &version{ID: "v", Prefix: "users/u/v/", Width: s.img.Bounds().Dx(), Height: s.img.Bounds().Dy(), Fit: Cover.String()}
	if err := m.writeBlobs(t.Context(), v, jpegs); err != nil {
		t.Fatal(err)
	}
	for _, size := range sizes {
		put("jpeg", size, stored[size], 0)
		start := time.Now()
		if !webpPays(v, size) {
			// No source twice as large: WebP clients get the JPEG.
			continue
		}
		data, err := m.makeWebP(t.Context(), "u", v, size)
		if err != nil {
			t.Fatal(err)
		}
		put("webp", size, data, float64(time.Since(start).Microseconds())/1000)
		if r := ref[refSide(ref, size)]; r != nil {
			ycc := toYCbCr(r)
			start := time.Now()
			if _, err := webpenc.Encode(t.Context(), ycc, q); err != nil {
				t.Fatal(err)
			}
			m := out["webp"][size]
			m.encMS = float64(time.Since(start).Microseconds()) / 1000
			out["webp"][size] = m
			start = time.Now()
			if err := jpegenc.Encode(io.Discard, ycc, &jpegenc.Options{Quality: imaging.DefaultJPEGQuality}); err != nil {
				t.Fatal(err)
			}
			m = out["jpeg"][size]
			m.encMS = float64(time.Since(start).Microseconds()) / 1000
			out["jpeg"][size] = m
		}
		if size == slices.Max(defaultSizes()) {
			// What makeWebP did before it used the original: re-encode
			// the JPEG of the same size.
			e, err := imaging.RescaleWith(t.Context(), stored[size], size, imaging.Spec{Encoder: webp})
			if err != nil {
				t.Fatal(err)
			}
			put("webp-same", size, e.Data, 0)
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
			if _, done := out[src.name][size]; done || src.data == nil {
				continue // measured above, or no larger size
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

// TestWebPSmallerAndAsGood is the claim of Options.WebPQuality's
// default: over the sample photos, at 64, 200, 512 and 1024 pixels, the
// WebP that OpenRendition makes is smaller than the JPEG that Set stores,
// in the median and in total, and at least as close to the unencoded
// pixels in the median SSIM and PSNR, over the photos that get one. Every
// photo gets one at 64, 200 and 512 pixels; at 1024 (the largest default
// size) only those with a source twice as large do (webpPays), the large
// square generated one here, and the others are checked to get none. It
// logs the table of medians, and each photo's row at 1024.
func TestWebPSmallerAndAsGood(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes a few dozen renditions")
	}
	samples := qualitySamples(t)
	if len(samples) < 3 {
		t.Skip("skipping: fewer than two real photos in the shared test images")
	}
	largest := slices.Max(defaultSizes())
	sizes := []int{64, 200, 512, largest}
	// pairs[size][kind]: the measurements of the photos that got a WebP
	// of size, so that both kinds are medians over the same photos.
	pairs := map[int]map[string][]measured{}
	for _, s := range samples {
		bySample := measure(t, s, 0, sizes, false)
		for _, k := range []string{"jpeg", "webp", "webp-same"} {
			if m, ok := bySample[k][largest]; ok {
				t.Logf("%-42s %4d %-9s %7d bytes  SSIM %.4f  PSNR %5.2f", s.name, largest, k, m.bytes, m.ssim, m.psnr)
			}
		}
		for _, size := range sizes {
			if _, ok := bySample["webp"][size]; !ok {
				if size != largest || s.img.Bounds().Dx() >= 2*largest {
					t.Errorf("%s: no WebP of %d px", s.name, size)
				}
				continue
			}
			if size == largest && s.img.Bounds().Dx() < 2*largest {
				t.Errorf("%s: a WebP of %d px made from a source under twice its side", s.name, size)
			}
			if pairs[size] == nil {
				pairs[size] = map[string][]measured{}
			}
			for _, k := range []string{"jpeg", "webp", "webp-same"} {
				if m, ok := bySample[k][size]; ok {
					pairs[size][k] = append(pairs[size][k], m)
				}
			}
		}
	}
	t.Logf("medians over the photos that get a WebP (WebP quality %d, JPEG %d):", webpenc.DefaultQuality, imaging.DefaultJPEGQuality)
	t.Logf("%5s %7s  %-9s %8s %7s %6s %8s %8s", "size", "photos", "fmt", "bytes", "SSIM", "PSNR", "enc ms", "make ms")
	for _, size := range sizes {
		if len(pairs[size]["webp"]) == 0 {
			t.Errorf("%d px: no photo got a WebP", size)
			continue
		}
		med := map[string][5]float64{}
		total := map[string]int{}
		for _, k := range []string{"jpeg", "webp", "webp-same"} {
			if len(pairs[size][k]) == 0 {
				continue
			}
			var b, ss, ps, enc, mk []float64
			for _, m := range pairs[size][k] {
				b = append(b, float64(m.bytes))
				ss = append(ss, m.ssim)
				ps = append(ps, m.psnr)
				enc = append(enc, m.encMS)
				mk = append(mk, m.ms)
				total[k] += m.bytes
			}
			med[k] = [5]float64{median(b), median(ss), median(ps), median(enc), median(mk)}
			t.Logf("%5d %7d  %-9s %8.0f %7.4f %6.2f %8.1f %8.1f", size, len(pairs[size][k]), k, med[k][0], med[k][1], med[k][2], med[k][3], med[k][4])
		}
		j, w := med["jpeg"], med["webp"]
		if w[0] >= j[0] || total["webp"] >= total["jpeg"] {
			t.Errorf("%d px: WebP median %.0f bytes (total %d), JPEG %.0f (total %d): want WebP smaller", size, w[0], total["webp"], j[0], total["jpeg"])
		}
		if w[1] < j[1] || w[2] < j[2] {
			t.Errorf("%d px: WebP median SSIM %.4f, PSNR %.2f; JPEG %.4f, %.2f: want WebP at least as good", size, w[1], w[2], j[1], j[2])
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
	for _, q := range []int{80, 84, 86, 88} {
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
		kinds := []string{"jpeg", "webp", "webp-pixels", "webp-same", "webp-next", "webp-orig"}
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
