package imgcheck

import (
	"bytes"
	"encoding/binary"
)

// JPEGOrientation returns the EXIF orientation (1 to 8) of a JPEG file: the
// first APP1 segment holding "Exif\0\0" before the first scan, read as
// EXIFOrientation does. It returns 1 when there is none or the markers are
// malformed; the decoder, not this function, judges the file.
func JPEGOrientation(data []byte) int {
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			// Stray bytes between segments: decoders skip to the next
			// marker, and so do we.
			p++
			continue
		}
		m := data[p+1]
		switch {
		case m == 0xFF: // fill byte
			p++
			continue
		case m == 0x00 || m == 0x01 || m == 0xD8 || 0xD0 <= m && m <= 0xD7: // no length
			p += 2
			continue
		case m == 0xD9 || m == 0xDA: // EOI, SOS: the metadata is over
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		end := p + 2 + n
		if n < 2 || end > len(data) {
			return 1
		}
		if seg := data[p+4 : end]; m == 0xE1 && bytes.HasPrefix(seg, exifHeader) {
			return EXIFOrientation(seg)
		}
		p = end
	}
	return 1
}
