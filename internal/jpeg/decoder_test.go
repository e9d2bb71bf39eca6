package jpeg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const sharedTestdata = "../../../shared/testdata"

// photoLike is a deterministic image with smooth areas, edges and noise.
func photoLike(w, h int, seed uint32) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			seed = seed*1664525 + 1013904223
			n := float64(seed>>24)/255*30 - 15
			r := 128 + 90*math.Sin(float64(x)/13+float64(y)/29) + n
			g := 40 + 170*float64(y)/float64(h) + n/2
			b := 200 - 150*float64(x)/float64(w)
			if (x/23+y/17)%3 == 0 {
				b = 20 + n
			}
			img.Set(x, y, color.RGBA{clampF(r), clampF(g), clampF(b), 255})
		}
	}
	return img
}

func clampF(v float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(v)))) }

func encode(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := stdjpeg.Encode(&buf, img, &stdjpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func toGray(img image.Image) *image.Gray {
	g := image.NewGray(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			g.Set(x, y, img.At(x, y))
		}
	}
	return g
}

// plane is one sample plane of a decoded image, so that two decoders'
// outputs compare plane by plane: sample (x, y) is pix[off+y*stride+x*step].
type plane struct {
	w, h              int
	pix               []byte
	off, stride, step int
}

func (p plane) at(x, y int) byte { return p.pix[p.off+y*p.stride+x*p.step] }

func planesOf(img image.Image) []plane {
	switch m := img.(type) {
	case *image.YCbCr:
		r := m.Rect
		cw, ch := r.Dx(), r.Dy()
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422:
			cw = (cw + 1) / 2
		case image.YCbCrSubsampleRatio420:
			cw, ch = (cw+1)/2, (ch+1)/2
		case image.YCbCrSubsampleRatio440:
			ch = (ch + 1) / 2
		case image.YCbCrSubsampleRatio411:
			cw = (cw + 3) / 4
		case image.YCbCrSubsampleRatio410:
			cw, ch = (cw+3)/4, (ch+1)/2
		}
		return []plane{
			{r.Dx(), r.Dy(), m.Y, 0, m.YStride, 1},
			{cw, ch, m.Cb, 0, m.CStride, 1},
			{cw, ch, m.Cr, 0, m.CStride, 1},
		}
	case *image.Gray:
		return []plane{{m.Rect.Dx(), m.Rect.Dy(), m.Pix, 0, m.Stride, 1}}
	case *image.RGBA:
		var ps []plane
		for j := 0; j < 3; j++ {
			ps = append(ps, plane{m.Rect.Dx(), m.Rect.Dy(), m.Pix, j, m.Stride, 4})
		}
		return ps
	case *image.CMYK:
		var ps []plane
		for j := 0; j < 4; j++ {
			ps = append(ps, plane{m.Rect.Dx(), m.Rect.Dy(), m.Pix, j, m.Stride, 4})
		}
		return ps
	}
	return nil
}

// maxDiff compares two decodes of the same file plane by plane.
func maxDiff(a, b image.Image) (int, error) {
	if fmt.Sprintf("%T", a) != fmt.Sprintf("%T", b) {
		return 0, fmt.Errorf("types %T and %T", a, b)
	}
	if a.Bounds() != b.Bounds() {
		return 0, fmt.Errorf("bounds %v and %v", a.Bounds(), b.Bounds())
	}
	if ya, ok := a.(*image.YCbCr); ok && ya.SubsampleRatio != b.(*image.YCbCr).SubsampleRatio {
		return 0, fmt.Errorf("ratios %v and %v", ya.SubsampleRatio, b.(*image.YCbCr).SubsampleRatio)
	}
	pa, pb := planesOf(a), planesOf(b)
	worst := 0
	for i := range pa {
		for y := 0; y < pa[i].h; y++ {
			for x := 0; x < pa[i].w; x++ {
				d := int(pa[i].at(x, y)) - int(pb[i].at(x, y))
				worst = max(worst, d, -d)
			}
		}
	}
	return worst, nil
}

type sample struct {
	name string
	data []byte
}

