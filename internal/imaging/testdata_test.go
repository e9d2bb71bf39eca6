package imaging

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"strconv"
	"strings"
	"testing"

	_ "image/gif"
	_ "image/png"

	_ "golang.org/x/image/webp"
)

// manifestEntry is a row of the shared test data's MANIFEST.tsv.
type manifestEntry struct {
	file        string
	verdict     string
	format      string
	w, h        int // as stored
	orientation int // EXIF orientation, 0 when absent
}

// readManifest reads the rows of MANIFEST.tsv by its column names.
func readManifest(tb testing.TB) []manifestEntry {
	tb.Helper()
	f, err := os.Open(testdata(tb, "MANIFEST.tsv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var col map[string]int
	var rows []manifestEntry
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = make(map[string]int)
			for i, name := range fields {
				col[name] = i
			}
			for _, name := range []string{"file", "verdict", "go_format", "dims", "exif_orientation"} {
				if _, ok := col[name]; !ok {
					tb.Fatalf("MANIFEST.tsv has no %s column", name)
				}
			}
			continue
		}
		e := manifestEntry{file: fields[col["file"]], verdict: fields[col["verdict"]], format: fields[col["go_format"]]}
		e.orientation, _ = strconv.Atoi(fields[col["exif_orientation"]])
		fmt.Sscanf(fields[col["dims"]], "%dx%d", &e.w, &e.h)
		rows = append(rows, e)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return rows
}

// TestTestdataFiles renders every file of the shared test data that a
// careful service accepts, as the standard decoders (and x/image/webp)
// hand it over: CMYK and progressive JPEG, 16-bit, paletted and interlaced
// PNG, GIF, lossy and lossless WebP. The upright size must follow the
// manifest's orientation and the output type the image's transparency.
func TestTestdataFiles(t *testing.T) {
	n := 0
	for _, e := range readManifest(t) {
		if !strings.HasPrefix(e.verdict, "accept") {
			continue
		}
		n++
		if strings.HasPrefix(e.file, "exif-orientation-examples/Landscape_") && e.orientation >= 2 {
			// The same 2 MP photo seven more times: TestTestdataOrientation
			// renders and checks each.
			continue
		}
		t.Run(e.file, func(t *testing.T) {
			img := decodeFile(t, testdata(t, e.file))
			if b := img.Bounds(); b.Dx() != e.w || b.Dy() != e.h {
				t.Fatalf("decoded %v, manifest says %dx%d", b, e.w, e.h)
			}
			res, err := Render(context.Background(), img, Spec{Orientation: e.orientation, Sizes: []int{24, 64, 512}, OriginalMaxSide: 2048, Background: white})
			if err != nil {
				t.Fatal(err)
			}
			w, h := e.w, e.h
			if e.orientation >= 5 {
				w, h = h, w
			}
			orig := decoded(t, res.Original)
			if got := orig.Bounds().Size(); got != image.Pt(min(w, 2048), min(h, 2048)) && max(w, h) <= 2048 {
				t.Errorf("original %v, want %dx%d", got, w, h)
			}
			alpha := false
			if o, ok := img.(interface{ Opaque() bool }); ok {
				alpha = !o.Opaque()
			}
			want := "image/jpeg"
			if alpha {
				want = "image/png"
			}
			for _, r := range append([]Encoded{res.Original}, res.Renditions...) {
				if r.ContentType != want {
					t.Errorf("size %d: %s, want %s (%T)", r.Size, r.ContentType, want, img)
				}
				decoded(t, r)
			}
			if e.orientation <= 1 && max(w, h) <= 1024 {
				// Unrotated and not scaled: the original is the image
				// re-encoded: losslessly as PNG, or as image/jpeg itself
				// would encode the decoded image at the same quality (a
				// reference that has the encoder's own losses).
				res, err := Render(context.Background(), img, Spec{Orientation: e.orientation, JPEGQuality: 100})
				if err != nil {
					t.Fatal(err)
				}
				orig := decoded(t, res.Original)
				ref := img
				min := 50.0
				if want == "image/jpeg" {
					var buf bytes.Buffer
					if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
						t.Fatal(err)
					}
					ref, min = decodeBytes(t, buf.Bytes()), 40
				}
				p := psnr(t, orig, ref)
				t.Logf("original: PSNR %.1f dB against the reference", p)
				if p < min {
					t.Errorf("original: PSNR %.1f dB against the reference", p)
				}
			}
		})
	}
	if n < 40 {
		t.Errorf("only %d accepted files in the manifest", n)
	}
}

