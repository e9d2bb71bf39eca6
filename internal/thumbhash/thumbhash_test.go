package thumbhash

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// synth returns a w x h image whose pixels are f(x/w, y/h).
func synth(w, h int, f func(u, v float64) color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, f((float64(x)+0.5)/float64(w), (float64(y)+0.5)/float64(h)))
		}
	}
	return m
}

func c8(v float64) uint8 { return uint8(math.Round(min(max(v, 0), 1) * 255)) }

var (
	gradient = func(u, v float64) color.NRGBA { return color.NRGBA{c8(u), c8(v), c8(1 - u), 255} }
	halves   = func(u, v float64) color.NRGBA {
		if u < 0.5 {
			return color.NRGBA{200, 30, 40, 255}
		}
		return color.NRGBA{30, 60, 200, 255}
	}
	disc = func(u, v float64) color.NRGBA { // an opaque green disc on transparency
		if d := math.Hypot(u-0.5, v-0.5); d < 0.35 {
			return color.NRGBA{40, 180, 60, 255}
		}
		return color.NRGBA{0, 0, 0, 0}
	}
	solid = func(u, v float64) color.NRGBA { return color.NRGBA{90, 140, 210, 255} }
)

// reference reduces m to w x h by area averaging (straight colour,
// alpha-weighted), for comparison with a decoded hash.
func reference(m image.Image, w, h int) *image.NRGBA {
	b := m.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for ty := range h {
		for tx := range w {
			var r, g, bl, a, n float64
			for y := b.Min.Y + ty*b.Dy()/h; y < b.Min.Y+(ty+1)*b.Dy()/h; y++ {
				for x := b.Min.X + tx*b.Dx()/w; x < b.Min.X+(tx+1)*b.Dx()/w; x++ {
					cr, cg, cb, ca := m.At(x, y).RGBA()
					r, g, bl, a, n = r+float64(cr), g+float64(cg), bl+float64(cb), a+float64(ca), n+1
				}
			}
			if a > 0 {
				out.SetNRGBA(tx, ty, color.NRGBA{c8(r / a), c8(g / a), c8(bl / a), c8(a / n / 0xffff)})
			}
		}
	}
	return out
}

// psnr compares the RGB of two same-size images where the reference is
// at least half opaque, and their alpha everywhere.
func psnr(ref, got *image.NRGBA) (rgb, alpha float64) {
	var se, sa float64
	var n int
	for i := 0; i < len(ref.Pix); i += 4 {
		d := float64(ref.Pix[i+3]) - float64(got.Pix[i+3])
		sa += d * d
		if ref.Pix[i+3] < 128 {
			continue
		}
		for c := range 3 {
			d := float64(ref.Pix[i+c]) - float64(got.Pix[i+c])
			se += d * d
		}
		n += 3
	}
	db := func(sum float64, n int) float64 {
		if sum == 0 {
			return math.Inf(1)
		}
		return 10 * math.Log10(255*255/(sum/float64(n)))
	}
	return db(se, n), db(sa, len(ref.Pix)/4)
}

func hopper(t testing.TB) image.Image {
	f, err := os.Open("../../../shared/testdata/pillow/hopper.jpg")
	if err != nil {
		t.Skipf("shared testdata absent: %v", err)
	}
	defer f.Close()
	m, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name          string
		img           func(t *testing.T) image.Image
		minPSNR       float64 // RGB, where opaque
		minAlphaPSNR  float64
		avgTolerance  int // per channel, levels
		wantHasAlpha  bool
		wantLandscape bool
	}{
		{"gradient", func(*testing.T) image.Image { return synth(100, 100, gradient) }, 23, 0, 5, false, false},
		{"halves", func(*testing.T) image.Image { return synth(80, 60, halves) }, 16, 0, 5, false, true},
		{"solid", func(*testing.T) image.Image { return synth(64, 64, solid) }, 38, 0, 5, false, false},
		{"disc", func(*testing.T) image.Image { return synth(64, 64, disc) }, 35, 11, 5, true, false},
		{"hopper", func(t *testing.T) image.Image { return hopper(t) }, 12, 0, 5, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.img(t)
			hash, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(hash)
			if err != nil {
				t.Fatal(err)
			}
			ref := reference(m, got.Rect.Dx(), got.Rect.Dy())
			rgbDB, aDB := psnr(ref, got)
			avg, err := AverageColor(hash)
			if err != nil {
				t.Fatal(err)
			}
			want := reference(m, 1, 1).NRGBAAt(0, 0)
			t.Logf("%d bytes, decoded %v, PSNR RGB %.1f dB alpha %.1f dB, average %v (true %v)", len(hash), got.Rect.Size(), rgbDB, aDB, avg, want)
			if rgbDB < tc.minPSNR || aDB < tc.minAlphaPSNR {
				t.Errorf("PSNR RGB %.1f dB alpha %.1f dB, want at least %.1f and %.1f", rgbDB, aDB, tc.minPSNR, tc.minAlphaPSNR)
			}
			for i, d := range []int{int(avg.R) - int(want.R), int(avg.G) - int(want.G), int(avg.B) - int(want.B), int(avg.A) - int(want.A)} {
				if d > tc.avgTolerance || -d > tc.avgTolerance {
					t.Errorf("average channel %d off by %d levels: %v vs %v", i, d, avg, want)
				}
			}
			hd, _ := parse(hash)
			if hd.hasAlpha != tc.wantHasAlpha || hd.landscape != tc.wantLandscape {
				t.Errorf("hasAlpha %v landscape %v, want %v %v", hd.hasAlpha, hd.landscape, tc.wantHasAlpha, tc.wantLandscape)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	m := synth(97, 53, gradient)
	a, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("Encode differs between calls: %x vs %x", a, b)
		}
	}
	// The same pixels in another image type and at another origin.
	sub := image.NewRGBA(image.Rect(10, 20, 107, 73))
	for y := range 53 {
		for x := range 97 {
			sub.Set(10+x, 20+y, m.At(x, y))
		}
	}
	if b, err := Encode(sub); err != nil || !bytes.Equal(a, b) {
		t.Errorf("Encode of the same pixels as RGBA at an offset: %x, %v; want %x", b, err, a)
	}
	s, err := EncodeToString(m)
	if err != nil || s != Encoding.EncodeToString(a) {
		t.Errorf("EncodeToString = %q, %v", s, err)
	}
}

