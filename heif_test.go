package photo

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
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