// generated are JPEGs made by image/jpeg: 4:2:0 YCbCr and gray, odd sizes.
func generated(t testing.TB) []sample {
	var s []sample
	for _, sz := range []image.Point{{1, 1}, {8, 8}, {17, 9}, {61, 45}, {160, 120}, {333, 211}} {
		img := photoLike(sz.X, sz.Y, uint32(sz.X))
		for _, q := range []int{10, 50, 75, 90, 100} {
			s = append(s, sample{fmt.Sprintf("gen-%dx%d-q%d", sz.X, sz.Y, q), encode(t, img, q)})
		}
		s = append(s, sample{fmt.Sprintf("gen-gray-%dx%d", sz.X, sz.Y), encode(t, toGray(img), 80)})
	}
	return s
}

// committed are the small files of testdata (cjpeg: every subsampling,
// progressive, restart intervals, gray, RGB, non-interleaved scans).
func committed(t testing.TB) []sample {
	names, err := filepath.Glob("testdata/*.jpg")
	if err != nil || len(names) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	var s []sample
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		s = append(s, sample{n, b})
	}
	return s
}

// manifestRow is one JPEG of ../shared/testdata with its verdict.
type manifestRow struct {
	file, verdict string
}

func manifest(t testing.TB) []manifestRow {
	f, err := os.Open(filepath.Join(sharedTestdata, "MANIFEST.tsv"))
	if err != nil {
		t.Skipf("shared testdata absent: %v", err)
	}
	defer f.Close()
	var rows []manifestRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 11 || cols[0] == "file" || cols[10] != "jpeg" {
			continue
		}
		rows = append(rows, manifestRow{cols[0], cols[5]})
	}
	return rows
}

