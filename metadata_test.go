package photo

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/profilephoto/photo/storage"
)

// Markers of metadata that must never reach a stored object. Each is
// searched for in every object a Set stores.
var forbiddenBytes = []struct {
	name string
	b    []byte
}{
	{"EXIF APP1 header", []byte("Exif\x00\x00")},
	{"XMP namespace", []byte("http://ns.adobe.com/xap")},
	{"XMP packet", []byte("<?xpacket")},
	{"XMP root", []byte("x:xmpmeta")},
	{"script tag", []byte("<script")},
	{"ICC profile APP2 header", []byte("ICC_PROFILE")},
	{"IPTC APP13 header", []byte("Photoshop 3.0")},
	{"ImageMagick profile payload", []byte("/etc/passwd")},
	{"PHP payload", []byte("<?php")},
}

// gpsEntries returns the GPS IFD pointer entries (tag 0x8825, type LONG,
// count 1, offset) found in b, in either byte order: the 12 bytes that
// lead an EXIF reader to the coordinates.
func gpsEntries(b []byte) [][]byte {
	var out [][]byte
	for _, head := range [][]byte{
		{0x88, 0x25, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01}, // big-endian
		{0x25, 0x88, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00}, // little-endian
	} {
		for rest := b; ; {
			i := bytes.Index(rest, head)
			if i < 0 || i+12 > len(rest) {
				break
			}
			out = append(out, rest[i:i+12])
			rest = rest[i+1:]
		}
	}
	return out
}

// jpegMetadata walks a JPEG and returns the markers of the segments it
// holds before the first scan, and an error if anything follows the EOI
// marker or the structure is broken.
func jpegMetadata(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, fmt.Errorf("no SOI")
	}
	var markers []byte
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xFF {
			return nil, fmt.Errorf("stray byte %#x at %d", b[p], p)
		}
		m := b[p+1]
		n := int(binary.BigEndian.Uint16(b[p+2:]))
		if p+2+n > len(b) {
			return nil, fmt.Errorf("segment %#x runs past the end", m)
		}
		markers = append(markers, m)
		p += 2 + n
		if m != 0xDA {
			continue
		}
		// Entropy-coded data: only stuffed bytes and restart markers until
		// the next marker.
		for p+1 < len(b) && (b[p] != 0xFF || b[p+1] == 0x00 || 0xD0 <= b[p+1] && b[p+1] <= 0xD7) {
			p++
		}
		if p+2 <= len(b) && b[p+1] == 0xD9 {
			if p+2 != len(b) {
				return markers, fmt.Errorf("%d bytes after EOI", len(b)-p-2)
			}
			return markers, nil
		}
	}
	return markers, fmt.Errorf("no EOI")
}

// pngMetadata walks a PNG and returns its chunk types, and an error if
// anything follows IEND or the structure is broken.
func pngMetadata(b []byte) ([]string, error) {
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return nil, fmt.Errorf("no PNG signature")
	}
	var types []string
	for p := 8; p+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		typ := string(b[p+4 : p+8])
		if p+12+n > len(b) {
			return types, fmt.Errorf("chunk %q runs past the end", typ)
		}
		types = append(types, typ)
		p += 12 + n
		if typ == "IEND" {
			if p != len(b) {
				return types, fmt.Errorf("%d bytes after IEND", len(b)-p)
			}
			return types, nil
		}
	}
	return types, fmt.Errorf("no IEND")
}

// allowedJPEGMarkers are the segments an encoder needs: APP0 (JFIF), DQT,
// SOF0-SOF2, DHT, DRI, SOS.
var allowedJPEGMarkers = map[byte]bool{0xE0: true, 0xDB: true, 0xC0: true, 0xC1: true, 0xC2: true, 0xC4: true, 0xDD: true, 0xDA: true}

// allowedPNGChunks are the chunks that describe pixels.
var allowedPNGChunks = map[string]bool{"IHDR": true, "PLTE": true, "tRNS": true, "IDAT": true, "IEND": true,
	"gAMA": true, "cHRM": true, "sRGB": true, "sBIT": true, "pHYs": true}