func TestTinyAndLarge(t *testing.T) {
	for _, tc := range []struct {
		name      string
		img       image.Image
		wantRatio float64 // approximate
		wantAlpha bool
	}{
		{"1x1", synth(1, 1, solid), 1, false},
		{"1x1 transparent", image.NewNRGBA(image.Rect(0, 0, 1, 1)), 1, true},
		{"1x100", synth(1, 100, gradient), 1.0 / 7, false},
		{"100x1", synth(100, 1, gradient), 7, false},
		{"2x3 alpha", synth(2, 3, disc), 3.0 / 5, true},
		{"400x300 reduced", synth(400, 300, gradient), 7.0 / 5, false},
		{"1000x10 reduced", synth(1000, 10, halves), 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Encode(tc.img)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(h)
			if err != nil {
				t.Fatal(err)
			}
			r, err := AspectRatio(h)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(math.Log(r/tc.wantRatio)) > 0.2 {
				t.Errorf("aspect ratio %.3f, want about %.3f", r, tc.wantRatio)
			}
			if long := max(got.Rect.Dx(), got.Rect.Dy()); long != DecodedSide || min(got.Rect.Dx(), got.Rect.Dy()) < 1 {
				t.Errorf("decoded size %v", got.Rect.Size())
			}
			if hd, _ := parse(h); hd.hasAlpha != tc.wantAlpha {
				t.Errorf("hasAlpha %v, want %v", hd.hasAlpha, tc.wantAlpha)
			}
		})
	}
	// A fully transparent image decodes fully transparent.
	h, _ := Encode(image.NewNRGBA(image.Rect(0, 0, 5, 5)))
	got, _ := Decode(h)
	for i := 3; i < len(got.Pix); i += 4 {
		if got.Pix[i] != 0 {
			t.Fatalf("transparent image decodes with alpha %d", got.Pix[i])
		}
	}
	if _, err := Encode(image.NewNRGBA(image.Rect(0, 0, 0, 5))); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty image: %v, want ErrEmpty", err)
	}
}

// TestLength checks the hash length bounds over random images of random
// shapes: 17 to 25 bytes, 23 to 34 characters.
func TestLength(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	minB, maxB := 1000, 0
	for range 300 {
		w, h := 1+rng.IntN(100), 1+rng.IntN(100)
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for i := range m.Pix {
			m.Pix[i] = uint8(rng.IntN(256))
		}
		if rng.IntN(2) == 0 {
			for i := 3; i < len(m.Pix); i += 4 {
				m.Pix[i] = 255
			}
		}
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("%dx%d: %v", w, h, err)
		}
		minB, maxB = min(minB, len(b)), max(maxB, len(b))
		if s := Encoding.EncodeToString(b); len(s) < 23 || len(s) > 34 {
			t.Errorf("%dx%d: string %q has %d characters", w, h, s, len(s))
		}
	}
	t.Logf("hash lengths %d to %d bytes", minB, maxB)
	if minB < 17 || maxB > 25 {
		t.Errorf("hash lengths %d to %d bytes, want within 17 to 25", minB, maxB)
	}
}

