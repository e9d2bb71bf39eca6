package imgcheck

import "encoding/binary"

// ScanHEIF checks the box structure of an ISOBMFF image file (HEIC, HEIF,
// AVIF) that no decoder here can read, so that it can be refused for what
// is wrong with it before being refused as unsupported. It returns nil for
// a well-formed file, or an *Error of kind
//   - Corrupt for a box with an invalid type or size, a file that does not
//     start with ftyp, or one with neither a meta box (still images) nor a
//     moov box (sequences);
//   - Truncated for a top-level box that extends past the end of the data;
//   - TooLarge for an image spatial extent (ispe) beyond the size limits.
//     Every ispe is checked, not only the primary item's: a thumbnail or
//     tile that is huge is as much of a bomb.
//
// The walk reads the top level, meta, iprp and ipco only, so its depth is
// fixed, its work linear in the data and its memory constant.
func ScanHEIF(data []byte, lim Limits) error {
	var meta []byte
	first, moov := true, false
	err := eachBox(data, true, func(typ string, body []byte) error {
		if first && typ != "ftyp" {
			return fail(Corrupt, "the file does not start with an ftyp box")
		}
		first = false
		switch typ {
		case "meta":
			if meta == nil {
				meta = body
			}
		case "moov":
			moov = true
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case first:
		return fail(Corrupt, "the file has no boxes")
	case meta == nil && moov:
		return nil
	case meta == nil:
		return fail(Corrupt, "the file has no meta box")
	case len(meta) < 4:
		return fail(Corrupt, "the meta box is too short")
	}
	ispe := func(typ string, body []byte) error {
		if typ != "ispe" {
			return nil
		}
		if len(body) < 12 { // version and flags, width, height
			return fail(Corrupt, "an ispe box is too short")
		}
		w := uint64(binary.BigEndian.Uint32(body[4:]))
		h := uint64(binary.BigEndian.Uint32(body[8:]))
		if lim.tooBig(w, h) {
			return fail(TooLarge, "the file declares a %dx%d image, beyond the size limits (a decompression bomb)", w, h)
		}
		return nil
	}
	// meta is a full box: its children follow 4 bytes of version and flags.
	return eachBox(meta[4:], false, func(typ string, body []byte) error {
		if typ != "iprp" {
			return nil
		}
		return eachBox(body, false, func(typ string, body []byte) error {
			if typ != "ipco" {
				return nil
			}
			return eachBox(body, false, ispe)
		})
	})
}

// eachBox calls f with the type and payload of each box in data, in order,
// and stops at f's first error. At the top level of a file a box that runs
// past the end means the file was cut short; inside a box that is whole, it
// means the structure is inconsistent.
func eachBox(data []byte, topLevel bool, f func(typ string, body []byte) error) error {
	short := func(format string, args ...any) error {
		if topLevel {
			return fail(Truncated, format, args...)
		}
		return fail(Corrupt, format, args...)
	}
	for p := uint64(0); p < uint64(len(data)); {
		rest := uint64(len(data)) - p
		if rest < 8 {
			return short("a box header is cut short")
		}
		size := uint64(binary.BigEndian.Uint32(data[p:]))
		typ := data[p+4 : p+8]
		hdr := uint64(8)
		if !fourCC(typ) {
			return fail(Corrupt, "a box has an invalid type")
		}
		switch size {
		case 0: // extends to the end
			size = rest
		case 1: // a 64-bit size follows
			if rest < 16 {
				return short("a box header is cut short")
			}
			size = binary.BigEndian.Uint64(data[p+8:])
			hdr = 16
		}
		if size < hdr {
			return fail(Corrupt, "the %q box has an invalid size", typ)
		}
		if size > rest {
			return short("the %q box extends past the end of its container", typ)
		}
		if err := f(string(typ), data[p+hdr:p+size]); err != nil {
			return err
		}
		p += size
	}
	return nil
}

// fourCC reports whether t is a plausible box type: four printable ASCII
// characters.
func fourCC(t []byte) bool {
	for _, c := range t {
		if c < 0x20 || c > 0x7E {
			return false
		}
	}
	return len(t) == 4
}
