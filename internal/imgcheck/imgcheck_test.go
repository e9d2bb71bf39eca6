package imgcheck

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color/palette"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var testLimits = Limits{MaxSide: 10000, MaxPixels: 50_000_000, MaxFrames: 100, MaxMetadataBytes: 1 << 20}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// exifBlock is a TIFF header and an IFD0 of (tag, type, count, value)
// entries.
func exifBlock(bo byteOrder, entries ...[4]uint32) []byte {
	b := []byte("MM\x00*")
	if bo.String() == binary.LittleEndian.String() {
		b = []byte("II*\x00")
	}
	b = bo.AppendUint32(b, 8)
	b = bo.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = bo.AppendUint16(b, uint16(e[0]))
		b = bo.AppendUint16(b, uint16(e[1]))
		b = bo.AppendUint32(b, e[2])
		if e[1] == 3 {
			b = bo.AppendUint16(b, uint16(e[3]))
			b = append(b, 0, 0)
		} else {
			b = bo.AppendUint32(b, e[3])
		}
	}
	return bo.AppendUint32(b, 0)
}

func TestEXIFOrientation(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	cases := []struct {
		name string
		b    []byte
		want int
	}{
		{"little-endian 6", exifBlock(le, [4]uint32{0x0112, 3, 1, 6}), 6},
		{"big-endian 8", exifBlock(be, [4]uint32{0x0112, 3, 1, 8}), 8},
		{"after other tags", exifBlock(be, [4]uint32{0x010F, 2, 4, 0}, [4]uint32{0x0110, 2, 4, 0}, [4]uint32{0x0112, 3, 1, 3}), 3},
		{"with Exif header", append([]byte("Exif\x00\x00"), exifBlock(le, [4]uint32{0x0112, 3, 1, 5})...), 5},
		{"as LONG", exifBlock(be, [4]uint32{0x0112, 4, 1, 7}), 7},
		{"absent", exifBlock(be, [4]uint32{0x010F, 2, 4, 0}), 1},
		{"zero", exifBlock(be, [4]uint32{0x0112, 3, 1, 0}), 1},
		{"nine", exifBlock(le, [4]uint32{0x0112, 3, 1, 9}), 1},
		{"big value", exifBlock(le, [4]uint32{0x0112, 4, 1, 1 << 30}), 1},
		{"wrong type", exifBlock(le, [4]uint32{0x0112, 5, 1, 6}), 1},
		{"count zero", exifBlock(le, [4]uint32{0x0112, 3, 0, 6}), 1},
		{"empty", nil, 1},
		{"header only", []byte("II*\x00"), 1},
		{"bad magic", []byte("II+\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"), 1},
		{"IFD offset past end", []byte("MM\x00*\xFF\xFF\xFF\xFF"), 1},
		{"IFD offset inside header", []byte("MM\x00*\x00\x00\x00\x04\x00\x01"), 1},
		{"entries past end", []byte("II*\x00\x08\x00\x00\x00\xFF\xFF\x12\x01\x03\x00"), 1},
		{"entry cut short", exifBlock(be, [4]uint32{0x0112, 3, 1, 6})[:18], 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := EXIFOrientation(tc.b); got != tc.want {
				t.Errorf("EXIFOrientation = %d, want %d", got, tc.want)
			}
		})
	}
}

// jpegSegment frames a JPEG marker segment.
func jpegSegment(marker byte, payload []byte) []byte {
	b := []byte{0xFF, marker}
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)+2))
	return append(b, payload...)
}

