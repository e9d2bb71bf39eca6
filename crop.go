package photo

import (
	"fmt"
	"image"
)

// Crop is a square crop box in the coordinates of the upright image (after
// its EXIF orientation is applied), as Chatter's cropX, cropY and cropSize
// and Slack's crop_x, crop_y and crop_w give it: the top-left corner is
// (X, Y) and each side is Size pixels long.
type Crop struct {
	X, Y int
	Size int
}

// rect returns the box as an image.Rectangle.
func (c Crop) rect() image.Rectangle {
	return image.Rect(c.X, c.Y, c.X+c.Size, c.Y+c.Size)
}

// check reports a *Error with CodeBadCrop unless the box is non-empty and
// lies wholly inside an upright image of w by h pixels.
func (c Crop) check(w, h int) error {
	switch {
	case c.Size <= 0:
		return inputError(CodeBadCrop, nil, "the crop size must be positive, not %d", c.Size)
	case c.X < 0 || c.Y < 0:
		return inputError(CodeBadCrop, nil, "the crop box starts outside the image (%d,%d)", c.X, c.Y)
	case c.X > w-c.Size || c.Y > h-c.Size:
		return inputError(CodeBadCrop, nil,
			"the crop box %dx%d at (%d,%d) does not fit in the %dx%d image", c.Size, c.Size, c.X, c.Y, w, h)
	}
	return nil
}

// Fit says how a non-square image becomes square when no crop box is
// given. The zero Fit means the default: Options.Fit for SetOptions.Fit,
// Letterbox for Options.Fit. Any value other than zero, Letterbox and
// Cover is refused with CodeBadArgument.
type Fit int

const (
	// Letterbox keeps the whole image and pads the short side with the
	// background colour (Slack's behaviour). It is the default.
	Letterbox Fit = 1
	// Cover cuts the largest centred square out of the image.
	Cover Fit = 2
)

// valid reports whether f is Letterbox or Cover.
func (f Fit) valid() bool { return f == Letterbox || f == Cover }

// fitHash is the number that version IDs hash for f: the numbers that
// Letterbox and Cover had before the zero Fit meant the default, so that
// version IDs, and every URL cached by them, stay the same.
func (f Fit) fitHash() int64 { return int64(f) - 1 }

// fitOf reads a stored fit: "cover", or Letterbox for anything else.
func fitOf(s string) Fit {
	if s == Cover.String() {
		return Cover
	}
	return Letterbox
}

// String returns "letterbox" or "cover", as records store them.
func (f Fit) String() string {
	switch f {
	case Letterbox:
		return "letterbox"
	case Cover:
		return "cover"
	}
	return fmt.Sprintf("Fit(%d)", int(f))
}
