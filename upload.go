package photo

// Resumable uploads: a client declares an image's length and type, sends
// its bytes in chunks (resuming after a broken connection), and then sets a
// user's photo from it (a three-step resumable upload).
//
// Everything lives in the storage backend, so any instance sharing the
// store can continue an upload that another began. S3 has no append, so an
// upload is a set of immutable objects under uploads/<key>/:
//
//	uploads/<key>/meta.json                      what was declared and which chunks were accepted
//	uploads/<key>/c/<offset, 20 digits>.<nonce>  the bytes of one accepted chunk
//
// An append writes its new bytes as a chunk object of its own and then
// replaces meta.json with a compare-and-swap on its ETag
// (storage.PutOptions.IfMatch). The chunk name carries a nonce, so two
// requests racing to append at one offset never write the same object: the
// CAS picks the winner, and the loser removes its own chunk and reports a
// conflict. A chunk object that meta.json does not list (its writer crashed
// between the two writes) is never read, and Sweep removes it once
// it is older than an hour. Setting a photo from an upload streams the
// chunks in order through Set; deleting an upload removes meta.json first,
// so the upload ceases to exist in one step, and then its chunks.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/profilephoto/photo/storage"
)

// defaultUploadTTL is how long an upload lives when UploadOptions.TTL is
// zero.
const defaultUploadTTL = 24 * time.Hour

// maxUploadChunks is the most chunks one upload may be sent in. Each
// accepted chunk is one stored object and one entry of the upload's
// record, so the bound keeps both small: a 20 MiB upload must come in
// chunks of 20 KiB or more on average.
const maxUploadChunks = 1024

// maxNameLen is the longest upload or file name, in bytes.
const maxNameLen = 255

// uploadKeyLen is the length of an upload key: 10 characters of
// [A-Za-z0-9], about 59 bits.
const uploadKeyLen = 10

// uploadOrphanGrace is how old a chunk object that no upload record lists
// must be before Sweep removes it. A chunk is listed within a
// moment of being written, so an hour is ample.
const uploadOrphanGrace = time.Hour

// Upload describes a resumable upload.
type Upload struct {
	// Key names the upload: 10 characters of [A-Za-z0-9].
	Key string
	// Owner is the user ID of the upload's creator.
	Owner string
	// Name is the file name the creator gave.
	Name string
	// ContentType is the declared type: image/jpeg, image/png, image/gif
	// or image/webp. Set sniffs the bytes whatever it says.
	ContentType string
	// Length is the declared length in bytes.
	Length int64
	// Received is how many bytes, from the first, have been accepted.
	Received int64
	// Created is when the upload was created.
	Created time.Time
	// Expires is when the upload, finished or not, stops existing.
	Expires time.Time
}

// UploadOptions are the optional arguments of CreateUpload. A nil
// *UploadOptions is the zero value.
type UploadOptions struct {
	// Name is the file name the creator gives, kept for information: valid
	// UTF-8 of at most 255 bytes without control characters (else an
	// *Error with CodeBadArgument). Default "".
	Name string
	// TTL is how long the upload lives, finished or not; zero means 24
	// hours.
	TTL time.Duration
}

// Chunk is a piece of an upload that AppendUpload adds.
type Chunk struct {
	// Offset is where the bytes belong, counted from the upload's first.
	Offset int64
	// Size is how many bytes AppendUpload reads from Body, exactly.
	Size int64
	// Total is the client's idea of the upload's whole length, which must
	// be the declared length; 0 when the client does not say (as
	// Content-Range's "*").
	Total int64
	// Body holds the bytes. It may be nil when Size is 0: such a chunk
	// changes nothing and asks how far the upload got.
	Body io.Reader
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newUploadKey returns a random key, each character uniform over alnum.
func newUploadKey() string {
	out := make([]byte, 0, uploadKeyLen)
	var b [32]byte
	for len(out) < uploadKeyLen {
		rand.Read(b[:])
		for _, c := range b {
			// 248 is the largest multiple of 62 below 256: rejecting the
			// rest keeps every character equally likely.
			if c < 248 && len(out) < uploadKeyLen {
				out = append(out, alnum[c%62])
			}
		}
	}
	return string(out)
}

func validUploadKey(key string) bool {
	if len(key) != uploadKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if !strings.ContainsRune(alnum, rune(key[i])) {
			return false
		}
	}
	return true
}