func TestJPEGOrientation(t *testing.T) {
	exif := func(o uint32) []byte {
		return jpegSegment(0xE1, append([]byte("Exif\x00\x00"), exifBlock(binary.BigEndian, [4]uint32{0x0112, 3, 1, o})...))
	}
	soi := []byte{0xFF, 0xD8}
	sos := jpegSegment(0xDA, make([]byte, 10))
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name string
		b    []byte
		want int
	}{
		{"first segment", join(soi, exif(6), sos), 6},
		{"after JFIF and XMP", join(soi, jpegSegment(0xE0, []byte("JFIF\x00\x01\x01")), jpegSegment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x/>")), exif(3), sos), 3},
		{"fill bytes before a marker", join(soi, []byte{0xFF, 0xFF, 0xFF}, exif(8)[1:], sos), 8},
		{"stray bytes between segments", join(soi, []byte("junk"), exif(5), sos), 5},
		{"first EXIF wins", join(soi, exif(2), exif(7), sos), 2},
		{"after the scan is ignored", join(soi, sos, exif(6)), 1},
		{"no EXIF", join(soi, jpegSegment(0xE0, []byte("JFIF\x00")), sos), 1},
		{"segment length past end", join(soi, []byte{0xFF, 0xE1, 0xFF, 0xF0}, []byte("Exif\x00\x00")), 1},
		{"segment length below 2", join(soi, []byte{0xFF, 0xE1, 0x00, 0x01}, exif(6)), 1},
		{"not a JPEG", exif(6), 1},
		{"SOI only", soi, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := JPEGOrientation(tc.b); got != tc.want {
				t.Errorf("JPEGOrientation = %d, want %d", got, tc.want)
			}
		})
	}
}

func pngChunk(typ string, body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	out = append(out, typ...)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

func zlibBytes(b []byte) []byte {
	var out bytes.Buffer
	z := zlib.NewWriter(&out)
	z.Write(b)
	z.Close()
	return out.Bytes()
}

// pngFile is the signature, a w by h IHDR, chunks, and IEND.
func pngFile(w, h uint32, chunks ...[]byte) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0)
	out := append([]byte(pngSignature), pngChunk("IHDR", ihdr)...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, pngChunk("IEND", nil)...)
}

func fcTL(w, h, x, y uint32) []byte {
	b := make([]byte, 4, 26)
	for _, v := range []uint32{w, h, x, y} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return pngChunk("fcTL", append(b, 0, 1, 0, 10, 0, 0))
}

func acTL(n uint32) []byte {
	return pngChunk("acTL", binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, n), 0))
}

func wantKind(t *testing.T, err error, kind Kind) {
	t.Helper()
	var e *Error
	switch {
	case kind == 0 && err != nil:
		t.Fatalf("error %v, want none", err)
	case kind == 0:
	case !errors.As(err, &e):
		t.Fatalf("error %v, want an *Error of kind %v", err, kind)
	case e.Kind != kind:
		t.Fatalf("error %v of kind %v, want kind %v", err, e.Kind, kind)
	}
}

