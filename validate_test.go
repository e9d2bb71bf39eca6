package photo

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// Generators of test inputs. Everything here is made in the test, so the
// cases say exactly what they exercise.

// gradient makes a w by h opaque image.
func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / max(1, w-1)), uint8(y * 255 / max(1, h-1)), 128, 255})
		}
	}
	return img
}

func genPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, gradient(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func genJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, gradient(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// genGIF makes an animation of n frames, each w by h.
func genGIF(t testing.TB, n, w, h int) []byte {
	t.Helper()
	g := &gif.GIF{}
	for i := range n {
		f := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
		for j := range f.Pix {
			f.Pix[j] = uint8(i + j)
		}
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 5)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	out = append(out, typ...)
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// ihdr is the body of an 8-bit greyscale IHDR chunk.
func ihdr(w, h uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, w)
	b = binary.BigEndian.AppendUint32(b, h)
	return append(b, 8, 0, 0, 0, 0)
}

// zlibBytes compresses b.
func zlibBytes(b []byte) []byte {
	var out bytes.Buffer
	z := zlib.NewWriter(&out)
	z.Write(b)
	z.Close()
	return out.Bytes()
}

// rawPNG assembles a PNG from the signature, an IHDR and chunks.
func rawPNG(w, h uint32, chunks ...[]byte) []byte {
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr(w, h))...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

// insertPNGChunks puts chunks right after the IHDR chunk of a PNG.
func insertPNGChunks(p []byte, chunks ...[]byte) []byte {
	const afterIHDR = 8 + 25
	out := append([]byte(nil), p[:afterIHDR]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[afterIHDR:]...)
}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiff makes a minimal EXIF block: a TIFF header in the given byte order
// and an IFD0 holding the entries (tag, type, count, value).
func tiff(bo byteOrder, entries ...[4]uint32) []byte {
	var b []byte
	if bo.String() == binary.LittleEndian.String() {
		b = []byte("II*\x00")
	} else {
		b = []byte("MM\x00*")
	}
	b = bo.AppendUint32(b, 8)
	b = bo.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = bo.AppendUint16(b, uint16(e[0]))
		b = bo.AppendUint16(b, uint16(e[1]))
		b = bo.AppendUint32(b, e[2])
		if e[1] == 3 { // SHORT: left-justified in the value field
			b = bo.AppendUint16(b, uint16(e[3]))
			b = append(b, 0, 0)
		} else {
			b = bo.AppendUint32(b, e[3])
		}
	}
	return bo.AppendUint32(b, 0) // no next IFD
}

// orientationEXIF is an EXIF block that says orientation o.
func orientationEXIF(bo byteOrder, o int) []byte {
	return tiff(bo, [4]uint32{0x010F, 2, 4, 0}, [4]uint32{0x0112, 3, 1, uint32(o)})
}

// withAPP1 puts an APP1 segment holding payload right after a JPEG's SOI.
func withAPP1(j, payload []byte) []byte {
	seg := []byte{0xFF, 0xE1}
	seg = binary.BigEndian.AppendUint16(seg, uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte(nil), j[:2]...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

// tinyWebP is a 1x1 lossless WebP.
var tinyWebP = []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\r\x00\x00\x00/\x00\x00\x00\x10\a\x10\x11\x11\x88\x88\xfe\a\x00")

// riffWebP wraps chunks (already framed) in a RIFF WEBP header.
func riffWebP(chunks ...[]byte) []byte {
	var body []byte
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(4+len(body)))
	out = append(out, "WEBP"...)
	return append(out, body...)
}

func webpChunk(typ string, body []byte) []byte {
	out := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// vp8x is a VP8X chunk with the given flags and a 1x1 canvas.
func vp8x(flags byte) []byte {
	return webpChunk("VP8X", []byte{flags, 0, 0, 0, 0, 0, 0, 0, 0, 0})
}

// isoBox frames an ISOBMFF box.
func isoBox(typ string, body ...[]byte) []byte {
	n := 8
	for _, b := range body {
		n += len(b)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(n))
	out = append(out, typ...)
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

// heicNoPrimary makes an HEIC file whose meta box names no primary item.
func heicNoPrimary() []byte {
	meta := isoBox("meta", []byte{0, 0, 0, 0}, isoBox("hdlr", make([]byte, 25)),
		isoBox("iprp", isoBox("ipco", isoBox("ispe", make([]byte, 4), []byte{0, 0, 0, 64, 0, 0, 0, 64}))))
	return append(append(isoBox("ftyp", []byte("heic\x00\x00\x00\x00mif1heic")), meta...), isoBox("mdat", make([]byte, 16))...)
}

// heic makes an HEIC file whose primary item has one property, an ispe
// that declares w by h (and no codec configuration), followed by extra
// boxes.
func heic(w, h uint32, extra ...[]byte) []byte {
	ispe := binary.BigEndian.AppendUint32([]byte{0, 0, 0, 0}, w)
	ispe = binary.BigEndian.AppendUint32(ispe, h)
	meta := isoBox("meta", []byte{0, 0, 0, 0},
		isoBox("hdlr", make([]byte, 25)),
		isoBox("pitm", []byte{0, 0, 0, 0, 0, 1}),
		isoBox("iprp", isoBox("ipco", isoBox("ispe", ispe)),
			isoBox("ipma", []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 0x81})))
	out := append(isoBox("ftyp", []byte("heic\x00\x00\x00\x00mif1heic")), meta...)
	for _, b := range extra {
		out = append(out, b...)
	}
	return out
}

// gifBomb is a GIF with a 10x10 screen whose one frame declares w by h
// pixels at (x, y).
func gifBomb(x, y, w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, 10)
	b = binary.LittleEndian.AppendUint16(b, 10)
	b = append(b, 0x80, 0, 0)             // a 2-colour global table
	b = append(b, 0, 0, 0, 255, 255, 255) // black, white
	b = append(b, 0x2C)
	for _, v := range []uint16{x, y, w, h} {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	b = append(b, 0, 2, 2, 0x4C, 0x01, 0, 0x3B)
	return b
}

// offsetGIF is a 20x10 GIF whose only frame is 4x4 at (5,2).
func offsetGIF(t testing.TB) []byte {
	t.Helper()
	f := image.NewPaletted(image.Rect(5, 2, 9, 6), color.Palette{color.Black, color.White})
	for i := range f.Pix {
		f.Pix[i] = 1
	}
	var b bytes.Buffer
	err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{f}, Delay: []int{0},
		Config: image.Config{ColorModel: f.Palette, Width: 20, Height: 10}})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSetCodes is the specification of the error codes: each case is an
// input Set must refuse with one code, and after which the store is empty.
func TestSetCodes(t *testing.T) {
	smallPNG := genPNG(t, 64, 64)
	smallJPEG := genJPEG(t, 64, 48)
	idat := pngChunk("IDAT", zlibBytes(make([]byte, 2)))
	iend := pngChunk("IEND", nil)
	badCRC := append([]byte(nil), smallPNG...)
	badCRC[29] ^= 0xFF // inside IHDR's CRC
	bomb := zlibBytes(make([]byte, 4<<20))

	cases := []struct {
		name     string
		data     []byte
		noReader bool // Set gets a nil reader
		lim      Limits
		crop     *Crop
		code     Code
		inMsg    string // the message mentions this
	}{
		{name: "missing: nil reader", noReader: true, code: CodeMissing},

		{name: "file too large", data: smallPNG, lim: Limits{MaxBytes: 100}, code: CodeFileTooLarge, inMsg: "100 bytes"},

		{name: "not an image: empty", data: []byte{}, code: CodeNotImage, inMsg: "empty"},
		{name: "not an image: text", data: []byte("hello, world\n"), code: CodeNotImage},
		{name: "not an image: HTML with script", data: []byte("<html><script>alert(1)</script></html>"), code: CodeNotImage},
		{name: "not an image: zip", data: []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00aaaaaaaaaaaaaaaaaaaaaaaa"), code: CodeNotImage},
		{name: "not an image: PDF", data: []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"), code: CodeNotImage},
		{name: "not an image: PostScript named as PNG", data: []byte("%!PS\n/x 1 def\n"), code: CodeNotImage},
		{name: "not an image: random bytes", data: bytes.Repeat([]byte{0x13, 0x37, 0x00, 0xC0}, 100), code: CodeNotImage},

		{name: "unsupported: SVG with namespace", data: []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`), code: CodeUnsupportedFormat},
		{name: "unsupported: SVG without namespace", data: []byte("<?xml version=\"1.0\"?>\n<!-- x -->\n<svg><script>alert(1)</script></svg>"), code: CodeUnsupportedFormat},
		{name: "unsupported: TIFF", data: append([]byte("II*\x00\x08\x00\x00\x00"), make([]byte, 64)...), code: CodeUnsupportedFormat},
		{name: "unsupported: BMP", data: append([]byte("BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00"), make([]byte, 52)...), code: CodeUnsupportedFormat},
		{name: "unsupported: animated WebP", data: riffWebP(vp8x(0x02), webpChunk("ANIM", make([]byte, 6)), webpChunk("ANMF", make([]byte, 16))), code: CodeUnsupportedFormat, inMsg: "animated WebP"},
		// HEIC and AVIF stills are decoded now (heif_test.go); sequences
		// and codecs other than HEVC and AV1 are still refused.
		{name: "unsupported: AVIF sequence", data: append(isoBox("ftyp", []byte("avis\x00\x00\x00\x00avismsf1miaf")), isoBox("moov")...), code: CodeUnsupportedFormat, inMsg: "sequences"},
		{name: "unsupported: HEIF with neither HEVC nor AV1", data: heic(64, 64, isoBox("mdat", make([]byte, 16))), code: CodeUnsupportedFormat, inMsg: "HEVC or AV1"},
		{name: "corrupt: HEIC without a primary item", data: heicNoPrimary(), code: CodeCorrupt},

		{name: "corrupt: IHDR checksum", data: badCRC, code: CodeCorrupt},
		{name: "corrupt: damaged PNG signature", data: append([]byte{0x09}, smallPNG[1:]...), code: CodeCorrupt},
		{name: "corrupt: PNG chunk with a binary type", data: rawPNG(8, 8, []byte("\x00\x00\x00\x04\x01\x02\x03\x04abcdCRC!"), idat, iend), code: CodeCorrupt},
		{name: "corrupt: PNG not starting with IHDR", data: append([]byte("\x89PNG\r\n\x1a\n"), append(idat, iend...)...), code: CodeCorrupt},
		{name: "corrupt: JPEG scan data garbled", data: garbleScan(smallJPEG), code: CodeCorrupt},
		{name: "corrupt: zero-width PNG", data: rawPNG(0, 8, idat, iend), code: CodeCorrupt},
		{name: "corrupt: GIF frame outside the screen", data: gifBomb(8, 8, 4, 4), code: CodeCorrupt},
		{name: "corrupt: HEIC without meta", data: append(isoBox("ftyp", []byte("heic\x00\x00\x00\x00mif1")), isoBox("mdat", make([]byte, 8))...), code: CodeCorrupt},
		{name: "corrupt: APNG frame outside the canvas", data: insertPNGChunks(smallPNG, pngChunk("acTL", []byte{0, 0, 0, 1, 0, 0, 0, 0}), pngChunk("fcTL", fctl(60, 60, 10, 10))), code: CodeCorrupt},

		{name: "truncated: PNG cut in half", data: smallPNG[:len(smallPNG)/2], code: CodeTruncated},
		{name: "truncated: PNG without IEND", data: smallPNG[:len(smallPNG)-12], code: CodeTruncated},
		{name: "truncated: JPEG cut in its scan", data: smallJPEG[:len(smallJPEG)*2/3], code: CodeTruncated},
		{name: "truncated: JPEG header only", data: smallJPEG[:40], code: CodeTruncated},
		{name: "truncated: GIF cut in its frame", data: genGIF(t, 1, 32, 32)[:200], code: CodeTruncated},
		{name: "truncated: WebP cut", data: tinyWebP[:len(tinyWebP)-3], code: CodeTruncated},
		{name: "truncated: WebP cut in a chunk header", data: riffWebP(vp8x(0x08), tinyWebP[12:])[:34], code: CodeTruncated},
		{name: "truncated: HEIC cut in mdat", data: heic(64, 64, isoBox("mdat", make([]byte, 64)))[:150], code: CodeTruncated},

		{name: "too large: 10001 px side", data: genPNG(t, 10001, 1), code: CodeImageTooLarge, inMsg: "10001x1"},
		{name: "too large: PNG declaring 100000x100000", data: rawPNG(100000, 100000, idat, iend), code: CodeImageTooLarge},
		{name: "too large: PNG header alone declaring 100000x100000", data: rawPNG(100000, 100000), code: CodeImageTooLarge},
		{name: "too large: 8000x8000 is over 50 MP", data: rawPNG(8000, 8000, idat, iend), code: CodeImageTooLarge},
		{name: "too large: smaller MaxPixels", data: smallPNG, lim: Limits{MaxPixels: 64*64 - 1}, code: CodeImageTooLarge},
		{name: "too large: zTXt bomb", data: insertPNGChunks(smallPNG, pngChunk("zTXt", append([]byte("Comment\x00\x00"), bomb...))), code: CodeImageTooLarge, inMsg: "decompression bomb"},
		{name: "too large: iCCP bomb", data: insertPNGChunks(smallPNG, pngChunk("iCCP", append([]byte("icc\x00\x00"), bomb...))), code: CodeImageTooLarge},
		{name: "too large: compressed iTXt bomb", data: insertPNGChunks(smallPNG, pngChunk("iTXt", append([]byte("XML:com.adobe.xmp\x00\x01\x00en\x00\x00"), bomb...))), code: CodeImageTooLarge},
		{name: "too large: many small zTXt add up", data: insertPNGChunks(smallPNG, repeatChunk(pngChunk("zTXt", append([]byte("k\x00\x00"), zlibBytes(make([]byte, 100<<10))...)), 11)...), code: CodeImageTooLarge},
		{name: "too large: GIF frame of 60000x60000", data: gifBomb(0, 0, 60000, 60000), code: CodeImageTooLarge},
		{name: "too large: GIF frame offset far away", data: gifBomb(65000, 65000, 1, 1), code: CodeImageTooLarge},
		{name: "too large: APNG frame", data: insertPNGChunks(smallPNG, pngChunk("acTL", []byte{0, 0, 0, 1, 0, 0, 0, 0}), pngChunk("fcTL", fctl(20000, 20000, 0, 0))), code: CodeImageTooLarge},
		{name: "too large: HEIC ispe 20000x15000", data: heic(20000, 15000, isoBox("mdat", make([]byte, 16))), code: CodeImageTooLarge},

		{name: "too small", data: genPNG(t, 8, 8), lim: Limits{MinSide: 16}, code: CodeTooSmall, inMsg: "16"},
		{name: "too small: one side", data: genJPEG(t, 200, 8), lim: Limits{MinSide: 16}, code: CodeTooSmall},

		{name: "too many frames: GIF with 101", data: genGIF(t, 101, 4, 4), code: CodeTooManyFrames},
		{name: "too many frames: GIF over a lower limit", data: genGIF(t, 4, 4, 4), lim: Limits{MaxFrames: 3}, code: CodeTooManyFrames},
		{name: "too many frames: APNG acTL of 101", data: insertPNGChunks(smallPNG, pngChunk("acTL", []byte{0, 0, 0, 101, 0, 0, 0, 0})), code: CodeTooManyFrames},
		{name: "too many frames: APNG acTL of 2^32-1", data: insertPNGChunks(smallPNG, pngChunk("acTL", []byte{255, 255, 255, 255, 0, 0, 0, 0})), code: CodeTooManyFrames},

		{name: "bad crop: outside", data: smallPNG, crop: &Crop{X: 10, Y: 0, Size: 60}, code: CodeBadCrop},
		{name: "bad crop: below", data: smallPNG, crop: &Crop{X: 0, Y: 32, Size: 33}, code: CodeBadCrop},
		{name: "bad crop: zero size", data: smallPNG, crop: &Crop{X: 0, Y: 0, Size: 0}, code: CodeBadCrop},
		{name: "bad crop: negative size", data: smallPNG, crop: &Crop{X: 10, Y: 10, Size: -5}, code: CodeBadCrop},
		{name: "bad crop: negative corner", data: smallPNG, crop: &Crop{X: -1, Y: 0, Size: 10}, code: CodeBadCrop},
		{name: "bad crop: upright size of a rotated JPEG", data: withAPP1(genJPEG(t, 64, 48), append([]byte("Exif\x00\x00"), orientationEXIF(binary.BigEndian, 6)...)), crop: &Crop{X: 0, Y: 0, Size: 64}, code: CodeBadCrop},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newBucket(t)
			m, err := New(st, &Options{Limits: tc.lim})
			if err != nil {
				t.Fatal(err)
			}
			var r io.Reader
			if !tc.noReader {
				r = bytes.NewReader(tc.data)
			}
			_, err = m.Set(t.Context(), "u", r, &SetOptions{Crop: tc.crop})
			wantInputError(t, err, tc.code)
			if tc.inMsg != "" && !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("message %q does not mention %q", err, tc.inMsg)
			}
			if keys := allKeys(t, st, ""); len(keys) != 0 {
				t.Errorf("after a refused Set the store holds %q", keys)
			}
		})
	}
}

// fctl is the body of an APNG fcTL chunk.
func fctl(w, h, x, y uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0) // sequence number
	for _, v := range []uint32{w, h, x, y} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return append(b, 0, 1, 0, 10, 0, 0)
}

func repeatChunk(c []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = c
	}
	return out
}

// garbleScan overwrites the middle of a JPEG's entropy-coded data with
// bytes that are not valid Huffman codes.
func garbleScan(j []byte) []byte {
	out := append([]byte(nil), j...)
	sos := bytes.Index(out, []byte{0xFF, 0xDA})
	for i := sos + 20; i < len(out)-10; i++ {
		out[i] = 0xFF
	}
	return out
}

// acceptCase is an input Set must accept, and what readSource must read
// from it.
type acceptCase struct {
	name        string
	data        []byte
	lim         Limits
	crop        *Crop
	mime        string
	w, h        int // upright
	orientation int
	frames      int
}

// TestSetAccepts is the other half of the specification: inputs that are
// accepted, with what readSource must have read from them.
func TestSetAccepts(t *testing.T) {
	exif := func(bo byteOrder, o int) []byte {
		return append([]byte("Exif\x00\x00"), orientationEXIF(bo, o)...)
	}
	j := genJPEG(t, 64, 48)
	p := genPNG(t, 40, 30)
	cases := []acceptCase{
		{name: "PNG", data: p, mime: "image/png", w: 40, h: 30, orientation: 1, frames: 1},
		{name: "JPEG", data: j, mime: "image/jpeg", w: 64, h: 48, orientation: 1, frames: 1},
		{name: "1x1 PNG", data: genPNG(t, 1, 1), mime: "image/png", w: 1, h: 1, orientation: 1, frames: 1},
		{name: "GIF animation of 100 frames", data: genGIF(t, 100, 4, 4), mime: "image/gif", w: 4, h: 4, orientation: 1, frames: 100},
		{name: "GIF whose frame is a part of the screen", data: offsetGIF(t), mime: "image/gif", w: 20, h: 10, orientation: 1, frames: 1},
		{name: "WebP lossless", data: tinyWebP, mime: "image/webp", w: 1, h: 1, orientation: 1, frames: 1},
		{name: "exactly MaxBytes", data: p, lim: Limits{MaxBytes: int64(len(p))}, mime: "image/png", w: 40, h: 30, orientation: 1, frames: 1},
		{name: "exactly MinSide", data: p, lim: Limits{MinSide: 30}, mime: "image/png", w: 40, h: 30, orientation: 1, frames: 1},
		{name: "exactly MaxSide", data: genPNG(t, 10000, 1), mime: "image/png", w: 10000, h: 1, orientation: 1, frames: 1},
		{name: "APNG of 3 frames", data: insertPNGChunks(p, pngChunk("acTL", []byte{0, 0, 0, 3, 0, 0, 0, 0}), pngChunk("fcTL", fctl(40, 30, 0, 0))),
			mime: "image/png", w: 40, h: 30, orientation: 1, frames: 3},
		{name: "small zTXt", data: insertPNGChunks(p, pngChunk("zTXt", append([]byte("Comment\x00\x00"), zlibBytes([]byte("hello"))...))),
			mime: "image/png", w: 40, h: 30, orientation: 1, frames: 1},
		{name: "zTXt whose stream is broken", data: insertPNGChunks(p, pngChunk("zTXt", []byte("Comment\x00\x00not zlib"))),
			mime: "image/png", w: 40, h: 30, orientation: 1, frames: 1},
		{name: "data after IEND", data: append(append([]byte(nil), p...), "<?php echo 1; ?>"...), mime: "image/png", w: 40, h: 30, orientation: 1, frames: 1},
		{name: "crop inside", data: p, crop: &Crop{X: 10, Y: 0, Size: 30}, mime: "image/png", w: 40, h: 30, orientation: 1, frames: 1},
		{name: "crop in upright coordinates", data: withAPP1(j, exif(binary.LittleEndian, 6)), crop: &Crop{X: 0, Y: 16, Size: 48},
			mime: "image/jpeg", w: 48, h: 64, orientation: 6, frames: 1},
		{name: "PNG eXIf orientation", data: insertPNGChunks(p, pngChunk("eXIf", orientationEXIF(binary.BigEndian, 8))),
			mime: "image/png", w: 30, h: 40, orientation: 8, frames: 1},
		{name: "WebP EXIF orientation", data: riffWebP(vp8x(0x08), tinyWebP[12:], webpChunk("EXIF", orientationEXIF(binary.LittleEndian, 3))),
			mime: "image/webp", w: 1, h: 1, orientation: 3, frames: 1},
		{name: "WebP EXIF orientation with Exif header", data: riffWebP(vp8x(0x08), tinyWebP[12:], webpChunk("EXIF", exif(binary.BigEndian, 7))),
			mime: "image/webp", w: 1, h: 1, orientation: 7, frames: 1},
	}
	for o := 1; o <= 8; o++ {
		w, h := 64, 48
		if o >= 5 {
			w, h = h, w
		}
		for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
			cases = append(cases, acceptCase{name: fmt.Sprintf("JPEG orientation %d %s", o, bo), data: withAPP1(j, exif(bo, o)),
				mime: "image/jpeg", w: w, h: h, orientation: o, frames: 1})
		}
	}
	// Malformed EXIF never fails the image: the orientation is 1.
	for name, payload := range map[string][]byte{
		"EXIF: empty":                 []byte("Exif\x00\x00"),
		"EXIF: bad byte order":        append([]byte("Exif\x00\x00XX*\x00"), orientationEXIF(binary.BigEndian, 6)[4:]...),
		"EXIF: IFD offset past end":   append([]byte("Exif\x00\x00MM\x00*\xFF\xFF\xFF\xF0"), make([]byte, 20)...),
		"EXIF: IFD offset below 8":    []byte("Exif\x00\x00II*\x00\x00\x00\x00\x00\x01\x00"),
		"EXIF: entry count too large": append([]byte("Exif\x00\x00II*\x00\x08\x00\x00\x00\xFF\xFF"), make([]byte, 30)...),
		"EXIF: orientation 0":         append([]byte("Exif\x00\x00"), orientationEXIF(binary.BigEndian, 0)...),
		"EXIF: orientation 9":         append([]byte("Exif\x00\x00"), orientationEXIF(binary.LittleEndian, 9)...),
		"EXIF: orientation as ASCII":  append([]byte("Exif\x00\x00"), tiff(binary.BigEndian, [4]uint32{0x0112, 2, 1, 6})...),
		"EXIF: orientation count 0":   append([]byte("Exif\x00\x00"), tiff(binary.BigEndian, [4]uint32{0x0112, 3, 0, 6})...),
		"EXIF: cut inside the entry":  append([]byte("Exif\x00\x00"), orientationEXIF(binary.BigEndian, 6)[:25]...),
		"XMP only":                    []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><tiff:Orientation>6</tiff:Orientation></x:xmpmeta>"),
	} {
		cases = append(cases, acceptCase{name: name, data: withAPP1(j, payload), mime: "image/jpeg", w: 64, h: 48, orientation: 1, frames: 1})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := readSource(t.Context(), bytes.NewReader(tc.data), tc.lim)
			if err != nil {
				t.Fatalf("readSource: %v", err)
			}
			if src.mime != tc.mime || src.width != tc.w || src.height != tc.h || src.orientation != tc.orientation || src.frames != tc.frames {
				t.Errorf("got %s %dx%d orientation %d frames %d, want %s %dx%d orientation %d frames %d",
					src.mime, src.width, src.height, src.orientation, src.frames, tc.mime, tc.w, tc.h, tc.orientation, tc.frames)
			}
			sw, sh := tc.w, tc.h
			if tc.orientation >= 5 {
				sw, sh = sh, sw
			}
			if b := src.img.Bounds(); b != image.Rect(0, 0, sw, sh) {
				t.Errorf("decoded bounds %v, want %v (as stored)", b, image.Rect(0, 0, sw, sh))
			}
			if src.bytes != int64(len(tc.data)) {
				t.Errorf("bytes %d, want %d", src.bytes, len(tc.data))
			}
			m, err := New(newBucket(t), &Options{Limits: tc.lim})
			if err != nil {
				t.Fatal(err)
			}
			ph, err := m.Set(t.Context(), "u", bytes.NewReader(tc.data), &SetOptions{Crop: tc.crop})
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			if ph.Width != tc.w || ph.Height != tc.h || ph.SourceType != tc.mime {
				t.Errorf("photo is %s %dx%d, want %s %dx%d", ph.SourceType, ph.Width, ph.Height, tc.mime, tc.w, tc.h)
			}
		})
	}
}

// TestOffsetGIFFrameIsPlacedOnScreen checks that a GIF whose first frame
// covers part of the screen decodes to the whole screen, transparent
// around the frame.
func TestOffsetGIFFrameIsPlacedOnScreen(t *testing.T) {
	src, err := readSource(t.Context(), bytes.NewReader(offsetGIF(t)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		x, y  int
		alpha uint32
	}{{0, 0, 0}, {4, 2, 0}, {5, 2, 0xFFFF}, {8, 5, 0xFFFF}, {9, 5, 0}, {19, 9, 0}} {
		if _, _, _, a := src.img.At(tc.x, tc.y).RGBA(); a != tc.alpha {
			t.Errorf("alpha at (%d,%d) = %#x, want %#x", tc.x, tc.y, a, tc.alpha)
		}
	}
}

// TestReadSourceContext checks that a cancelled context stops the read and
// the pipeline, with the context's error.
func TestReadSourceContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := readSource(ctx, bytes.NewReader(genPNG(t, 8, 8)), Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("readSource with a cancelled context = %v, want context.Canceled", err)
	}

	// Cancelled while reading: the reader hands out one byte at a time and
	// cancels after the first.
	ctx, cancel = context.WithCancel(t.Context())
	r := &cancelAfter{r: iotest.OneByteReader(bytes.NewReader(genPNG(t, 8, 8))), cancel: cancel}
	st := newBucket(t)
	m, err := New(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Set(ctx, "u", r, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Set cancelled mid-read = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrInvalidInput) {
		t.Errorf("a cancelled Set reports invalid input: %v", err)
	}
	if r.reads > 2 {
		t.Errorf("%d reads after cancellation, want the read to stop", r.reads-1)
	}
	if keys := allKeys(t, st, ""); len(keys) != 0 {
		t.Errorf("after a cancelled Set the store holds %q", keys)
	}
}

type cancelAfter struct {
	r      io.Reader
	cancel context.CancelFunc
	reads  int
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	c.reads++
	if c.reads == 1 {
		defer c.cancel()
	}
	return c.r.Read(p)
}

// TestReadErrorIsNotInputError checks that a failing reader is reported as
// such, not as a bad image.
func TestReadErrorIsNotInputError(t *testing.T) {
	boom := errors.New("connection reset")
	_, err := readSource(t.Context(), iotest.ErrReader(boom), Limits{})
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalidInput) {
		t.Errorf("readSource = %v, want the reader's error and not ErrInvalidInput", err)
	}
}

// TestChecksComeBeforeDecoding checks that bombs are refused from their
// headers: refusing each allocates a small fraction of what decoding it
// would.
func TestChecksComeBeforeDecoding(t *testing.T) {
	idat := pngChunk("IDAT", zlibBytes(make([]byte, 2)))
	iend := pngChunk("IEND", nil)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"PNG declaring 100000x100000", rawPNG(100000, 100000, idat, iend)},
		{"PNG declaring 7000x7000", rawPNG(7500, 7000, idat, iend)},
		{"GIF frame bomb", gifBomb(0, 0, 60000, 60000)},
		{"HEIC declaring 200 MP", heic(16320, 12240)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := readSource(t.Context(), bytes.NewReader(tc.data), Limits{})
			runtime.ReadMemStats(&after)
			wantInputError(t, err, CodeImageTooLarge)
			// Decoding any of these needs 49 MB or more; the checks need
			// the input and a few buffers.
			if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
				t.Errorf("refusing it allocated %d bytes", n)
			}
		})
	}
}

// TestDamagedFilesNeverPanic cuts and flips bytes of the small accepted
// shared test images and of generated ones: whatever the damage,
// readSource returns an image or an *Error, and never panics.
func TestDamagedFilesNeverPanic(t *testing.T) {
	inputs := map[string][]byte{
		"generated.png":  genPNG(t, 20, 20),
		"generated.jpeg": genJPEG(t, 20, 20),
		"generated.gif":  genGIF(t, 3, 10, 10),
		"generated.webp": riffWebP(vp8x(0x08), tinyWebP[12:], webpChunk("EXIF", orientationEXIF(binary.LittleEndian, 6))),
		"generated.heic": heic(64, 64, isoBox("mdat", make([]byte, 16))),
	}
	if dir := filepath.Join("..", "shared", "testdata"); dirExists(dir) {
		for _, row := range readManifest(t, dir) {
			if strings.HasPrefix(row["verdict"], "accept") {
				if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(row["file"]))); err == nil && len(b) <= 16<<10 {
					inputs[row["file"]] = b
				}
			}
		}
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var variants [][]byte
			for _, n := range []int{1, 2, 8, 12, 16, 24, 33, 50, 100, len(data) / 3, len(data) / 2, len(data) - 13, len(data) - 1} {
				if n > 0 && n < len(data) {
					variants = append(variants, data[:n])
				}
			}
			// Deterministic flips: every 7th position in the first 200
			// bytes (headers and metadata), then a spread over the rest.
			for i := 0; i < len(data); i += max(7, len(data)/40) {
				if i > 200 && i < len(data)/2 && len(data) > 400 {
					i = len(data) / 2
				}
				v := append([]byte(nil), data...)
				v[i] ^= 0x5A
				variants = append(variants, v)
			}
			for i, v := range variants {
				src, err := readSource(t.Context(), bytes.NewReader(v), Limits{})
				var e *Error
				switch {
				case err != nil && !errors.As(err, &e):
					t.Errorf("variant %d: %v is not an *Error", i, err)
				case err == nil && (src.img == nil || src.width < 1 || src.height < 1):
					t.Errorf("variant %d: accepted without an image", i)
				}
			}
		})
	}
}

func dirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// BenchmarkReadSource measures the whole validation of an upload, and how
// cheaply bombs are refused.
func BenchmarkReadSource(b *testing.B) {
	idat := pngChunk("IDAT", zlibBytes(make([]byte, 2)))
	iend := pngChunk("IEND", nil)
	p := genPNG(b, 64, 64)
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"JPEG 1800x1200", genJPEG(b, 1800, 1200)},
		{"PNG 640x480", genPNG(b, 640, 480)},
		{"refuse PNG declaring 100000x100000", rawPNG(100000, 100000, idat, iend)},
		{"refuse zTXt bomb", insertPNGChunks(p, pngChunk("zTXt", append([]byte("c\x00\x00"), zlibBytes(make([]byte, 4<<20))...)))},
		{"refuse GIF of 101 frames", genGIF(b, 101, 16, 16)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				readSource(b.Context(), bytes.NewReader(bc.data), Limits{})
			}
		})
	}
}