// CreateUpload begins a resumable upload of length bytes of contentType by
// owner. The
// length must be between 1 and Limits.MaxBytes (else an *Error with
// CodeFileTooLarge, or CodeNotImage for an empty upload); the type must be
// image/jpeg (or its alias image/jpg), image/png, image/gif or image/webp,
// parameters and case aside (else CodeUnsupportedFormat). An upload
// beyond the owner's Quotas (Uploads, UploadBytes) is refused with
// ErrQuotaExceeded; setting a photo from an upload, deleting it or its
// expiry frees its share.
func (m *Manager) CreateUpload(ctx context.Context, owner, contentType string, length int64, opts *UploadOptions) (*Upload, error) {
	if err := checkUserID(owner); err != nil {
		return nil, err
	}
	var o UploadOptions
	if opts != nil {
		o = *opts
	}
	name, ttl := o.Name, o.TTL
	if !validName(name, maxNameLen) {
		return nil, inputError(CodeBadArgument, nil, "the upload name must be valid UTF-8 of at most %d bytes without control characters", maxNameLen)
	}
	switch max := m.cfg.limits.MaxBytes; {
	case length < 1:
		return nil, inputError(CodeNotImage, nil, "an upload must have at least one byte")
	case length > max:
		return nil, inputError(CodeFileTooLarge, nil, "the file is larger than %s", formatBytes(max))
	}
	ct, ok := uploadContentType(contentType)
	if !ok {
		return nil, inputError(CodeUnsupportedFormat, nil, "the content type must be image/jpeg, image/png, image/gif or image/webp")
	}
	if ttl <= 0 {
		ttl = defaultUploadTTL
	}
	now := m.cfg.now().UTC()
	rec := &uploadRecord{Owner: owner, Name: name, ContentType: ct, Length: length,
		Created: now, Expires: now.Add(ttl), Chunks: []uploadChunk{}}
	uq := m.uploadQuota()
	for attempt := 0; ; attempt++ {
		rec.Key = newUploadKey()
		// The quota entry comes first: an upload is never stored without
		// being counted.
		if err := m.reserve(ctx, uq, owner, rec.Key, length, rec.Expires); err != nil {
			return nil, err
		}
		_, err := m.storeUploadRecord(ctx, rec, "")
		if err == nil {
			return rec.upload(), nil
		}
		if errors.Is(err, storage.ErrPrecondition) {
			// Not written: the entry goes.
			m.unreserve(ctx, uq, owner, rec.Key, -1)
		}
		// A key already taken (one chance in 2^59): draw another.
		if !errors.Is(err, storage.ErrPrecondition) || attempt >= 3 {
			return nil, wrapErr(err, "create upload")
		}
	}
}

// Upload returns the upload key, or ErrNotFound if there
// is none or it has expired.
func (m *Manager) Upload(ctx context.Context, key string) (*Upload, error) {
	rec, _, err := m.loadUpload(ctx, key)
	if err != nil {
		return nil, err
	}
	return rec.upload(), nil
}

// loadUpload reads an upload's record and ETag. An expired upload is
// removed and reported as not found.
func (m *Manager) loadUpload(ctx context.Context, key string) (*uploadRecord, string, error) {
	if !validUploadKey(key) {
		return nil, "", errUploadNotFound()
	}
	rec, etag, err := m.readUploadRecord(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", errUploadNotFound()
	}
	if err != nil {
		return nil, "", wrapErr(err, "upload %s", key)
	}
	if !m.cfg.now().Before(rec.Expires) {
		m.removeUpload(ctx, key, rec.Owner)
		return nil, "", errUploadNotFound()
	}
	return rec, etag, nil
}

// errUploadNotFound is the refusal of a key that names no upload.
func errUploadNotFound() error { return notFound("the upload does not exist") }