func TestMalformed(t *testing.T) {
	good, _ := Encode(synth(10, 10, gradient))
	alpha, _ := Encode(synth(10, 10, disc))
	zero := bytes.Clone(good)
	zero[3] &^= 7
	for _, tc := range []struct {
		name string
		hash []byte
	}{
		{"nil", nil},
		{"four bytes", good[:4]},
		{"short", good[:len(good)-1]},
		{"long", append(bytes.Clone(good), 0)},
		{"alpha without alpha byte", alpha[:5]},
		{"zero count", zero},
	} {
		if _, err := Decode(tc.hash); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode err %v, want ErrMalformed", tc.name, err)
		}
		if _, err := AverageColor(tc.hash); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: AverageColor err %v, want ErrMalformed", tc.name, err)
		}
	}
	if _, err := DecodeString("not*base64"); !errors.Is(err, ErrMalformed) {
		t.Errorf("DecodeString: %v, want ErrMalformed", err)
	}
	if _, err := DecodeString(Encoding.EncodeToString(good)); err != nil {
		t.Errorf("DecodeString of a good hash: %v", err)
	}
}

// TestJavaScript decodes hashes with thumbhash.js under node and compares
// the pixels with Decode's: they may differ by one level where the two
// languages' cosines round differently.
func TestJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	dir := t.TempDir()
	js, err := os.ReadFile("thumbhash.js")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "thumbhash.mjs"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `import { decode, averageRGBA, aspectRatio } from "./thumbhash.mjs";
const out = [];
for (const s of JSON.parse(process.argv[2])) {
  const d = decode(s);
  out.push({ w: d.width, h: d.height, rgba: Array.from(d.rgba), avg: averageRGBA(s), ratio: aspectRatio(s) });
}
let bad = 0;
for (const s of ["", "AAAA", "not base64!"]) { try { decode(s); } catch { bad++; } }
console.log(JSON.stringify({ out, bad }));
`
	if err := os.WriteFile(filepath.Join(dir, "run.mjs"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	var hashes []string
	for _, m := range []image.Image{
		synth(100, 100, gradient), synth(80, 60, halves), synth(64, 64, disc),
		synth(1, 100, gradient), synth(100, 7, disc), synth(3, 3, solid),
	} {
		s, err := EncodeToString(m)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, s)
	}
	arg, _ := json.Marshal(hashes)
	cmd := exec.Command(node, "run.mjs", string(arg))
	cmd.Dir = dir
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var res struct {
		Out []struct {
			W, H  int
			RGBA  []int
			Avg   []int
			Ratio float64
		}
		Bad int
	}
	if err := json.Unmarshal(outb, &res); err != nil {
		t.Fatalf("node output %q: %v", outb, err)
	}
	if res.Bad != 3 {
		t.Errorf("thumbhash.js accepted %d of 3 malformed hashes", 3-res.Bad)
	}
	if len(res.Out) != len(hashes) {
		t.Fatalf("node decoded %d of %d hashes", len(res.Out), len(hashes))
	}
	for i, s := range hashes {
		want, _ := DecodeString(s)
		got := res.Out[i]
		if got.W != want.Rect.Dx() || got.H != want.Rect.Dy() || len(got.RGBA) != len(want.Pix) {
			t.Errorf("%s: JS %dx%d, Go %v", s, got.W, got.H, want.Rect.Size())
			continue
		}
		worst := 0
		for j, v := range got.RGBA {
			worst = max(worst, abs(v-int(want.Pix[j])))
		}
		if worst > 1 {
			t.Errorf("%s: JS and Go pixels differ by up to %d levels", s, worst)
		}
		b, _ := Encoding.DecodeString(s)
		avg, _ := AverageColor(b)
		ratio, _ := AspectRatio(b)
		if fmt.Sprint(got.Avg) != fmt.Sprint([]int{int(avg.R), int(avg.G), int(avg.B), int(avg.A)}) || got.Ratio != ratio {
			t.Errorf("%s: JS average %v ratio %v, Go %v %v", s, got.Avg, got.Ratio, avg, ratio)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func BenchmarkEncode(b *testing.B) {
	for _, sz := range []int{64, 100, 200} {
		m := synth(sz, sz, gradient)
		b.Run(fmt.Sprint(sz), func(b *testing.B) {
			for b.Loop() {
				if _, err := Encode(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	h, _ := Encode(synth(100, 100, gradient))
	for b.Loop() {
		if _, err := Decode(h); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGolden pins the format: a hash stored in metadata must keep
// decoding to the same picture, here and in thumbhash.js.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  image.Image
		want string
	}{
		{"gradient", synth(100, 100, gradient), "HwgKnxqHh4iAiIeHiHiIiIiHCFiIgI8H"},
		{"disc", synth(40, 30, disc), "l+mABIA2CFqJeIV5iIr3V3CHgIZ4CKeIBg"},
	} {
		if got, err := EncodeToString(tc.img); err != nil || got != tc.want {
			t.Errorf("%s: EncodeToString = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
