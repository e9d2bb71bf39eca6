package httpadapter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/profilephoto/photo"
)

// The Igloo dialect: a three-step resumable upload (create, send the bytes
// in ranges, associate with a user). Every route needs a principal; an
// upload may be used only by its creator or an admin.
//
//	POST   .../communities/{communityKey}/attachments
//	       {"ContentLength": n, "ContentType": "image/png", "Name": "me.png"}
//	       201, Location: .../attachments/uploads/{attachmentKey}, the upload body
//	PATCH  .../attachments/uploads/{attachmentKey}
//	       Content-Range: bytes first-last/total (total may be *), Content-Length
//	       200 with the upload body; 409 when first is not the bytes received
//	       (a gap, an overlap that differs, a racing request); 416 past the
//	       declared length or a wrong total
//	PATCH  with Content-Range: bytes */total and no body: 200, the state
//	GET    .../attachments/uploads/{attachmentKey}  (and HEAD) 200, the state
//	DELETE .../attachments/uploads/{attachmentKey}  204, the upload is gone
//	POST   .../attachments/{attachmentKey}/association/{objectId}?type=ProfilePhoto
//	       201 with the photo (the profile-image body); 409 when incomplete
//
// where ... is /.api2/api/v1. The communityKey must be an integer; the
// adapter serves one community, so any integer names it. The upload body
// is {attachmentKey, location, name, contentType, length, received,
// complete, created, expires}. Every answer about an upload, errors
// included, tells how far it got: Upload-Offset (bytes received),
// Upload-Length, and Range: bytes=0-N (N the last byte received; absent
// while none has), and 409 and 416 bodies carry received and length. A
// client that lost a connection asks (HEAD) and sends the rest from there.
// The declared ContentType is checked when the upload is created (image/jpg
// is image/jpeg); a chunk's Content-Type header is not looked at: the
// bytes are sniffed when the upload becomes a photo.
//
// Uploads expire Options.UploadTTL after their creation, finished or not:
// then they answer 404 and their bytes are removed, at once when asked
// for, or by photo.Manager's Sweep, which a server should call
// now and then (photod does, every few minutes). A user's open uploads are
// bounded by the Service's photo.Quotas (count and declared bytes): a
// create beyond them answers
// 403 quota-exceeded; associating, deleting or the expiry of an upload
// frees its share.

const (
	iglooCommunity = "/.api2/api/v1/communities/{communityKey}"
	iglooUploads   = iglooCommunity + "/attachments/uploads/{attachmentKey}"
)

func (h *Handler) iglooRoutes() []route {
	return []route{
		{"POST " + iglooCommunity + "/attachments", Igloo, h.iglooCreate},
		{"GET " + iglooUploads, Igloo, h.iglooStatus},
		{"PATCH " + iglooUploads, Igloo, h.iglooAppend},
		{"DELETE " + iglooUploads, Igloo, h.iglooDelete},
		{"POST " + iglooCommunity + "/attachments/{attachmentKey}/association/{objectId}", Igloo, h.iglooAssociate},
	}
}

// iglooBody is how an upload is described.
type iglooBody struct {
	AttachmentKey string    `json:"attachmentKey"`
	Location      string    `json:"location"`
	Name          string    `json:"name"`
	ContentType   string    `json:"contentType"`
	Length        int64     `json:"length"`
	Received      int64     `json:"received"`
	Complete      bool      `json:"complete"`
	Created       time.Time `json:"created"`
	Expires       time.Time `json:"expires"`
}

// uploadURL is the absolute URL of an upload.
func (h *Handler) uploadURL(r *http.Request, community, key string) string {
	return h.baseURL(r) + "/.api2/api/v1/communities/" + community + "/attachments/uploads/" + key
}

func (h *Handler) newIglooBody(r *http.Request, community string, u *photo.Upload) *iglooBody {
	return &iglooBody{
		AttachmentKey: u.Key, Location: h.uploadURL(r, community, u.Key),
		Name: u.Name, ContentType: u.ContentType, Length: u.Length, Received: u.Received,
		Complete: u.Received == u.Length, Created: u.Created.UTC(), Expires: u.Expires.UTC(),
	}
}

// setProgress sets the headers that tell how far an upload got.
func setProgress(w http.ResponseWriter, received, length int64) {
	hd := w.Header()
	hd.Set("Upload-Offset", strconv.FormatInt(received, 10))
	hd.Set("Upload-Length", strconv.FormatInt(length, 10))
	if received > 0 {
		hd.Set("Range", "bytes=0-"+strconv.FormatInt(received-1, 10))
	} else {
		hd.Del("Range")
	}
}

