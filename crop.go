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
	X    int `json:"x"`
	Y    int `json:"y"`
	Size int `json:"size"`
}

// Rect returns the box as an image.Rectangle.
func (c Crop) Rect() image.Rectangle {
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

// Fit says how a non-square image becomes square when no crop box is given.
type Fit int

const (
	// Letterbox keeps the whole image and pads the short side with the
	// background colour (Slack's behaviour). It is the default.
	Letterbox Fit = iota
	// Cover cuts the largest centred square out of the image.
	Cover
)

// String returns "letterbox" or "cover".
func (f Fit) String() string {
	switch f {
	case Letterbox:
		return "letterbox"
	case Cover:
		return "cover"
	}
	return fmt.Sprintf("Fit(%d)", int(f))
}
