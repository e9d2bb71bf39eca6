package photo

// Every object the library stores, and where. The stored formats are
// private types, apart from the public ones, so that the API can change
// without a migration. Each top-level object carries a version, V: 0 for
// objects written before v1 (same field names, read as they are), 1 since;
// an object with a larger V was written by a newer release and is refused,
// never taken for absent.
//
//	users/<hash>/record.json              record: which version is current, the kept earlier ones, the pending import
//	users/<hash>/v/<version>.<nonce>/...  the blobs of one Set (original, renditions, on-demand sizes)
//	files/<id>/meta.json                  fileRecord: a file's versions and their blobs
//	files/<id>/<nonce>                    one file version's bytes
//	uploads/<key>/meta.json               uploadRecord: an upload's declaration and accepted chunks
//	uploads/<key>/c/<offset>.<nonce>      one accepted chunk
//	quotas/<hash>/{uploads,files}.json    quotaIndex (quota.go)

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/profilephoto/photo/storage"
)

// storedVersion is the V that this release writes.
const storedVersion = 1

// userKey returns the storage prefix of a user's objects. The user ID never
// reaches a key: it is hashed, so "..", "/", NUL and very long IDs are all
// safe, and the record holds the ID itself.
func userKey(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return "users/" + hex.EncodeToString(sum[:16])
}

func recordKey(userID string) string { return userKey(userID) + "/record.json" }

// blobPrefix returns the prefix under which one Set writes its blobs. The
// nonce makes it unique to that Set, so a Set of a version that was current
// before can never collide with the clean-up of that earlier version.
func blobPrefix(userID, versionID string) string {
	return userKey(userID) + "/v/" + versionID + "." + newNonce(5) + "/"
}

func fileKey(id string) string { return "files/" + id + "/meta.json" }

func uploadPrefix(key string) string { return "uploads/" + key + "/" }

func uploadMetaKey(key string) string { return uploadPrefix(key) + "meta.json" }

func chunkKey(key string, c uploadChunk) string {
	return fmt.Sprintf("%sc/%020d.%s", uploadPrefix(key), c.Offset, c.Nonce)
}

// record is the one object per user that says which version is current. It
// is only ever replaced with a compare-and-swap on its ETag.
type record struct {
	V        int      `json:"v,omitempty"`
	UserID   string   `json:"userId"`
	Revision int64    `json:"revision"`
	Current  *version `json:"current,omitempty"`
	// History are the earlier versions kept (Options.KeepVersions),
	// newest first; their blobs stay until they are dropped from it.
	// Records written before it existed have none.
	History []*version `json:"history,omitempty"`
	Pending *pending   `json:"pending,omitempty"`
	Updated time.Time  `json:"updated"`
	// Commit is a nonce of the write that made this record, so that a
	// writer whose Put failed can tell whether it happened all the same.
	Commit string `json:"commit,omitempty"`
	// Outbox are the events of changes not yet acknowledged by
	// Options.OnChange, oldest first, at most outboxMax (events.go).
	// Written only by Managers with OnChange set, in the same write as the
	// change; an acknowledgement removes its entries without touching
	// anything else (not even Revision or Commit). Records written before
	// it existed have none.
	Outbox []storedEvent `json:"outbox,omitempty"`

	// emit is the event that a commit's change asks to record; never
	// stored.
	emit *storedEvent
}

// storedEvent is an Event as a record's Outbox keeps it: small, without
// the Photo, which is read again when the event is delivered again.
type storedEvent struct {
	// ID is the Commit nonce of the write that made the change.
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	VersionID string    `json:"versionId,omitempty"`
	Revision  int64     `json:"revision"`
	Time      time.Time `json:"time"`
	// Dropped counts the earlier events that were dropped from a full
	// outbox when this one was recorded (see outboxMax).
	Dropped int64 `json:"dropped,omitempty"`
}

// version is a committed photo: its metadata and where its blobs are.
type version struct {
	ID         string        `json:"id"`
	Prefix     string        `json:"prefix"`
	SourceType string        `json:"sourceType"`
	Width      int           `json:"width"`
	Height     int           `json:"height"`
	Bytes      int64         `json:"bytes"`
	Crop       *storedCrop   `json:"crop,omitempty"`
	Fit        string        `json:"fit,omitempty"`
	Created    time.Time     `json:"created"`
	Source     *storedSource `json:"source,omitempty"`
	Original   blob          `json:"original"`
	Renditions []blob        `json:"renditions"`
	// Placeholder is the ThumbHash of the smallest rendition (string
	// form); absent from versions written before placeholders.
	Placeholder string `json:"placeholder,omitempty"`
}

type storedCrop struct {
	X    int `json:"x"`
	Y    int `json:"y"`
	Size int `json:"size"`
}

// storedSource names the file version a photo was set from.
type storedSource struct {
	FileID  string `json:"fileId"`
	Version int    `json:"version"`
}

