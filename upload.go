package photo

// Resumable uploads: a client declares an image's length and type, sends
// its bytes in chunks (resuming after a broken connection), and then sets a
// user's photo from it (the three-step upload of seed 001).
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
// between the two writes) is never read, and ExpireUploads removes it once
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
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/profilephoto/photo/storage"
)

// DefaultUploadTTL is how long an upload lives when CreateUpload is given
// no TTL.
const DefaultUploadTTL = 24 * time.Hour

// MaxUploadChunks is the most chunks one upload may be sent in. Each
// accepted chunk is one stored object and one entry of the upload's
// record, so the bound keeps both small: a 20 MiB upload must come in
// chunks of 20 KiB or more on average.
const MaxUploadChunks = 1024

// MaxUploadNameLen is the longest upload name, in bytes.
const MaxUploadNameLen = 255

// uploadKeyLen is the length of an upload key: 10 characters of
// [A-Za-z0-9], about 59 bits, as seed 001's attachment keys.
const uploadKeyLen = 10

// uploadOrphanGrace is how old a chunk object that no upload record lists
// must be before ExpireUploads removes it. A chunk is listed within a
// moment of being written, so an hour is ample.
const uploadOrphanGrace = time.Hour

// ErrUploadConflict matches an *UploadRangeError for a chunk that does not
// continue the upload: it starts after the bytes received so far (a gap),
// its overlap with them holds different bytes, or another request appended
// first.
var ErrUploadConflict = errors.New("photo: upload conflict")

// ErrUploadRange matches an *UploadRangeError for a chunk that cannot
// belong to the upload at all: it reaches past the declared length, its
// total is not the declared length, or its range is negative.
var ErrUploadRange = errors.New("photo: upload range not satisfiable")

// ErrUploadIncomplete is returned by SetFromUpload for an upload that has
// not received all its bytes.
var ErrUploadIncomplete = errors.New("photo: upload incomplete")

// UploadRangeError says why AppendUpload refused a chunk, and where the
// upload stands so that the client can resume. Err is ErrUploadConflict or
// ErrUploadRange; errors.Is matches it.
type UploadRangeError struct {
	// Key is the upload's key.
	Key string
	// Received is how many bytes the upload holds.
	Received int64
	// Length is the declared length.
	Length int64
	// Reason says what is wrong, in words safe to show.
	Reason string
	// Err is ErrUploadConflict or ErrUploadRange.
	Err error
}

// Error implements error.
func (e *UploadRangeError) Error() string {
	return fmt.Sprintf("photo: upload %s: %s (received %d of %d bytes)", e.Key, e.Reason, e.Received, e.Length)
}

// Unwrap returns Err.
func (e *UploadRangeError) Unwrap() error { return e.Err }

// Upload describes a resumable upload.
type Upload struct {
	// Key names the upload: 10 characters of [A-Za-z0-9].
	Key string `json:"key"`
	// Owner is the user ID of the upload's creator.
	Owner string `json:"owner"`
	// Name is the file name the creator gave.
	Name string `json:"name"`
	// ContentType is the declared type: image/jpeg, image/png, image/gif
	// or image/webp. Set sniffs the bytes whatever it says.
	ContentType string `json:"contentType"`
	// Length is the declared length in bytes.
	Length int64 `json:"length"`
	// Received is how many bytes, from the first, have been accepted.
	Received int64 `json:"received"`
	// Created is when the upload was created.
	Created time.Time `json:"created"`
	// Expires is when the upload, finished or not, stops existing.
	Expires time.Time `json:"expires"`
}

// Complete reports whether every declared byte has been received.
func (u *Upload) Complete() bool { return u.Received == u.Length }

// uploadRecord is what uploads/<key>/meta.json holds.
type uploadRecord struct {
	Upload
	Chunks []uploadChunk `json:"chunks"`
}

// uploadChunk is one accepted chunk: Size bytes from Offset, stored under
// the name chunkKey makes of Offset and Nonce.
type uploadChunk struct {
	Offset int64  `json:"o"`
	Size   int64  `json:"s"`
	Nonce  string `json:"n"`
}

func uploadPrefix(key string) string { return "uploads/" + key + "/" }

func uploadMetaKey(key string) string { return uploadPrefix(key) + "meta.json" }

