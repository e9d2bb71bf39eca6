package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/profilephoto/photo/internal/heifdec"
	"github.com/profilephoto/photo/internal/imaging/testimage"
	"github.com/profilephoto/photo/internal/imgcheck"
)

// TestHEIFManifest runs every HEIC, HEIF and AVIF file of the shared test
// images through readSource: a still is decoded upright with the
// dimensions heifVerdicts gives; a sequence, a truncated, corrupt or empty
// file, and a bomb are refused with their codes, the bomb before any
// decoder runs.
func TestHEIFManifest(t *testing.T) {
	dir := testdataDir(t)
	seen := 0
	for _, row := range readManifest(t, dir) {
		if !isHEIFFile(row) {
			continue
		}
		seen++
		t.Run(row["file"], func(t *testing.T) {
			v, ok := heifVerdicts[row["file"]]
			if !ok {
				t.Fatalf("heifVerdicts has no verdict for this file (the manifest says %q)", row["verdict"])
			}
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(row["file"])))
			if err != nil {
				t.Fatal(err)
			}
			src, err := readSource(t.Context(), bytes.NewReader(data), Limits{})
			if code := verdictCodes[v.verdict]; code != "" {
				wantInputError(t, err, code)
				// Judging the bytes in memory (readSource also copies the
				// upload) must not decode: a decode of the 200 MP file
				// takes seconds, the header check microseconds. The bound
				// is generous, for a loaded machine.
				start := time.Now()
				_, _, err := inspect(data, Limits{}.withDefaults())
				took := time.Since(start)
				wantInputError(t, err, code)
				t.Logf("refused in %v", took)
				if took > 20*time.Millisecond {
					t.Errorf("refusing took %v: was it decoded?", took)
				}
				return
			}
			if err != nil {
				t.Fatalf("readSource: %v", err)
			}
			w, h, _ := parseDims(v.dims)
			if b := src.img.Bounds(); b.Dx() != w || b.Dy() != h {
				t.Errorf("decoded %v, want %dx%d as coded", b, w, h)
			}
			if src.orientation != v.orientation {
				t.Errorf("orientation %d, want %d", src.orientation, v.orientation)
			}
			if v.orientation >= 5 {
				w, h = h, w
			}
			if src.width != w || src.height != h {
				t.Errorf("upright %dx%d, want %dx%d", src.width, src.height, w, h)
			}
			if want := map[bool]string{true: "accept-after-orientation-fix", false: "accept"}[v.orientation > 1]; v.verdict != want {
				t.Errorf("verdict %q with orientation %d: want %q", v.verdict, v.orientation, want)
			}
		})
	}
	if seen != len(heifVerdicts) {
		t.Errorf("the manifest has %d HEIC/AVIF files, heifVerdicts %d", seen, len(heifVerdicts))
	}
}

// quadrants returns the mean grey of img's four quarters (top left, top
// right, bottom left, bottom right), a fingerprint of its orientation.
func quadrants(img image.Image) [4]float64 {
	b := img.Bounds()
	var sum [4]float64
	var n [4]int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			q := 0
			if x-b.Min.X >= b.Dx()/2 {
				q++
			}
			if y-b.Min.Y >= b.Dy()/2 {
				q += 2
			}
			g := color.GrayModel.Convert(img.At(x, y)).(color.Gray)
			sum[q] += float64(g.Y)
			n[q]++
		}
	}
	for i := range sum {
		sum[i] /= float64(max(n[i], 1))
	}
	return sum
}

