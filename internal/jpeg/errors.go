package jpeg

import (
	"errors"
	"io"
)

// Sentinels for errors.Is. Every error Decode and DecodeInfo return wraps
// exactly one of them, so a caller can class a refusal without reading its
// message.
var (
	// ErrCorrupt: the data breaks the JPEG syntax (a bad marker, Huffman
	// code or table, a marker inside entropy-coded data, ...).
	ErrCorrupt = errors.New("jpeg: corrupt data")
	// ErrTruncated: the data ends before the image does. An error wrapping
	// ErrTruncated also satisfies errors.Is(err, io.ErrUnexpectedEOF).
	ErrTruncated = errors.New("jpeg: data ends early")
	// ErrUnsupported: valid JPEG using a feature this decoder does not
	// implement (12-bit samples, arithmetic coding, lossless or
	// hierarchical modes, unusual sampling factors, ...).
	ErrUnsupported = errors.New("jpeg: unsupported feature")
	// ErrTooLarge: the frame has more pixels than Options.MaxPixels allows.
	ErrTooLarge = errors.New("jpeg: image too large")
)

// Error is the error type of this package: Kind is one of the sentinels
// above and Msg says what was wrong.
type Error struct {
	Kind error
	Msg  string
}

// Error returns the message with the kind's text in front.
func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Msg }

// Unwrap returns the sentinel, and io.ErrUnexpectedEOF for a truncation.
func (e *Error) Unwrap() []error {
	if e.Kind == ErrTruncated {
		return []error{e.Kind, io.ErrUnexpectedEOF}
	}
	return []error{e.Kind}
}

func corrupt(msg string) error     { return &Error{Kind: ErrCorrupt, Msg: msg} }
func truncated(msg string) error   { return &Error{Kind: ErrTruncated, Msg: msg} }
func unsupported(msg string) error { return &Error{Kind: ErrUnsupported, Msg: msg} }
