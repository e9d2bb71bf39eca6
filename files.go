package photo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/profilephoto/photo/storage"
)

// ErrFileNotFound is returned for a file ID or file version that does not
// exist.
var ErrFileNotFound = errors.New("photo: file not found")

// FileRef names one version of a stored file.
type FileRef struct {
	FileID  string `json:"fileId"`
	Version int    `json:"version"`
}

// File is a stored file that photos can be set from (Chatter's fileId). A
// file has numbered versions, 1 first; new bytes make a new version. Every
// version is an image that passed the same validation as Set. A file that
// no photo was set from lives Quotas.FileTTL after its latest version; one
// that a photo was set from stays until deleted. Files count against their
// owner's Quotas while they exist.
type File struct {
	// ID is 18 characters and starts with "069", as Salesforce's do.
	ID string `json:"id"`
	// Name is the file name the uploader gave.
	Name string `json:"name"`
	// Owner is the user ID of the uploader.
	Owner string `json:"owner"`
	// Created is when the first version was stored.
	Created time.Time `json:"created"`
	// Versions are the file's versions, oldest first.
	Versions []FileVersion `json:"versions"`
	// Expires is when the file stops existing: Quotas.FileTTL after its
	// latest version. Zero when it does not expire: once Used, or when
	// FileTTL is negative.
	Expires time.Time `json:"expires,omitzero"`
	// Used is set once a photo was set from the file (SetFromFile): the
	// file then stays until deleted, as the source of a photo.
	Used bool `json:"used,omitempty"`
}

// FileVersion describes one version of a File.
type FileVersion struct {
	// Number is the version's number, 1 for the first.
	Number int `json:"number"`
	// Bytes is the version's length.
	Bytes int64 `json:"bytes"`
	// ContentType is the media type sniffed from the bytes.
	ContentType string `json:"contentType"`
	// Created is when the version was stored.
	Created time.Time `json:"created"`
}

type fileMeta struct {
	File
	Keys map[int]string `json:"keys"`
}

// bytes is the length of all the file's versions.
func (f *fileMeta) bytes() int64 {
	var n int64
	for _, v := range f.Versions {
		n += v.Bytes
	}
	return n
}

// fileExpires is when f stops existing, zero for never. An unused file
// stored without an expiry (before files expired, or while FileTTL was
// negative) expires FileTTL after its latest version if FileTTL is now
// positive.
func (m *Manager) fileExpires(f *fileMeta) time.Time {
	if f.Used {
		return time.Time{}
	}
	if !f.Expires.IsZero() || m.cfg.quotas.FileTTL < 0 || len(f.Versions) == 0 {
		return f.Expires
	}
	return f.Versions[len(f.Versions)-1].Created.Add(m.cfg.quotas.FileTTL)
}