// igloo starts every Igloo request: it authorizes a signed-in caller and
// checks the community key, which it returns.
func (h *Handler) igloo(w http.ResponseWriter, r *http.Request) (Principal, string, error) {
	w.Header().Set("Cache-Control", "no-store")
	p, err := h.authorize(r, signedIn, "", "")
	if err != nil {
		return p, "", err
	}
	ck := r.PathValue("communityKey")
	if n, err := strconv.ParseUint(ck, 10, 63); err != nil || strconv.FormatUint(n, 10) != ck {
		return p, "", fail(kBadRequest, "communityKey", "the community key must be an integer")
	}
	return p, ck, nil
}

// lookup returns the upload key if p may use it: 404 when it does not
// exist or has expired (the Service then removes its bytes), 403 when it
// is another user's.
func (h *Handler) lookup(ctx context.Context, p Principal, key string) (*photo.Upload, error) {
	u, err := h.svc.Upload(ctx, key)
	if errors.Is(err, photo.ErrNotFound) {
		return nil, fail(kNotFound, "", "the upload does not exist or has expired")
	}
	if err != nil {
		return nil, err
	}
	if err := permit(p, u.Owner, "the upload belongs to another user"); err != nil {
		return nil, err
	}
	return u, nil
}

// flexInt is an integer sent as a JSON number or a numeric string.
type flexInt struct {
	set bool
	n   int64
	bad bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as if absent
	}
	f.set = true
	var s string
	if json.Unmarshal(b, &s) == nil {
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	f.n, f.bad = n, err != nil
	return nil
}

func (h *Handler) iglooCreate(w http.ResponseWriter, r *http.Request) error {
	p, ck, err := h.igloo(w, r)
	if err != nil {
		return err
	}
	var req struct {
		ContentLength flexInt
		ContentType   *string
		Name          *string
	}
	if err := h.readJSON(w, r, &req, "the body must be a JSON object with ContentLength, ContentType and Name"); err != nil {
		return err
	}
	switch {
	case !req.ContentLength.set:
		return fail(kBadRequest, "ContentLength", "ContentLength is required")
	case req.ContentLength.bad || req.ContentLength.n < 1:
		return fail(kBadRequest, "ContentLength", "ContentLength must be a positive integer")
	case req.ContentType == nil || *req.ContentType == "":
		return fail(kBadRequest, "ContentType", "ContentType is required")
	case req.Name == nil || *req.Name == "":
		return fail(kBadRequest, "Name", "Name is required")
	}
	u, err := h.svc.CreateUpload(r.Context(), p.ID, *req.ContentType, req.ContentLength.n,
		&photo.UploadOptions{Name: *req.Name, TTL: h.opts.UploadTTL})
	switch {
	case photo.CodeOf(err) == photo.CodeBadArgument:
		// The one argument of a create that can be bad: the name.
		return fail(kBadRequest, "Name", "Name must be valid UTF-8 of at most 255 bytes without control characters")
	case err != nil:
		return err
	}
	body := h.newIglooBody(r, ck, u)
	w.Header().Set("Location", body.Location)
	setProgress(w, 0, u.Length)
	writeJSON(w, http.StatusCreated, body)
	return nil
}

func (h *Handler) iglooStatus(w http.ResponseWriter, r *http.Request) error {
	p, ck, err := h.igloo(w, r)
	if err != nil {
		return err
	}
	u, err := h.lookup(r.Context(), p, r.PathValue("attachmentKey"))
	if err != nil {
		return err
	}
	setProgress(w, u.Received, u.Length)
	writeJSON(w, http.StatusOK, h.newIglooBody(r, ck, u))
	return nil
}