func TestScanPNG(t *testing.T) {
	idat := pngChunk("IDAT", zlibBytes(make([]byte, 8)))
	bomb := zlibBytes(make([]byte, 2<<20))
	within := zlibBytes(make([]byte, 600<<10))
	cases := []struct {
		name        string
		b           []byte
		kind        Kind
		frames      int
		orientation int
		truncated   bool
	}{
		{name: "still", b: pngFile(4, 4, idat), frames: 1, orientation: 1},
		{name: "APNG", b: pngFile(4, 4, acTL(3), fcTL(4, 4, 0, 0), idat, fcTL(2, 2, 2, 2)), frames: 3, orientation: 1},
		{name: "more fcTL than acTL says", b: pngFile(4, 4, acTL(1), fcTL(4, 4, 0, 0), fcTL(4, 4, 0, 0)), frames: 2, orientation: 1},
		{name: "eXIf", b: pngFile(4, 4, pngChunk("eXIf", exifBlock(binary.BigEndian, [4]uint32{0x0112, 3, 1, 6})), idat), frames: 1, orientation: 6},
		{name: "text chunks within budget", b: pngFile(4, 4, pngChunk("zTXt", append([]byte("a\x00\x00"), within...)), idat), frames: 1, orientation: 1},
		{name: "uncompressed iTXt is not inflated", b: pngFile(4, 4, pngChunk("iTXt", append([]byte("a\x00\x00\x00\x00\x00"), bytes.Repeat([]byte("x"), 2<<20)...)), idat), frames: 1, orientation: 1},
		{name: "chunks after IEND are ignored", b: append(pngFile(4, 4, idat), pngChunk("zTXt", append([]byte("a\x00\x00"), bomb...))...), frames: 1, orientation: 1},
		{name: "no IEND", b: pngFile(4, 4, idat)[:len(pngFile(4, 4, idat))-12], frames: 1, orientation: 1, truncated: true},
		{name: "chunk past the end", b: pngFile(4, 4, idat)[:45], frames: 1, orientation: 1, truncated: true},
		{name: "signature only", b: []byte(pngSignature), frames: 1, orientation: 1, truncated: true},

		{name: "zTXt bomb", b: pngFile(4, 4, pngChunk("zTXt", append([]byte("Comment\x00\x00"), bomb...)), idat), kind: TooLarge},
		{name: "iCCP bomb", b: pngFile(4, 4, pngChunk("iCCP", append([]byte("p\x00\x00"), bomb...)), idat), kind: TooLarge},
		{name: "iTXt bomb", b: pngFile(4, 4, pngChunk("iTXt", append([]byte("k\x00\x01\x00en\x00kw\x00"), bomb...)), idat), kind: TooLarge},
		{name: "two halves over budget", b: pngFile(4, 4, pngChunk("zTXt", append([]byte("a\x00\x00"), within...)), pngChunk("zTXt", append([]byte("b\x00\x00"), within...))), kind: TooLarge},
		{name: "acTL over the limit", b: pngFile(4, 4, acTL(101)), kind: TooManyFrames},
		{name: "fcTL over the limit", b: pngFile(4, 4, bytes.Repeat(fcTL(4, 4, 0, 0), 101)), kind: TooManyFrames},
		{name: "fcTL huge", b: pngFile(4, 4, acTL(1), fcTL(1<<31, 1<<31, 0, 0)), kind: TooLarge},
		{name: "fcTL offset huge", b: pngFile(4, 4, acTL(1), fcTL(1, 1, 1<<32-1, 1<<32-1)), kind: TooLarge},
		{name: "fcTL outside the canvas", b: pngFile(4, 4, acTL(1), fcTL(4, 4, 1, 0)), kind: Corrupt},
		{name: "fcTL empty", b: pngFile(4, 4, acTL(1), fcTL(0, 4, 0, 0)), kind: Corrupt},
		{name: "fcTL short", b: pngFile(4, 4, acTL(1), pngChunk("fcTL", make([]byte, 10))), kind: Corrupt},
		{name: "first chunk not IHDR", b: append([]byte(pngSignature), idat...), kind: Corrupt},
		{name: "IHDR of the wrong length", b: append([]byte(pngSignature), pngChunk("IHDR", make([]byte, 12))...), kind: Corrupt},
		{name: "binary chunk type", b: pngFile(4, 4, pngChunk("\x00abc", nil)), kind: Corrupt},
		{name: "length over 2^31-1", b: pngFile(4, 4, []byte("\x80\x00\x00\x00tEXt")), kind: Corrupt},
		{name: "no signature", b: []byte("GIF89a"), kind: Corrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := ScanPNG(tc.b, testLimits)
			wantKind(t, err, tc.kind)
			if tc.kind != 0 {
				return
			}
			if info.Frames != tc.frames || info.Orientation != tc.orientation || info.Truncated != tc.truncated {
				t.Errorf("got %+v, want frames %d orientation %d truncated %v", info, tc.frames, tc.orientation, tc.truncated)
			}
		})
	}
}

