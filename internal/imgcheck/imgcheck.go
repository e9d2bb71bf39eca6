// Package imgcheck reads just enough of an image file's structure to judge
// it before any pixels are decoded: the format from the leading bytes, the
// EXIF orientation, the frame count and frame extents of animations, the
// compressed ancillary chunks of PNG files, and the box structure of HEIF
// and AVIF files (which no decoder here can read).
//
// Every function takes bytes already in memory, reads only within them,
// never panics, and does work bounded by the input's length and the limits
// it is given: these parsers run on untrusted uploads before anything else
// does.
package imgcheck

import (
	"fmt"
	"math/bits"
)

// Kind says what is wrong with a file.
type Kind int

// The kinds of problem an *Error reports.
const (
	// Corrupt: the structure is malformed.
	Corrupt Kind = iota + 1
	// Truncated: the data ends before the structure does.
	Truncated
	// TooLarge: declared sizes, or what compressed metadata inflates to,
	// beyond the limits (decompression bombs).
	TooLarge
	// TooManyFrames: more animation frames than Limits.MaxFrames.
	TooManyFrames
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Corrupt:
		return "corrupt"
	case Truncated:
		return "truncated"
	case TooLarge:
		return "too large"
	case TooManyFrames:
		return "too many frames"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a problem found in a file. Msg is safe to show to the person who
// sent the file.
type Error struct {
	Kind Kind
	Msg  string
}

// Error implements error.
func (e *Error) Error() string { return "imgcheck: " + e.Msg }

func fail(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Limits bound what the scanners accept. Every field must be positive.
type Limits struct {
	// MaxSide is the longest side, in pixels, of an image or frame.
	MaxSide int
	// MaxPixels is the most pixels of an image or of a frame's extent.
	MaxPixels int64
	// MaxFrames is the most animation frames.
	MaxFrames int
	// MaxMetadataBytes is what compressed PNG chunks may inflate to, in
	// total.
	MaxMetadataBytes int64
}

// tooBig reports whether a w by h area exceeds the limits.
func (l Limits) tooBig(w, h uint64) bool {
	hi, lo := bits.Mul64(w, h)
	return w > uint64(l.MaxSide) || h > uint64(l.MaxSide) || hi != 0 || lo > uint64(l.MaxPixels)
}
