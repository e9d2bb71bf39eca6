package photo

import (
	"image"
	"slices"

	jpegdec "github.com/profilephoto/photo/internal/jpeg"
)

// decodeScale picks the scale 1/s at which a JPEG upload is decoded
// (DCT-domain scaling, internal/jpeg): s is the largest of 8, 4, 2 and 1
// such that
//
//   - every rendition keeps its size: the square it is cut from (the crop
//     box, else the image's short side for Cover or its long side for
//     Letterbox) still has at least min(largest size, square) pixels a
//     side at 1/s; and
//   - the normalised original loses at most an eighth of its side: the
//     image's long side at 1/s is at least 7/8 of min(long side,
//     OriginalMaxSide).
//
// So a 4000x3000 photo with a 3000 px crop and the default sizes (largest
// 1024) and original bound (2048) decodes at 1/2: renditions from a
// 1500 px square, and an original of 2000x1500 instead of 2048x1536.
// Other formats, and crops the image does not hold, decode at full size.
func decodeScale(src *source, crop *Crop, fit Fit, sizes []int, originalMaxSide int) int {
	w, h := src.width, src.height
	sq := max(w, h)
	switch {
	case crop != nil:
		if crop.check(w, h) != nil {
			return 1
		}
		sq = crop.Size
	case fit == Cover:
		sq = min(w, h)
	}
	need := 1
	if len(sizes) > 0 {
		need = min(slices.Max(sizes), sq)
	}
	long := max(w, h)
	keep := long
	if originalMaxSide > 0 {
		keep = min(long, originalMaxSide)
	}
	for _, s := range [...]int{8, 4, 2} {
		if sq/s >= need && 8*(long/s) >= 7*keep {
			return s
		}
	}
	return 1
}

// scaleCrop maps a crop box of the upright full-size image onto its 1/s
// decode: the side rounds down, the corner to the nearest sample, and the
// box stays inside the scaled image (ceil(w/s) x ceil(h/s)).
func scaleCrop(r image.Rectangle, s, w, h int) image.Rectangle {
	if s <= 1 {
		return r
	}
	sw, sh := jpegdec.ScaledSize(w, h, s)
	side := max(r.Dx()/s, 1)
	x := min((r.Min.X+s/2)/s, sw-side)
	y := min((r.Min.Y+s/2)/s, sh-side)
	return image.Rect(x, y, x+side, y+side)
}