// TestHEIFSet sets HEIC and AVIF stills and checks what is stored: the
// photo upright (its quarters match the decoded image turned by the HEIF
// transforms, and not the image as coded), every object re-encoded as
// JPEG or PNG with no metadata (the HEIC's EXIF among it).
func TestHEIFSet(t *testing.T) {
	dir := testdataDir(t)
	for _, f := range []struct {
		file string
		has  string // metadata the source carries
	}{
		{"exif-samples/samplefilehub.heif", "Exif"},
		{"avif-sample-images/kimono.rotate90.avif", ""},
		{"pillow/avif_rot1mir0.avif", ""},
		{"pillow/avif_hopper.heif", ""},
	} {
		t.Run(f.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.file)))
			if err != nil {
				t.Fatal(err)
			}
			if f.has != "" && !bytes.Contains(data, []byte(f.has)) {
				t.Fatalf("the source lacks %q: the test would prove nothing", f.has)
			}
			ctx := t.Context()
			st := newBucket(t)
			m, err := New(st, nil)
			if err != nil {
				t.Fatal(err)
			}
			ph, err := m.Set(ctx, "u", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			src, err := readSource(ctx, bytes.NewReader(data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if ph.Width != src.width || ph.Height != src.height || ph.SourceType != src.mime {
				t.Errorf("photo %dx%d %s, want %dx%d %s", ph.Width, ph.Height, ph.SourceType, src.width, src.height, src.mime)
			}
			b, err := m.OpenRendition(ctx, "u", ph.VersionID, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			orig, _, err := image.Decode(b)
			b.Close()
			if err != nil {
				t.Fatalf("the stored original: %v", err)
			}
			// The expectation comes from heifVerdicts, not from what
			// readSource made of the file.
			v := heifVerdicts[f.file]
			w, h, _ := parseDims(v.dims)
			if v.orientation >= 5 {
				w, h = h, w
			}
			if ob := orig.Bounds(); (ob.Dx() > ob.Dy()) != (w > h) {
				t.Errorf("stored original is %v, the upright photo %dx%d", ob, w, h)
			}
			want := quadrants(heifdec.Orient(src.img, v.orientation))
			got := quadrants(orig)
			for i := range got {
				if d := got[i] - want[i]; d > 12 || d < -12 {
					t.Errorf("quarter %d of the stored original has mean %.0f, the upright image %.0f (as coded: %.0f)",
						i, got[i], want[i], quadrants(src.img)[i])
				}
			}
			for _, k := range allKeys(t, st, "users/") {
				obj := readObject(t, ctx, st, k)
				if bytes.Contains(obj[:min(len(obj), 16)], []byte("ftyp")) {
					t.Errorf("%s is stored as HEIF", k)
				}
				for _, problem := range metadataProblems(obj, nil) {
					t.Errorf("%s %s", k, problem)
				}
			}
		})
	}
}

