package jpegenc

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"
)

// photoLike returns a w x h YCbCr image with smooth gradients, edges and
// noise, so that every coefficient range is exercised.
func photoLike(w, h int, ratio image.YCbCrSubsampleRatio, seed uint64) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), ratio)
	rng := rand.New(rand.NewPCG(seed, 1))
	for y := range h {
		for x := range w {
			v := 128 + 90*math.Sin(float64(x)/17+float64(y)/29)
			if (x/23+y/19)%2 == 0 {
				v = 255 - v/2
			}
			m.Y[y*m.YStride+x] = uint8(min(max(v+rng.NormFloat64()*6, 0), 255))
		}
	}
	for y := range h {
		for x := range w {
			i := m.COffset(x, y)
			m.Cb[i] = uint8(128 + 60*math.Sin(float64(x)/41))
			m.Cr[i] = uint8(128 + 60*math.Cos(float64(y)/37+float64(x)/53))
		}
	}
	return m
}

func gray(w, h int) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Pix[y*m.Stride+x] = uint8((x*7 + y*3) ^ (x * y))
		}
	}
	return m
}

// psnr compares two images of one size over their RGB channels.
func psnr(t *testing.T, a, b image.Image) float64 {
	t.Helper()
	if a.Bounds().Size() != b.Bounds().Size() {
		t.Fatalf("sizes %v and %v differ", a.Bounds().Size(), b.Bounds().Size())
	}
	var sum float64
	r := a.Bounds()
	for y := range r.Dy() {
		for x := range r.Dx() {
			r1, g1, b1, _ := a.At(r.Min.X+x, r.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(b.Bounds().Min.X+x, b.Bounds().Min.Y+y).RGBA()
			for _, d := range [3]float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
				sum += d * d
			}
		}
	}
	if sum == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255*3*float64(r.Dx()*r.Dy())/sum)
}

