package heifdec

import (
	"context"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/profilephoto/photo/internal/imgcheck"
)

var limits = imgcheck.Limits{MaxSide: 16384, MaxPixels: 50e6, MaxFrames: 100, MaxMetadataBytes: 1 << 20}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", filepath.FromSlash(name)))
	if err != nil {
		t.Skipf("skipping: the shared test images are absent (%v)", err)
	}
	return b
}

// TestOrient turns a 3x2 image with distinct pixels by every EXIF
// orientation and checks where its top-left stored pixel lands.
func TestOrient(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 3, 2))
	for i := range src.Pix {
		src.Pix[i] = uint8(10 * (i + 1))
	}
	// Where stored (0,0) shows upright, for EXIF 1 to 8 (2 mirrors left
	// and right, 6 needs a quarter turn clockwise, ...).
	want := [9]image.Point{1: {0, 0}, 2: {2, 0}, 3: {2, 1}, 4: {0, 1}, 5: {0, 0}, 6: {1, 0}, 7: {1, 2}, 8: {0, 2}}
	for o := 1; o <= 8; o++ {
		out := Orient(src, o)
		w, h := 3, 2
		if o >= 5 {
			w, h = 2, 3
		}
		if b := out.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("orientation %d: %v, want %dx%d", o, b, w, h)
			continue
		}
		p := want[o]
		if g := color.GrayModel.Convert(out.At(p.X, p.Y)).(color.Gray).Y; g != 10 {
			t.Errorf("orientation %d: pixel at %v is %d, want the stored top-left (10)", o, p, g)
		}
	}
}

// TestDecode decodes a HEIC and an AVIF, concurrently (each decode has its
// own module instance), and refuses what no decoder reads.
func TestDecode(t *testing.T) {
	cases := []struct {
		file  string
		w, h  int
		model color.Model
	}{
		{"exif-samples/samplefilehub.heif", 640, 426, color.YCbCrModel},
		{"avif-sample-images/kimono.rotate90.avif", 1024, 722, color.NRGBAModel}, // as coded
		{"avif-sample-images/fox.profile0.10bpc.yuv420.avif", 1204, 800, color.NRGBA64Model},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		data := testdata(t, c.file)
		info, err := imgcheck.ReadHEIF(data, limits)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			wg.Go(func() {
				img, err := Decode(t.Context(), data, info)
				if err != nil {
					t.Errorf("%s: %v", c.file, err)
					return
				}
				if b := img.Bounds(); b != image.Rect(0, 0, c.w, c.h) || img.ColorModel() != c.model {
					t.Errorf("%s: %v %v, want %dx%d %v", c.file, b, img.ColorModel(), c.w, c.h, c.model)
				}
			})
		}
	}
	wg.Wait()

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Decode(ctx, nil, imgcheck.HEIFInfo{Codec: imgcheck.HEVC}); !errors.Is(err, context.Canceled) {
		t.Errorf("Decode on a cancelled context = %v", err)
	}
	if _, err := Decode(t.Context(), nil, imgcheck.HEIFInfo{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Decode of an unknown codec = %v", err)
	}
	// A structure that passes the checks over damaged coded data: an
	// error or an image, never a panic nor an empty image.
	data := testdata(t, "exif-samples/samplefilehub.heif")
	info, _ := imgcheck.ReadHEIF(data, limits)
	bad := append([]byte(nil), data...)
	for i := len(bad) - 4000; i < len(bad); i++ {
		bad[i] ^= 0x5a
	}
	if img, err := Decode(t.Context(), bad[:len(bad)-2000], info); err == nil && img.Bounds().Dx() == 0 {
		t.Errorf("Decode of damaged data returned an empty image")
	}
}

func TestFootprint(t *testing.T) {
	heic := Footprint(imgcheck.HEIFInfo{Width: 4000, Height: 3000, Codec: imgcheck.HEVC})
	avif := Footprint(imgcheck.HEIFInfo{Width: 4000, Height: 3000, Codec: imgcheck.AV1})
	deep := Footprint(imgcheck.HEIFInfo{Width: 4000, Height: 3000, Codec: imgcheck.AV1, HighBitDepth: true})
	if heic < 12e6*24 || avif < 12e6*72 || deep <= avif {
		t.Errorf("footprints %d, %d, %d below the measured 24 and 72 bytes a pixel", heic, avif, deep)
	}
	if Footprint(imgcheck.HEIFInfo{Width: 10, Height: 10}) != 0 {
		t.Errorf("an unknown codec has a footprint")
	}
}

// TestWarm compiles both modules and checks that a decode then skips the
// compilation: the first decode after Warm is about as fast as the next.
func TestWarm(t *testing.T) {
	start := time.Now()
	Warm()
	t.Logf("Warm took %v", time.Since(start))
	data := testdata(t, "pillow/avif_hopper.heif")
	info, err := imgcheck.ReadHEIF(data, limits)
	if err != nil {
		t.Fatal(err)
	}
	var took [2]time.Duration
	for i := range took {
		start := time.Now()
		if _, err := Decode(t.Context(), data, info); err != nil {
			t.Fatal(err)
		}
		took[i] = time.Since(start)
	}
	t.Logf("decodes after Warm: %v, %v", took[0], took[1])
	if took[0] > 10*took[1]+200*time.Millisecond {
		t.Errorf("the first decode after Warm took %v, the second %v: Warm did not compile", took[0], took[1])
	}
}