// storeUploadRecord writes rec if the stored record's ETag is still etag
// ("" means none may exist yet), and returns the new ETag.
func (m *Manager) storeUploadRecord(ctx context.Context, rec *uploadRecord, etag string) (string, error) {
	return putJSON(ctx, m.bucket, uploadMetaKey(rec.Key), rec, etag)
}

// AppendUpload adds the c.Size bytes read from c.Body, which the client
// says belong at c.Offset of the upload key, and returns where the upload
// then stands.
//
//   - Offset equal to the bytes received: the bytes are appended.
//   - Offset before it: the bytes that overlap what was received must be
//     the same (else CodeUploadConflict); those beyond are appended.
//     Sending a chunk again is harmless.
//   - Offset after it (a gap), or another request appending first:
//     CodeUploadConflict.
//   - bytes past the declared length, a Total other than it, a negative
//     range, or a 1025th chunk: CodeBadRange.
//
// With CodeUploadConflict and CodeBadRange, AppendUpload returns the
// upload as it stands together with the *Error, so that the client can
// resume from Received. AppendUpload reads exactly c.Size bytes from
// c.Body; if it ends sooner, the error wraps io.ErrUnexpectedEOF. On any
// error nothing of the chunk is kept. An unknown or expired key gives
// ErrNotFound.
func (m *Manager) AppendUpload(ctx context.Context, key string, c Chunk) (*Upload, error) {
	offset, total, r, n := c.Offset, c.Total, c.Body, c.Size
	if r == nil {
		r = bytes.NewReader(nil)
	}
	rec, etag, err := m.loadUpload(ctx, key)
	if err != nil {
		return nil, err
	}
	refuse := func(code Code, format string, args ...any) (*Upload, error) {
		return rec.upload(), inputError(code, nil, format, args...)
	}
	switch {
	case offset < 0 || n < 0 || total < 0:
		return refuse(CodeBadRange, "the range is negative")
	case total > 0 && total != rec.Length:
		return refuse(CodeBadRange, "the total length %d is not the declared length %d", total, rec.Length)
	case n == 0:
		return rec.upload(), nil
	case offset > rec.Length-n:
		return refuse(CodeBadRange, "the chunk ends past the declared length")
	case offset > rec.Received:
		return refuse(CodeUploadConflict, "the chunk starts at byte %d, after the bytes received", offset)
	}
	if overlap := min(n, rec.Received-offset); overlap > 0 {
		same, err := m.sameUploadBytes(ctx, rec, offset, r, overlap)
		if err != nil {
			return nil, wrapErr(err, "append to upload %s", key)
		}
		if !same {
			return refuse(CodeUploadConflict, "the chunk's bytes differ from those already received")
		}
		offset += overlap
		n -= overlap
	}
	if n == 0 {
		return rec.upload(), nil
	}
	if len(rec.Chunks) >= maxUploadChunks {
		return refuse(CodeBadRange, "the upload has %d chunks already; send larger chunks", maxUploadChunks)
	}

	uc := uploadChunk{Offset: offset, Size: n, Nonce: newNonce(5)}
	ck := chunkKey(key, uc)
	body := &exactReader{r: r, left: n}
	if _, err := m.bucket.Put(ctx, ck, body, &storage.PutOptions{ContentType: "application/octet-stream", IfAbsent: true}); err != nil {
		if body.err != nil {
			err = body.err
		}
		return nil, wrapErr(err, "append to upload %s", key)
	}
	rec.Chunks = append(rec.Chunks, uc)
	rec.Received += n
	if _, err := m.storeUploadRecord(ctx, rec, etag); err != nil {
		// The write may have been applied although Put failed (a lost
		// response; an S3 retry of an applied conditional write reports
		// a lost precondition): only the record tells, and a chunk it
		// lists must stay.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		cur, _, lerr := m.readUploadRecord(rctx, key)
		cancel()
		if lerr == nil && slices.Contains(cur.Chunks, uc) {
			return cur.upload(), nil
		}
		if !errors.Is(err, storage.ErrPrecondition) {
			// The write may yet be applied: Sweep removes the
			// chunk if no record comes to list it.
			return nil, wrapErr(err, "append to upload %s", key)
		}
		m.discardKeys(ctx, ck)
		if lerr != nil {
			// Another request removed the upload, or it cannot be read.
			if errors.Is(lerr, storage.ErrNotFound) {
				return nil, errUploadNotFound()
			}
			return nil, wrapErr(lerr, "append to upload %s", key)
		}
		// Another request changed the upload first.
		rec = cur
		return refuse(CodeUploadConflict, "another request appended to the upload first")
	}
	return rec.upload(), nil
}