func chunkKey(key string, c uploadChunk) string {
	return fmt.Sprintf("%sc/%020d.%s", uploadPrefix(key), c.Offset, c.Nonce)
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

// uploadContentType returns the canonical form of an image type an upload
// may declare (image/jpg is image/jpeg; parameters and case are dropped),
// and false for any other type.
func uploadContentType(contentType string) (string, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	switch mt {
	case "image/jpeg", "image/jpg":
		return "image/jpeg", true
	case "image/png", "image/gif", "image/webp":
		return mt, true
	}
	return "", false
}

// CreateUpload begins a resumable upload of length bytes of contentType by
// owner, living for ttl (DefaultUploadTTL when ttl is not positive). The
// length must be between 1 and Limits.MaxBytes (else an *Error with
// CodeFileTooLarge, or CodeNotImage for an empty upload); the type must be
// image/jpeg (or its alias image/jpg), image/png, image/gif or image/webp,
// parameters and case aside (else CodeUnsupportedFormat). The name is
// kept for information; it must be valid UTF-8 without control characters,
// at most MaxUploadNameLen bytes (else an error matching ErrInvalidInput).
// An upload beyond the owner's Quotas (Uploads, UploadBytes) is refused
// with a *QuotaError; setting a photo from an upload, deleting it or its
// expiry frees its share.
func (m *Manager) CreateUpload(ctx context.Context, owner, name, contentType string, length int64, ttl time.Duration) (*Upload, error) {
	if err := checkUserID(owner); err != nil {
		return nil, err
	}
	if !validName(name, MaxUploadNameLen) {
		return nil, fmt.Errorf("photo: create upload: the name must be valid UTF-8 of at most %d bytes without control characters: %w", MaxUploadNameLen, ErrInvalidInput)
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
		ttl = DefaultUploadTTL
	}
	now := m.cfg.now().UTC()
	rec := &uploadRecord{Upload: Upload{
		Owner: owner, Name: name, ContentType: ct, Length: length,
		Created: now, Expires: now.Add(ttl),
	}, Chunks: []uploadChunk{}}
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
			u := rec.Upload
			return &u, nil
		}
		if errors.Is(err, storage.ErrPrecondition) {
			// Not written: the entry goes.
			m.unreserve(uq, owner, rec.Key, -1)
		}
		// A key already taken (one chance in 2^59): draw another.
		if !errors.Is(err, storage.ErrPrecondition) || attempt >= 3 {
			return nil, fmt.Errorf("photo: create upload: %w", err)
		}
	}
}