// metadataProblems lists the metadata a stored object b carries: any of
// forbiddenBytes, any of the source's GPS entries, and in JPEG and PNG
// images any segment or chunk that does not describe pixels, or bytes
// after the end.
func metadataProblems(b []byte, gps [][]byte) []string {
	var out []string
	for _, f := range forbiddenBytes {
		if bytes.Contains(b, f.b) {
			out = append(out, fmt.Sprintf("holds the %s %q", f.name, f.b))
		}
	}
	for _, g := range gps {
		if bytes.Contains(b, g) {
			out = append(out, fmt.Sprintf("holds the source's GPS IFD entry % x", g))
		}
	}
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8}):
		markers, err := jpegMetadata(b)
		if err != nil {
			out = append(out, err.Error())
		}
		for _, m := range markers {
			if !allowedJPEGMarkers[m] {
				out = append(out, fmt.Sprintf("holds a segment with marker %#x (APPn, COM or unknown)", m))
			}
		}
	case bytes.HasPrefix(b, []byte("\x89PNG")):
		types, err := pngMetadata(b)
		if err != nil {
			out = append(out, err.Error())
		}
		for _, typ := range types {
			if !allowedPNGChunks[typ] {
				out = append(out, fmt.Sprintf("holds a %q chunk", typ))
			}
		}
	case bytes.HasPrefix(b, []byte("{")): // the record
	default:
		out = append(out, fmt.Sprintf("is neither JPEG, PNG nor JSON: % x", b[:min(len(b), 8)]))
	}
	return out
}

// TestMetadataIsStripped sets photos from files that carry EXIF with GPS,
// XMP, IPTC, ICC profiles, comments, text chunks and bytes after the end,
// and checks that no object stored for the version carries any of it:
// every stored image is made from pixels alone.
func TestMetadataIsStripped(t *testing.T) {
	type input struct {
		name string
		data []byte
		// has lists what the source must contain, so that the test cannot
		// pass because an input lost its metadata.
		has [][]byte
		gps bool // the source has a GPS IFD
	}
	var inputs []input

	// Generated: a JPEG with EXIF (orientation and a GPS pointer), XMP
	// with a script, an ICC profile, IPTC, a comment and bytes after EOI.
	j := genJPEG(t, 300, 200)
	exif := append([]byte("Exif\x00\x00"), tiff(binary.BigEndian,
		[4]uint32{0x0112, 3, 1, 6}, [4]uint32{0x8825, 4, 1, 38})...)
	exif = append(exif, make([]byte, 40)...)
	jg := withAPP1(j, exif)
	jg = withSegment(jg, 0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><script>alert(1)</script></x:xmpmeta>"))
	jg = withSegment(jg, 0xE2, append([]byte("ICC_PROFILE\x00\x01\x01"), make([]byte, 128)...))
	jg = withSegment(jg, 0xED, []byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x10<script>x</script>"))
	jg = withSegment(jg, 0xFE, []byte("<?php system($_GET['c']); ?>"))
	jg = append(jg, "trailing <script>alert(2)</script>"...)
	inputs = append(inputs, input{name: "generated JPEG", data: jg, gps: true,
		has: [][]byte{[]byte("Exif\x00\x00"), []byte("http://ns.adobe.com/xap"), []byte("ICC_PROFILE"), []byte("<?php")}})

	// Generated: a PNG with every text chunk, eXIf, iCCP and bytes after
	// IEND.
	p := genPNG(t, 120, 90)
	pg := insertPNGChunks(p,
		pngChunk("tEXt", []byte("profile\x00/etc/passwd")),
		pngChunk("zTXt", append([]byte("Comment\x00\x00"), zlibBytes([]byte("<script>alert(1)</script>"))...)),
		pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00http://ns.adobe.com/xap/1.0/")),
		pngChunk("eXIf", tiff(binary.LittleEndian, [4]uint32{0x0112, 3, 1, 3}, [4]uint32{0x8825, 4, 1, 38})),
		pngChunk("iCCP", append([]byte("icc\x00\x00"), zlibBytes(make([]byte, 200))...)),
	)
	pg = append(pg, "<?php echo 1; ?>"...)
	inputs = append(inputs, input{name: "generated PNG", data: pg, gps: true,
		has: [][]byte{[]byte("tEXt"), []byte("zTXt"), []byte("iTXt"), []byte("eXIf"), []byte("iCCP")}})

	// From the shared test images, when present.
	dir := filepath.Join("..", "shared", "testdata")
	for _, f := range []struct {
		path string
		has  []string
		gps  bool
	}{
		{"exif-samples/DSCN0010.jpg", []string{"Exif\x00\x00"}, true},
		{"pillow/exif_gps.jpg", []string{"Exif\x00\x00"}, true},
		{"payloadsallthethings/payload_in_all_known_metadata.jpg", []string{"Exif\x00\x00", "<script"}, true},
		{"payloadsallthethings/imagemagick_CVE-2022-44268_convert_etc_passwd.png", []string{"tEXt", "/etc/passwd"}, false},
		{"pillow/icc_profile_big.jpg", []string{"ICC_PROFILE"}, false},
		{"pillow/xmp_tags_orientation.png", []string{"x:xmpmeta", "iCCP"}, false},
		{"pngsuite/exif2c08.png", []string{"eXIf"}, false},
		{"pillow/hopper_orientation_6.webp", []string{"EXIF"}, false},
	} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.path)))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("shared test image missing in CI: %v", err)
			}
			t.Logf("skipping %s: %v", f.path, err)
			continue
		}
		in := input{name: f.path, data: b, gps: f.gps}
		for _, h := range f.has {
			in.has = append(in.has, []byte(h))
		}
		inputs = append(inputs, in)
	}

	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			for _, h := range in.has {
				if !bytes.Contains(in.data, h) {
					t.Fatalf("the source lacks %q: the test would prove nothing", h)
				}
			}
			var gps [][]byte
			if in.gps {
				if gps = gpsEntries(in.data); len(gps) == 0 {
					t.Fatalf("the source has no GPS IFD entry: the test would prove nothing")
				}
			}

			ctx := t.Context()
			st := newBucket(t)
			m, err := New(st, nil)
			if err != nil {
				t.Fatal(err)
			}
			ph, err := m.Set(ctx, "u", bytes.NewReader(in.data), nil)
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			// Make an on-demand size too, so that it is checked as well.
			if sizes := m.Options().OnDemandSizes; len(sizes) > 0 {
				b, err := m.OpenRendition(ctx, "u", ph.VersionID, sizes[0], "")
				if err != nil {
					t.Fatalf("OpenRendition(%d): %v", sizes[0], err)
				}
				b.Close()
			}
			keys := allKeys(t, st, "users/")
			if len(keys) < 2+len(ph.Renditions) {
				t.Fatalf("the store holds %d objects, want the record, the original and %d renditions", len(keys), len(ph.Renditions))
			}
			for _, k := range keys {
				for _, problem := range metadataProblems(readObject(t, ctx, st, k), gps) {
					t.Errorf("%s %s", k, problem)
				}
			}
		})
	}
}

