package photo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/profilephoto/photo/storage"
)

// File is a stored file that photos can be set from (Chatter's fileId). A
// file has numbered versions, 1 first; new bytes make a new version. Every
// version is an image that passed the same validation as Set. A file that
// no photo was set from lives Quotas.FileTTL after its latest version; one
// that a photo was set from stays until deleted. Files count against their
// owner's Quotas while they exist.
type File struct {
	// ID is 18 characters and starts with "069", as Salesforce's do.
	ID string
	// Name is the file name the uploader gave.
	Name string
	// Owner is the user ID of the uploader.
	Owner string
	// Created is when the first version was stored.
	Created time.Time
	// Expires is when the file stops existing: Quotas.FileTTL after its
	// latest version. Zero when it does not expire: once a photo was set
	// from it, or when FileTTL is negative.
	Expires time.Time
	// Versions are the file's versions, oldest first.
	Versions []FileVersion
}

// FileVersion describes one version of a File.
type FileVersion struct {
	// Number is the version's number, 1 for the first.
	Number int
	// Bytes is the version's length.
	Bytes int64
	// ContentType is the media type sniffed from the bytes.
	ContentType string
	// Created is when the version was stored.
	Created time.Time
}

// fileExpires is when f stops existing, zero for never. An unused file
// stored without an expiry (before files expired, or while FileTTL was
// negative) expires FileTTL after its latest version if FileTTL is now
// positive.
func (m *Manager) fileExpires(f *fileRecord) time.Time {
	if f.Used {
		return time.Time{}
	}
	if !f.Expires.IsZero() || m.cfg.quotas.FileTTL < 0 || len(f.Versions) == 0 {
		return f.Expires
	}
	return f.Versions[len(f.Versions)-1].Created.Add(m.cfg.quotas.FileTTL)
}