// validName reports whether name is valid UTF-8 of at most max bytes
// without control characters.
func validName(name string, max int) bool {
	if len(name) > max || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// Upload returns the upload key, or an error wrapping ErrNotFound if there
// is none or it has expired.
func (m *Manager) Upload(ctx context.Context, key string) (*Upload, error) {
	rec, _, err := m.loadUpload(ctx, key)
	if err != nil {
		return nil, err
	}
	u := rec.Upload
	return &u, nil
}

// loadUpload reads an upload's record and ETag. An expired upload is
// removed and reported as not found.
func (m *Manager) loadUpload(ctx context.Context, key string) (*uploadRecord, string, error) {
	notFound := fmt.Errorf("photo: upload %q: %w", key, ErrNotFound)
	if !validUploadKey(key) {
		return nil, "", notFound
	}
	rec, etag, err := m.readUploadRecord(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", notFound
	}
	if err != nil {
		return nil, "", fmt.Errorf("photo: %w", err)
	}
	if !m.cfg.now().Before(rec.Expires) {
		m.removeUpload(key, rec.Owner)
		return nil, "", notFound
	}
	return rec, etag, nil
}

// storeUploadRecord writes rec if the stored record's ETag is still etag
// ("" means none may exist yet), and returns the new ETag.
func (m *Manager) storeUploadRecord(ctx context.Context, rec *uploadRecord, etag string) (string, error) {
	return putJSON(ctx, m.store, uploadMetaKey(rec.Key), rec, etag)
}

// AppendUpload adds the n bytes read from r, which the client says belong
// at offset of the upload key, and returns where the upload then stands.
// total is the client's idea of the whole length (-1 when it does not say,
// as Content-Range's "*"). A chunk of no bytes changes nothing: it asks how
// far the upload got.
//
//   - offset equal to the bytes received: the bytes are appended.
//   - offset before it: the bytes that overlap what was received must be
//     the same (else ErrUploadConflict); those beyond are appended. Sending
//     a chunk again is harmless.
//   - offset after it (a gap), or another request appending first: an
//     *UploadRangeError matching ErrUploadConflict, which tells how many
//     bytes were received.
//   - bytes past the declared length, or a total other than it: an
//     *UploadRangeError matching ErrUploadRange.
//
// AppendUpload reads exactly n bytes from r; if r ends sooner, the error
// wraps io.ErrUnexpectedEOF. On any error nothing of the chunk is kept.
// An unknown or expired key gives an error wrapping ErrNotFound.
func (m *Manager) AppendUpload(ctx context.Context, key string, offset, total int64, r io.Reader, n int64) (*Upload, error) {
	if r == nil {
		r = bytes.NewReader(nil)
	}
	rec, etag, err := m.loadUpload(ctx, key)
	if err != nil {
		return nil, err
	}
	refuse := func(sentinel error, format string, args ...any) error {
		return &UploadRangeError{Key: key, Received: rec.Received, Length: rec.Length, Reason: fmt.Sprintf(format, args...), Err: sentinel}
	}
	switch {
	case offset < 0 || n < 0 || total < -1:
		return nil, refuse(ErrUploadRange, "the range is negative")
	case total >= 0 && total != rec.Length:
		return nil, refuse(ErrUploadRange, "the total length %d is not the declared length %d", total, rec.Length)
	case n == 0:
		u := rec.Upload
		return &u, nil
	case offset > rec.Length-n:
		return nil, refuse(ErrUploadRange, "the chunk ends past the declared length")
	case offset > rec.Received:
		return nil, refuse(ErrUploadConflict, "the chunk starts at byte %d, after the bytes received", offset)
	}
	if overlap := min(n, rec.Received-offset); overlap > 0 {
		same, err := m.sameUploadBytes(ctx, rec, offset, r, overlap)
		if err != nil {
			return nil, fmt.Errorf("photo: append to upload %s: %w", key, err)
		}
		if !same {
			return nil, refuse(ErrUploadConflict, "the chunk's bytes differ from those already received")
		}
		offset += overlap
		n -= overlap
	}
	if n == 0 {
		u := rec.Upload
		return &u, nil
	}
	if len(rec.Chunks) >= MaxUploadChunks {
		return nil, refuse(ErrUploadRange, "the upload has %d chunks already; send larger chunks", MaxUploadChunks)
	}

	c := uploadChunk{Offset: offset, Size: n, Nonce: newNonce(5)}
	ck := chunkKey(key, c)
	body := &exactReader{r: r, left: n}
	if _, err := m.store.Put(ctx, ck, body, &storage.PutOptions{ContentType: "application/octet-stream", IfAbsent: true}); err != nil {
		if body.err != nil {
			err = body.err
		}
		return nil, fmt.Errorf("photo: append to upload %s: %w", key, err)
	}
	rec.Chunks = append(rec.Chunks, c)
	rec.Received += n
	if _, err := m.storeUploadRecord(ctx, rec, etag); err != nil {
		// The write may have been applied although Put failed (a lost
		// response; an S3 retry of an applied conditional write reports
		// a lost precondition): only the record tells, and a chunk it
		// lists must stay.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		cur, _, lerr := m.readUploadRecord(rctx, key)
		cancel()
		if lerr == nil && slices.Contains(cur.Chunks, c) {
			u := cur.Upload
			return &u, nil
		}
		if !errors.Is(err, storage.ErrPrecondition) {
			// The write may yet be applied: ExpireUploads removes the
			// chunk if no record comes to list it.
			return nil, fmt.Errorf("photo: append to upload %s: %w", key, err)
		}
		m.discardKeys(ck)
		if lerr != nil {
			// Another request removed the upload, or it cannot be read.
			if errors.Is(lerr, storage.ErrNotFound) {
				return nil, fmt.Errorf("photo: upload %q: %w", key, ErrNotFound)
			}
			return nil, fmt.Errorf("photo: append to upload %s: %w", key, lerr)
		}
		// Another request changed the upload first.
		rec = cur
		return nil, refuse(ErrUploadConflict, "another request appended to the upload first")
	}
	u := rec.Upload
	return &u, nil
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
			sr, err := m.store.Open(ctx, chunkKey(rec.Key, c))
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
// removed once the photo is set. It fails with an error wrapping
// ErrUploadIncomplete while bytes are missing, and one wrapping ErrNotFound
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
	if !rec.Complete() {
		return nil, fmt.Errorf("photo: set %q from upload %s: %w (received %d of %d bytes)", userID, key, ErrUploadIncomplete, rec.Received, rec.Length)
	}
	cr := &chunkReader{ctx: ctx, m: m, rec: rec}
	defer cr.Close()
	p, err := m.Set(ctx, userID, cr, opts)
	if err != nil {
		return nil, err
	}
	m.removeUpload(key, rec.Owner)
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
			r, err := c.m.store.Open(c.ctx, chunkKey(c.rec.Key, ch))
			if err != nil {
				return 0, fmt.Errorf("photo: upload %s: %w", c.rec.Key, err)
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
				return n, fmt.Errorf("photo: upload %s: a chunk ends early: %w", c.rec.Key, io.ErrUnexpectedEOF)
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
		return fmt.Errorf("photo: delete upload %s: %w", key, err)
	}
	return nil
}

// deleteUpload removes the record first, so that the upload is gone in one
// step, then its entry in owner's quota index, then the chunks; chunks a
// failure leaves are ExpireUploads' to remove.
func (m *Manager) deleteUpload(ctx context.Context, key, owner string) error {
	if err := m.store.Delete(ctx, uploadMetaKey(key)); err != nil {
		return err
	}
	m.unreserve(m.uploadQuota(), owner, key, -1)
	return deletePrefix(ctx, m.store, uploadPrefix(key))
}

// removeUpload is deleteUpload on a context of its own, for clean-up that
// must not depend on the caller's request; a failure is only logged.
func (m *Manager) removeUpload(key, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.deleteUpload(ctx, key, owner); err != nil {
		m.cfg.log.Warn("photo: removing an upload failed; ExpireUploads will", "upload", key, "err", err)
	}
}

// discardKeys removes objects on a context of its own, logging failures.
func (m *Manager) discardKeys(keys ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, k := range keys {
		if err := m.store.Delete(ctx, k); err != nil {
			m.cfg.log.Warn("photo: clean-up failed; ExpireUploads will remove the object", "key", k, "err", err)
		}
	}
}

// ExpireUploads removes every upload whose Expires has passed, with its
// bytes, and every file whose Expires has passed (see Quotas.FileTTL),
// with its versions, and returns how many uploads and files it removed.
// It also removes chunk objects that no upload lists (left by a crash
// between a chunk's write and its record's) once they are an hour old.
// Expired uploads and files are refused as soon as they expire whether or
// not this runs; it reclaims their space, so a server should call it now
// and then. It is safe to run at any time, from any number of processes
// sharing the store.
func (m *Manager) ExpireUploads(ctx context.Context) (int, error) {
	now := m.cfg.now()
	removed := 0
	var key string
	var objs []storage.Attrs
	// judge decides the fate of one upload's objects, listed before its
	// record is read: a chunk committed meanwhile is in the record.
	judge := func() error {
		if key == "" || len(objs) == 0 {
			return nil
		}
		defer func() { objs = objs[:0] }()
		rec, _, err := m.readUploadRecord(ctx, key)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			rec = nil
		case err != nil:
			// An unreadable record protects its upload's bytes: never
			// delete what might be in use. Carry on with the others.
			m.cfg.log.Warn("photo: expire uploads: skipping an unreadable upload", "upload", key, "err", err)
			return nil
		}
		if rec != nil && !now.Before(rec.Expires) {
			if err := m.deleteUpload(ctx, key, rec.Owner); err != nil {
				return err
			}
			removed++
			return nil
		}
		listed := map[string]bool{uploadMetaKey(key): true}
		if rec != nil {
			for _, c := range rec.Chunks {
				listed[chunkKey(key, c)] = true
			}
		}
		for _, o := range objs {
			if !listed[o.Key] && now.Sub(o.ModTime) > uploadOrphanGrace {
				if err := m.store.Delete(ctx, o.Key); err != nil {
					return err
				}
			}
		}
		return nil
	}
	token := ""
	for {
		page, err := m.store.List(ctx, "uploads/", &storage.ListOptions{PageToken: token})
		if err != nil {
			return removed, fmt.Errorf("photo: expire uploads: %w", err)
		}
		for _, o := range page.Objects {
			parts := strings.SplitN(o.Key, "/", 3) // uploads, <key>, rest
			if len(parts) < 3 {
				continue
			}
			if parts[1] != key {
				if err := judge(); err != nil {
					return removed, fmt.Errorf("photo: expire uploads: %w", err)
				}
				key = parts[1]
			}
			objs = append(objs, o)
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
	}
	if err := judge(); err != nil {
		return removed, fmt.Errorf("photo: expire uploads: %w", err)
	}
	n, err := m.expireFiles(ctx)
	removed += n
	if err != nil {
		return removed, fmt.Errorf("photo: expire files: %w", err)
	}
	return removed, nil
}

// readUploadRecord reads an upload's record whatever its expiry; a missing
// one is an error wrapping storage.ErrNotFound.
func (m *Manager) readUploadRecord(ctx context.Context, key string) (*uploadRecord, string, error) {
	var rec uploadRecord
	etag, err := getJSON(ctx, m.store, uploadMetaKey(key), &rec)
	if err != nil {
		return nil, "", fmt.Errorf("upload %s: %w", key, err)
	}
	if rec.Key != key {
		return nil, "", fmt.Errorf("upload %s: the record names upload %q", key, rec.Key)
	}
	return &rec, etag, nil
}