// fileExpired reports whether f has expired at now.
func (m *Manager) fileExpired(f *fileMeta, now time.Time) bool {
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

func fileKey(id string) string { return "files/" + id + "/meta.json" }

// MaxFileNameLen is the longest file name, in bytes, that CreateFile
// accepts.
const MaxFileNameLen = 255

// MaxFileVersions is the most versions a file may ever have, whatever
// Quotas.FileVersions says. A file's record lists them all, so the bound
// keeps it small.
const MaxFileVersions = 250

// CreateFile stores the image read from r (at most Limits.MaxBytes) as
// version 1 of a new file owned by owner. The image must pass the same
// validation as Set (else an *Error); the bytes are stored as they came.
// The name is kept for information; it must be valid UTF-8 without control
// characters, at most MaxFileNameLen bytes (else an error matching
// ErrInvalidInput). A file beyond the owner's Quotas (Files, FileBytes) is
// refused with a *QuotaError.
func (m *Manager) CreateFile(ctx context.Context, owner, name string, r io.Reader) (*File, error) {
	if err := checkUserID(owner); err != nil {
		return nil, err
	}
	if !validName(name, MaxFileNameLen) {
		return nil, fmt.Errorf("photo: create file: the name must be valid UTF-8 of at most %d bytes without control characters: %w", MaxFileNameLen, ErrInvalidInput)
	}
	f := &fileMeta{File: File{ID: newFileID(), Name: name, Owner: owner, Created: m.cfg.now().UTC()}, Keys: map[int]string{}}
	return m.addVersion(ctx, f, "", r)
}

// AddFileVersion stores the image read from r as the next version of the
// file fileID, validated as by CreateFile, and renews the file's expiry. A
// file that has Quotas.FileVersions versions takes no more, and the
// owner's Quotas.FileBytes bounds the bytes of all their files (else a
// *QuotaError).
func (m *Manager) AddFileVersion(ctx context.Context, fileID string, r io.Reader) (*File, error) {
	f, etag, err := m.loadFile(ctx, fileID)
	if err != nil {
		return nil, err
	}
	return m.addVersion(ctx, f, etag, r)
}

func (m *Manager) addVersion(ctx context.Context, f *fileMeta, etag string, r io.Reader) (*File, error) {
	if r == nil {
		return nil, ErrMissing
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
			m.unreserve(fq, f.Owner, f.ID, -1)
		} else {
			m.unreserve(fq, f.Owner, f.ID, size)
		}
	}
	key := "files/" + f.ID + "/" + newNonce(5)
	if _, err := m.store.Put(ctx, key, bytes.NewReader(data), &storage.PutOptions{ContentType: ct, IfAbsent: true}); err != nil {
		unreserve()
		return nil, fmt.Errorf("photo: store file %s: %w", f.ID, err)
	}
	for {
		n := len(f.Versions) + 1
		f.Versions = append(f.Versions, FileVersion{Number: n, Bytes: size, ContentType: ct, Created: now})
		f.Keys[n] = key
		f.Expires = expires
		if f.Used {
			// Used meanwhile: a used file does not expire (its quota
			// entry, made never to expire by the use, stays so).
			f.Expires = time.Time{}
		}
		_, err = putJSON(ctx, m.store, fileKey(f.ID), f, etag)
		if err == nil {
			out := f.File
			return &out, nil
		}
		// The write may have been applied although Put failed (a lost
		// response; an S3 retry of an applied conditional write reports
		// a lost precondition): only the record tells.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		cur, curETag, lerr := m.readFile(rctx, f.ID)
		cancel()
		if lerr == nil && slices.Contains(slices.Collect(maps.Values(cur.Keys)), key) {
			out := cur.File
			return &out, nil
		}
		if !errors.Is(err, storage.ErrPrecondition) {
			// The write may yet be applied: Sweep removes the blob if no
			// record comes to list it, and the quota entry is checked.
			return nil, fmt.Errorf("photo: store file %s: %w", f.ID, err)
		}
		if etag == "" || lerr != nil {
			m.discard(key)
			unreserve()
			if lerr != nil && etag != "" {
				return nil, lerr
			}
			return nil, fmt.Errorf("photo: store file %s: %w", f.ID, err)
		}
		// Another version was added meanwhile: number ours after it.
		f, etag = cur, curETag
		if err := m.checkVersionCount(f); err != nil {
			m.discard(key)
			unreserve()
			return nil, err
		}
	}
}

func (m *Manager) checkVersionCount(f *fileMeta) error {
	if max := m.cfg.quotas.FileVersions; len(f.Versions) >= max {
		return &QuotaError{Quota: "file_versions", Limit: int64(max)}
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
	} else if _, err := decode(format, data, src); err != nil {
		return "", err
	}
	return src.mime, nil
}

// File returns the file fileID, or an error wrapping ErrFileNotFound.
func (m *Manager) File(ctx context.Context, fileID string) (*File, error) {
	f, _, err := m.loadFile(ctx, fileID)
	if err != nil {
		return nil, err
	}
	out := f.File
	out.Expires = m.fileExpires(f)
	return &out, nil
}

// loadFile reads a file's record and ETag; an expired file is not found.
func (m *Manager) loadFile(ctx context.Context, fileID string) (*fileMeta, string, error) {
	f, etag, err := m.readFile(ctx, fileID)
	if err == nil && m.fileExpired(f, m.cfg.now()) {
		return nil, "", fmt.Errorf("photo: file %q: %w", fileID, ErrFileNotFound)
	}
	return f, etag, err
}

