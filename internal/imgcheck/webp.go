package imgcheck

import "encoding/binary"

// WebPInfo is what ScanWebP learns of a WebP file.
type WebPInfo struct {
	// Animated says the file is an animation (the VP8X animation flag, or
	// ANIM or ANMF chunks), which golang.org/x/image/webp cannot decode.
	Animated bool
	// Orientation is read from the first EXIF chunk, 1 when there is none.
	Orientation int
}

// ScanWebP walks the RIFF chunks of a WebP file. It never fails: a
// malformed file yields what was learnt before the damage, and the decoder
// judges it.
func ScanWebP(data []byte) WebPInfo {
	info := WebPInfo{Orientation: 1}
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return info
	}
	sawEXIF := false
	for p := 12; p+8 <= len(data); {
		typ := string(data[p : p+4])
		n := uint64(binary.LittleEndian.Uint32(data[p+4:]))
		start := uint64(p) + 8
		end := min(start+n, uint64(len(data)))
		body := data[start:end]
		switch typ {
		case "VP8X":
			if len(body) > 0 && body[0]&0x02 != 0 {
				info.Animated = true
			}
		case "ANIM", "ANMF":
			info.Animated = true
		case "EXIF":
			if !sawEXIF {
				sawEXIF = true
				info.Orientation = EXIFOrientation(body)
			}
		}
		next := start + n + n&1 // chunks are padded to an even length
		if next > uint64(len(data)) {
			break
		}
		p = int(next)
	}
	return info
}