type blob struct {
	Name        string `json:"name"`
	Size        int    `json:"size"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ContentType string `json:"contentType"`
	Bytes       int64  `json:"bytes"`
	ETag        string `json:"etag"`
}

func (b blob) rendition() Rendition {
	return Rendition{Size: b.Size, Width: b.Width, Height: b.Height, ContentType: b.ContentType, Bytes: b.Bytes, ETag: b.ETag}
}

// pending is a URL import in progress or failed.
type pending struct {
	ID      string    `json:"id"`
	Source  string    `json:"source,omitempty"`
	Started time.Time `json:"started"`
	Failed  *failure  `json:"failed,omitempty"`
}

// failure is why an import failed: a Code and its safe message.
type failure struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// oldImportCodes are the import failure codes as records written before v1
// spell them.
var oldImportCodes = map[Code]Code{
	"url-not-allowed":      CodeURLNotAllowed,
	"download-failed":      CodeDownloadFailed,
	"download-interrupted": CodeDownloadInterrupted,
}

// toError returns the failure as the *Error that Photo.ImportError shows.
func (f *failure) toError() *Error {
	c := f.Code
	if n, ok := oldImportCodes[c]; ok {
		c = n
	}
	return &Error{Code: c, Message: f.Message}
}

// photo turns a record into the Photo that callers see; an import pending
// for longer than importTimeout at now reads as failed.
func (rec *record) photo(now time.Time, importTimeout time.Duration) *Photo {
	p := &Photo{UserID: rec.UserID, Revision: rec.Revision, Status: StatusReady}
	if v := rec.Current; v != nil {
		v.describe(p)
	}
	for _, v := range rec.History {
		h := Photo{UserID: rec.UserID, Revision: rec.Revision, Status: StatusReady}
		v.describe(&h)
		p.History = append(p.History, h)
	}
	if pd := rec.Pending; pd != nil {
		switch {
		case pd.Failed != nil:
			p.Status = StatusFailed
			p.ImportError = pd.Failed.toError()
		case now.Sub(pd.Started) > importTimeout:
			p.Status = StatusFailed
			p.ImportError = &Error{Code: CodeDownloadInterrupted}
		default:
			p.Status = StatusDownloading
		}
	}
	return p
}

// describe fills in what p says of the version v.
func (v *version) describe(p *Photo) {
	p.VersionID = v.ID
	p.SourceType = v.SourceType
	p.Width, p.Height = v.Width, v.Height
	p.Bytes = v.Bytes
	if v.Crop != nil {
		p.Crop = &Crop{X: v.Crop.X, Y: v.Crop.Y, Size: v.Crop.Size}
	}
	p.Fit = fitOf(v.Fit)
	if v.Source != nil {
		p.SourceFileID, p.SourceFileVersion = v.Source.FileID, v.Source.Version
	}
	p.Created = v.Created
	p.Placeholder = v.Placeholder
	p.Original = v.Original.rendition()
	for _, b := range v.Renditions {
		p.Renditions = append(p.Renditions, b.rendition())
	}
}

// versions returns the versions the record references: the current one,
// if any, then the kept ones, newest first.
func (rec *record) versions() []*version {
	if rec == nil {
		return nil
	}
	vs := make([]*version, 0, 1+len(rec.History))
	if rec.Current != nil {
		vs = append(vs, rec.Current)
	}
	return append(vs, rec.History...)
}

// find returns the referenced version whose ID is id, or nil.
func (rec *record) find(id string) *version {
	for _, v := range rec.versions() {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// references reports whether a version of the record has its blobs under
// prefix.
func (rec *record) references(prefix string) bool {
	return slices.ContainsFunc(rec.versions(), func(v *version) bool { return v.Prefix == prefix })
}

// makeCurrent makes v the current version and keeps up to keep earlier
// ones: the replaced current goes first into the history, unless it is v
// itself (a Set of the same upload again, or a restore), and no version
// appears twice. It builds a new History slice, never changing the one it
// had, which the commit's previous record shares.
func (rec *record) makeCurrent(v *version, keep int) {
	history := make([]*version, 0, min(keep, 1+len(rec.History)))
	for _, h := range append([]*version{rec.Current}, rec.History...) {
		if len(history) >= keep {
			break
		}
		if h == nil || h.ID == v.ID || h.Prefix == v.Prefix {
			continue
		}
		history = append(history, h)
	}
	rec.Current = v
	rec.History = history
	if len(rec.History) == 0 {
		rec.History = nil
	}
}

// fileRecord is what files/<id>/meta.json holds.
type fileRecord struct {
	V        int                 `json:"v,omitempty"`
	ID       string              `json:"id"`
	Name     string              `json:"name"`
	Owner    string              `json:"owner"`
	Created  time.Time           `json:"created"`
	Versions []fileVersionRecord `json:"versions"`
	// Expires is when the file stops existing: Quotas.FileTTL after its
	// latest version; zero when it does not expire.
	Expires time.Time `json:"expires,omitzero"`
	// Used is set once a photo was set from the file (SetFromFile): the
	// file then stays until deleted, as the source of a photo.
	Used bool `json:"used,omitempty"`
	// Keys are the blobs of the versions, by number.
	Keys map[int]string `json:"keys"`
}

type fileVersionRecord struct {
	Number      int       `json:"number"`
	Bytes       int64     `json:"bytes"`
	ContentType string    `json:"contentType"`
	Created     time.Time `json:"created"`
}

// file returns the File that callers see, with expires as its Expires.
func (f *fileRecord) file(expires time.Time) *File {
	out := &File{ID: f.ID, Name: f.Name, Owner: f.Owner, Created: f.Created, Expires: expires}
	for _, v := range f.Versions {
		out.Versions = append(out.Versions, FileVersion(v))
	}
	return out
}

// bytes is the length of all the file's versions.
func (f *fileRecord) bytes() int64 {
	var n int64
	for _, v := range f.Versions {
		n += v.Bytes
	}
	return n
}

// uploadRecord is what uploads/<key>/meta.json holds.
type uploadRecord struct {
	V           int           `json:"v,omitempty"`
	Key         string        `json:"key"`
	Owner       string        `json:"owner"`
	Name        string        `json:"name"`
	ContentType string        `json:"contentType"`
	Length      int64         `json:"length"`
	Received    int64         `json:"received"`
	Created     time.Time     `json:"created"`
	Expires     time.Time     `json:"expires"`
	Chunks      []uploadChunk `json:"chunks"`
}

// uploadChunk is one accepted chunk: Size bytes from Offset, stored under
// the name chunkKey makes of Offset and Nonce.
type uploadChunk struct {
	Offset int64  `json:"o"`
	Size   int64  `json:"s"`
	Nonce  string `json:"n"`
}

// upload returns the Upload that callers see.
func (r *uploadRecord) upload() *Upload {
	return &Upload{Key: r.Key, Owner: r.Owner, Name: r.Name, ContentType: r.ContentType,
		Length: r.Length, Received: r.Received, Created: r.Created, Expires: r.Expires}
}

// stored is a top-level stored object: its V can be read and set.
type stored interface{ schema() *int }

func (r *record) schema() *int       { return &r.V }
func (f *fileRecord) schema() *int   { return &f.V }
func (r *uploadRecord) schema() *int { return &r.V }
func (q *quotaIndex) schema() *int   { return &q.V }

// maxJSONBytes bounds the records, file and upload descriptions read back.
const maxJSONBytes = 1 << 20

// getJSON decodes the JSON object at key into v and returns its ETag. A
// missing object gives an error wrapping storage.ErrNotFound; one written
// by a newer release is an error.
func getJSON(ctx context.Context, b *storage.Bucket, key string, v stored) (string, error) {
	r, err := b.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if err := json.NewDecoder(io.LimitReader(r, maxJSONBytes)).Decode(v); err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	if n := *v.schema(); n > storedVersion {
		return "", fmt.Errorf("%s: written by a newer version of the library (format %d)", key, n)
	}
	return r.Attrs().ETag, nil
}

// putJSON writes v as JSON at key if the object's ETag is still etag (""
// means that no object may exist yet), and returns the new ETag. A lost
// race gives an error wrapping storage.ErrPrecondition.
func putJSON(ctx context.Context, b *storage.Bucket, key string, v stored, etag string) (string, error) {
	*v.schema() = storedVersion
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	a, err := b.Put(ctx, key, bytes.NewReader(data),
		&storage.PutOptions{ContentType: "application/json", IfMatch: etag, IfAbsent: etag == ""})
	return a.ETag, err
}

// loadRecord reads a user's record and its ETag; a user without one gets
// (nil, "", nil).
func loadRecord(ctx context.Context, b *storage.Bucket, userID string) (*record, string, error) {
	var rec record
	etag, err := getJSON(ctx, b, recordKey(userID), &rec)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("record of user %q: %w", userID, err)
	}
	if rec.UserID != userID {
		// Two IDs whose hashes collide in 128 bits: never seen, but never
		// serve one user's photo as another's.
		return nil, "", fmt.Errorf("record of user %q belongs to another user", userID)
	}
	return &rec, etag, nil
}

// storeRecord replaces a user's record if its ETag is still etag ("" means
// that no record may exist yet). It returns storage.ErrPrecondition
// (wrapped) when another writer came first.
func storeRecord(ctx context.Context, b *storage.Bucket, rec *record, etag string) error {
	_, err := putJSON(ctx, b, recordKey(rec.UserID), rec, etag)
	return err
}

// deletePrefix removes every object under prefix, carrying on past errors
// and returning the first.
func deletePrefix(ctx context.Context, b *storage.Bucket, prefix string) error {
	var first error
	for a, err := range b.List(ctx, prefix) {
		if err != nil {
			return err
		}
		if err := b.Delete(ctx, a.Key); err != nil && first == nil {
			first = err
		}
	}
	return first
}