func readShared(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join(sharedTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFullScaleMatchesStdlib: on every file image/jpeg decodes, the full
// scale output has its type, bounds and subsampling, and every sample is
// within 1 of it.
func TestFullScaleMatchesStdlib(t *testing.T) {
	t.Parallel()
	all := append(generated(t), committed(t)...)
	for _, r := range manifestIfPresent(t) {
		all = append(all, sample{r.file, readShared(t, r.file)})
	}
	all = append(all, transcoded(t)...)
	all = append(all, cmykVariants(t)...)
	checked := 0
	for _, s := range all {
		want, werr := stdjpeg.Decode(bytes.NewReader(s.data))
		got, err := Decode(s.data, nil)
		if werr != nil {
			continue // compared in TestVerdicts and the fuzz target
		}
		if err != nil {
			t.Errorf("%s: %v (image/jpeg decodes it)", s.name, err)
			continue
		}
		d, err := maxDiff(got, want)
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		tol := 1
		if _, ok := got.(*image.CMYK); ok {
			tol = 3 // YCCK: a difference of 1 in Y and Cr becomes up to 3 in RGB
		}
		if d > tol {
			t.Errorf("%s: a sample differs from image/jpeg's by %d", s.name, d)
		}
		checked++
	}
	t.Logf("%d files compared", checked)
}

// manifestIfPresent is the manifest's JPEGs for the pixel comparisons,
// without the orientation variants of one 1800x1200 photo whose pixels
// Landscape_0 and Landscape_5 already hold (they dominate the run time
// under -race).
func manifestIfPresent(t testing.TB) []manifestRow {
	if _, err := os.Stat(filepath.Join(sharedTestdata, "MANIFEST.tsv")); err != nil {
		t.Logf("shared testdata absent: only generated and committed files")
		return nil
	}
	var rows []manifestRow
	for _, r := range manifest(t) {
		if strings.Contains(r.file, "/Landscape_") && !strings.HasSuffix(r.file, "_0.jpg") && !strings.HasSuffix(r.file, "_5.jpg") {
			continue
		}
		rows = append(rows, r)
	}
	return rows
}

// transcoded makes progressive and restart-marker versions of a large
// shared photo with jpegtran, when both exist.
func transcoded(t testing.TB) []sample {
	tool, err := exec.LookPath("jpegtran")
	if err != nil {
		t.Logf("jpegtran absent: no transcoded files")
		return nil
	}
	src := filepath.Join(sharedTestdata, "exif-samples/DSCN0010.jpg")
	if _, err := os.Stat(src); err != nil {
		return nil
	}
	var s []sample
	for _, args := range [][]string{{"-progressive"}, {"-restart", "5B"}, {"-progressive", "-restart", "1"}, {"-grayscale", "-progressive"}} {
		out, err := exec.Command(tool, append(args, src)...).Output()
		if err != nil {
			t.Fatalf("jpegtran %v: %v", args, err)
		}
		s = append(s, sample{"jpegtran " + strings.Join(args, " "), out})
	}
	return s
}

// cmykVariants returns the shared Adobe YCCK file and, with its APP14
// transform byte set to 0, the same data as plain (inverted) CMYK. (The
// first Adobe segment in the file belongs to a thumbnail inside the
// Photoshop APP13 segment.)
func cmykVariants(t testing.TB) []sample {
	ycck, err := os.ReadFile(filepath.Join(sharedTestdata, "pillow/pil_sample_cmyk.jpg"))
	if err != nil {
		t.Logf("no CMYK sample: %v", err)
		return nil
	}
	i := bytes.LastIndex(ycck, []byte("\xff\xee\x00\x0eAdobe"))
	if i < 0 || ycck[i+15] != 2 {
		t.Fatalf("pil_sample_cmyk.jpg: no Adobe segment with transform 2")
	}
	in, err := DecodeInfo(ycck)
	if err != nil || in.ColorSpace != YCCK || in.Components != 4 {
		t.Fatalf("pil_sample_cmyk.jpg: %+v, %v", in, err)
	}
	cmyk := bytes.Clone(ycck)
	cmyk[i+15] = 0
	if in, err := DecodeInfo(cmyk); err != nil || in.ColorSpace != CMYK {
		t.Fatalf("the CMYK variant: %+v, %v", in, err)
	}
	return []sample{{"ycck", ycck}, {"cmyk", cmyk}}
}

// TestVerdicts: every JPEG of the manifest gets the verdict the library
// gives it today, and the committed arithmetic-coded file is unsupported.
func TestVerdicts(t *testing.T) {
	for _, r := range manifest(t) {
		data := readShared(t, r.file)
		_, err := Decode(data, nil)
		var want error
		switch {
		case strings.HasPrefix(r.verdict, "reject: truncated"):
			want = ErrTruncated
		case strings.HasPrefix(r.verdict, "reject: corrupt"):
			want = ErrCorrupt
		case strings.HasPrefix(r.verdict, "reject: unsupported"):
			want = ErrUnsupported
		case strings.HasPrefix(r.verdict, "reject"):
			if err == nil {
				t.Errorf("%s (%s): decoded", r.file, r.verdict)
			}
			continue
		}
		switch {
		case want == nil && err != nil:
			t.Errorf("%s (%s): %v", r.file, r.verdict, err)
		case want != nil && !errors.Is(err, want):
			t.Errorf("%s (%s): got %v, want %v", r.file, r.verdict, err, want)
		}
	}
}

func TestRefusals(t *testing.T) {
	good, err := os.ReadFile("testdata/s420opt.jpg")
	if err != nil {
		t.Fatal(err)
	}
	arith, err := os.ReadFile("testdata/arith.jpg")
	if err != nil {
		t.Fatal(err)
	}
	sof := bytes.Index(good, []byte{0xff, 0xc0})
	twelve := bytes.Clone(good)
	twelve[sof+4] = 12
	huge := bytes.Clone(good)
	huge[sof+5], huge[sof+6], huge[sof+7], huge[sof+8] = 0xff, 0xff, 0xff, 0xff
	tests := []struct {
		name string
		data []byte
		opts *Options
		want error
	}{
		{"12-bit", twelve, nil, ErrUnsupported},
		{"arithmetic", arith, nil, ErrUnsupported},
		{"too large", huge, nil, ErrTooLarge},
		{"max pixels", good, &Options{MaxPixels: 100}, ErrTooLarge},
		{"bad scale", good, &Options{Scale: 3}, ErrUnsupported},
		{"empty", nil, nil, ErrTruncated},
		{"not jpeg", []byte("GIF89a......"), nil, ErrCorrupt},
		{"no EOI", good[:len(good)-2], nil, ErrTruncated},
		{"cut in scan", good[:len(good)/2], nil, ErrTruncated},
		{"cut in header", good[:100], nil, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.data, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == ErrTruncated && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%v does not wrap io.ErrUnexpectedEOF", err)
			}
		})
	}
}

