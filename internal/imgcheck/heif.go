package imgcheck

import "encoding/binary"

// Codec is the coding of a HEIF file's images.
type Codec int

// The codecs ReadHEIF tells apart.
const (
	// UnknownCodec: neither HEVC nor AV1 (JPEG or uncompressed items,
	// or both codecs in one file).
	UnknownCodec Codec = iota
	// HEVC: HEIC, the images of phones and cameras (hvcC properties).
	HEVC
	// AV1: AVIF (av1C properties).
	AV1
)

// Transform is one of the HEIF transformative properties of the primary
// image, which a reader applies in the order the file associates them.
type Transform struct {
	// Rotate is irot's angle in quarter turns anti-clockwise, 0 to 3.
	Rotate int
	// Mirror is imir's axis plus one: 0 for no mirror (an irot), 1 for
	// axis 0 (the top and bottom are exchanged), 2 for axis 1 (the left and
	// right are exchanged), as ISO/IEC 23008-12:2022 words it.
	Mirror int
}

// HEIFInfo is what ReadHEIF reads of a file's structure.
type HEIFInfo struct {
	// Width and Height are the primary image's spatial extent (ispe) as
	// coded, before its transforms.
	Width, Height int
	// Codec is the coding of the images.
	Codec Codec
	// Sequence is true for an image sequence (a moov box: .avifs, .heics).
	Sequence bool
	// Transforms are the primary image's irot and imir, in order.
	Transforms []Transform
	// HighBitDepth is true when the primary image's av1C declares more
	// than 8 bits a sample (10 or 12).
	HighBitDepth bool
}

// Orientation returns the EXIF orientation (1 to 8) equivalent to the
// transforms applied in order, so that an EXIF-aware renderer turns the
// coded image upright.
func (i HEIFInfo) Orientation() int {
	// A transform is the matrix m that takes a stored pixel's offset from
	// the centre (x right, y down) to its upright offset; irot turns
	// anti-clockwise on the screen, imir exchanges top and bottom (axis 0)
	// or left and right (axis 1).
	m := [4]int{1, 0, 0, 1}
	mul := func(a, b [4]int) [4]int {
		return [4]int{a[0]*b[0] + a[1]*b[2], a[0]*b[1] + a[1]*b[3], a[2]*b[0] + a[3]*b[2], a[2]*b[1] + a[3]*b[3]}
	}
	for _, t := range i.Transforms {
		switch {
		case t.Mirror == 1:
			m = mul([4]int{1, 0, 0, -1}, m)
		case t.Mirror == 2:
			m = mul([4]int{-1, 0, 0, 1}, m)
		default:
			for range t.Rotate {
				m = mul([4]int{0, 1, -1, 0}, m)
			}
		}
	}
	// The eight EXIF orientations as the same matrices.
	for o, e := range [...][4]int{
		1: {1, 0, 0, 1}, 2: {-1, 0, 0, 1}, 3: {-1, 0, 0, -1}, 4: {1, 0, 0, -1},
		5: {0, 1, 1, 0}, 6: {0, -1, 1, 0}, 7: {0, -1, -1, 0}, 8: {0, 1, -1, 0},
	} {
		if o > 0 && e == m {
			return o
		}
	}
	return 1 // unreachable: the group has eight elements
}

// Upright returns the dimensions after the transforms.
func (i HEIFInfo) Upright() (w, h int) {
	w, h = i.Width, i.Height
	for _, t := range i.Transforms {
		if t.Rotate%2 == 1 {
			w, h = h, w
		}
	}
	return w, h
}

// ScanHEIF is ReadHEIF for callers that need only the verdict.
func ScanHEIF(data []byte, lim Limits) error {
	_, err := ReadHEIF(data, lim)
	return err
}

