package pngdec

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// file is a PNG written byte by byte, so that every colour type, depth,
// filter and tRNS can be made (image/png's encoder writes few of them).
type file struct {
	w, h, depth, ct int
	interlace       bool
	plte, trns      []byte
	raw             []byte // unfiltered rows, without filter bytes
	split           int    // IDAT chunk size; 0 means one chunk
}

func chunk(b *bytes.Buffer, typ string, body []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	b.Write(n[:])
	b.WriteString(typ)
	b.Write(body)
	binary.BigEndian.PutUint32(n[:], crc32.ChecksumIEEE(append([]byte(typ), body...)))
	b.Write(n[:])
}

func (f file) rowBytes() int {
	return (f.w*f.depth*map[int]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[f.ct] + 7) / 8
}

// bytes encodes f; rows use filters chosen by rng.
func (f file) bytes(rng *rand.Rand) []byte {
	var b bytes.Buffer
	b.WriteString(signature)
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, uint32(f.w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(f.h))
	ihdr[8], ihdr[9] = byte(f.depth), byte(f.ct)
	if f.interlace {
		ihdr[12] = 1
	}
	chunk(&b, "IHDR", ihdr)
	chunk(&b, "tEXt", []byte("Comment\x00hello"))
	if f.plte != nil {
		chunk(&b, "PLTE", f.plte)
	}
	if f.trns != nil {
		chunk(&b, "tRNS", f.trns)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	rb := f.rowBytes()
	bpp := max(1, (f.depth*map[int]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[f.ct]+7)/8)
	prev := make([]byte, rb)
	for y := range f.h {
		row := f.raw[y*rb : (y+1)*rb]
		ft := byte(rng.IntN(5))
		out := make([]byte, rb)
		for i := range row {
			var a, up, c byte
			if i >= bpp {
				a, c = row[i-bpp], prev[i-bpp]
			}
			up = prev[i]
			var pred byte
			switch ft {
			case 1:
				pred = a
			case 2:
				pred = up
			case 3:
				pred = byte((int(a) + int(up)) / 2)
			case 4:
				p := int(a) + int(up) - int(c)
				pa, pb, pc := abs(p-int(a)), abs(p-int(up)), abs(p-int(c))
				switch {
				case pa <= pb && pa <= pc:
					pred = a
				case pb <= pc:
					pred = up
				default:
					pred = c
				}
			}
			out[i] = row[i] - pred
		}
		zw.Write([]byte{ft})
		zw.Write(out)
		prev = row
	}
	zw.Close()
	data := z.Bytes()
	step := f.split
	if step <= 0 {
		step = len(data)
	}
	for len(data) > 0 {
		n := min(step, len(data))
		chunk(&b, "IDAT", data[:n])
		data = data[n:]
	}
	chunk(&b, "IEND", nil)
	return b.Bytes()
}

// reference converts image/png's image as package imaging's newRaster
// does: gray images to one channel (16 bits keep the high byte), the rest
// to premultiplied 8-bit RGBA.
func reference(img image.Image) (pix []byte, ch int) {
	r := img.Bounds()
	switch m := img.(type) {
	case *image.Gray:
		return m.Pix, 1
	case *image.Gray16:
		for i := 0; i < len(m.Pix); i += 2 {
			pix = append(pix, m.Pix[i])
		}
		return pix, 1
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			switch m := img.(type) {
			case *image.NRGBA:
				c := m.NRGBAAt(x, y)
				a := uint32(c.A)
				pix = append(pix, mul8(uint32(c.R), a), mul8(uint32(c.G), a), mul8(uint32(c.B), a), c.A)
			case *image.NRGBA64:
				c := m.NRGBA64At(x, y)
				a := uint32(c.A)
				pix = append(pix, mul16(uint32(c.R), a), mul16(uint32(c.G), a), mul16(uint32(c.B), a), uint8(c.A>>8))
			case *image.RGBA64:
				c := m.RGBA64At(x, y)
				pix = append(pix, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8), uint8(c.A>>8))
			default:
				cr, cg, cb, ca := img.At(x, y).RGBA()
				pix = append(pix, uint8(cr>>8), uint8(cg>>8), uint8(cb>>8), uint8(ca>>8))
			}
		}
	}
	return pix, 4
}

