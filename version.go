package photo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/profilephoto/photo/storage"
)

// pipelineVersion is mixed into every version ID. Bump it whenever the
// bytes the pipeline makes from the same input change, so that caches keyed
// by version never serve stale bytes.
const pipelineVersion = 2

// MaxUserIDLen is the longest user ID, in bytes, that the library accepts.
const MaxUserIDLen = 256

// ErrInvalidUserID is returned for a user ID that is empty, longer than
// MaxUserIDLen bytes or not valid UTF-8.
var ErrInvalidUserID = errors.New("photo: invalid user ID")

// ErrNotFound is returned by Get and Delete when the user has no photo, and
// by OpenRendition when the version or size does not exist.
var ErrNotFound = errors.New("photo: not found")

// ErrConflict is returned when SetOptions.IfRevision or
// DeleteOptions.IfRevision no longer names the user's current revision, and
// when a URL import was superseded by a newer change.
var ErrConflict = errors.New("photo: revision conflict")

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// versionID derives a short, URL-safe ID from the upload's digest and every
// setting that changes the output: the same upload with the same crop and
// settings always gets the same ID, and any change gets a new one.
func versionID(sum [32]byte, crop *Crop, fit Fit, cfg *config) string {
	h := sha256.New()
	h.Write(sum[:])
	var buf []byte
	buf = binary.AppendVarint(buf, pipelineVersion)
	if crop != nil {
		buf = append(buf, 'c')
		buf = binary.AppendVarint(buf, int64(crop.X))
		buf = binary.AppendVarint(buf, int64(crop.Y))
		buf = binary.AppendVarint(buf, int64(crop.Size))
	} else {
		buf = append(buf, 'f')
		buf = binary.AppendVarint(buf, int64(fit))
	}
	buf = binary.AppendVarint(buf, int64(cfg.quality))
	buf = binary.AppendVarint(buf, int64(cfg.originalMaxSide))
	buf = append(buf, cfg.background.R, cfg.background.G, cfg.background.B, cfg.background.A)
	for _, s := range cfg.sizes {
		buf = binary.AppendVarint(buf, int64(s))
	}
	h.Write(buf)
	return b32.EncodeToString(h.Sum(nil)[:10]) // 16 characters, 80 bits
}

// newNonce returns a random, URL-safe token of n bytes of entropy.
func newNonce(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return b32.EncodeToString(b)
}

func checkUserID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidUserID)
	case len(id) > MaxUserIDLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidUserID, MaxUserIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidUserID)
	}
	return nil
}

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

// record is the one object per user that says which version is current. It
// is only ever replaced with a compare-and-swap on its ETag.
type record struct {
	UserID   string    `json:"userId"`
	Revision int64     `json:"revision"`
	Current  *version  `json:"current,omitempty"`
	Pending  *pending  `json:"pending,omitempty"`
	Updated  time.Time `json:"updated"`
	// Commit is a nonce of the write that made this record, so that a
	// writer whose Put failed can tell whether it happened all the same.
	Commit string `json:"commit,omitempty"`
}

// version is a committed photo: its metadata and where its blobs are.
type version struct {
	ID         string    `json:"id"`
	Prefix     string    `json:"prefix"`
	SourceType string    `json:"sourceType"`
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	Bytes      int64     `json:"bytes"`
	Crop       *Crop     `json:"crop,omitempty"`
	Fit        string    `json:"fit,omitempty"`
	Created    time.Time `json:"created"`
	Source     *FileRef  `json:"source,omitempty"`
	Original   blob      `json:"original"`
	Renditions []blob    `json:"renditions"`
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

// pending is a URL import in progress or failed.
type pending struct {
	ID      string       `json:"id"`
	Source  string       `json:"source,omitempty"`
	Started time.Time    `json:"started"`
	Failed  *ImportError `json:"failed,omitempty"`
}

// getJSON decodes the JSON object at key into v and returns its ETag. A
// missing object gives an error wrapping storage.ErrNotFound.
func getJSON(ctx context.Context, st storage.Store, key string, v any) (string, error) {
	r, err := st.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if err := json.NewDecoder(io.LimitReader(r, maxJSONBytes)).Decode(v); err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return r.Attrs().ETag, nil
}

// putJSON writes v as JSON at key if the object's ETag is still etag (""
// means that no object may exist yet), and returns the new ETag. A lost
// race gives an error wrapping storage.ErrPrecondition.
func putJSON(ctx context.Context, st storage.Store, key string, v any, etag string) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	a, err := st.Put(ctx, key, bytes.NewReader(data),
		&storage.PutOptions{ContentType: "application/json", IfMatch: etag, IfAbsent: etag == ""})
	return a.ETag, err
}

// maxJSONBytes bounds the records, file and upload descriptions read back.
const maxJSONBytes = 1 << 20

// loadRecord reads a user's record and its ETag; a user without one gets
// (nil, "", nil).
func loadRecord(ctx context.Context, st storage.Store, userID string) (*record, string, error) {
	var rec record
	etag, err := getJSON(ctx, st, recordKey(userID), &rec)
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
func storeRecord(ctx context.Context, st storage.Store, rec *record, etag string) error {
	_, err := putJSON(ctx, st, recordKey(rec.UserID), rec, etag)
	return err
}

// deletePrefix removes every object under prefix, carrying on past errors
// and returning the first.
func deletePrefix(ctx context.Context, st storage.Store, prefix string) error {
	var first error
	token := ""
	for {
		page, err := st.List(ctx, prefix, &storage.ListOptions{PageToken: token})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if err := st.Delete(ctx, o.Key); err != nil && first == nil {
				first = err
			}
		}
		if page.NextPageToken == "" {
			return first
		}
		token = page.NextPageToken
	}
}

func isVersionID(s string) bool {
	if len(s) != 16 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz234567") == ""
}