// gifFile is a GIF89a with a w by h screen, a 2-colour global table and
// the given blocks.
func gifFile(w, h uint16, blocks ...[]byte) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0x80, 0, 0, 0, 0, 0, 255, 255, 255)
	for _, blk := range blocks {
		b = append(b, blk...)
	}
	return append(b, 0x3B)
}

// gifFrame is an image descriptor at (x, y) of w by h with a little data.
func gifFrame(x, y, w, h uint16) []byte {
	b := []byte{0x2C}
	for _, v := range []uint16{x, y, w, h} {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return append(b, 0, 2, 3, 1, 2, 3, 0)
}

func TestScanGIF(t *testing.T) {
	gce := []byte{0x21, 0xF9, 4, 0, 10, 0, 0, 0}
	comment := []byte{0x21, 0xFE, 3, 'a', 'b', 'c', 0}
	cases := []struct {
		name   string
		b      []byte
		kind   Kind
		frames int
	}{
		{name: "one frame", b: gifFile(10, 10, gifFrame(0, 0, 10, 10)), frames: 1},
		{name: "extensions and frames", b: gifFile(10, 10, comment, gce, gifFrame(0, 0, 10, 10), gce, gifFrame(2, 2, 3, 3)), frames: 2},
		{name: "local colour table", b: gifFile(10, 10, append([]byte{0x2C, 0, 0, 0, 0, 4, 0, 4, 0, 0x81}, append(make([]byte, 12), 2, 1, 0, 0)...)), frames: 1},
		{name: "no frames", b: gifFile(10, 10), frames: 0},
		{name: "cut in a frame", b: gifFile(10, 10, gifFrame(0, 0, 10, 10))[:31], frames: 1},
		{name: "cut in a descriptor", b: gifFile(10, 10, gifFrame(0, 0, 10, 10))[:20], frames: 0},
		{name: "unknown block ends the walk", b: gifFile(10, 10, gifFrame(0, 0, 10, 10), []byte{0x99}, gifFrame(0, 0, 60000, 60000)), frames: 1},
		{name: "header only", b: []byte("GIF89a"), frames: 0},

		{name: "too many frames", b: gifFile(4, 4, bytes.Repeat(gifFrame(0, 0, 4, 4), 101)), kind: TooManyFrames},
		{name: "huge frame", b: gifFile(10, 10, gifFrame(0, 0, 65535, 65535)), kind: TooLarge},
		{name: "frame far away", b: gifFile(10, 10, gifFrame(0, 0, 10, 10), gifFrame(65535, 65535, 1, 1)), kind: TooLarge},
		{name: "frame of 10001 px", b: gifFile(10, 10, gifFrame(0, 0, 10001, 1)), kind: TooLarge},
		{name: "frame outside the screen", b: gifFile(10, 10, gifFrame(5, 5, 10, 10)), kind: Corrupt},
		{name: "later frame outside the screen", b: gifFile(10, 10, gifFrame(0, 0, 10, 10), gifFrame(9, 0, 2, 1)), kind: Corrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, err := ScanGIF(tc.b, testLimits)
			wantKind(t, err, tc.kind)
			if tc.kind == 0 && info.Frames != tc.frames {
				t.Errorf("frames %d, want %d", info.Frames, tc.frames)
			}
		})
	}

	// The walk agrees with the standard encoder's output.
	g := &gif.GIF{}
	for range 7 {
		g.Image = append(g.Image, image.NewPaletted(image.Rect(0, 0, 30, 20), palette.WebSafe))
		g.Delay = append(g.Delay, 1)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	info, err := ScanGIF(buf.Bytes(), testLimits)
	if err != nil || info.Frames != 7 || info.Width != 30 || info.Height != 20 {
		t.Errorf("ScanGIF of an encoded animation = %+v, %v; want 7 frames of 30x20", info, err)
	}
}

func webpChunk(typ string, body []byte) []byte {
	out := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func riff(chunks ...[]byte) []byte {
	body := bytes.Join(chunks, nil)
	out := binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(4+len(body)))
	return append(append(out, "WEBP"...), body...)
}

func TestScanWebP(t *testing.T) {
	vp8x := func(flags byte) []byte { return webpChunk("VP8X", []byte{flags, 0, 0, 0, 0, 0, 0, 0, 0, 0}) }
	exif := webpChunk("EXIF", exifBlock(binary.LittleEndian, [4]uint32{0x0112, 3, 1, 6}))
	cases := []struct {
		name string
		b    []byte
		want WebPInfo
	}{
		{"simple", riff(webpChunk("VP8L", make([]byte, 5))), WebPInfo{Orientation: 1}},
		{"EXIF", riff(vp8x(0x08), webpChunk("VP8L", make([]byte, 5)), exif), WebPInfo{Orientation: 6}},
		{"EXIF with header", riff(vp8x(0x08), webpChunk("EXIF", append([]byte("Exif\x00\x00"), exifBlock(binary.BigEndian, [4]uint32{0x0112, 3, 1, 2})...))), WebPInfo{Orientation: 2}},
		{"animation flag", riff(vp8x(0x02)), WebPInfo{Animated: true, Orientation: 1}},
		{"ANMF without the flag", riff(vp8x(0), webpChunk("ANMF", make([]byte, 16))), WebPInfo{Animated: true, Orientation: 1}},
		{"chunk size past end", append(riff(vp8x(0)), "EXIF\xFF\xFF\xFF\xFF"...), WebPInfo{Orientation: 1}},
		{"not RIFF", []byte("RIFX\x00\x00\x00\x00WEBP"), WebPInfo{Orientation: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ScanWebP(tc.b); got != tc.want {
				t.Errorf("ScanWebP = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func isoBox(typ string, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(append(binary.BigEndian.AppendUint32(nil, uint32(8+len(b))), typ...), b...)
}

func ispe(w, h uint32) []byte {
	return isoBox("ispe", binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(make([]byte, 4), w), h))
}

func TestScanHEIF(t *testing.T) {
	ftyp := isoBox("ftyp", []byte("heic\x00\x00\x00\x00mif1heic"))
	meta := func(props ...[]byte) []byte {
		return isoBox("meta", make([]byte, 4), isoBox("hdlr", make([]byte, 25)), pitm(1),
			isoBox("iprp", isoBox("ipco", props...), ipma(1, len(props))))
	}
	mdat := isoBox("mdat", make([]byte, 32))
	large := append(binary.BigEndian.AppendUint32(nil, 1), "mdat"...)
	large = append(binary.BigEndian.AppendUint64(large, 16+4), 1, 2, 3, 4)
	cases := []struct {
		name string
		b    []byte
		kind Kind
	}{
		{"well-formed", bytes.Join([][]byte{ftyp, meta(ispe(64, 64), ispe(32, 32)), mdat}, nil), 0},
		{"sequence without meta", bytes.Join([][]byte{ftyp, isoBox("moov"), mdat}, nil), 0},
		{"64-bit box size", bytes.Join([][]byte{ftyp, meta(ispe(8, 8)), large}, nil), 0},
		{"box to the end", bytes.Join([][]byte{ftyp, meta(ispe(8, 8)), []byte("\x00\x00\x00\x00mdat1234")}, nil), 0},
		{"huge primary", bytes.Join([][]byte{ftyp, meta(ispe(16320, 12240)), mdat}, nil), TooLarge},
		{"huge second ispe", bytes.Join([][]byte{ftyp, meta(ispe(64, 64), ispe(40000, 10)), mdat}, nil), TooLarge},
		{"mdat past the end", bytes.Join([][]byte{ftyp, meta(ispe(64, 64)), mdat[:20]}, nil), Truncated},
		{"cut in a box header", bytes.Join([][]byte{ftyp, meta(ispe(64, 64)), mdat[:5]}, nil), Truncated},
		{"no meta", bytes.Join([][]byte{ftyp, mdat}, nil), Corrupt},
		{"no ftyp first", bytes.Join([][]byte{mdat, ftyp, meta(ispe(8, 8))}, nil), Corrupt},
		{"binary box type", bytes.Join([][]byte{ftyp, []byte("\x00\x00\x00\x10\x00\x01\x02\x03"), make([]byte, 8)}, nil), Corrupt},
		{"box smaller than its header", bytes.Join([][]byte{ftyp, []byte("\x00\x00\x00\x04free")}, nil), Corrupt},
		{"child past its parent", bytes.Join([][]byte{ftyp, isoBox("meta", make([]byte, 4), []byte("\x00\x00\x01\x00iprp"))}, nil), Corrupt},
		{"short ispe", bytes.Join([][]byte{ftyp, meta(isoBox("ispe", make([]byte, 8)))}, nil), Corrupt},
		{"short meta", bytes.Join([][]byte{ftyp, isoBox("meta", []byte{0})}, nil), Corrupt},
		{"no primary item", bytes.Join([][]byte{ftyp, isoBox("meta", make([]byte, 4), isoBox("iprp", isoBox("ipco", ispe(8, 8)))), mdat}, nil), Corrupt},
		{"primary without ispe", bytes.Join([][]byte{ftyp, meta(isoBox("hvcC", make([]byte, 4))), mdat}, nil), Corrupt},
		{"association past the properties", bytes.Join([][]byte{ftyp, isoBox("meta", make([]byte, 4), pitm(1),
			isoBox("iprp", isoBox("ipco", ispe(8, 8)), ipma(1, 2))), mdat}, nil), Corrupt},
		{"short ipma", bytes.Join([][]byte{ftyp, isoBox("meta", make([]byte, 4), pitm(1),
			isoBox("iprp", isoBox("ipco", ispe(8, 8)), isoBox("ipma", make([]byte, 4), []byte{0, 0, 0, 1, 0}))), mdat}, nil), Corrupt},
		{"empty", nil, Corrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantKind(t, ScanHEIF(tc.b, testLimits), tc.kind)
		})
	}
}

// pitm is a primary item box naming item id.
func pitm(id uint16) []byte {
	return isoBox("pitm", make([]byte, 4), binary.BigEndian.AppendUint16(nil, id))
}

// ipma associates item id with the properties 1 to n, in order.
func ipma(id uint16, n int) []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 4), 1)
	b = binary.BigEndian.AppendUint16(b, id)
	b = append(b, byte(n))
	for i := 1; i <= n; i++ {
		b = append(b, byte(i))
	}
	return isoBox("ipma", b)
}

func TestReadHEIF(t *testing.T) {
	ftyp := isoBox("ftyp", []byte("heic\x00\x00\x00\x00mif1heic"))
	file := func(props ...[]byte) []byte {
		return bytes.Join([][]byte{ftyp, isoBox("meta", make([]byte, 4), pitm(1),
			isoBox("iprp", isoBox("ipco", props...), ipma(1, len(props)))), isoBox("mdat", make([]byte, 8))}, nil)
	}
	irot := func(a byte) []byte { return isoBox("irot", []byte{a}) }
	imir := func(a byte) []byte { return isoBox("imir", []byte{a}) }
	hvcC, av1C := isoBox("hvcC", make([]byte, 4)), isoBox("av1C", make([]byte, 4))
	cases := []struct {
		name   string
		b      []byte
		want   HEIFInfo
		uw, uh int
		orient int
	}{
		{"plain HEIC", file(hvcC, ispe(64, 48)), HEIFInfo{Width: 64, Height: 48, Codec: HEVC}, 64, 48, 1},
		{"AVIF turned a quarter", file(av1C, isoBox("pasp", make([]byte, 8)), irot(3), ispe(1024, 722)),
			HEIFInfo{Width: 1024, Height: 722, Codec: AV1, Transforms: []Transform{{Rotate: 3}}}, 722, 1024, 6},
		{"rotate then mirror", file(ispe(427, 640), av1C, irot(1), imir(0)),
			HEIFInfo{Width: 427, Height: 640, Codec: AV1, Transforms: []Transform{{Rotate: 1}, {Mirror: 1}}}, 640, 427, 5},
		{"mirror axis 1, half turn", file(ispe(30, 20), hvcC, imir(1), irot(2)),
			HEIFInfo{Width: 30, Height: 20, Codec: HEVC, Transforms: []Transform{{Mirror: 2}, {Rotate: 2}}}, 30, 20, 4},
		{"quarter turn anti-clockwise", file(ispe(30, 20), hvcC, irot(1)),
			HEIFInfo{Width: 30, Height: 20, Codec: HEVC, Transforms: []Transform{{Rotate: 1}}}, 20, 30, 8},
		{"mirror left-right", file(ispe(30, 20), hvcC, imir(1)),
			HEIFInfo{Width: 30, Height: 20, Codec: HEVC, Transforms: []Transform{{Mirror: 2}}}, 30, 20, 2},
		{"10-bit AVIF", file(ispe(30, 20), isoBox("av1C", []byte{0x81, 0, 0x4c, 0})),
			HEIFInfo{Width: 30, Height: 20, Codec: AV1, HighBitDepth: true}, 30, 20, 1},
		{"both codecs", file(ispe(8, 8), hvcC, av1C), HEIFInfo{Width: 8, Height: 8}, 8, 8, 1},
		{"sequence", bytes.Join([][]byte{isoBox("ftyp", []byte("avis\x00\x00\x00\x00avis")), isoBox("moov")}, nil),
			HEIFInfo{Sequence: true}, 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadHEIF(tc.b, testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReadHEIF = %+v, want %+v", got, tc.want)
			}
			if o := got.Orientation(); o != tc.orient {
				t.Errorf("Orientation = %d, want %d", o, tc.orient)
			}
			if w, h := got.Upright(); w != tc.uw || h != tc.uh {
				t.Errorf("Upright = %dx%d, want %dx%d", w, h, tc.uw, tc.uh)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	var pngBuf bytes.Buffer
	png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 4, 4)))
	p := pngBuf.Bytes()
	crlf := append([]byte("\x89PNG\r\r\n\x1a\r\n"), p[8:]...)
	cases := []struct {
		name string
		b    []byte
		want Format
	}{
		{"PNG", p, PNG},
		{"APNG", append(append([]byte(nil), p[:33]...), append(acTL(2), p[33:]...)...), PNG},
		{"JPEG", []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"), JPEG},
		{"GIF87a", gifFile(1, 1)[:13], GIF},
		{"GIF89a", gifFile(1, 1), GIF},
		{"WebP", riff(webpChunk("VP8L", make([]byte, 5))), WebP},
		{"HEIC", isoBox("ftyp", []byte("heic\x00\x00\x00\x00mif1heic")), HEIF},
		{"AVIF", isoBox("ftyp", []byte("avif\x00\x00\x00\x00avifmif1miaf")), HEIF},
		{"TIFF", []byte("II*\x00\x08\x00\x00\x00\x00\x00\x00\x00"), OtherImage},
		{"SVG with namespace", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), OtherImage},
		{"SVG bare", []byte("<svg><script>alert(1)</script></svg>"), OtherImage},
		{"SVG after prolog", []byte("\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE svg [ <!ENTITY x \"y\"> ]>\n<SVG width=\"1\">"), OtherImage},
		{"SVG prefixed", []byte(`<svg:svg xmlns:svg="http://www.w3.org/2000/svg"/>`), OtherImage},
		{"damaged PNG signature", append([]byte{0x09}, p[1:]...), BrokenPNG},
		{"PNG line endings rewritten", crlf, BrokenPNG},
		{"empty", nil, NotImage},
		{"text", []byte("hello\n"), NotImage},
		{"HTML", []byte("<!DOCTYPE html><html><body><svg></svg></body></html>"), NotImage},
		{"XML that is not SVG", []byte("<?xml version=\"1.0\"?><note>svg</note>"), NotImage},
		{"element named like svg", []byte("<svgx>hello</svgx>"), NotImage},
		{"unclosed comment", []byte("<!-- <svg>"), NotImage},
		{"DjVu", []byte("AT&TFORM\x00\x00\x00\x00DJVM"), NotImage},
		{"PDF", []byte("%PDF-1.7\n"), NotImage},
		{"text mentioning PNG", []byte("xPNG files start with IHDR"), NotImage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, mime := Sniff(tc.b); got != tc.want {
				t.Errorf("Sniff = %v (%s), want %v", got, mime, tc.want)
			}
		})
	}
}

