// Package storage is the portable blob store of the photo library: a
// Bucket stores opaque byte objects under string keys, over a driver that
// does the storing.
//
//	b := storage.NewBucket(memstore.New())
//	a, err := b.Put(ctx, "users/alice/record.json", r, &storage.PutOptions{IfAbsent: true})
//	for a, err := range b.List(ctx, "users/") { ... }
//
// The design is gocloud.dev/blob's: Bucket is the portable type callers
// use, and it owns what every backend would otherwise repeat (argument
// checks, contexts, paging, error wrapping); a backend implements the small
// driver.Bucket interface and knows nothing of photos or of the checks.
// The backends are memstore (in-process, for tests and examples),
// aferostore (any afero.Fs, the local disk included) and s3store (any S3
// compatible service). The storagetest package holds the conformance suite
// every driver passes, through a Bucket: a backend's test file is
// storagetest.Run and the function that makes an empty driver.
//
// # Keys
//
// A key is what ValidateKey accepts: up to MaxKeyLen bytes of UTF-8 in
// "/"-separated segments, none empty, "." or "..". A driver maps every such
// key to its own namespace and never outside it.
//
// # Errors
//
// Bucket's errors name the operation and the key (storage: open "a/b":
// object not found) and wrap, for errors.Is: ErrNotFound for a missing
// object, ErrPrecondition for a conditional Put that lost, ErrInvalidKey
// for a key that ValidateKey refuses, ErrInvalidOptions for contradicting
// PutOptions, the context's error when ctx ended, and the io.Reader's error
// when Put's input failed. They never reveal a backend's file paths or
// credentials.
package storage

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/profilephoto/photo/storage/driver"
)

// ErrNotFound reports that no object exists under a key: Open and Stat of
// a missing key wrap it. It is driver.ErrNotFound, so errors.Is matches
// either name.
var ErrNotFound = driver.ErrNotFound

// ErrPrecondition reports that a conditional Put lost (see PutOptions), or
// that a lazy Reader's object changed since Open. It is
// driver.ErrPrecondition, so errors.Is matches either name.
var ErrPrecondition = driver.ErrPrecondition

// ErrInvalidKey reports a key that ValidateKey refuses, or a List prefix
// that no valid key could start with.
var ErrInvalidKey = errors.New("invalid key")

// ErrInvalidOptions reports PutOptions with both IfAbsent and IfMatch set.
var ErrInvalidOptions = errors.New("IfAbsent and IfMatch are exclusive")

// MaxKeyLen is the longest key, in bytes, that every backend accepts. It
// leaves room for a 256-byte s3store prefix within S3's 1024-byte limit on
// object keys. (S3 services that store keys as files, such as versitygw's
// posix backend, further limit each segment to a file name, 255 bytes, and
// cannot hold both "a" and "a/b"; the photo library never makes such keys.)
const MaxKeyLen = 768

// Attrs describes a stored object (see driver.Attrs for its fields).
type Attrs = driver.Attrs

// PutOptions are the optional arguments of Put. A nil *PutOptions is the
// same as the zero value: an unconditional write with no content type. See
// driver.PutOptions for its fields; Bucket refuses IfAbsent and IfMatch
// together with ErrInvalidOptions.
type PutOptions = driver.PutOptions

// Reader reads one object: an io.ReadSeekCloser with the object's Attrs,
// reading the object as it was when Open returned (see driver.Reader). Its
// dynamic value may also implement io.WriterTo.
type Reader = driver.Reader

// ValidateKey reports whether key is one that every backend stores as it is:
// non-empty, at most MaxKeyLen bytes of valid UTF-8, no NUL or other control
// character, made of "/"-separated segments none of which is empty, "." or
// "..". Any other byte (spaces, unicode, '%', '~') is allowed. The error
// wraps ErrInvalidKey.
func ValidateKey(key string) error {
	if why := keyProblem(key); why != "" {
		return fmt.Errorf("storage: %w %q: %s", ErrInvalidKey, truncate(key), why)
	}
	return nil
}

// keyProblem says what is wrong with key, or "" when ValidateKey accepts it.
func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLen)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return "control character"
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return "empty segment"
		case ".", "..":
			return "dot segment"
		}
	}
	return ""
}

// truncate shortens a key for an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
