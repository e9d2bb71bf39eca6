package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/profilephoto/photo/storage"
)

// manifestFiles is how many files /work/shared/testdata/README.md says the
// manifest lists.
const manifestFiles = 115

// testdataDir returns the shared test images folder, which sits beside the
// repository (../shared/testdata from the root package). Outside CI a
// missing folder skips the test; in CI (CI=true) it fails it, so that a
// broken checkout cannot pass by testing nothing.
func testdataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "shared", "testdata")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the shared test images are missing (%v); CI clones shared/ beside the repository", err)
		}
		t.Skipf("skipping: the shared test images are not at %s (%v)", dir, err)
	}
	return dir
}

// manifestRow is one line of MANIFEST.tsv, by column name.
type manifestRow map[string]string

// readManifest parses MANIFEST.tsv: tab-separated, with a header line and
// fields quoted as in CSV where they hold quotes.
func readManifest(t *testing.T, dir string) []manifestRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comma = '\t'
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("MANIFEST.tsv: %v", err)
	}
	if len(recs) < 1 {
		t.Fatal("MANIFEST.tsv is empty")
	}
	head := recs[0]
	for _, col := range []string{"file", "verdict", "bytes", "sha256", "dims", "frames", "exif_orientation"} {
		if !strings.Contains("\t"+strings.Join(head, "\t")+"\t", "\t"+col+"\t") {
			t.Fatalf("MANIFEST.tsv has no %q column", col)
		}
	}
	var rows []manifestRow
	for _, rec := range recs[1:] {
		row := manifestRow{}
		for i, col := range head {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// verdictCodes maps the manifest's reject verdicts to the codes Set must
// return.
var verdictCodes = map[string]Code{
	"reject: corrupt":              CodeCorrupt,
	"reject: truncated":            CodeTruncated,
	"reject: decompression bomb":   CodeImageTooLarge,
	"reject: not an image":         CodeNotImage,
	"reject: too many frames":      CodeTooManyFrames,
	"reject: unsupported format":   CodeUnsupportedFormat,
	"accept":                       "",
	"accept-after-orientation-fix": "",
}

// heifVerdict is what this library makes of one of the manifest's HEIC
// and AVIF files, where the manifest (written when no decoder here read
// them) has no dimensions and an older verdict.
type heifVerdict struct {
	verdict     string
	dims        string // as coded (before the HEIF transforms)
	orientation int    // the EXIF orientation the transforms amount to, when the renderer applies them
}

// heifVerdicts covers every HEIC, HEIF and AVIF file of the manifest
// (TestHEIFManifest checks that none is missing). The verdicts that differ
// from MANIFEST.tsv's, each with its reason:
var heifVerdicts = map[string]heifVerdict{
	// Was unsupported: an AVIF still, decoded by gen2brain/avif.
	"pillow/avif_hopper.avif": {"accept", "128x128", 1},
	// Was unsupported: an AVIF still coded 427x640 with irot 1 then imir
	// 0 (a transpose, EXIF 5), shown 640x427 with its captions readable.
	"pillow/avif_rot1mir0.avif": {"accept-after-orientation-fix", "427x640", 5},
	// Was unsupported: a HEIF container coded in HEVC, decoded by
	// gen2brain/heic.
	"pillow/avif_hopper.heif": {"accept", "128x128", 1},
	// Was unsupported: a HEIC still with EXIF; orientation comes from the
	// HEIF transforms alone (it has none).
	"exif-samples/samplefilehub.heif": {"accept", "640x426", 1},
	// Was unsupported: several top-level images; the primary (64x64) is
	// the photo, as every HEIF reader shows it.
	"pillow_heif/zPug_3.heic": {"accept", "64x64", 1},
	// Was unsupported: AVIF coded 1024x722 with irot 3 (a quarter turn
	// clockwise, EXIF 6): the photo is 722x1024 upright.
	"avif-sample-images/kimono.rotate90.avif": {"accept-after-orientation-fix", "1024x722", 6},
	// Was unsupported: a 10-bit AVIF, decoded to 16 bits a sample and
	// rendered at 8.
	"avif-sample-images/fox.profile0.10bpc.yuv420.avif": {"accept", "1204x800", 1},
	// Unchanged: an image sequence (moov), not a still.
	"pillow/avif_star.avifs": {"reject: unsupported format", "159x159", 1},
	// Unchanged: refused by the ispe check before any decoder runs.
	"pillow_heif/200MP.heic": {"reject: decompression bomb", "12240x16320", 1},
	// Unchanged: the mdat box runs past the end of the file.
	"pillow_heif/truncated.heic": {"reject: truncated", "-", 1},
	// Unchanged: the box structure is damaged.
	"pillow_heif/corrupted.heic": {"reject: corrupt", "-", 1},
	// Unchanged: an empty file is not an image, whatever its name.
	"pillow_heif/empty.heic": {"reject: not an image", "-", 1},
}

// isHEIFFile reports whether a manifest row is a HEIC, HEIF or AVIF file.
func isHEIFFile(row manifestRow) bool {
	switch strings.ToLower(path.Ext(row["file"])) {
	case ".heic", ".heif", ".avif", ".avifs", ".heics":
		return true
	}
	return false
}

// imageCodes are the codes of refused images.
var imageCodes = []Code{
	CodeMissing, CodeFileTooLarge, CodeNotImage, CodeUnsupportedFormat, CodeCorrupt,
	CodeTruncated, CodeImageTooLarge, CodeTooSmall, CodeTooManyFrames, CodeBadCrop,
}

// allKeys lists every key under prefix.
func allKeys(t *testing.T, st *storage.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for a, err := range st.List(context.Background(), prefix) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, a.Key)
	}
	return keys
}