// withSegment puts a marker segment right after a JPEG's SOI.
func withSegment(j []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xFF, marker}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	out := append([]byte(nil), j[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, j[2:]...)
}

func readObject(t *testing.T, ctx context.Context, st *storage.Bucket, key string) []byte {
	t.Helper()
	r, err := st.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

// TestMetadataProblems makes sure the checks above can fail: each
// kind of leak, planted in an otherwise clean image, is reported.
func TestMetadataProblems(t *testing.T) {
	j := genJPEG(t, 16, 16)
	p := genPNG(t, 16, 16)
	gpsEntry := []byte{0x88, 0x25, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x26}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"EXIF", withAPP1(j, append([]byte("Exif\x00\x00"), tiff(binary.BigEndian)...))},
		{"XMP", withSegment(j, 0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00"))},
		{"ICC", withSegment(j, 0xE2, []byte("ICC_PROFILE\x00"))},
		{"comment", withSegment(j, 0xFE, []byte("hello"))},
		{"APP13", withSegment(j, 0xED, []byte("x"))},
		{"bytes after EOI", append(append([]byte(nil), j...), 0)},
		{"GPS entry", withSegment(j, 0xE3, gpsEntry)},
		{"tEXt", insertPNGChunks(p, pngChunk("tEXt", []byte("a\x00b")))},
		{"zTXt", insertPNGChunks(p, pngChunk("zTXt", []byte("a\x00\x00")))},
		{"iTXt", insertPNGChunks(p, pngChunk("iTXt", []byte("a\x00\x00\x00\x00\x00")))},
		{"eXIf", insertPNGChunks(p, pngChunk("eXIf", tiff(binary.BigEndian)))},
		{"iCCP", insertPNGChunks(p, pngChunk("iCCP", []byte("a\x00\x00")))},
		{"bytes after IEND", append(append([]byte(nil), p...), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(metadataProblems(tc.b, [][]byte{gpsEntry})) == 0 {
				t.Errorf("an image with %s passed", tc.name)
			}
		})
	}
	// And the clean images pass.
	for name, b := range map[string][]byte{"JPEG": j, "PNG": p} {
		if problems := metadataProblems(b, [][]byte{gpsEntry}); len(problems) != 0 {
			t.Errorf("a clean %s: %q", name, problems)
		}
	}
}