// FuzzScanners feeds arbitrary bytes to every scanner: none may panic or
// read out of bounds, and every error must be an *Error. The seed corpus
// holds the generated cases above and, when present, every file of the
// shared test images.
func FuzzScanners(f *testing.F) {
	f.Add(pngFile(4, 4, acTL(2), fcTL(4, 4, 0, 0), pngChunk("eXIf", exifBlock(binary.BigEndian, [4]uint32{0x0112, 3, 1, 6}))))
	f.Add(gifFile(10, 10, gifFrame(0, 0, 10, 10)))
	f.Add(riff(webpChunk("VP8X", make([]byte, 10)), webpChunk("EXIF", exifBlock(binary.LittleEndian, [4]uint32{0x0112, 3, 1, 6}))))
	f.Add(bytes.Join([][]byte{isoBox("ftyp", []byte("heic")), isoBox("meta", make([]byte, 4), isoBox("iprp", isoBox("ipco", ispe(1, 1))))}, nil))
	f.Add(bytes.Join([][]byte{isoBox("ftyp", []byte("avif")), isoBox("meta", make([]byte, 4), pitm(1),
		isoBox("iprp", isoBox("ipco", ispe(2, 3), isoBox("irot", []byte{1}), isoBox("imir", []byte{0}), isoBox("av1C", []byte{0x81, 0, 0x4c})), ipma(1, 4)))}, nil))
	f.Add(append([]byte{0xFF, 0xD8}, jpegSegment(0xE1, append([]byte("Exif\x00\x00"), exifBlock(binary.BigEndian, [4]uint32{0x0112, 3, 1, 6})...))...))
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "testdata", "*", "*"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	small := Limits{MaxSide: 100, MaxPixels: 5000, MaxFrames: 5, MaxMetadataBytes: 1000}
	f.Fuzz(func(t *testing.T, b []byte) {
		Sniff(b)
		EXIFOrientation(b)
		JPEGOrientation(b)
		ScanWebP(b)
		for _, lim := range []Limits{testLimits, small} {
			var e *Error
			if _, err := ScanPNG(b, lim); err != nil && !errors.As(err, &e) {
				t.Errorf("ScanPNG: %T %v", err, err)
			}
			if _, err := ScanGIF(b, lim); err != nil && !errors.As(err, &e) {
				t.Errorf("ScanGIF: %T %v", err, err)
			}
			if err := ScanHEIF(b, lim); err != nil && !errors.As(err, &e) {
				t.Errorf("ScanHEIF: %T %v", err, err)
			}
			if info, err := ReadHEIF(b, lim); err == nil {
				if o := info.Orientation(); o < 1 || o > 8 {
					t.Errorf("ReadHEIF: orientation %d", o)
				}
				if w, h := info.Upright(); w*h != info.Width*info.Height || lim.tooBig(uint64(w), uint64(h)) {
					t.Errorf("ReadHEIF: upright %dx%d of %dx%d", w, h, info.Width, info.Height)
				}
			}
		}
	})
}
