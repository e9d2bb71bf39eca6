package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/profilephoto/photo/storage/driver"
)

// pageSize is the number of objects List asks a driver for at a time.
const pageSize = 1000

// Bucket is the portable store that the photo library and applications use,
// over a driver.Bucket (memstore, aferostore, s3store, or your own). It is
// safe for concurrent use, and any number of Buckets may share one driver.
//
// Bucket owns what every driver would otherwise repeat: it refuses keys that
// ValidateKey refuses (ErrInvalidKey) and contradicting PutOptions
// (ErrInvalidOptions) before the driver sees them, fails with the context's
// error once ctx is done, stops a Put reading its input when ctx ends, pages
// listings, and names the operation and the key in every error:
//
//	storage: open "users/x/record.json": object not found
//
// Errors wrap ErrNotFound, ErrPrecondition, ErrInvalidKey,
// ErrInvalidOptions, the context's error or the driver's error, for
// errors.Is and errors.As.
type Bucket struct {
	d        driver.Bucket
	pageSize int // objects per ListPage call; pageSize unless a test sets it
}

// NewBucket returns a Bucket over d, which must not be nil.
func NewBucket(d driver.Bucket) *Bucket {
	if d == nil {
		panic("storage: NewBucket with a nil driver")
	}
	return &Bucket{d: d, pageSize: pageSize}
}

// opError is the error of a Bucket method: the operation, the key (or the
// prefix, for list) and the cause.
func opError(op, key string, err error) error {
	return fmt.Errorf("storage: %s %q: %w", op, truncate(key), err)
}

// check refuses a done context and a key that ValidateKey refuses.
func check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return opError(op, key, err)
	}
	if why := keyProblem(key); why != "" {
		return fmt.Errorf("storage: %s %q: %w: %s", op, truncate(key), ErrInvalidKey, why)
	}
	return nil
}

// Put writes the object at key from r, which it reads to EOF, and returns
// the new object's attributes (ETag included, so that a caller can chain
// conditional writes). A nil opts is the zero PutOptions.
//
// A Put is atomic: a concurrent Open or Stat sees the previous object or
// the new one, and a failed Put (r fails, ctx ends, a precondition loses,
// the driver fails) leaves the previous object, or its absence, as it was.
// A lost precondition wraps ErrPrecondition. Cancelling ctx while Put reads
// r makes it fail with the context's error; a cancellation after the write
// was committed is too late, and Put then succeeds.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts *PutOptions) (Attrs, error) {
	if err := check(ctx, "put", key); err != nil {
		return Attrs{}, err
	}
	var o PutOptions
	if opts != nil {
		o = *opts
	}
	if o.IfAbsent && o.IfMatch != "" {
		return Attrs{}, opError("put", key, ErrInvalidOptions)
	}
	if r == nil {
		return Attrs{}, opError("put", key, errors.New("nil reader"))
	}
	a, err := b.d.Put(ctx, key, contextReader{ctx, r}, &o)
	if err != nil {
		return Attrs{}, opError("put", key, err)
	}
	if a.ETag == "" {
		return Attrs{}, opError("put", key, errors.New("driver returned no ETag"))
	}
	return a, nil
}

// Open returns a Reader for the object at key, or an error wrapping
// ErrNotFound. The caller must Close the Reader. A driver may use ctx for
// the Reader's later requests, so ctx should live as long as the Reader is
// read. The Reader is the driver's own, so it may implement io.WriterTo.
func (b *Bucket) Open(ctx context.Context, key string) (Reader, error) {
	if err := check(ctx, "open", key); err != nil {
		return nil, err
	}
	r, err := b.d.Open(ctx, key)
	if err != nil {
		return nil, opError("open", key, err)
	}
	return r, nil
}

// Stat returns the attributes of the object at key, or an error wrapping
// ErrNotFound.
func (b *Bucket) Stat(ctx context.Context, key string) (Attrs, error) {
	if err := check(ctx, "stat", key); err != nil {
		return Attrs{}, err
	}
	a, err := b.d.Stat(ctx, key)
	if err != nil {
		return Attrs{}, opError("stat", key, err)
	}
	return a, nil
}

// Delete removes the object at key. Deleting a missing key is not an
// error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key); err != nil {
		return err
	}
	if err := b.d.Delete(ctx, key); err != nil {
		return opError("delete", key, err)
	}
	return nil
}

// List yields the objects whose keys start with prefix, in ascending byte
// order of key ("a/b" after "a-b" and before "a0"). An empty prefix lists
// everything; the prefix need not end at a "/" ("users/a" lists "users/a/x"
// and "users/ab"). A prefix that no valid key could start with is refused
// with ErrInvalidKey.
//
// Objects written or deleted during a listing may or may not appear; every
// object that exists for the whole listing appears exactly once, however
// long the loop body takes. Objects whose keys ValidateKey refuses (written
// to a shared S3 bucket by someone else, say) are skipped. On an error, List
// yields it once with zero Attrs and stops. Breaking out of the loop stops
// the listing.
//
//	for a, err := range b.List(ctx, "users/") {
//		if err != nil {
//			return err
//		}
//		...
//	}
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[Attrs, error] {
	return func(yield func(Attrs, error) bool) {
		if prefix != "" {
			if why := keyProblem(strings.TrimSuffix(prefix, "/")); why != "" {
				yield(Attrs{}, fmt.Errorf("storage: list %q: %w: %s", truncate(prefix), ErrInvalidKey, why))
				return
			}
		}
		token := ""
		for {
			if err := ctx.Err(); err != nil {
				yield(Attrs{}, opError("list", prefix, err))
				return
			}
			page, err := b.d.ListPage(ctx, prefix, token, b.pageSize)
			if err != nil {
				yield(Attrs{}, opError("list", prefix, err))
				return
			}
			for _, a := range page.Objects {
				if !strings.HasPrefix(a.Key, prefix) || keyProblem(a.Key) != "" {
					continue
				}
				if !yield(a, nil) {
					return
				}
			}
			if page.NextPageToken == "" {
				return
			}
			if page.NextPageToken == token {
				yield(Attrs{}, opError("list", prefix, errors.New("driver repeated its page token")))
				return
			}
			token = page.NextPageToken
		}
	}
}

// contextReader fails with ctx's error once ctx is done, so that a Put
// copying a slow stream stops promptly when cancelled (afero and many
// readers know no contexts).
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