// heifEnc encodes a w by h photo as HEIC (or AVIF) with libheif's heif-enc,
// or skips the test when the tool is absent (Debian: libheif-examples).
func heifEnc(t testing.TB, w, h int, avif bool) []byte {
	t.Helper()
	tool, err := exec.LookPath("heif-enc")
	if err != nil {
		t.Skipf("skipping: heif-enc is absent (apt-get install libheif-examples): %v", err)
	}
	j, err := testimage.PhotoJPEG(w, h, 7)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "out.heic")
	if err := os.WriteFile(in, j, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-q", "60", "-o", out, in}
	if avif {
		args = append([]string{"-A"}, args...)
	}
	if msg, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("heif-enc: %v: %s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHEIFFootprintIsHonest is TestFootprintIsHonest for HEIC and AVIF:
// the estimate Set reserves against what decoding and rendering allocate.
// The WebAssembly decoders' memory is Go memory, so TotalAlloc sees it.
// (A dynamically linked test binary that finds libheif.so decodes HEIC
// natively, out of Go's sight; -tags nodynamic measures the WebAssembly.)
func TestHEIFFootprintIsHonest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what is allocated")
	}
	dir := testdataDir(t)
	file := func(name string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	cases := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"heic 640x426", file("exif-samples/samplefilehub.heif")},
		{"avif 1024x722 turned", file("avif-sample-images/kimono.rotate90.avif")},
		{"avif 10-bit 1204x800", file("avif-sample-images/fox.profile0.10bpc.yuv420.avif")},
		{"heic 1600x1200 (heif-enc)", func(t *testing.T) []byte { return heifEnc(t, 1600, 1200, false) }},
		{"avif 1600x1200 (heif-enc)", func(t *testing.T) []byte { return heifEnc(t, 1600, 1200, true) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data(t)
			m, err := New(newBucket(t), &Options{MaxConcurrent: 1, OriginalMaxSide: 400, Sizes: []int{64, 256}})
			if err != nil {
				t.Fatal(err)
			}
			// The first decode compiles the decoder's module, once a
			// process: not a cost of each image.
			checkEstimate(t, m, data, func(format imgcheck.Format, src *source) {
				if _, err := decode(format, data, src, nil); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// phoneHEIF reads testdata/heif's 4032x3024 phone-sized HEIC or AVIF
// (see testdata/heif/README.md for how they were made).
func phoneHEIF(tb testing.TB, avif bool) []byte {
	tb.Helper()
	name := "phone-4032x3024.heic"
	if avif {
		name = "phone-4032x3024.avif"
	}
	b, err := os.ReadFile(filepath.Join("testdata", "heif", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestPhoneHEIFHeaders checks that the 12 MP phone stills pass the header
// checks as what they are, before any decoder runs (the full decode is
// BenchmarkPhoneHEIF's: seconds under the race detector).
func TestPhoneHEIFHeaders(t *testing.T) {
	for _, c := range []struct {
		avif bool
		mime string
	}{{false, "image/heic"}, {true, "image/avif"}} {
		src, format, err := prepareSource(phoneHEIF(t, c.avif), Limits{}.withDefaults())
		if err != nil {
			t.Fatalf("avif=%v: %v", c.avif, err)
		}
		if format != imgcheck.HEIF || src.mime != c.mime || src.width != 4032 || src.height != 3024 {
			t.Errorf("avif=%v: %v %s %dx%d, want HEIF %s 4032x3024", c.avif, format, src.mime, src.width, src.height, c.mime)
		}
		if src.img != nil {
			t.Errorf("avif=%v: the header checks decoded the image", c.avif)
		}
	}
}

// BenchmarkPhoneHEIF decodes and renders testdata/heif's 4032x3024 HEIC
// and AVIF as a Set does (every rendition, the original, no storage),
// reporting the estimate Set reserves (est-MB) and the peak of the Go heap
// while it runs (peak-MB, sampled every millisecond with runtime/metrics,
// which stops nothing; the WebAssembly decoders' memory is Go memory). The
// first decode of a process, which compiles the decoder, runs before the
// timer. Run with -tags nodynamic on a host that has libheif.so to measure
// the WebAssembly decoders rather than the system library.
func BenchmarkPhoneHEIF(b *testing.B) {
	for _, avif := range []bool{false, true} {
		name := "heic"
		if avif {
			name = "avif"
		}
		b.Run(name, func(b *testing.B) {
			data := phoneHEIF(b, avif)
			m, err := New(newBucket(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			src, format, err := prepareSource(data, m.cfg.limits)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := decode(format, data, src, nil); err != nil {
				b.Fatal(err)
			}
			est := footprint(format, data, src, m.spec(src, nil, m.cfg.fit))
			runtime.GC()
			peak := sampleHeapPeak(b)
			for b.Loop() {
				if _, _, _, err := m.render(b.Context(), "u", data, &SetOptions{}, m.cfg.fit, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(est)/1e6, "est-MB")
			b.ReportMetric(float64(peak())/1e6, "peak-MB")
		})
	}
}

// sampleHeapPeak samples the bytes of live and unswept heap objects until
// the returned func is called, which returns the largest sample.
func sampleHeapPeak(tb testing.TB) func() uint64 {
	tb.Helper()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	stop := func() uint64 {
		once.Do(func() { close(done); <-stopped })
		return peak.Load()
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// withTransform returns a HEIC from heif-enc with its pixi property
// rewritten in place as an irot or imir of the same size (the parsers read
// the first byte), so that the primary image gains a transform without
// moving the data that iloc points at.
func withTransform(t *testing.T, heic []byte, typ string, v byte) []byte {
	t.Helper()
	i := bytes.Index(heic, []byte("\x00\x00\x00\x10pixi"))
	if i < 0 {
		t.Skip("skipping: heif-enc wrote no 16-byte pixi property to rewrite")
	}
	out := append([]byte(nil), heic...)
	copy(out[i+4:], typ)
	copy(out[i+8:i+16], []byte{v, 0, 0, 0, 0, 0, 0, 0})
	return out
}

// TestHEICTransforms sets HEICs whose primary image has an irot or imir
// (libheif applies them while decoding) and checks that the stored
// original is the plain file's image turned as the transform says.
func TestHEICTransforms(t *testing.T) {
	plain := heifEnc(t, 400, 300, false)
	src0, err := readSource(t.Context(), bytes.NewReader(plain), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		typ    string
		v      byte
		orient int // the EXIF orientation that turns the coded image upright
	}{
		{"irot 1 (a quarter turn anti-clockwise)", "irot", 1, 8},
		{"irot 2", "irot", 2, 3},
		{"irot 3 (a quarter turn clockwise)", "irot", 3, 6},
		{"imir 0 (top and bottom exchanged)", "imir", 0, 4},
		{"imir 1 (left and right exchanged)", "imir", 1, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := withTransform(t, plain, c.typ, c.v)
			ctx := t.Context()
			m, err := New(newBucket(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			ph, err := m.Set(ctx, "u", bytes.NewReader(data), nil)
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			want := heifdec.Orient(src0.img, c.orient)
			if wb := want.Bounds(); ph.Width != wb.Dx() || ph.Height != wb.Dy() {
				t.Errorf("photo %dx%d, want %dx%d", ph.Width, ph.Height, wb.Dx(), wb.Dy())
			}
			b, err := m.OpenRendition(ctx, "u", ph.VersionID, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			orig, _, err := image.Decode(b)
			b.Close()
			if err != nil {
				t.Fatal(err)
			}
			got, wq := quadrants(orig), quadrants(want)
			for i := range got {
				if d := got[i] - wq[i]; d > 8 || d < -8 {
					t.Errorf("quarter %d of the stored original has mean %.0f, want %.0f (unturned: %.0f)", i, got[i], wq[i], quadrants(src0.img)[i])
				}
			}
		})
	}
}

// TestHEIFIgnoresEXIFOrientation sets a HEIC whose EXIF says orientation 6
// (heif-enc copies a JPEG's EXIF and adds no irot): HEIF readers show it
// as coded, its transforms alone turning it, so the photo keeps the coded
// 400x300 and is not turned by the EXIF tag (which, with an irot too,
// would turn it twice).
func TestHEIFIgnoresEXIFOrientation(t *testing.T) {
	if _, err := exec.LookPath("heif-enc"); err != nil {
		t.Skipf("skipping: heif-enc is absent: %v", err)
	}
	j := withAPP1(genJPEG(t, 400, 300), append([]byte("Exif\x00\x00"), tiff(binary.BigEndian, [4]uint32{0x0112, 3, 1, 6})...))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jpg"), filepath.Join(dir, "out.heic")
	if err := os.WriteFile(in, j, 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("heif-enc", "-q", "60", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("heif-enc: %v: %s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// The EXIF item holds a TIFF block (big-endian, as tiff wrote it).
	if i := bytes.Index(data, []byte("MM\x00*")); i < 0 || imgcheck.EXIFOrientation(data[i:]) != 6 {
		t.Skip("skipping: this heif-enc did not keep the EXIF orientation: the test would prove nothing")
	}
	info, err := imgcheck.ReadHEIF(data, imgcheck.Limits{MaxSide: 1000, MaxPixels: 1e6, MaxFrames: 1, MaxMetadataBytes: 1})
	if err != nil || len(info.Transforms) != 0 {
		t.Skipf("skipping: this heif-enc wrote transforms %v (%v): the test would prove nothing", info.Transforms, err)
	}
	m, err := New(newBucket(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ph, err := m.Set(t.Context(), "u", bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ph.Width != 400 || ph.Height != 300 {
		t.Errorf("photo %dx%d, want the coded 400x300 (the EXIF orientation ignored)", ph.Width, ph.Height)
	}
}

// TestDamagedHEIFNeverPanics cuts and flips bytes of small HEIC and AVIF
// stills: whatever the damage, readSource returns an image or an *Error
// (never a panic, nor another error from the WebAssembly decoders).
func TestDamagedHEIFNeverPanics(t *testing.T) {
	dir := testdataDir(t)
	for _, name := range []string{"pillow/avif_hopper.avif", "pillow/avif_hopper.heif", "pillow_heif/zPug_3.heic"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			var variants [][]byte
			for _, n := range []int{12, 40, 200, len(data) / 3, len(data) / 2, len(data) - 100, len(data) - 1} {
				variants = append(variants, data[:n])
			}
			for _, at := range []int{30, 100, 300, len(data) / 2, len(data) - 200, len(data) - 20} {
				v := append([]byte(nil), data...)
				for i := at; i < min(at+8, len(v)); i++ {
					v[i] ^= 0xa5
				}
				variants = append(variants, v)
			}
			for i, v := range variants {
				src, err := readSource(t.Context(), bytes.NewReader(v), Limits{})
				var e *Error
				switch {
				case err != nil && !errors.As(err, &e):
					t.Errorf("variant %d: %T %v, want an *Error", i, err, err)
				case err == nil && src.img.Bounds().Empty():
					t.Errorf("variant %d: an empty image", i)
				}
			}
		})
	}
}