// decodeAll reads every row of data with a Decoder.
func decodeAll(data []byte) ([]byte, int, error) {
	d, err := NewDecoder(data)
	if err != nil {
		return nil, 0, err
	}
	w, h := d.Size()
	ch := d.Channels()
	if int64(w)*int64(h)*int64(ch) > 1<<26 {
		return nil, 0, errors.New("too large for a test")
	}
	out := make([]byte, w*h*ch)
	for y := range h {
		if err := d.ReadRow(out[y*w*ch : (y+1)*w*ch]); err != nil {
			return nil, 0, err
		}
	}
	if err := d.ReadRow(out[:0]); err != io.EOF {
		return nil, 0, fmt.Errorf("after the last row: %v, want io.EOF", err)
	}
	return out, ch, nil
}

func TestMatchesImagePNG(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type kind struct {
		ct, depth int
	}
	kinds := []kind{
		{0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16},
		{2, 8}, {2, 16}, {3, 1}, {3, 2}, {3, 4}, {3, 8},
		{4, 8}, {4, 16}, {6, 8}, {6, 16},
	}
	for _, k := range kinds {
		for _, trns := range []bool{false, true} {
			if trns && (k.ct == 4 || k.ct == 6) {
				continue
			}
			for _, size := range [][2]int{{1, 1}, {7, 3}, {33, 17}} {
				name := fmt.Sprintf("ct%d-depth%d-trns%v-%dx%d", k.ct, k.depth, trns, size[0], size[1])
				t.Run(name, func(t *testing.T) {
					f := file{w: size[0], h: size[1], depth: k.depth, ct: k.ct, split: 7}
					f.raw = make([]byte, f.rowBytes()*f.h)
					for i := range f.raw {
						f.raw[i] = byte(rng.IntN(256))
					}
					if k.ct == 3 {
						// A palette shorter than the indices reach, to
						// exercise the opaque-black fallback.
						n := max(1, (1<<k.depth)*3/4)
						f.plte = make([]byte, 3*n)
						for i := range f.plte {
							f.plte[i] = byte(rng.IntN(256))
						}
					}
					if trns {
						switch k.ct {
						case 0:
							// The value of the first pixel, so that some
							// pixels are transparent.
							v := uint16(f.raw[0])
							if k.depth == 16 {
								v = v<<8 | uint16(f.raw[1])
							} else {
								v >>= 8 - k.depth
							}
							f.trns = []byte{byte(v >> 8), byte(v)}
						case 2:
							f.trns = make([]byte, 6)
							if k.depth == 16 {
								copy(f.trns, f.raw[:6])
							} else {
								f.trns[1], f.trns[3], f.trns[5] = f.raw[0], f.raw[1], f.raw[2]
							}
						case 3:
							f.trns = make([]byte, 1<<k.depth)
							for i := range f.trns {
								f.trns[i] = byte(rng.IntN(256))
							}
						}
					}
					data := f.bytes(rng)
					want, err := png.Decode(bytes.NewReader(data))
					if err != nil {
						t.Fatalf("image/png: %v", err)
					}
					wpix, wch := reference(want)
					got, ch, err := decodeAll(data)
					if err != nil {
						t.Fatalf("pngdec: %v", err)
					}
					if ch != wch {
						t.Fatalf("channels %d, want %d", ch, wch)
					}
					if !bytes.Equal(got, wpix) {
						for i := range got {
							if got[i] != wpix[i] {
								t.Fatalf("sample %d (pixel %d): %d, want %d", i, i/ch, got[i], wpix[i])
							}
						}
					}
				})
			}
		}
	}
}

func TestInterlacedRefused(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	f := file{w: 4, h: 4, depth: 8, ct: 0, interlace: true, raw: make([]byte, 16)}
	// The rows are not Adam7 passes, but the decoder stops at the header.
	if _, err := NewDecoder(f.bytes(rng)); !errors.Is(err, ErrInterlaced) {
		t.Fatalf("got %v, want ErrInterlaced", err)
	}
}

// verdict names how a decoder judged a file: "ok", "truncated" or
// "corrupt".
func verdict(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		bytes.Contains([]byte(err.Error()), []byte("not enough pixel data")) ||
		bytes.Contains([]byte(err.Error()), []byte("unexpected EOF")):
		return "truncated"
	}
	return "corrupt"
}