// TestTestdataOrientation renders the files that store a picture turned
// or mirrored, with the orientation the manifest gives, and compares them
// with the same picture stored upright. The right orientation must match
// well and clearly better than every other one.
func TestTestdataOrientation(t *testing.T) {
	orient := make(map[string]int)
	for _, e := range readManifest(t) {
		orient[e.file] = e.orientation
	}
	// The Landscape files print their own number in the middle of the
	// picture: leave that square out of the comparison.
	landscapeDigit := image.Rect(100, 45, 200, 155) // in the 300x200 original
	tests := []struct {
		file, upright string
		mask          image.Rectangle
		min           float64 // dB; 0 means 30
	}{
		{"pillow/hopper_orientation_2.jpg", "pillow/hopper.jpg", image.Rectangle{}, 0},
		{"pillow/hopper_orientation_3.jpg", "pillow/hopper.jpg", image.Rectangle{}, 0},
		{"pillow/hopper_orientation_4.jpg", "pillow/hopper.jpg", image.Rectangle{}, 0},
		{"pillow/hopper_orientation_5.jpg", "pillow/hopper.jpg", image.Rectangle{}, 0},
		{"pillow/hopper_orientation_6.jpg", "pillow/hopper.jpg", image.Rectangle{}, 0},
		{"pillow/hopper_orientation_7.jpg", "pillow/hopper.jpg", image.Rectangle{}, 0},
		{"pillow/hopper_orientation_8.jpg", "pillow/hopper.jpg", image.Rectangle{}, 0},
		// Lossy WebP: a different codec's losses against the JPEG.
		{"pillow/hopper_orientation_6.webp", "pillow/hopper.jpg", image.Rectangle{}, 25},
		{"exif-orientation-examples/Landscape_2.jpg", "exif-orientation-examples/Landscape_1.jpg", landscapeDigit, 0},
		{"exif-orientation-examples/Landscape_3.jpg", "exif-orientation-examples/Landscape_1.jpg", landscapeDigit, 0},
		{"exif-orientation-examples/Landscape_4.jpg", "exif-orientation-examples/Landscape_1.jpg", landscapeDigit, 0},
		{"exif-orientation-examples/Landscape_5.jpg", "exif-orientation-examples/Landscape_1.jpg", landscapeDigit, 0},
		{"exif-orientation-examples/Landscape_6.jpg", "exif-orientation-examples/Landscape_1.jpg", landscapeDigit, 0},
		{"exif-orientation-examples/Landscape_7.jpg", "exif-orientation-examples/Landscape_1.jpg", landscapeDigit, 0},
		{"exif-orientation-examples/Landscape_8.jpg", "exif-orientation-examples/Landscape_1.jpg", landscapeDigit, 0},
	}
	render := func(t *testing.T, img image.Image, o int) image.Image {
		t.Helper()
		res, err := Render(context.Background(), img, Spec{Orientation: o, OriginalMaxSide: 300, JPEGQuality: 95})
		if err != nil {
			t.Fatal(err)
		}
		return decoded(t, res.Original)
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			o, ok := orient[tc.file]
			if !ok || o < 2 {
				t.Fatalf("manifest gives orientation %d", o)
			}
			want := nrgba(render(t, decodeFile(t, testdata(t, tc.upright)), orient[tc.upright]))
			got := nrgba(render(t, decodeFile(t, testdata(t, tc.file)), o))
			// What a pipeline that applied orientation `other` instead
			// would have made: the stored pixels (got turned back), shown
			// under the other orientation.
			storedPixels := stored(got, o)
			score := func(other int) float64 {
				a := nrgba(display(storedPixels, other)) // a copy: the mask writes to it
				if a.Bounds() != want.Bounds() {
					return 0
				}
				for y := tc.mask.Min.Y; y < tc.mask.Max.Y; y++ {
					for x := tc.mask.Min.X; x < tc.mask.Max.X; x++ {
						a.SetNRGBA(x, y, want.NRGBAAt(x, y))
					}
				}
				return psnr(t, a, want)
			}
			right := score(o)
			min := tc.min
			if min == 0 {
				min = 30
			}
			t.Logf("orientation %d: PSNR %.1f dB", o, right)
			if right < min {
				savePNG(t, "testdata-"+strings.ReplaceAll(tc.file, "/", "-"), got)
				t.Errorf("orientation %d: PSNR %.1f dB against %s", o, right, tc.upright)
			}
			for other := 1; other <= 8; other++ {
				if other == o {
					continue
				}
				if s := score(other); s > right-8 {
					t.Errorf("orientation %d scores %.1f dB, the right one (%d) only %.1f dB", other, s, o, right)
				}
			}
		})
	}
}

// TestNoMetadata renders files that carry EXIF (GPS included), XMP, IPTC
// and comment payloads: no output may hold a metadata segment or chunk,
// only pixels.
func TestNoMetadata(t *testing.T) {
	for _, file := range []string{
		"pillow/exif_gps.jpg",
		"exif-samples/DSCN0010.jpg",
		"payloadsallthethings/payload_in_all_known_metadata.jpg",
		"pngsuite/exif2c08.png",
	} {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(testdata(t, file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte("Exif")) && !bytes.Contains(data, []byte("eXIf")) {
				t.Fatalf("%s carries no EXIF: not a useful input", file)
			}
			img := decodeBytes(t, data)
			res, err := Render(context.Background(), img, Spec{Sizes: []int{24, 512}, OriginalMaxSide: 2048, Background: white})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range append([]Encoded{res.Original}, res.Renditions...) {
				for _, marker := range []string{"Exif", "eXIf", "GPS", "http://ns.adobe.com", "Photoshop", "tEXt", "iTXt", "zTXt"} {
					if bytes.Contains(e.Data, []byte(marker)) {
						t.Errorf("size %d holds %q", e.Size, marker)
					}
				}
				if e.ContentType == "image/jpeg" {
					// After SOI, only the segments image/jpeg writes:
					// quantisation and Huffman tables, frame and scan.
					for i := 2; i+4 <= len(e.Data); {
						if e.Data[i] != 0xff {
							t.Fatalf("size %d: no marker at %d", e.Size, i)
						}
						m := e.Data[i+1]
						if m == 0xda { // start of scan: entropy-coded data follows
							break
						}
						if m != 0xdb && m != 0xc4 && m != 0xc0 {
							t.Errorf("size %d: segment 0x%x", e.Size, m)
						}
						i += 2 + int(e.Data[i+2])<<8 + int(e.Data[i+3])
					}
				}
			}
		})
	}
}
