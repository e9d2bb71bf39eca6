// Package storage defines the small blob-store contract that every photo
// backend implements, and the errors a backend reports.
//
// The contract is modelled on gocloud.dev's blob driver: a backend stores
// opaque byte objects under string keys and knows nothing of photos. Every
// cross-cutting concern (key escaping, versioning, records) lives in the
// photo package, so a backend stays a few hundred lines.
//
// The backends are memstore (in-process, for tests and examples),
// aferostore (any afero.Fs, the local disk included) and s3store (any S3
// compatible service). The storagetest package holds the conformance suite
// every backend passes: a backend's test file is storagetest.Run and the
// function that makes an empty store.
//
// # Errors
//
// A backend's errors name the operation and the key (aferostore: put
// "a/b": ...) and wrap, for errors.Is: ErrNotFound for a missing object,
// ErrPrecondition for a conditional Put that lost, ErrInvalidKey for a key
// that ValidateKey refuses, ErrInvalidOptions for contradicting
// PutOptions, the context's error when ctx ended, and the io.Reader's error
// when Put's input failed. They never reveal a backend's file paths or
// credentials.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/profilephoto/photo/storage/driver"
)

// ErrNotFound reports that no object exists under a key. It is
// driver.ErrNotFound, so errors.Is matches either name.
var ErrNotFound = driver.ErrNotFound

// ErrPrecondition reports that a conditional Put lost. It is
// driver.ErrPrecondition, so errors.Is matches either name.
var ErrPrecondition = driver.ErrPrecondition

// ErrInvalidKey reports a key that ValidateKey refuses.
var ErrInvalidKey = errors.New("invalid key")

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

// ListOptions are the optional arguments of Store.List. A nil *ListOptions is
// the same as the zero value.
type ListOptions struct {
	// PageToken continues a listing: pass the previous page's NextPageToken.
	// Empty starts at the first key.
	PageToken string
	// PageSize is the most keys one page holds; 0 means the backend's default
	// (at most 1000). Backends may return fewer than PageSize keys on a page
	// that is not the last one.
	PageSize int
}

// ListPage is one page of a listing.
type ListPage struct {
	// Objects holds the page's objects in ascending byte order of key (the
	// order of the keys' UTF-8 bytes, "a/b" after "a-b" and before "a0").
	Objects []Attrs
	// NextPageToken is empty on the last page; otherwise pass it in
	// ListOptions.PageToken for the next page.
	NextPageToken string
}

// Reader reads one object: an io.ReadSeekCloser with the object's Attrs,
// reading the object as it was when Open returned (see driver.Reader). Its
// dynamic value may also implement io.WriterTo.
type Reader = driver.Reader

// Store is the contract every backend implements. All methods are safe for
// concurrent use. Keys are those ValidateKey accepts; a backend refuses any
// other key with an error wrapping ErrInvalidKey and must never let a key
// reach outside its own namespace (a file outside its root, another prefix).
//
// Every method honours its context: a context already cancelled makes the
// call fail with the context's error (wrapped) before any change is made.
type Store interface {
	// Put writes the object at key from r, which it reads to EOF.
	//
	// A Put is atomic: a concurrent Open or Stat sees the previous object or
	// the new one, never a part of the new one. If Put fails for any reason
	// (r returns an error, ctx is cancelled, a precondition loses, the
	// backend fails) the previous object, or its absence, is left as it was.
	// Put streams: it does not hold the whole object in memory unless the
	// backend is itself memory.
	//
	// On success it returns the new object's attributes, ETag included, so a
	// caller can chain conditional writes.
	//
	// Cancelling ctx while Put reads r makes it fail with the context's
	// error and change nothing; a cancellation that comes after the write
	// was committed is too late, and Put then succeeds.
	Put(ctx context.Context, key string, r io.Reader, opts *PutOptions) (Attrs, error)

	// Open returns a Reader for the object at key, or an error wrapping
	// ErrNotFound (whose message names the key) if there is none. The caller
	// must Close the Reader. A backend may use ctx for the Reader's later
	// requests, so ctx should live as long as the Reader is read.
	Open(ctx context.Context, key string) (Reader, error)

	// Stat returns the attributes of the object at key, or an error wrapping
	// ErrNotFound (whose message names the key) if there is none.
	Stat(ctx context.Context, key string) (Attrs, error)

	// Delete removes the object at key. Deleting a key that has no object is
	// not an error: Delete is idempotent and returns nil.
	Delete(ctx context.Context, key string) error

	// List returns one page of the objects whose keys start with prefix, in
	// ascending byte order of key. An empty prefix lists everything; the
	// prefix need not end at a "/" ("users/a" lists "users/a/x" and
	// "users/ab"). A prefix that no valid key could start with is refused
	// with ErrInvalidKey. Objects written or deleted during a listing may or
	// may not appear in it; every object that exists for the whole listing
	// appears exactly once, however long the listing takes between pages.
	List(ctx context.Context, prefix string, opts *ListOptions) (ListPage, error)
}

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

// ValidatePrefix reports whether prefix is a valid argument to List: empty,
// or a string that could start a valid key (a trailing "/" is allowed).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}

// CheckPutOptions returns ErrInvalidOptions when opts asks for two
// contradicting preconditions, and nil otherwise.
func CheckPutOptions(opts *PutOptions) error {
	if opts != nil && opts.IfAbsent && opts.IfMatch != "" {
		return ErrInvalidOptions
	}
	return nil
}

// ErrInvalidOptions reports PutOptions with both IfAbsent and IfMatch set.
var ErrInvalidOptions = errors.New("IfAbsent and IfMatch are exclusive")

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// NotFound returns an error wrapping ErrNotFound that names key; backends use
// it so every backend reports a missing object the same way.
func NotFound(op, key string) error {
	return fmt.Errorf("%s %q: %w", op, key, ErrNotFound)
}

// PreconditionFailed returns an error wrapping ErrPrecondition that names key.
func PreconditionFailed(op, key string) error {
	return fmt.Errorf("%s %q: %w", op, key, ErrPrecondition)
}

// MaxPageSize is the most objects one List page holds, and the page size
// when ListOptions.PageSize is 0.
const MaxPageSize = 1000

// ListArgs checks the arguments every backend's List receives: a context
// not yet done and a valid prefix. It returns the options with their
// defaults filled in (PageSize between 1 and MaxPageSize).
func ListArgs(ctx context.Context, prefix string, opts *ListOptions) (ListOptions, error) {
	if err := ctx.Err(); err != nil {
		return ListOptions{}, err
	}
	if err := ValidatePrefix(prefix); err != nil {
		return ListOptions{}, err
	}
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	if o.PageSize <= 0 || o.PageSize > MaxPageSize {
		o.PageSize = MaxPageSize
	}
	return o, nil
}

// KeyArgs checks the arguments every backend's Open, Stat and Delete
// receive: a context not yet done and a key ValidateKey accepts.
func KeyArgs(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidateKey(key)
}

// PutArgs checks the arguments every backend's Put receives, as KeyArgs
// and CheckPutOptions do, and returns the options (the zero value for nil).
func PutArgs(ctx context.Context, key string, opts *PutOptions) (PutOptions, error) {
	if err := KeyArgs(ctx, key); err != nil {
		return PutOptions{}, err
	}
	if err := CheckPutOptions(opts); err != nil {
		return PutOptions{}, err
	}
	if opts == nil {
		return PutOptions{}, nil
	}
	return *opts, nil
}

// ContextReader returns a reader that fails with ctx's error once ctx is
// done, so that a Put copying a slow stream stops promptly when cancelled
// (afero and many readers know no contexts).
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return contextReader{ctx, r}
}