func TestDamagedFilesJudgedAsImagePNG(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	f := file{w: 20, h: 9, depth: 16, ct: 6, split: 50}
	f.raw = make([]byte, f.rowBytes()*f.h)
	for i := range f.raw {
		f.raw[i] = byte(rng.IntN(256))
	}
	good := f.bytes(rng)
	check := func(t *testing.T, data []byte) {
		t.Helper()
		_, werr := png.Decode(bytes.NewReader(data))
		_, _, err := decodeAll(data)
		if verdict(err) != verdict(werr) {
			t.Errorf("pngdec: %v (%s); image/png: %v (%s)", err, verdict(err), werr, verdict(werr))
		}
	}
	t.Run("whole", func(t *testing.T) { check(t, good) })
	for n := 8; n < len(good); n += 13 {
		t.Run(fmt.Sprintf("cut%d", n), func(t *testing.T) { check(t, good[:n]) })
	}
	for i := 8; i < len(good); i += 7 {
		t.Run(fmt.Sprintf("flip%d", i), func(t *testing.T) {
			d := bytes.Clone(good)
			d[i] ^= 0x20
			check(t, d)
		})
	}
}

// FuzzDecoder checks that the decoder never panics, reads no more than
// it is given, and agrees with image/png on whether a file is sound and
// on its pixels.
func FuzzDecoder(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, k := range [][2]int{{0, 1}, {0, 16}, {2, 8}, {3, 4}, {4, 16}, {6, 16}} {
		fl := file{w: 5, h: 4, depth: k[1], ct: k[0], split: 9}
		fl.raw = make([]byte, fl.rowBytes()*fl.h)
		for i := range fl.raw {
			fl.raw[i] = byte(rng.IntN(256))
		}
		if k[0] == 3 {
			fl.plte = make([]byte, 3*16)
		}
		f.Add(fl.bytes(rng))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil || int64(cfg.Width)*int64(cfg.Height) > 1<<20 {
			return
		}
		if n := streamAlloc(data, cfg.Width); n > 2*8*int64(cfg.Width)+1<<20 {
			t.Fatalf("reading the rows of a %dx%d image allocated %d bytes", cfg.Width, cfg.Height, n)
		}
		got, ch, err := decodeAll(data)
		if errors.Is(err, ErrInterlaced) {
			return
		}
		want, werr := png.Decode(bytes.NewReader(data))
		if verdict(err) != verdict(werr) {
			t.Fatalf("pngdec: %v; image/png: %v", err, werr)
		}
		if err == nil {
			wpix, wch := reference(want)
			if ch != wch || !bytes.Equal(got, wpix) {
				t.Fatalf("pixels differ from image/png's")
			}
		}
	})
}

// TestPngSuite decodes the PngSuite files of the shared test images (good
// ones of several colour types and depths, and deliberately broken ones)
// and compares verdicts and pixels with image/png's.
func TestPngSuite(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "testdata", "pngsuite")
	files, err := filepath.Glob(filepath.Join(dir, "*.png"))
	if err != nil || len(files) == 0 {
		t.Skipf("shared test data not found in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, werr := png.Decode(bytes.NewReader(data))
			got, ch, err := decodeAll(data)
			if errors.Is(err, ErrInterlaced) {
				t.Skip("interlaced: left to image/png")
			}
			if verdict(err) != verdict(werr) {
				t.Fatalf("pngdec: %v (%s); image/png: %v (%s)", err, verdict(err), werr, verdict(werr))
			}
			if err != nil {
				return
			}
			wpix, wch := reference(want)
			if ch != wch || !bytes.Equal(got, wpix) {
				t.Fatalf("pixels differ from image/png's")
			}
		})
	}
}

// streamAlloc returns the bytes allocated while every row of data is read
// into one reused buffer: the decoder's own memory, which must not grow
// with the image's height.
func streamAlloc(data []byte, w int) int64 {
	row := make([]byte, 4*w)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if d, err := NewDecoder(data); err == nil {
		for d.ReadRow(row) == nil {
		}
	}
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

func TestStreamingMemoryIsBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	f := file{w: 300, h: 2000, depth: 16, ct: 6}
	f.raw = make([]byte, f.rowBytes()*f.h)
	for i := range f.raw {
		f.raw[i] = byte(i / 7919)
	}
	data := f.bytes(rng)
	// The stored pixels take 4.8 MB; the decoder needs two rows and
	// zlib's window.
	if n := streamAlloc(data, f.w); n > 2*int64(f.rowBytes())+256<<10 {
		t.Errorf("reading the rows allocated %d bytes, want at most two rows and 256 KiB", n)
	}
}