// fileExpired reports whether f has expired at now.
func (m *Manager) fileExpired(f *fileRecord, now time.Time) bool {
	e := m.fileExpires(f)
	return !e.IsZero() && !now.Before(e)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func newFileID() string {
	b := make([]byte, 15)
	rand.Read(b)
	for i := range b {
		b[i] = base62[int(b[i])%len(base62)]
	}
	return "069" + string(b)
}

func validFileID(id string) bool {
	if len(id) != 18 || id[:3] != "069" {
		return false
	}
	for i := 3; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// maxFileVersions is the most versions a file may ever have, whatever
// Quotas.FileVersions says. A file's record lists them all, so the bound
// keeps it small.
const maxFileVersions = 250

// CreateFile stores the image read from r (at most Limits.MaxBytes) as
// version 1 of a new file owned by owner. The image must pass the same
// validation as Set (else an *Error); the bytes are stored as they came.
// The name is kept for information; it must be valid UTF-8 without control
// characters, at most maxNameLen bytes (else an error matching
// ErrInvalidInput). A file beyond the owner's Quotas (Files, FileBytes) is
// refused with ErrQuotaExceeded.
func (m *Manager) CreateFile(ctx context.Context, owner, name string, r io.Reader) (*File, error) {
	if err := checkUserID(owner); err != nil {
		return nil, err
	}
	if !validName(name, maxNameLen) {
		return nil, inputError(CodeBadArgument, nil, "the file name must be valid UTF-8 of at most %d bytes without control characters", maxNameLen)
	}
	f := &fileRecord{ID: newFileID(), Name: name, Owner: owner, Created: m.cfg.now().UTC(), Keys: map[int]string{}}
	return m.addVersion(ctx, f, "", r)
}

// AddFileVersion stores the image read from r as the next version of the
// file fileID, validated as by CreateFile, and renews the file's expiry. A
// file that has Quotas.FileVersions versions takes no more, and the
// owner's Quotas.FileBytes bounds the bytes of all their files (else a
// ErrQuotaExceeded).
func (m *Manager) AddFileVersion(ctx context.Context, fileID string, r io.Reader) (*File, error) {
	f, etag, err := m.loadFile(ctx, fileID)
	if err != nil {
		return nil, err
	}
	return m.addVersion(ctx, f, etag, r)
}

func (m *Manager) addVersion(ctx context.Context, f *fileRecord, etag string, r io.Reader) (*File, error) {
	if r == nil {
		return nil, &Error{Code: CodeMissing}
	}
	if err := m.checkVersionCount(f); err != nil {
		return nil, err
	}
	data, err := readUpload(ctx, r, m.cfg.limits)
	if err != nil {
		return nil, err
	}
	ct, err := m.checkImage(ctx, data)
	if err != nil {
		return nil, err
	}
	now := m.cfg.now().UTC()
	var expires time.Time
	if ttl := m.cfg.quotas.FileTTL; ttl > 0 && !f.Used {
		expires = now.Add(ttl)
	}
	// The quota entry comes first: what a failure leaves behind is counted
	// until it is checked, never stored without being counted.
	fq, size := m.fileQuota(), int64(len(data))
	if err := m.reserve(ctx, fq, f.Owner, f.ID, size, expires); err != nil {
		return nil, err
	}
	isNew := etag == ""
	unreserve := func() {
		if isNew {
			m.unreserve(ctx, fq, f.Owner, f.ID, -1)
		} else {
			m.unreserve(ctx, fq, f.Owner, f.ID, size)
		}
	}
	key := "files/" + f.ID + "/" + newNonce(5)
	if _, err := m.bucket.Put(ctx, key, bytes.NewReader(data), &storage.PutOptions{ContentType: ct, IfAbsent: true}); err != nil {
		unreserve()
		return nil, wrapErr(err, "store file %s", f.ID)
	}
	for {
		n := len(f.Versions) + 1
		f.Versions = append(f.Versions, fileVersionRecord{Number: n, Bytes: size, ContentType: ct, Created: now})
		f.Keys[n] = key
		f.Expires = expires
		if f.Used {
			// Used meanwhile: a used file does not expire (its quota
			// entry, made never to expire by the use, stays so).
			f.Expires = time.Time{}
		}
		_, err = putJSON(ctx, m.bucket, fileKey(f.ID), f, etag)
		if err == nil {
			return f.file(f.Expires), nil
		}
		// The write may have been applied although Put failed (a lost
		// response; an S3 retry of an applied conditional write reports
		// a lost precondition): only the record tells.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		cur, curETag, lerr := m.readFile(rctx, f.ID)
		cancel()
		if lerr == nil && slices.Contains(slices.Collect(maps.Values(cur.Keys)), key) {
			return cur.file(cur.Expires), nil
		}
		if !errors.Is(err, storage.ErrPrecondition) {
			// The write may yet be applied: Sweep removes the blob if no
			// record comes to list it, and the quota entry is checked.
			return nil, wrapErr(err, "store file %s", f.ID)
		}
		if etag == "" || lerr != nil {
			m.discardKeys(ctx, key)
			unreserve()
			if lerr != nil && etag != "" {
				return nil, lerr
			}
			return nil, wrapErr(err, "store file %s", f.ID)
		}
		// Another version was added meanwhile: number ours after it.
		f, etag = cur, curETag
		if err := m.checkVersionCount(f); err != nil {
			m.discardKeys(ctx, key)
			unreserve()
			return nil, err
		}
	}
}

func (m *Manager) checkVersionCount(f *fileRecord) error {
	if max := m.cfg.quotas.FileVersions; len(f.Versions) >= max {
		return quotaError("file_versions", int64(max))
	}
	return nil
}

// checkImage judges data as Set does, pixels decoded, holding its share
// of the memory budget as Set does, and returns its sniffed media type.
func (m *Manager) checkImage(ctx context.Context, data []byte) (string, error) {
	src, format, err := prepareSource(data, m.cfg.limits)
	if err != nil {
		return "", err
	}
	// Sized as a Set without a crop would be: an upper bound of a decode.
	need := footprint(format, data, src, m.spec(src, nil, m.cfg.fit))
	if err := m.acquire(ctx, need); err != nil {
		return "", err
	}
	defer m.release(need)
	if src.rows != nil {
		if err := drain(src.rows); err != nil {
			return "", decodeError(format, err)
		}
	} else if _, err := decode(format, data, src, m.cpu); err != nil {
		return "", err
	}
	return src.mime, nil
}

// errFileNotFound is the refusal of a file ID that names no file.
func errFileNotFound() error { return notFound("the file does not exist") }

// File returns the file fileID, or ErrNotFound (also once it expired).
func (m *Manager) File(ctx context.Context, fileID string) (*File, error) {
	f, _, err := m.loadFile(ctx, fileID)
	if err != nil {
		return nil, err
	}
	return f.file(m.fileExpires(f)), nil
}

// loadFile reads a file's record and ETag; an expired file is not found.
func (m *Manager) loadFile(ctx context.Context, fileID string) (*fileRecord, string, error) {
	f, etag, err := m.readFile(ctx, fileID)
	if err == nil && m.fileExpired(f, m.cfg.now()) {
		return nil, "", errFileNotFound()
	}
	return f, etag, err
}

// readFile reads a file's record and ETag whatever its expiry.
func (m *Manager) readFile(ctx context.Context, fileID string) (*fileRecord, string, error) {
	if !validFileID(fileID) {
		return nil, "", errFileNotFound()
	}
	var f fileRecord
	etag, err := getJSON(ctx, m.bucket, fileKey(fileID), &f)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", errFileNotFound()
	}
	if err != nil {
		return nil, "", wrapErr(err, "file %q", fileID)
	}
	return &f, etag, nil
}

// openFile opens version version of the file fileID (the latest when
// version is 0) and returns its number. The caller must Close the reader.
func (m *Manager) openFile(ctx context.Context, fileID string, version int) (storage.Reader, int, error) {
	f, _, err := m.loadFile(ctx, fileID)
	if err != nil {
		return nil, 0, err
	}
	if version == 0 {
		version = len(f.Versions)
	}
	if version < 1 || version > len(f.Versions) {
		return nil, 0, notFound("the file version does not exist")
	}
	r, err := m.bucket.Open(ctx, f.Keys[version])
	if err != nil {
		return nil, 0, wrapErr(err, "file %q version %d", fileID, version)
	}
	return r, version, nil
}

// SetFromFile is Set with the bytes of version version of the file fileID
// (the latest when version is 0); ErrNotFound when there is no such file or
// version. The file then no longer expires.
func (m *Manager) SetFromFile(ctx context.Context, userID, fileID string, version int, opts *SetOptions) (*Photo, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	r, n, err := m.openFile(ctx, fileID, version)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p, err := m.set(ctx, userID, r, opts, setArgs{source: &storedSource{FileID: fileID, Version: n}})
	if err != nil {
		return nil, err
	}
	m.markFileUsed(ctx, fileID)
	return p, nil
}

// markFileUsed records that a photo was set from the file fileID, so that
// it stops expiring: its quota entry first (never to expire), then its
// record. A failure is only logged: the photo is set, and the file at
// worst expires as an unused one does.
func (m *Manager) markFileUsed(ctx context.Context, fileID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for attempt := 0; ; attempt++ {
		f, etag, err := m.loadFile(ctx, fileID)
		switch {
		case errors.Is(err, ErrNotFound):
			return // deleted meanwhile
		case err == nil && f.Used:
			return
		case err == nil && attempt == 0:
			// An entry that went missing is made again only within the
			// quota: a file that cannot be counted is not kept.
			err = m.reserve(ctx, m.fileQuota(), f.Owner, f.ID, 0, time.Time{})
		}
		if err == nil {
			f.Used, f.Expires = true, time.Time{}
			if _, err = putJSON(ctx, m.bucket, fileKey(f.ID), f, etag); err == nil {
				return
			}
		}
		if !errors.Is(err, storage.ErrPrecondition) || attempt >= 100 {
			m.cfg.log.Warn("photo: marking a file used failed; it expires as an unused file", "file", fileID, "err", err)
			return
		}
	}
}

// DeleteFile removes the file fileID with all its versions, or returns an
// ErrNotFound when there is no such file. Photos set
// from the file are not affected: they hold their own renditions. The
// caller decides who may delete the file (see File.Owner).
func (m *Manager) DeleteFile(ctx context.Context, fileID string) error {
	f, _, err := m.loadFile(ctx, fileID)
	if err != nil {
		return err
	}
	if err := m.deleteFile(ctx, f); err != nil {
		return wrapErr(err, "delete file %s", fileID)
	}
	return nil
}

// deleteFile removes the record first, so that the file is gone in one
// step, then its quota entry and its blobs; blobs a failure leaves are
// Sweep's to remove.
func (m *Manager) deleteFile(ctx context.Context, f *fileRecord) error {
	if err := m.bucket.Delete(ctx, fileKey(f.ID)); err != nil {
		return err
	}
	m.unreserve(ctx, m.fileQuota(), f.Owner, f.ID, -1)
	return deletePrefix(ctx, m.bucket, "files/"+f.ID+"/")
}