// exactReader yields exactly left bytes of r, then io.EOF; if r ends
// sooner it fails with io.ErrUnexpectedEOF, so a Put reading it keeps
// nothing. err records the failure for the caller.
type exactReader struct {
	r    io.Reader
	left int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		e.err = fmt.Errorf("the chunk ended %d bytes early: %w", e.left, io.ErrUnexpectedEOF)
	case err != nil && err != io.EOF:
		e.err = fmt.Errorf("reading the chunk: %w", err)
	}
	if e.err != nil {
		return n, e.err
	}
	return n, nil
}

// sameUploadBytes reads n bytes from r and reports whether they equal the
// stored bytes from offset, stopping at the first difference.
func (m *Manager) sameUploadBytes(ctx context.Context, rec *uploadRecord, offset int64, r io.Reader, n int64) (bool, error) {
	body := &exactReader{r: r, left: n}
	want := make([]byte, 32<<10)
	got := make([]byte, 32<<10)
	end := offset + n
	for _, c := range rec.Chunks {
		if offset >= end {
			break
		}
		if c.Offset+c.Size <= offset {
			continue
		}
		if c.Offset > offset {
			return false, fmt.Errorf("chunk at %d missing from the record", offset)
		}
		same, err := func() (bool, error) {
			sr, err := m.bucket.Open(ctx, chunkKey(rec.Key, c))
			if err != nil {
				return false, err
			}
			defer sr.Close()
			if _, err := sr.Seek(offset-c.Offset, io.SeekStart); err != nil {
				return false, err
			}
			for stop := min(end, c.Offset+c.Size); offset < stop; {
				k := min(int64(len(want)), stop-offset)
				if _, err := io.ReadFull(body, got[:k]); err != nil {
					if body.err != nil {
						err = body.err
					}
					return false, err
				}
				if _, err := io.ReadFull(sr, want[:k]); err != nil {
					return false, fmt.Errorf("stored chunk at %d: %w", c.Offset, err)
				}
				if !bytes.Equal(got[:k], want[:k]) {
					return false, nil
				}
				offset += k
			}
			return true, nil
		}()
		if err != nil || !same {
			return same, err
		}
	}
	if offset < end {
		return false, fmt.Errorf("the record holds fewer bytes than it says")
	}
	return true, nil
}

// SetFromUpload is Set with the bytes of the complete upload key, which is
// removed once the photo is set. It fails with
// CodeUploadIncomplete while bytes are missing, and ErrNotFound
// for an unknown or expired key. A refused image leaves the upload in
// place. The caller decides who may use the upload (see Upload.Owner).
func (m *Manager) SetFromUpload(ctx context.Context, userID, key string, opts *SetOptions) (*Photo, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	rec, _, err := m.loadUpload(ctx, key)
	if err != nil {
		return nil, err
	}
	if rec.Received != rec.Length {
		return nil, inputError(CodeUploadIncomplete, nil, "the upload has received %d of its %d bytes", rec.Received, rec.Length)
	}
	cr := &chunkReader{ctx: ctx, m: m, rec: rec}
	defer cr.Close()
	p, err := m.Set(ctx, userID, cr, opts)
	if err != nil {
		return nil, err
	}
	m.removeUpload(ctx, key, rec.Owner)
	return p, nil
}