// TestTruncation cuts files at many points: every prefix is refused as
// truncated (image/jpeg refuses them too), except where the cut leaves an
// unsupported feature visible first.
func TestTruncation(t *testing.T) {
	for _, s := range committed(t) {
		for n := 0; n < len(s.data); n += 1 + n/16 {
			cut := s.data[:n]
			_, werr := stdjpeg.Decode(bytes.NewReader(cut))
			_, err := Decode(cut, nil)
			if werr == nil {
				t.Errorf("%s cut at %d: image/jpeg decodes it", s.name, n)
			}
			if !errors.Is(err, ErrTruncated) && !(errors.Is(err, ErrUnsupported) && errors.As(werr, new(stdjpeg.UnsupportedError))) {
				t.Errorf("%s cut at %d: image/jpeg %v, we %v", s.name, n, werr, err)
			}
		}
	}
}

func TestDecodeInfo(t *testing.T) {
	tests := []struct {
		file string
		want Info
	}{
		{"s444.jpg", Info{61, 45, 3, YCbCr, image.YCbCrSubsampleRatio444, false}},
		{"s422.jpg", Info{61, 45, 3, YCbCr, image.YCbCrSubsampleRatio422, false}},
		{"s440.jpg", Info{61, 45, 3, YCbCr, image.YCbCrSubsampleRatio440, false}},
		{"s411.jpg", Info{61, 45, 3, YCbCr, image.YCbCrSubsampleRatio411, false}},
		{"s410.jpg", Info{61, 45, 3, YCbCr, image.YCbCrSubsampleRatio410, false}},
		{"prog420.jpg", Info{61, 45, 3, YCbCr, image.YCbCrSubsampleRatio420, true}},
		{"grayprog.jpg", Info{61, 45, 1, Gray, image.YCbCrSubsampleRatio444, true}},
		{"rgb.jpg", Info{61, 45, 3, RGB, image.YCbCrSubsampleRatio444, false}},
	}
	for _, tt := range tests {
		data, err := os.ReadFile("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeInfo(data)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.file, got, err, tt.want)
		}
	}
}

// boxDown averages s x s footprints of a plane (clipped at the edges).
func boxDown(p plane, s int) plane {
	w, h := (p.w+s-1)/s, (p.h+s-1)/s
	out := make([]byte, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sum, n := 0, 0
			for j := y * s; j < min(y*s+s, p.h); j++ {
				for i := x * s; i < min(x*s+s, p.w); i++ {
					sum += int(p.at(i, j))
					n++
				}
			}
			out[y*w+x] = byte((sum + n/2) / n)
		}
	}
	return plane{w, h, out, 0, w, 1}
}

func psnr(a, b plane) float64 {
	var se float64
	for y := 0; y < a.h; y++ {
		for x := 0; x < a.w; x++ {
			d := float64(a.at(x, y)) - float64(b.at(x, y))
			se += d * d
		}
	}
	if se == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255*float64(a.w*a.h)/se)
}

