package photo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"strings"
	"testing"
)

// The kinds and codes are constants: this compiles only while they are,
// so no caller can reassign or mutate them.
const (
	_ Code = ErrInvalidInput
	_ Code = ErrNotFound
	_ Code = ErrConflict
	_ Code = ErrBusy
	_ Code = ErrQuotaExceeded
)

// allCodes are every Code constant of errors.go.
var allCodes = []Code{
	ErrInvalidInput, ErrNotFound, ErrConflict, ErrBusy, ErrQuotaExceeded,
	CodeMissing, CodeFileTooLarge, CodeNotImage, CodeUnsupportedFormat, CodeCorrupt,
	CodeTruncated, CodeImageTooLarge, CodeTooSmall, CodeTooManyFrames, CodeBadCrop,
	CodeBadUserID, CodeBadArgument, CodeBadRange, CodeURLNotAllowed, CodeDownloadFailed, CodeRefused,
	CodeUploadConflict, CodeUploadIncomplete, CodeDownloadInterrupted,
}

// TestCodes checks that every code is snake_case, has a default message
// without the package prefix, and belongs to a kind that an *Error of it
// matches, while no other kind does.
func TestCodes(t *testing.T) {
	if len(allCodes) != len(codeInfo) {
		t.Fatalf("%d codes, %d in codeInfo", len(allCodes), len(codeInfo))
	}
	kinds := []Code{ErrInvalidInput, ErrNotFound, ErrConflict, ErrBusy, ErrQuotaExceeded}
	for _, c := range allCodes {
		if strings.Trim(string(c), "abcdefghijklmnopqrstuvwxyz_") != "" {
			t.Errorf("%q is not snake_case", c)
		}
		msg := c.message()
		if msg == string(c) || msg == "" || strings.Contains(msg, "photo:") {
			t.Errorf("%s: default message %q", c, msg)
		}
		if c.Error() != "photo: "+msg {
			t.Errorf("%s.Error() = %q", c, c.Error())
		}
		err := fmt.Errorf("wrapped: %w", &Error{Code: c})
		if !errors.Is(err, c) || CodeOf(err) != c {
			t.Errorf("%s: errors.Is or CodeOf fails through a wrap", c)
		}
		for _, k := range kinds {
			if errors.Is(err, k) != (k == c.kind()) {
				t.Errorf("%s: errors.Is(err, %s) = %v", c, k, !(k == c.kind()))
			}
		}
	}
}

// TestErrorText checks that the message is safe to show, defaults per
// code, and that Error adds the cause for logs without doubling anything.
func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err       *Error
		safe, all string
	}{
		{&Error{Code: CodeCorrupt}, "the image data is corrupt", "photo: the image data is corrupt"},
		{&Error{Code: CodeCorrupt, Message: "bad chunk", Err: errors.New("crc")}, "bad chunk", "photo: bad chunk: crc"},
		{quotaError("uploads", 10), "quota exceeded: at most 10 open uploads per user", "photo: quota exceeded: at most 10 open uploads per user"},
	} {
		if got := tc.err.SafeMessage(); got != tc.safe {
			t.Errorf("SafeMessage() = %q, want %q", got, tc.safe)
		}
		if got := tc.err.Error(); got != tc.all {
			t.Errorf("Error() = %q, want %q", got, tc.all)
		}
	}
	if err := error(quotaError("files", 20)); !errors.Is(err, ErrQuotaExceeded) || errors.Is(err, ErrInvalidInput) ||
		err.(*Error).SafeMessage() != "quota exceeded: at most 20 files per user" {
		t.Errorf("a quota refusal: %v", err)
	}
	if CodeOf(errors.New("disk on fire")) != "" || CodeOf(nil) != "" {
		t.Error("CodeOf of an error without a code is not empty")
	}
	// A refusal is never wrapped with a second prefix.
	if err := wrapErr(&Error{Code: ErrConflict}, "set %q", "alice"); err.Error() != "photo: revision conflict" {
		t.Errorf("wrapErr of a refusal: %q", err)
	}
}

// TestBadInputIsError checks every kind of bad input the issue lists: an
// *Error with a Code, matching ErrInvalidInput, whose message names no
// internal package.
func TestBadInputIsError(t *testing.T) {
	ctx := context.Background()
	m, err := New(newBucket(t), &Options{Sizes: []int{16}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 40, 30)), nil); err != nil {
		t.Fatal(err)
	}
	img := buf.Bytes()
	set := func(user string, opts *SetOptions) error {
		_, err := m.Set(ctx, user, bytes.NewReader(img), opts)
		return err
	}
	tests := []struct {
		name string
		err  error
		code Code
	}{
		{"empty user ID", set("", nil), CodeBadUserID},
		{"oversized user ID", set(strings.Repeat("u", 257), nil), CodeBadUserID},
		{"user ID not UTF-8", set("a\xff", nil), CodeBadUserID},
		{"bad crop", set("u", &SetOptions{Crop: &Crop{X: 20, Y: 0, Size: 30}}), CodeBadCrop},
		{"bad fit", set("u", &SetOptions{Fit: Fit(7)}), CodeBadArgument},
		{"not an image", func() error { _, err := m.Set(ctx, "u", strings.NewReader("hello"), nil); return err }(), CodeNotImage},
		{"nil reader", func() error { _, err := m.Set(ctx, "u", nil, nil); return err }(), CodeMissing},
		{"bad file name", func() error { _, err := m.CreateFile(ctx, "u", "a\x00b", bytes.NewReader(img)); return err }(), CodeBadArgument},
		{"long file name", func() error {
			_, err := m.CreateFile(ctx, "u", strings.Repeat("n", 256), bytes.NewReader(img))
			return err
		}(), CodeBadArgument},
		{"bad upload name", func() error {
			_, err := m.CreateUpload(ctx, "u", "image/jpeg", 10, &UploadOptions{Name: "\x7f"})
			return err
		}(), CodeBadArgument},
		{"bad user ID of a file", func() error { _, err := m.CreateFile(ctx, "", "a", bytes.NewReader(img)); return err }(), CodeBadUserID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e *Error
			if !errors.As(tc.err, &e) {
				t.Fatalf("got %v (%T), want an *Error", tc.err, tc.err)
			}
			if e.Code != tc.code || !errors.Is(tc.err, ErrInvalidInput) || !errors.Is(tc.err, tc.code) {
				t.Errorf("got %v with code %s, want %s matching ErrInvalidInput", tc.err, e.Code, tc.code)
			}
			msg := tc.err.Error()
			if strings.Count(msg, "photo:") != 1 || !strings.HasPrefix(msg, "photo: ") {
				t.Errorf("message %q does not start with one prefix", msg)
			}
			for _, pkg := range []string{"imaging", "render", "rescale", "imgcheck", "pngdec", "storage"} {
				if strings.Contains(e.SafeMessage(), pkg) {
					t.Errorf("safe message %q names %s", e.SafeMessage(), pkg)
				}
			}
		})
	}
}