// chunkReader reads an upload's chunks in order, opening each only when
// it is reached (an upload may have a thousand chunks; a file store would
// need as many descriptors to open them all at once).
type chunkReader struct {
	ctx  context.Context
	m    *Manager
	rec  *uploadRecord
	next int            // index of the chunk to open next
	cur  storage.Reader // the open chunk, or nil
	left int64          // bytes still expected from cur
	pos  int64          // bytes read so far
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if c.next == len(c.rec.Chunks) {
				if c.pos != c.rec.Length {
					return 0, fmt.Errorf("photo: upload %s: the chunks hold %d bytes, not %d", c.rec.Key, c.pos, c.rec.Length)
				}
				return 0, io.EOF
			}
			ch := c.rec.Chunks[c.next]
			if ch.Offset != c.pos {
				return 0, fmt.Errorf("photo: upload %s: no chunk at byte %d", c.rec.Key, c.pos)
			}
			r, err := c.m.bucket.Open(c.ctx, chunkKey(c.rec.Key, ch))
			if err != nil {
				return 0, wrapErr(err, "upload %s", c.rec.Key)
			}
			c.cur, c.left = r, ch.Size
			c.next++
		}
		if c.left == 0 {
			c.cur.Close()
			c.cur = nil
			continue
		}
		if int64(len(p)) > c.left {
			p = p[:c.left]
		}
		n, err := c.cur.Read(p)
		c.left -= int64(n)
		c.pos += int64(n)
		if err == io.EOF {
			if c.left > 0 {
				return n, wrapErr(io.ErrUnexpectedEOF, "upload %s: a chunk ends early", c.rec.Key)
			}
			err = nil
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// Close closes the open chunk, if any.
func (c *chunkReader) Close() error {
	if c.cur != nil {
		c.cur.Close()
		c.cur = nil
	}
	return nil
}

// DeleteUpload removes the upload key and its bytes, or returns an error
// wrapping ErrNotFound when there is no such upload.
func (m *Manager) DeleteUpload(ctx context.Context, key string) error {
	rec, _, err := m.loadUpload(ctx, key)
	if err != nil {
		return err
	}
	if err := m.deleteUpload(ctx, key, rec.Owner); err != nil {
		return wrapErr(err, "delete upload %s", key)
	}
	return nil
}

// deleteUpload removes the record first, so that the upload is gone in one
// step, then its entry in owner's quota index, then the chunks; chunks a
// failure leaves are Sweep's to remove.
func (m *Manager) deleteUpload(ctx context.Context, key, owner string) error {
	if err := m.bucket.Delete(ctx, uploadMetaKey(key)); err != nil {
		return err
	}
	m.unreserve(ctx, m.uploadQuota(), owner, key, -1)
	return deletePrefix(ctx, m.bucket, uploadPrefix(key))
}

// removeUpload is deleteUpload on a context of its own, for clean-up that
// must not depend on the caller's request; a failure is only logged.
func (m *Manager) removeUpload(ctx context.Context, key, owner string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := m.deleteUpload(ctx, key, owner); err != nil {
		m.cfg.log.Warn("photo: removing an upload failed; Sweep will", "upload", key, "err", err)
	}
}

// discardKeys removes objects on a context of its own, logging failures.
func (m *Manager) discardKeys(ctx context.Context, keys ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, k := range keys {
		if err := m.bucket.Delete(ctx, k); err != nil {
			m.cfg.log.Warn("photo: clean-up failed; Sweep will remove the object", "key", k, "err", err)
		}
	}
}

// readUploadRecord reads an upload's record whatever its expiry; a missing
// one is an error wrapping storage.ErrNotFound.
func (m *Manager) readUploadRecord(ctx context.Context, key string) (*uploadRecord, string, error) {
	var rec uploadRecord
	etag, err := getJSON(ctx, m.bucket, uploadMetaKey(key), &rec)
	if err != nil {
		return nil, "", fmt.Errorf("upload %s: %w", key, err)
	}
	if rec.Key != key {
		return nil, "", fmt.Errorf("upload %s: the record names upload %q", key, rec.Key)
	}
	return &rec, etag, nil
}
