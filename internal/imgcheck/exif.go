package imgcheck

import (
	"bytes"
	"encoding/binary"
)

// exifHeader starts the payload of a JPEG APP1 EXIF segment, and some
// writers put it in WebP EXIF chunks too.
var exifHeader = []byte("Exif\x00\x00")

// tagOrientation is the EXIF (TIFF) tag of the Orientation field.
const tagOrientation = 0x0112

// EXIFOrientation returns the Orientation (1 to 8) recorded in IFD0 of an
// EXIF block: a TIFF header in either byte order and its first IFD,
// optionally preceded by "Exif\0\0". A block that is malformed, has no
// Orientation or an out-of-range one gives 1, the identity: bad metadata
// never fails an image whose pixels are fine.
func EXIFOrientation(b []byte) int {
	b = bytes.TrimPrefix(b, exifHeader)
	if len(b) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := uint64(bo.Uint32(b[4:8]))
	if ifd < 8 || ifd+2 > uint64(len(b)) {
		return 1
	}
	n := uint64(bo.Uint16(b[ifd:]))
	// Only IFD0 is read, once: no offsets are followed, so a block whose
	// IFDs point at each other cannot loop.
	for i := range n {
		e := ifd + 2 + 12*i
		if e+12 > uint64(len(b)) {
			return 1
		}
		if bo.Uint16(b[e:]) != tagOrientation {
			continue
		}
		if bo.Uint32(b[e+4:]) < 1 { // count
			return 1
		}
		var v uint32
		switch bo.Uint16(b[e+2:]) { // type
		case 3: // SHORT, as the standard says
			v = uint32(bo.Uint16(b[e+8:]))
		case 4: // LONG, written by a few tools
			v = bo.Uint32(b[e+8:])
		default:
			return 1
		}
		if v >= 1 && v <= 8 {
			return int(v)
		}
		return 1
	}
	return 1
}