// wantInputError checks that err is the *Error of code: errors.Is with the
// code and with ErrInvalidInput, errors.As with the code.
func wantInputError(t *testing.T, err error, code Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want an *Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%v), want %s", e.Code, err, code)
	}
	if !errors.Is(err, code) {
		t.Errorf("errors.Is(%v, %s) is false", err, code)
	}
	if !errors.Is(err, ErrInvalidInput) {
		t.Errorf("errors.Is(%v, ErrInvalidInput) is false", err)
	}
	for _, c := range imageCodes {
		if c != code && errors.Is(err, c) {
			t.Errorf("errors.Is(%v, %s) is true", err, c)
		}
	}
}

// TestManifest runs every file of the shared test images through Set and
// checks the manifest's verdict: an accepted file becomes the photo with
// the upright dimensions, orientation and frame count the manifest
// measured; a refused one gets the verdict's code and leaves the store
// empty.
func TestManifest(t *testing.T) {
	dir := testdataDir(t)
	rows := readManifest(t, dir)
	if len(rows) != manifestFiles {
		t.Errorf("MANIFEST.tsv lists %d files, want %d", len(rows), manifestFiles)
	}
	for _, row := range rows {
		t.Run(row["file"], func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(row["file"])))
			if err != nil {
				t.Fatalf("the manifest lists a file that cannot be read: %v", err)
			}
			if n, _ := strconv.Atoi(row["bytes"]); n != len(data) {
				t.Fatalf("file has %d bytes, the manifest says %s", len(data), row["bytes"])
			}
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != row["sha256"] {
				t.Fatalf("file's SHA-256 differs from the manifest's")
			}
			if v, ok := heifVerdicts[row["file"]]; ok {
				row["verdict"], row["dims"] = v.verdict, v.dims
				row["exif_orientation"] = strconv.Itoa(v.orientation)
			}
			code, ok := verdictCodes[row["verdict"]]
			if !ok {
				t.Fatalf("unknown verdict %q", row["verdict"])
			}

			ctx := t.Context()
			st := newBucket(t)
			m, err := New(st, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := m.Set(ctx, "u", bytes.NewReader(data), nil)
			if code != "" {
				wantInputError(t, err, code)
				if _, err := m.Get(ctx, "u"); !errors.Is(err, ErrNotFound) {
					t.Errorf("after a refused Set, Get = %v, want ErrNotFound", err)
				}
				if keys := allKeys(t, st, ""); len(keys) != 0 {
					t.Errorf("after a refused Set the store holds %q", keys)
				}
				return
			}
			if err != nil {
				t.Fatalf("Set: %v", err)
			}

			orientation, _ := strconv.Atoi(row["exif_orientation"])
			orientation = max(orientation, 1)
			w, h, ok := parseDims(row["dims"])
			if !ok {
				t.Fatalf("bad dims %q", row["dims"])
			}
			if orientation >= 5 {
				w, h = h, w
			}
			if p.Width != w || p.Height != h {
				t.Errorf("photo is %dx%d, want %dx%d upright", p.Width, p.Height, w, h)
			}
			if len(p.Renditions) == 0 {
				t.Errorf("photo has no renditions")
			}

			src, err := readSource(ctx, bytes.NewReader(data), Limits{})
			if err != nil {
				t.Fatalf("readSource: %v", err)
			}
			if src.orientation != orientation {
				t.Errorf("orientation %d, want %d", src.orientation, orientation)
			}
			if frames, _ := strconv.Atoi(row["frames"]); src.frames != frames {
				t.Errorf("frames %d, want %d", src.frames, frames)
			}
			if b := src.img.Bounds(); b.Min.X != 0 || b.Min.Y != 0 || b.Dx()*b.Dy() != w*h {
				t.Errorf("decoded bounds %v, want a %dx%d image at the origin", b, w, h)
			}
			if p.SourceType != src.mime {
				t.Errorf("photo's SourceType %q, want %q", p.SourceType, src.mime)
			}
		})
	}
}

// parseDims parses the manifest's "WxH".
func parseDims(s string) (w, h int, ok bool) {
	ws, hs, ok := strings.Cut(s, "x")
	if !ok {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	return w, h, err1 == nil && err2 == nil
}