// readFile reads a file's record and ETag whatever its expiry.
func (m *Manager) readFile(ctx context.Context, fileID string) (*fileMeta, string, error) {
	if !validFileID(fileID) {
		return nil, "", fmt.Errorf("photo: file %q: %w", fileID, ErrFileNotFound)
	}
	var f fileMeta
	etag, err := getJSON(ctx, m.store, fileKey(fileID), &f)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", fmt.Errorf("photo: file %q: %w", fileID, ErrFileNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("photo: file %q: %w", fileID, err)
	}
	return &f, etag, nil
}

// OpenFile opens version version of the file fileID (the latest when
// version is 0). The caller must Close the reader.
func (m *Manager) OpenFile(ctx context.Context, fileID string, version int) (storage.Reader, FileVersion, error) {
	f, _, err := m.loadFile(ctx, fileID)
	if err != nil {
		return nil, FileVersion{}, err
	}
	if version == 0 {
		version = len(f.Versions)
	}
	if version < 1 || version > len(f.Versions) {
		return nil, FileVersion{}, fmt.Errorf("photo: file %q version %d: %w", fileID, version, ErrFileNotFound)
	}
	r, err := m.store.Open(ctx, f.Keys[version])
	if err != nil {
		return nil, FileVersion{}, fmt.Errorf("photo: file %q version %d: %w", fileID, version, err)
	}
	return r, f.Versions[version-1], nil
}

// SetFromFile implements Service.
func (m *Manager) SetFromFile(ctx context.Context, userID, fileID string, version int, opts *SetOptions) (*Photo, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	r, v, err := m.OpenFile(ctx, fileID, version)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var o SetOptions
	if opts != nil {
		o = *opts
	}
	o.source = &FileRef{FileID: fileID, Version: v.Number}
	p, err := m.Set(ctx, userID, r, &o)
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
		case errors.Is(err, ErrFileNotFound):
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
			if _, err = putJSON(ctx, m.store, fileKey(f.ID), f, etag); err == nil {
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
// error wrapping ErrFileNotFound when there is no such file. Photos set
// from the file are not affected: they hold their own renditions. The
// caller decides who may delete the file (see File.Owner).
func (m *Manager) DeleteFile(ctx context.Context, fileID string) error {
	f, _, err := m.loadFile(ctx, fileID)
	if err != nil {
		return err
	}
	if err := m.deleteFile(ctx, f); err != nil {
		return fmt.Errorf("photo: delete file %s: %w", fileID, err)
	}
	return nil
}

// deleteFile removes the record first, so that the file is gone in one
// step, then its quota entry and its blobs; blobs a failure leaves are
// Sweep's to remove.
func (m *Manager) deleteFile(ctx context.Context, f *fileMeta) error {
	if err := m.store.Delete(ctx, fileKey(f.ID)); err != nil {
		return err
	}
	m.unreserve(m.fileQuota(), f.Owner, f.ID, -1)
	return deletePrefix(ctx, m.store, "files/"+f.ID+"/")
}

// expireFiles removes every file whose Expires has passed, and returns how
// many it removed.
func (m *Manager) expireFiles(ctx context.Context) (int, error) {
	now := m.cfg.now()
	removed := 0
	var expired []*fileMeta
	err := m.each(ctx, "files/", func(a storage.Attrs) error {
		id, ok := strings.CutSuffix(strings.TrimPrefix(a.Key, "files/"), "/meta.json")
		if !ok || !validFileID(id) {
			return nil
		}
		f, _, err := m.readFile(ctx, id)
		switch {
		case errors.Is(err, ErrFileNotFound):
		case err != nil:
			// An unreadable record protects its file.
			m.cfg.log.Warn("photo: expire files: skipping an unreadable file", "file", id, "err", err)
		case m.fileExpired(f, now):
			expired = append(expired, f)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, f := range expired {
		if err := m.deleteFile(ctx, f); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// readCapped reads all of r, or fails with ErrFileTooLarge as soon as it
// has more than limit bytes; it never trusts a declared length.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("photo: read upload: %w", err)
	}
	if n > limit {
		return nil, inputError(CodeFileTooLarge, nil, "the file is larger than %s", formatBytes(limit))
	}
	return buf.Bytes(), nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
