package storage

// The pre-v1 API: Store as both what callers use and what backends
// implement, with its helpers. Everything here is deprecated and goes once
// no caller is left; use Bucket (callers) and driver.Bucket (backends).

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// ListOptions are the optional arguments of Store.List. A nil *ListOptions is
// the same as the zero value.
//
// Deprecated: use Bucket.List, which pages by itself.
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
//
// Deprecated: use Bucket.List; drivers return driver.ListPage.
type ListPage struct {
	// Objects holds the page's objects in ascending byte order of key (the
	// order of the keys' UTF-8 bytes, "a/b" after "a-b" and before "a0").
	Objects []Attrs
	// NextPageToken is empty on the last page; otherwise pass it in
	// ListOptions.PageToken for the next page.
	NextPageToken string
}

// Store is the contract every backend implements. All methods are safe for
// concurrent use. Keys are those ValidateKey accepts; a backend refuses any
// other key with an error wrapping ErrInvalidKey and must never let a key
// reach outside its own namespace (a file outside its root, another prefix).
//
// Every method honours its context: a context already cancelled makes the
// call fail with the context's error (wrapped) before any change is made.
//
// Deprecated: callers use *Bucket; backends implement driver.Bucket.
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

// ValidatePrefix reports whether prefix is a valid argument to List: empty,
// or a string that could start a valid key (a trailing "/" is allowed).
//
// Deprecated: Bucket.List checks its prefix.
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
//
// Deprecated: Bucket.Put checks its options.
func CheckPutOptions(opts *PutOptions) error {
	if opts != nil && opts.IfAbsent && opts.IfMatch != "" {
		return ErrInvalidOptions
	}
	return nil
}

// NotFound returns an error wrapping ErrNotFound that names key; backends use
// it so every backend reports a missing object the same way.
//
// Deprecated: drivers return driver.ErrNotFound; Bucket names the key.
func NotFound(op, key string) error {
	return fmt.Errorf("%s %q: %w", op, key, ErrNotFound)
}

// PreconditionFailed returns an error wrapping ErrPrecondition that names key.
//
// Deprecated: drivers return driver.ErrPrecondition; Bucket names the key.
func PreconditionFailed(op, key string) error {
	return fmt.Errorf("%s %q: %w", op, key, ErrPrecondition)
}

// MaxPageSize is the most objects one List page holds, and the page size
// when ListOptions.PageSize is 0.
//
// Deprecated: Bucket.List pages by itself.
const MaxPageSize = 1000

// ListArgs checks the arguments every backend's List receives: a context
// not yet done and a valid prefix. It returns the options with their
// defaults filled in (PageSize between 1 and MaxPageSize).
//
// Deprecated: Bucket.List checks its arguments.
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
//
// Deprecated: Bucket checks every key and context.
func KeyArgs(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidateKey(key)
}

// PutArgs checks the arguments every backend's Put receives, as KeyArgs
// and CheckPutOptions do, and returns the options (the zero value for nil).
//
// Deprecated: Bucket.Put checks its arguments.
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
//
// Deprecated: Bucket.Put stops reading when ctx ends.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return contextReader{ctx, r}
}
