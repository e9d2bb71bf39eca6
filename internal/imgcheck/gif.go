package imgcheck

import "encoding/binary"

// GIFInfo is what ScanGIF learns of a GIF file.
type GIFInfo struct {
	// Width and Height are the logical screen's.
	Width, Height int
	// Frames counts the image descriptors seen.
	Frames int
}

// ScanGIF walks the blocks of a GIF file (data starts with "GIF87a" or
// "GIF89a") without decoding any pixel data: extensions and image data are
// skipped by their sub-block lengths. It counts the frames and checks every
// frame's rectangle, and returns an *Error of kind
//   - TooManyFrames as soon as there are more than lim.MaxFrames frames;
//   - TooLarge for a frame beyond the size limits: its own size, or the
//     canvas its offset and size imply (a few bytes declaring gigapixels);
//   - Corrupt for a frame not inside the logical screen, which the Go
//     decoder refuses for every frame.
//
// Data that ends early, or an unknown block after the frames, ends the walk
// without an error: the decoder judges the first frame, which is the one
// used.
func ScanGIF(data []byte, lim Limits) (GIFInfo, error) {
	var info GIFInfo
	if len(data) < 13 {
		return info, nil
	}
	info.Width = int(binary.LittleEndian.Uint16(data[6:]))
	info.Height = int(binary.LittleEndian.Uint16(data[8:]))
	p := 13
	if flags := data[10]; flags&0x80 != 0 {
		p += 3 << (flags&7 + 1)
	}
	// skipBlocks skips a sequence of data sub-blocks and its terminator.
	skipBlocks := func() {
		for p < len(data) {
			n := int(data[p])
			p += 1 + n
			if n == 0 {
				return
			}
		}
	}
	for p < len(data) {
		b := data[p]
		p++
		switch b {
		case 0x21: // extension: label, then sub-blocks
			p++
			skipBlocks()
		case 0x2C: // image descriptor
			if p+9 > len(data) {
				return info, nil
			}
			left := uint64(binary.LittleEndian.Uint16(data[p:]))
			top := uint64(binary.LittleEndian.Uint16(data[p+2:]))
			w := uint64(binary.LittleEndian.Uint16(data[p+4:]))
			h := uint64(binary.LittleEndian.Uint16(data[p+6:]))
			flags := data[p+8]
			info.Frames++
			switch {
			case info.Frames > lim.MaxFrames:
				return info, fail(TooManyFrames, "the animation has more than %d frames", lim.MaxFrames)
			case lim.tooBig(w, h) || lim.tooBig(left+w, top+h):
				return info, fail(TooLarge, "frame %d declares %dx%d pixels at (%d,%d), beyond the size limits (a decompression bomb)",
					info.Frames, w, h, left, top)
			case left+w > uint64(info.Width) || top+h > uint64(info.Height):
				return info, fail(Corrupt, "frame %d lies outside the %dx%d image", info.Frames, info.Width, info.Height)
			}
			p += 9
			if flags&0x80 != 0 {
				p += 3 << (flags&7 + 1)
			}
			p++ // LZW minimum code size
			skipBlocks()
		default: // trailer (0x3B), or something the decoder will judge
			return info, nil
		}
	}
	return info, nil
}
