package jpeg

import (
	"bytes"
	"errors"
	"image"
	stdjpeg "image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzMaxPixels bounds what one fuzz input may make either decoder
// allocate.
const fuzzMaxPixels = 1 << 20

func addSeeds(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.jpg")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(encode(f, photoLike(40, 24, 3), 60))
	f.Add(encode(f, toGray(photoLike(17, 31, 4)), 90))
}

// FuzzDifferential: at full scale we decode what image/jpeg decodes, to
// within 1 per sample, and refuse what it refuses.
func FuzzDifferential(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := stdjpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width*cfg.Height > fuzzMaxPixels {
			return
		}
		want, werr := stdjpeg.Decode(bytes.NewReader(data))
		dec := decoder{data: data, scale: 1, maxPixels: fuzzMaxPixels, checkWild: true}
		err = dec.run()
		var got image.Image
		if err == nil {
			got, err = dec.output()
		}
		if err == nil && dec.wild {
			return // coefficients no 8-bit image has: overflowing transforms
		}
		switch {
		case werr != nil && err != nil:
			return
		case werr != nil && strings.Contains(werr.Error(), "missing 0xff00 sequence"):
			// image/jpeg refuses some valid progressive files with restart
			// intervals (testdata/prog422rst.jpg, which libjpeg decodes
			// like its baseline transcode prog422rst.base.jpg).
			return
		case werr != nil:
			t.Fatalf("image/jpeg refuses (%v), we decode %T %v", werr, got, got.Bounds())
		case err != nil:
			t.Fatalf("image/jpeg decodes %T %v, we refuse: %v", want, want.Bounds(), err)
		}
		d, err := maxDiff(got, want)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1
		if _, ok := got.(*image.CMYK); ok {
			tol = 3
		}
		if d > tol {
			t.Fatalf("a sample differs by %d", d)
		}
	})
}

// FuzzGarbage: arbitrary bytes never panic at any scale, a frame over
// MaxPixels is refused before its planes are allocated, and a decode
// with a second core (every scan pipelined) is the same, bytes and
// errors, as on one goroutine.
func FuzzGarbage(f *testing.F) {
	addSeeds(f)
	f.Add([]byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		info, ierr := DecodeInfo(data)
		pool := heldPool(t, 2)
		for _, s := range []int{1, 2, 4, 8} {
			// A smaller frame bound than the differential target's: each
			// input is decoded eight times, and up to maxScans scans may
			// each visit every block.
			img, err := Decode(data, &Options{Scale: s, MaxPixels: 1 << 16})
			pimg, perr := decodeWith(data, &Options{Scale: s, MaxPixels: 1 << 16, Pool: pool}, 1, 0)
			if diff := sameDecode(img, err, pimg, perr); diff != "" {
				t.Fatalf("at 1/%d, pipelined: %s", s, diff)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				continue
			}
			if ierr != nil {
				t.Fatalf("DecodeInfo refuses (%v) what Decode decodes", ierr)
			}
			w, h := ScaledSize(info.Width, info.Height, s)
			if img.Bounds() != image.Rect(0, 0, w, h) {
				t.Fatalf("bounds %v, want %dx%d", img.Bounds(), w, h)
			}
		}
	})
}