// TestScaledMatchesBoxFilter: each plane of a 1/s decode is close to the
// s x s box average of the full decode (pixel centres aligned).
func TestScaledMatchesBoxFilter(t *testing.T) {
	t.Parallel()
	all := append(generated(t), committed(t)...)
	all = append(all, transcoded(t)...)
	for _, r := range manifestIfPresent(t) {
		if r.verdict == "accept" || strings.HasPrefix(r.verdict, "accept-after") {
			all = append(all, sample{r.file, readShared(t, r.file)})
		}
	}
	worst := math.Inf(1)
	for _, s := range all {
		full, err := Decode(s.data, nil)
		if err != nil {
			continue
		}
		fp := planesOf(full)
		for _, scale := range []int{2, 4, 8} {
			img, err := Decode(s.data, &Options{Scale: scale})
			if err != nil {
				t.Fatalf("%s at 1/%d: %v", s.name, scale, err)
			}
			w, h := ScaledSize(full.Bounds().Dx(), full.Bounds().Dy(), scale)
			if img.Bounds() != image.Rect(0, 0, w, h) {
				t.Fatalf("%s at 1/%d: bounds %v", s.name, scale, img.Bounds())
			}
			sp := planesOf(img)
			for i := range sp {
				// Compare the output samples whose footprint lies inside the
				// plane: at a partial edge block the transform also averages
				// the encoder's padding, as libjpeg's scaled decoding does.
				ref := boxDown(fp[i], scale)
				ref.w, ref.h = fp[i].w/scale, fp[i].h/scale
				if ref.w == 0 || ref.h == 0 {
					continue
				}
				p := psnr(ref, sp[i])
				worst = min(worst, p)
				if p < 38 {
					t.Errorf("%s at 1/%d plane %d: %.1f dB against the box-filtered full decode", s.name, scale, i, p)
				}
			}
		}
	}
	t.Logf("worst PSNR %.1f dB", worst)
}

func TestPickScale(t *testing.T) {
	tests := []struct{ side, need, want int }{
		{3000, 2048, 1}, {3000, 1024, 2}, {3000, 512, 4}, {3000, 375, 8}, {3000, 376, 4},
		{100, 200, 1}, {4096, 2048, 2}, {1000, 0, 1},
	}
	for _, tt := range tests {
		if got := PickScale(tt.side, tt.need); got != tt.want {
			t.Errorf("PickScale(%d, %d) = %d, want %d", tt.side, tt.need, got, tt.want)
		}
	}
}

// TestReducedConstants: the constants of the reduced transforms are the
// box-averaged basis functions.
func TestReducedConstants(t *testing.T) {
	r2, r4 := makeRed(2), makeRed(4)
	want2 := redMatrix{
		{rDC, r2c1, r2c2, r2c3, 0, r2c5, r2c6, r2c7},
		{rDC, r2d1, -r2c2, r2d3, 0, r2d5, -r2c6, r2d7},
		{rDC, -r2d1, -r2c2, -r2d3, 0, -r2d5, -r2c6, -r2d7},
		{rDC, -r2c1, r2c2, -r2c3, 0, -r2c5, r2c6, -r2c7},
	}
	want4 := redMatrix{
		{rDC, r4c1, 0, r4c3, 0, r4c5, 0, r4c7},
		{rDC, -r4c1, 0, -r4c3, 0, -r4c5, 0, -r4c7},
	}
	if r2 != want2 {
		t.Errorf("1/2: %v, constants say %v", r2, want2)
	}
	if r4 != want4 {
		t.Errorf("1/4: %v, constants say %v", r4, want4)
	}
}

// TestProgressiveMatchesBaseline: a progressive file and its lossless
// baseline transcode (jpegtran) hold the same coefficients, so they decode
// to the same samples at every scale.
func TestProgressiveMatchesBaseline(t *testing.T) {
	for _, name := range []string{"prog420", "prog444", "prog422rst", "grayprog"} {
		prog, err := os.ReadFile("testdata/" + name + ".jpg")
		if err != nil {
			t.Fatal(err)
		}
		base, err := os.ReadFile("testdata/" + name + ".base.jpg")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []int{1, 2, 4, 8} {
			a, err := Decode(prog, &Options{Scale: s})
			if err != nil {
				t.Fatalf("%s at 1/%d: %v", name, s, err)
			}
			b, err := Decode(base, &Options{Scale: s})
			if err != nil {
				t.Fatalf("%s.base at 1/%d: %v", name, s, err)
			}
			if d, err := maxDiff(a, b); err != nil || d != 0 {
				t.Errorf("%s at 1/%d: progressive and baseline differ by %d (%v)", name, s, d, err)
			}
		}
	}
}