// TestAgainstImageJPEG encodes images of many sizes, subsamplings and
// qualities with both encoders: image/jpeg must decode ours, with quality
// no worse than 0.3 dB below its own and a size within 5 %.
func TestAgainstImageJPEG(t *testing.T) {
	type tc struct {
		name string
		m    image.Image
	}
	var cases []tc
	for _, sz := range [][2]int{{1, 1}, {7, 3}, {16, 16}, {17, 9}, {64, 48}, {200, 200}, {333, 251}} {
		for _, r := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio444} {
			cases = append(cases, tc{fmt.Sprintf("%dx%d-%v", sz[0], sz[1], r), photoLike(sz[0], sz[1], r, uint64(sz[0]))})
		}
		cases = append(cases, tc{fmt.Sprintf("%dx%d-gray", sz[0], sz[1]), gray(sz[0], sz[1])})
	}
	// A sub-image whose origin is not 0.
	cases = append(cases, tc{"subimage", photoLike(300, 200, image.YCbCrSubsampleRatio420, 9).SubImage(image.Rect(32, 18, 251, 191))})
	for _, c := range cases {
		for _, q := range []int{1, 50, 85, 100} {
			t.Run(fmt.Sprintf("%s-q%d", c.name, q), func(t *testing.T) {
				var ours, theirs bytes.Buffer
				if err := Encode(&ours, c.m, &Options{Quality: q}); err != nil {
					t.Fatal(err)
				}
				if err := jpeg.Encode(&theirs, c.m, &jpeg.Options{Quality: q}); err != nil {
					t.Fatal(err)
				}
				got, err := jpeg.Decode(bytes.NewReader(ours.Bytes()))
				if err != nil {
					t.Fatalf("image/jpeg cannot decode our output: %v", err)
				}
				ref, err := jpeg.Decode(bytes.NewReader(theirs.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				pOurs, pTheirs := psnr(t, c.m, got), psnr(t, c.m, ref)
				// Above 50 dB both are lossless to the eye; the float and
				// integer DCTs round differently there.
				if q >= 50 && pOurs < pTheirs-0.3 && pOurs < 50 {
					t.Errorf("PSNR %.2f dB, image/jpeg's %.2f", pOurs, pTheirs)
				}
				// image/jpeg writes every colour image at 4:2:0; compare sizes
				// where both code the same samples. Smaller is fine.
				if sameSamples(c.m) && c.m.Bounds().Dx()*c.m.Bounds().Dy() >= 64*48 {
					if r := float64(ours.Len()) / float64(theirs.Len()); r > 1.05 {
						t.Errorf("%d bytes, image/jpeg's %d (ratio %.3f)", ours.Len(), theirs.Len(), r)
					}
				}
			})
		}
	}
}

// TestStripes checks that coding in stripes with restart markers decodes
// to exactly the same pixels as coding in one piece.
func TestStripes(t *testing.T) {
	for _, m := range []image.Image{
		photoLike(333, 251, image.YCbCrSubsampleRatio420, 3),
		photoLike(64, 200, image.YCbCrSubsampleRatio444, 4),
		gray(100, 37),
	} {
		var one bytes.Buffer
		if err := Encode(&one, m, &Options{Quality: 85}); err != nil {
			t.Fatal(err)
		}
		want, err := jpeg.Decode(&one)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{2, 3, 8, 9, 1000} {
			var striped bytes.Buffer
			if err := Encode(&striped, m, &Options{Quality: 85, Stripes: n}); err != nil {
				t.Fatal(err)
			}
			got, err := jpeg.Decode(&striped)
			if err != nil {
				t.Fatalf("%d stripes: %v", n, err)
			}
			if p := psnr(t, want, got); !math.IsInf(p, 1) {
				t.Errorf("%v, %d stripes: decoded pixels differ (PSNR %.1f dB)", m.Bounds(), n, p)
			}
		}
	}
}

// TestByteStuffing encodes noise, whose entropy-coded data is full of
// 0xff bytes, and checks that every one is followed by a stuffed zero or
// a marker the encoder wrote.
func TestByteStuffing(t *testing.T) {
	m := image.NewGray(image.Rect(0, 0, 256, 256))
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range m.Pix {
		m.Pix[i] = uint8(rng.IntN(256))
	}
	var buf bytes.Buffer
	if err := Encode(&buf, m, &Options{Quality: 100, Stripes: 4}); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	sos := bytes.Index(data, []byte{0xff, 0xda})
	scan := data[sos+2+int(data[sos+2])<<8|int(data[sos+3]) : len(data)-2]
	ff, rst := 0, 0
	for i := 0; i < len(scan)-1; i++ {
		if scan[i] != 0xff {
			continue
		}
		ff++
		switch next := scan[i+1]; {
		case next == 0:
		case next >= 0xd0 && next <= 0xd7:
			rst++
		default:
			t.Fatalf("0xff followed by %#x at %d", next, i)
		}
		i++
	}
	if ff < 100 || rst != 3 {
		t.Errorf("%d 0xff bytes, %d restart markers; want many and 3", ff, rst)
	}
	if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// sameSamples reports whether image/jpeg codes the samples of m as they
// are: gray, or 4:2:0.
func sameSamples(m image.Image) bool {
	y, ok := m.(*image.YCbCr)
	return !ok || y.SubsampleRatio == image.YCbCrSubsampleRatio420
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		m    image.Image
		q    int
	}{
		{"RGBA", image.NewRGBA(image.Rect(0, 0, 8, 8)), 80},
		{"4:1:1", image.NewYCbCr(image.Rect(0, 0, 8, 8), image.YCbCrSubsampleRatio411), 80},
		{"empty", image.NewGray(image.Rect(0, 0, 0, 5)), 80},
		{"4:2:0 at an odd origin", photoLike(20, 20, image.YCbCrSubsampleRatio420, 1).SubImage(image.Rect(1, 0, 20, 20)), 80},
		{"quality 101", gray(8, 8), 101},
		{"quality -1", gray(8, 8), -1},
	} {
		if err := Encode(&bytes.Buffer{}, c.m, &Options{Quality: c.q}); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestTables(t *testing.T) {
	for i, s := range huffSpecs {
		n := 0
		for _, c := range s.counts {
			n += int(c)
		}
		if n != len(s.values) {
			t.Errorf("table %d: counts say %d symbols, %d listed", i, n, len(s.values))
		}
	}
	seen := map[uint8]bool{}
	for _, z := range zigzag {
		seen[z] = true
	}
	if len(seen) != 64 {
		t.Errorf("zigzag visits %d coefficients", len(seen))
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, sz := range [][2]int{{2048, 1536}, {1024, 1024}, {200, 200}} {
		m := photoLike(sz[0], sz[1], image.YCbCrSubsampleRatio420, 5)
		name := fmt.Sprintf("%dx%d", sz[0], sz[1])
		b.Run(name+"/jpegenc", func(b *testing.B) {
			for b.Loop() {
				if err := Encode(&bytes.Buffer{}, m, &Options{Quality: 85}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/jpegenc-2stripes", func(b *testing.B) {
			for b.Loop() {
				if err := Encode(&bytes.Buffer{}, m, &Options{Quality: 85, Stripes: 2}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/image-jpeg", func(b *testing.B) {
			for b.Loop() {
				if err := jpeg.Encode(&bytes.Buffer{}, m, &jpeg.Options{Quality: 85}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