// ReadHEIF checks the box structure of an ISOBMFF image file (HEIC, HEIF,
// AVIF) before any decoder sees it, and reads the primary image's size,
// codec and transforms. It returns an *Error of kind
//   - Corrupt for a box with an invalid type or size, a file that does not
//     start with ftyp, one with neither a meta box (still images) nor a
//     moov box (sequences), or a still whose primary item has no ispe;
//   - Truncated for a top-level box that extends past the end of the data;
//   - TooLarge for an image spatial extent (ispe) beyond the size limits.
//     Every ispe is checked, not only the primary item's: a thumbnail or
//     tile that is huge is as much of a bomb.
//
// The walk reads the top level, meta, pitm, iprp, ipco and ipma only, so
// its depth is fixed, its work linear in the data and its memory bounded
// by the number of properties.
func ReadHEIF(data []byte, lim Limits) (HEIFInfo, error) {
	var (
		info  HEIFInfo
		meta  []byte
		first = true
	)
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
			info.Sequence = true
		}
		return nil
	})
	switch {
	case err != nil:
		return info, err
	case first:
		return info, fail(Corrupt, "the file has no boxes")
	case meta == nil && info.Sequence:
		return info, nil
	case meta == nil:
		return info, fail(Corrupt, "the file has no meta box")
	case len(meta) < 4:
		return info, fail(Corrupt, "the meta box is too short")
	}
	var (
		props   []heifProp // ipco's children, in order (ipma counts from 1)
		primary = -1       // pitm's item ID
		assoc   []int      // the primary item's property indexes
		ipma    [][]byte
	)
	hevc, av1 := false, false
	// meta is a full box: its children follow 4 bytes of version and flags.
	err = eachBox(meta[4:], false, func(typ string, body []byte) error {
		switch typ {
		case "pitm":
			if len(body) < 6 || (body[0] != 0 && len(body) < 8) {
				return fail(Corrupt, "the pitm box is too short")
			}
			if body[0] == 0 {
				primary = int(binary.BigEndian.Uint16(body[4:]))
			} else {
				primary = int(binary.BigEndian.Uint32(body[4:]))
			}
		case "iprp":
			return eachBox(body, false, func(typ string, body []byte) error {
				switch typ {
				case "ipco":
					if props != nil {
						return nil
					}
					props = []heifProp{}
					return eachBox(body, false, func(typ string, body []byte) error {
						switch typ {
						case "ispe":
							if len(body) < 12 { // version and flags, width, height
								return fail(Corrupt, "an ispe box is too short")
							}
							w := uint64(binary.BigEndian.Uint32(body[4:]))
							h := uint64(binary.BigEndian.Uint32(body[8:]))
							if lim.tooBig(w, h) {
								return fail(TooLarge, "the file declares a %dx%d image, beyond the size limits (a decompression bomb)", w, h)
							}
						case "hvcC":
							hevc = true
						case "av1C":
							av1 = true
						}
						props = append(props, heifProp{typ, body})
						return nil
					})
				case "ipma":
					ipma = append(ipma, body)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	switch {
	case hevc && !av1:
		info.Codec = HEVC
	case av1 && !hevc:
		info.Codec = AV1
	}
	if primary < 0 {
		if info.Sequence {
			return info, nil
		}
		return info, fail(Corrupt, "the file has no primary item (pitm)")
	}
	for _, b := range ipma {
		if assoc, err = associations(b, primary); err != nil || assoc != nil {
			break
		}
	}
	if err != nil {
		return info, err
	}
	found := false
	for _, i := range assoc {
		if i < 1 || i > len(props) {
			return info, fail(Corrupt, "an item property association points past the properties")
		}
		p := props[i-1]
		switch p.typ {
		case "ispe":
			if !found {
				found = true
				info.Width = int(binary.BigEndian.Uint32(p.body[4:]))
				info.Height = int(binary.BigEndian.Uint32(p.body[8:]))
			}
		case "irot":
			if len(p.body) < 1 {
				return info, fail(Corrupt, "an irot box is too short")
			}
			info.Transforms = append(info.Transforms, Transform{Rotate: int(p.body[0] & 3)})
		case "imir":
			if len(p.body) < 1 {
				return info, fail(Corrupt, "an imir box is too short")
			}
			info.Transforms = append(info.Transforms, Transform{Mirror: int(p.body[0]&1) + 1})
		case "av1C":
			// marker and version, profile and level, then the tier and
			// the high_bitdepth bit (0x40).
			info.HighBitDepth = len(p.body) >= 3 && p.body[2]&0x40 != 0
		}
	}
	if !found && !info.Sequence {
		return info, fail(Corrupt, "the primary image has no spatial extent (ispe)")
	}
	return info, nil
}

type heifProp struct {
	typ  string
	body []byte
}

// associations returns the property indexes (1-based) that an ipma box
// body associates with item, or nil when it lists no such item.
func associations(b []byte, item int) ([]int, error) {
	short := fail(Corrupt, "the ipma box is too short")
	if len(b) < 8 {
		return nil, short
	}
	version, wide := b[0], b[3]&1 != 0
	n := binary.BigEndian.Uint32(b[4:])
	p := 8
	for range n {
		var id int
		if version < 1 {
			if p+2 > len(b) {
				return nil, short
			}
			id = int(binary.BigEndian.Uint16(b[p:]))
			p += 2
		} else {
			if p+4 > len(b) {
				return nil, short
			}
			id = int(binary.BigEndian.Uint32(b[p:]))
			p += 4
		}
		if p+1 > len(b) {
			return nil, short
		}
		count := int(b[p])
		p++
		size := 1
		if wide {
			size = 2
		}
		if p+count*size > len(b) {
			return nil, short
		}
		if id != item {
			p += count * size
			continue
		}
		out := make([]int, 0, count)
		for range count {
			if wide {
				out = append(out, int(binary.BigEndian.Uint16(b[p:])&0x7fff))
			} else {
				out = append(out, int(b[p]&0x7f))
			}
			p += size
		}
		return out, nil
	}
	return nil, nil
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
