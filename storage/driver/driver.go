// Package driver defines the interface a storage backend implements.
//
// Applications do not call a driver: they wrap it in a storage.Bucket
// (storage.NewBucket), which checks every argument, honours contexts, pages
// listings and names the operation and key in every error. A driver is what
// remains: storing byte objects under string keys, atomically, with the
// conditional writes the photo library's commit protocol needs.
//
// The conformance suite in storage/storagetest runs a driver through
// storage.Bucket; a new backend passes it before anything else.
package driver

import (
	"context"
	"errors"
	"io"
	"time"
)

// Bucket stores byte objects under string keys. All methods are safe for
// concurrent use.
//
// storage.Bucket is a driver's only caller, and it guarantees, on every
// call: ctx is not yet done; key is one that storage.ValidateKey accepts;
// prefix is "" or could start such a key; IfAbsent and IfMatch are not both
// set; opts is not nil; and r fails with ctx's error once ctx is done. A
// driver checks none of this again. It must still keep every key inside its
// own namespace (a directory, a key prefix) whatever the key's bytes.
//
// Errors carry no file paths or credentials; storage.Bucket adds the
// operation and the key, so a driver need not repeat them.
type Bucket interface {
	// Put writes the object at key from r, which it reads to EOF, and
	// returns the new object's Attrs with a non-empty ETag.
	//
	// A Put is atomic: a concurrent Open or Stat sees the previous object
	// or the new one, never part of the new one. If Put fails for any
	// reason (r fails, ctx ends, a precondition loses, the backend fails),
	// the previous object, or its absence, stays as it was. A lost
	// precondition is an error wrapping ErrPrecondition. Preconditions are
	// checked atomically with the write against every other writer, in this
	// process or another: of N concurrent conditional Puts on one state,
	// exactly one wins. Put streams unless the backend is itself memory.
	Put(ctx context.Context, key string, r io.Reader, opts *PutOptions) (Attrs, error)

	// Open returns a Reader for the object at key, or an error wrapping
	// ErrNotFound. The Reader reads the object as it was when Open
	// returned. A driver may use ctx for the Reader's later requests.
	Open(ctx context.Context, key string) (Reader, error)

	// Stat returns the attributes of the object at key, or an error
	// wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (Attrs, error)

	// Delete removes the object at key. Deleting a missing key returns nil.
	Delete(ctx context.Context, key string) error

	// ListPage returns at most pageSize (1 to 1000) objects whose keys
	// start with prefix, in ascending byte order of key, starting after the
	// position pageToken encodes ("" is the start). NextPageToken is "" on
	// the last page. A page that is not the last may hold fewer objects
	// than pageSize. Objects written or deleted during a listing may or may
	// not appear; every object that exists for the whole listing appears
	// exactly once, however long the caller takes between pages.
	ListPage(ctx context.Context, prefix, pageToken string, pageSize int) (ListPage, error)
}

// Reader reads one object. It is an io.ReadSeekCloser so that
// http.ServeContent can answer Range requests from it; a driver may make
// Seek cheap and read lazily. The object read is the one that was current
// when Open returned: a later Put or Delete of the key never mixes into an
// open Reader. A lazy driver that cannot keep the old bytes fails the Read
// instead, with an error wrapping ErrPrecondition (overwritten) or
// ErrNotFound (deleted). A Reader may also implement io.WriterTo (for
// example with sendfile), writing from its current offset. A Reader is for
// one goroutine at a time.
type Reader interface {
	io.ReadSeekCloser
	// Attrs describes the object being read.
	Attrs() Attrs
}

// Attrs describes a stored object.
type Attrs struct {
	// Key is the object's key.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ETag is an opaque token that changes whenever the object's bytes
	// change. It is what PutOptions.IfMatch compares against. memstore and
	// aferostore also change it when identical bytes are rewritten; S3's
	// ETag is derived from the bytes, so there a compare-and-swap compares
	// content. Drivers return it without surrounding quotes.
	ETag string
	// ModTime is when the object was last written, as the backend knows it
	// (S3 keeps whole seconds). The Attrs that Put returns may carry the
	// local clock instead, where the backend does not report the time.
	ModTime time.Time
	// ContentType is the media type given to Put, or "" when none was.
	// Listed objects may leave it empty (S3 listings lack it).
	ContentType string
}

// PutOptions are the optional arguments of Put. The zero value is an
// unconditional write with no content type.
type PutOptions struct {
	// IfAbsent makes the write succeed only if no object exists under the
	// key; otherwise Put fails with ErrPrecondition and changes nothing.
	IfAbsent bool
	// IfMatch, when non-empty, makes the write succeed only if the object
	// under the key exists and its current ETag equals IfMatch; otherwise
	// Put fails with ErrPrecondition and changes nothing. IfAbsent and
	// IfMatch are exclusive.
	IfMatch string
	// ContentType is stored with the object and returned in Attrs; "" for
	// none.
	ContentType string
}

// ListPage is one page of a listing.
type ListPage struct {
	// Objects holds the page's objects in ascending byte order of key (the
	// order of the keys' UTF-8 bytes: "a/b" after "a-b" and before "a0").
	Objects []Attrs
	// NextPageToken is "" on the last page; otherwise it is the pageToken
	// that continues the listing.
	NextPageToken string
}

// ErrNotFound reports that no object exists under a key.
var ErrNotFound = errors.New("object not found")

// ErrPrecondition reports that a conditional Put lost: IfAbsent was set and
// an object existed, or IfMatch named an ETag that is not current (or no
// object existed at all).
var ErrPrecondition = errors.New("precondition failed")
