package imgcheck

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
)

// pngSignature starts every PNG file.
const pngSignature = "\x89PNG\r\n\x1a\n"

// PNGInfo is what ScanPNG learns of a PNG file.
type PNGInfo struct {
	// Frames is 1 for a still image, or the frame count of an APNG (the
	// larger of acTL's num_frames and the number of fcTL chunks).
	Frames int
	// Orientation is read from the first eXIf chunk, 1 when there is none.
	Orientation int
	// Truncated says the data ends before the IEND chunk does. It is
	// reported here, not as an error, so that a caller can first judge the
	// declared dimensions: a header alone that declares a huge image is a
	// decompression bomb before it is a truncated file.
	Truncated bool
}

// ScanPNG walks the chunks of a PNG file (data starts with the PNG
// signature) up to IEND without decoding pixels. It returns an *Error of
// kind
//   - Corrupt for a malformed chunk structure: a first chunk that is not a
//     13-byte IHDR, a chunk type that is not four ASCII letters, a length
//     beyond 2^31-1, an APNG frame that is empty or outside the canvas;
//   - TooLarge when an APNG frame is beyond the size limits, or when the
//     compressed ancillary chunks (zTXt, compressed iTXt, iCCP) inflate to
//     more than lim.MaxMetadataBytes in total. Go's decoder skips those
//     chunks, but any later reader of the metadata would inflate them, so a
//     bomb hidden there is refused here; inflation stops one byte past the
//     budget.
//   - TooManyFrames when acTL or the fcTL chunks count more than
//     lim.MaxFrames frames.
//
// Checksums are not verified: the decoder does that.
func ScanPNG(data []byte, lim Limits) (PNGInfo, error) {
	info := PNGInfo{Frames: 1, Orientation: 1}
	if !bytes.HasPrefix(data, []byte(pngSignature)) {
		return info, fail(Corrupt, "the PNG signature is missing")
	}
	var (
		canvasW, canvasH uint64
		fcTL             int
		sawEXIF          bool
		inflated         int64
		z                io.ReadCloser
	)
	defer func() {
		if z != nil {
			z.Close()
		}
	}()
	inflate := func(compressed []byte) error {
		br := bytes.NewReader(compressed)
		var err error
		if z == nil {
			z, err = zlib.NewReader(br)
		} else {
			err = z.(zlib.Resetter).Reset(br, nil)
		}
		if err != nil {
			// A stream the decoder would never read; Go skips it too.
			return nil
		}
		budget := lim.MaxMetadataBytes - inflated
		n, _ := io.Copy(io.Discard, io.LimitReader(z, budget+1))
		inflated += n
		if inflated > lim.MaxMetadataBytes {
			return fail(TooLarge, "the compressed PNG metadata inflates to more than %d bytes (a decompression bomb)", lim.MaxMetadataBytes)
		}
		return nil
	}

	p := len(pngSignature)
	for first := true; ; first = false {
		if p+8 > len(data) {
			info.Truncated = true
			break
		}
		length := uint64(binary.BigEndian.Uint32(data[p:]))
		typ := data[p+4 : p+8]
		if length > 1<<31-1 {
			return info, fail(Corrupt, "a PNG chunk declares a length over 2^31-1")
		}
		if !chunkType(typ) {
			return info, fail(Corrupt, "a PNG chunk has an invalid type")
		}
		if first && (string(typ) != "IHDR" || length != 13) {
			return info, fail(Corrupt, "the PNG file does not start with a valid IHDR chunk")
		}
		end := uint64(p) + 8 + length + 4 // the CRC follows the body
		if end > uint64(len(data)) {
			info.Truncated = true
			break
		}
		body := data[p+8 : p+8+int(length)]
		p = int(end)

		switch string(typ) {
		case "IHDR":
			if !first {
				return info, fail(Corrupt, "the PNG file has more than one IHDR chunk")
			}
			canvasW = uint64(binary.BigEndian.Uint32(body))
			canvasH = uint64(binary.BigEndian.Uint32(body[4:]))
		case "IEND":
			info.Frames = max(info.Frames, fcTL)
			return info, nil
		case "acTL":
			if len(body) >= 8 {
				n := binary.BigEndian.Uint32(body)
				if uint64(n) > uint64(lim.MaxFrames) {
					return info, fail(TooManyFrames, "the animation has %d frames; at most %d are allowed", n, lim.MaxFrames)
				}
				info.Frames = max(info.Frames, int(n))
			}
		case "fcTL":
			if len(body) < 26 {
				return info, fail(Corrupt, "an APNG frame control chunk is too short")
			}
			fcTL++
			if fcTL > lim.MaxFrames {
				return info, fail(TooManyFrames, "the animation has more than %d frames", lim.MaxFrames)
			}
			w := uint64(binary.BigEndian.Uint32(body[4:]))
			h := uint64(binary.BigEndian.Uint32(body[8:]))
			x := uint64(binary.BigEndian.Uint32(body[12:]))
			y := uint64(binary.BigEndian.Uint32(body[16:]))
			switch {
			case lim.tooBig(w, h) || lim.tooBig(x+w, y+h):
				return info, fail(TooLarge, "an animation frame of %dx%d at (%d,%d) is beyond the size limits", w, h, x, y)
			case w == 0 || h == 0:
				return info, fail(Corrupt, "an animation frame is empty")
			case x+w > canvasW || y+h > canvasH:
				return info, fail(Corrupt, "an animation frame lies outside the image")
			}
		case "eXIf":
			if !sawEXIF {
				sawEXIF = true
				info.Orientation = EXIFOrientation(body)
			}
		case "zTXt", "iCCP":
			// keyword or profile name, NUL, compression method, stream
			if i := bytes.IndexByte(body, 0); i >= 0 && i+2 <= len(body) {
				if err := inflate(body[i+2:]); err != nil {
					return info, err
				}
			}
		case "iTXt":
			// keyword NUL flag method language NUL translated-keyword NUL text
			i := bytes.IndexByte(body, 0)
			if i < 0 || i+3 > len(body) || body[i+1] != 1 {
				break
			}
			rest := body[i+3:]
			j := bytes.IndexByte(rest, 0)
			if j < 0 {
				break
			}
			rest = rest[j+1:]
			if k := bytes.IndexByte(rest, 0); k >= 0 {
				if err := inflate(rest[k+1:]); err != nil {
					return info, err
				}
			}
		}
	}
	info.Frames = max(info.Frames, fcTL)
	return info, nil
}

// chunkType reports whether t is a valid PNG chunk type: four ASCII
// letters.
func chunkType(t []byte) bool {
	for _, c := range t {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return len(t) == 4
}