func (h *Handler) iglooDelete(w http.ResponseWriter, r *http.Request) error {
	p, _, err := h.igloo(w, r)
	if err != nil {
		return err
	}
	key := r.PathValue("attachmentKey")
	if _, err := h.lookup(r.Context(), p, key); err != nil {
		return err
	}
	if err := h.svc.DeleteUpload(r.Context(), key); err != nil && !errors.Is(err, photo.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// contentRange matches "bytes first-last/total" and "bytes */total"; total
// may be "*".
var contentRange = regexp.MustCompile(`^bytes (?:([0-9]{1,19})-([0-9]{1,19})|\*)/([0-9]{1,19}|\*)$`)

// parseContentRange reads a Content-Range header as a chunk without its
// body. For "bytes */total" the chunk's Size is 0: a question about the
// upload's state. A total of "*" is a Total of 0; totalGiven tells it from
// a total the client gave.
func parseContentRange(s string) (c photo.Chunk, totalGiven bool, err error) {
	m := contentRange.FindStringSubmatch(s)
	if m == nil {
		return c, false, fail(kBadRequest, "Content-Range", "the Content-Range header must be bytes first-last/total")
	}
	if m[3] != "*" {
		if c.Total, err = strconv.ParseInt(m[3], 10, 64); err != nil {
			return c, false, fail(kBadRequest, "Content-Range", "the Content-Range total is too large")
		}
		totalGiven = true
	}
	if m[1] == "" {
		if !totalGiven {
			return c, false, fail(kBadRequest, "Content-Range", "bytes */* is not a content range")
		}
		return c, true, nil
	}
	first, err1 := strconv.ParseInt(m[1], 10, 64)
	last, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil || last < first || last == 1<<63-1 {
		return photo.Chunk{}, false, fail(kBadRequest, "Content-Range", "the Content-Range's last byte comes before its first")
	}
	c.Offset, c.Size = first, last-first+1
	return c, totalGiven, nil
}

func (h *Handler) iglooAppend(w http.ResponseWriter, r *http.Request) error {
	p, ck, err := h.igloo(w, r)
	if err != nil {
		return err
	}
	key := r.PathValue("attachmentKey")
	u, err := h.lookup(r.Context(), p, key)
	if err != nil {
		return err
	}
	c, totalGiven, err := chunkRange(r)
	if err != nil {
		setProgress(w, u.Received, u.Length)
		return err
	}
	var got *photo.Upload
	if totalGiven && c.Total == 0 {
		// A Chunk's Total of 0 means "not given"; a client that says 0
		// names a length that no upload has, which the library would
		// refuse so.
		err = &photo.Error{Code: photo.CodeBadRange, Message: "the total length 0 is not the declared length " + strconv.FormatInt(u.Length, 10)}
	} else {
		c.Body = r.Body
		got, err = h.svc.AppendUpload(r.Context(), key, c)
	}
	if got != nil {
		u = got
	}
	switch code := photo.CodeOf(err); {
	case code == photo.CodeUploadConflict || code == photo.CodeBadRange:
		// u is the upload as it stands, which AppendUpload returns with
		// its refusal: the client resumes from its progress.
		setProgress(w, u.Received, u.Length)
		if code == photo.CodeBadRange {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(u.Length, 10))
		}
		return withProgress(err, u.Received, u.Length)
	case errors.Is(err, photo.ErrNotFound):
		return fail(kNotFound, "", "the upload does not exist or has expired")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fail(kBadRequest, "", "the body ended before Content-Length bytes; nothing of it was kept")
	case err != nil:
		return err
	}
	setProgress(w, u.Received, u.Length)
	writeJSON(w, http.StatusOK, h.newIglooBody(r, ck, u))
	return nil
}

// chunkRange reads a PATCH's Content-Range and checks its Content-Length
// against it, as parseContentRange returns them.
func chunkRange(r *http.Request) (c photo.Chunk, totalGiven bool, err error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return c, false, fail(kBadRequest, "Content-Range", "the Content-Range header is required: bytes first-last/total")
	}
	if c, totalGiven, err = parseContentRange(cr); err != nil {
		return c, false, err
	}
	if r.ContentLength != c.Size && !(c.Size == 0 && r.ContentLength <= 0) {
		if r.ContentLength < 0 {
			return c, false, fail(kBadRequest, "Content-Length", "the Content-Length header is required")
		}
		return c, false, fail(kBadRequest, "Content-Length", "the Content-Length does not match the Content-Range")
	}
	return c, totalGiven, nil
}

func (h *Handler) iglooAssociate(w http.ResponseWriter, r *http.Request) error {
	p, _, err := h.igloo(w, r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	typ := q.Get("type")
	if typ == "" {
		typ = q.Get("Type")
	}
	if typ != "ProfilePhoto" {
		return fail(kBadRequest, "type", "the type parameter must be ProfilePhoto")
	}
	userID := r.PathValue("objectId")
	if err := permit(p, userID, ""); err != nil {
		return err
	}
	key := r.PathValue("attachmentKey")
	u, err := h.lookup(r.Context(), p, key)
	if err != nil {
		return err
	}
	if u.Received < u.Length {
		setProgress(w, u.Received, u.Length)
		return withProgress(fail(kIncomplete, "", ""), u.Received, u.Length)
	}
	rev, err := ifRevision(r)
	if err != nil {
		return err
	}
	ph, err := h.svc.SetFromUpload(r.Context(), userID, key, &photo.SetOptions{IfRevision: rev})
	if errors.Is(err, photo.ErrNotFound) {
		// Another request used the upload meanwhile.
		return fail(kNotFound, "", "the upload does not exist or has expired")
	}
	if err != nil {
		return err
	}
	if h.opts.Dialects&ProfileImage != 0 {
		w.Header().Set("Location", h.baseURL(r)+"/v1/users/"+pathSegment(userID)+"/profile/profile-image")
	}
	setPhotoETag(w, ph)
	writeJSON(w, http.StatusCreated, h.newImageBody(r, ph))
	return nil
}
