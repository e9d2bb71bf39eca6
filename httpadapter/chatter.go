package httpadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/profilephoto/photo"
)

// The Chatter dialect: Salesforce Chatter's user photo resource and a
// small files resource whose IDs the photo resource takes as fileId.
//
//	GET|POST|DELETE /services/data/{apiVersion}/chatter/users/{userId}/photo
//	GET|POST|DELETE /services/data/{apiVersion}/connect/communities/{communityId}/chatter/users/{userId}/photo
//	POST /services/data/{apiVersion}/connect/files/users/{userId}   create a file (part fileData)
//	GET  /services/data/{apiVersion}/connect/files/{fileId}         a file's details
//	POST /services/data/{apiVersion}/connect/files/{fileId}         upload a new version (part fileData)
//	DELETE /services/data/{apiVersion}/connect/files/{fileId}       remove a file (204)
//
// apiVersion is "v" and a version such as "34.0"; userId "me" is the
// caller. There is one photo per user: the community forms reach the same
// photo and only change the resource URL they answer with.
//
// Decisions the document leaves open:
//   - POST answers 201 Created with the Photo body, as Salesforce does.
//   - GET of a user without a photo answers 200 with the URLs of the
//     default photo (/photos/{userId}/default/{size}), as Salesforce
//     answers with its default silhouette, and no photoVersionId: the
//     default is no version of the user's photo, and a client that caches
//     by photoVersionId must not take it for one. The email URLs are the
//     same public URLs (a default needs no signature). With the library's
//     NoDefaultPhoto it is 404 NOT_FOUND.
//   - DELETE answers 204 whether or not there was a photo: afterwards the
//     user has none either way, as Salesforce's reset to the default photo.
//   - The email URLs are signed and expire after Options.EmailURLTTL (30
//     days by default); fullEmailPhotoUrl is the large (200 px) photo and
//     standardEmailPhotoUrl the small (64 px) one, as Salesforce describes
//     them ("the large profile picture", "the small profile").
//   - url is absolute, like every URL the adapter answers with.
//   - A fileId must name a file the caller owns (an admin may use any).
//   - Files exist to become photos: a file or version that is not an image
//     a photo POST would accept is refused (400 INVALID_INPUT), and files
//     expire, and count against quotas, as photo.Quotas says (403
//     REQUEST_LIMIT_EXCEEDED when full). A photo set from a file keeps
//     working after the file is deleted or expires.

// Salesforce's sizes of the Photo body.
const (
	chatterSmall  = 64
	chatterMedium = 160
	chatterLarge  = 200
)

func (h *Handler) chatterRoutes() []route {
	const (
		user  = "/services/data/{apiVersion}/chatter/users/{userId}/photo"
		comm  = "/services/data/{apiVersion}/connect/communities/{communityId}/chatter/users/{userId}/photo"
		files = "/services/data/{apiVersion}/connect/files"
	)
	return []route{
		{"GET " + user, Chatter, h.chatterGet},
		{"POST " + user, Chatter, h.chatterPost},
		{"DELETE " + user, Chatter, h.chatterDelete},
		{"GET " + comm, Chatter, h.chatterGet},
		{"POST " + comm, Chatter, h.chatterPost},
		{"DELETE " + comm, Chatter, h.chatterDelete},
		{"POST " + files + "/users/{userId}", Chatter, h.chatterCreateFile},
		{"GET " + files + "/{fileId}", Chatter, h.chatterFileInfo},
		{"POST " + files + "/{fileId}", Chatter, h.chatterAddFileVersion},
		{"DELETE " + files + "/{fileId}", Chatter, h.chatterDeleteFile},
	}
}

// chatterPhoto is Salesforce's Photo response body.
type chatterPhoto struct {
	FullEmailPhotoURL     string `json:"fullEmailPhotoUrl"`
	LargePhotoURL         string `json:"largePhotoUrl"`
	MediumPhotoURL        string `json:"mediumPhotoUrl"`
	PhotoVersionID        string `json:"photoVersionId,omitempty"`
	SmallPhotoURL         string `json:"smallPhotoUrl"`
	StandardEmailPhotoURL string `json:"standardEmailPhotoUrl"`
	URL                   string `json:"url"`
}

// chatterFile is the file body of the files resource, in the shape of
// Salesforce's File Summary (versionNumber is a string there too).
type chatterFile struct {
	ID            string           `json:"id"`
	Type          string           `json:"type"`
	Title         string           `json:"title"`
	VersionNumber string           `json:"versionNumber"`
	ContentSize   int64            `json:"contentSize"`
	MimeType      string           `json:"mimeType"`
	CreatedDate   string           `json:"createdDate"`
	ModifiedDate  string           `json:"modifiedDate"`
	Owner         chatterReference `json:"owner"`
	URL           string           `json:"url"`
}

// chatterReference names a user.
type chatterReference struct {
	ID string `json:"id"`
}

// validAPIVersion reports whether s is "v" and a version like "34.0".
func validAPIVersion(s string) bool {
	rest, ok := strings.CutPrefix(s, "v")
	major, minor, dot := strings.Cut(rest, ".")
	return ok && dot && len(major) >= 1 && len(major) <= 3 && allDigits(major) &&
		len(minor) == 1 && allDigits(minor)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// chatterBegin checks the API version and authorizes r as n asks. It
// resolves {userId} ("me" is the caller, who must then be signed in) when
// the route has one.
func (h *Handler) chatterBegin(r *http.Request, n need) (Principal, string, error) {
	if !validAPIVersion(r.PathValue("apiVersion")) {
		return Principal{}, "", fail(kNotFound, "", "the requested resource does not exist: the API version must look like v34.0")
	}
	p, err := h.authorize(r, n, "", "")
	if err != nil {
		return p, "", err
	}
	userID := r.PathValue("userId")
	if userID == "me" {
		if p.ID == "" {
			return p, "", fail(kNoAuth, "", "")
		}
		userID = p.ID
	}
	return p, userID, nil
}

// chatterResourceURL is the absolute URL of userID's photo resource, in
// the form (plain or community) of the request.
func (h *Handler) chatterResourceURL(r *http.Request, userID string) string {
	u := h.baseURL(r) + "/services/data/" + pathSegment(r.PathValue("apiVersion"))
	if c := r.PathValue("communityId"); c != "" {
		u += "/connect/communities/" + pathSegment(c)
	}
	return u + "/chatter/users/" + pathSegment(userID) + "/photo"
}

// chatterPhotoBody is the Photo body of p.
func (h *Handler) chatterPhotoBody(r *http.Request, userID string, p *photo.Photo) chatterPhoto {
	small, medium, large := h.servedSize(chatterSmall), h.servedSize(chatterMedium), h.servedSize(chatterLarge)
	return chatterPhoto{
		FullEmailPhotoURL:     h.signedPhotoURL(r, userID, large),
		LargePhotoURL:         h.renditionURL(r, userID, p.VersionID, large),
		MediumPhotoURL:        h.renditionURL(r, userID, p.VersionID, medium),
		PhotoVersionID:        p.VersionID,
		SmallPhotoURL:         h.renditionURL(r, userID, p.VersionID, small),
		StandardEmailPhotoURL: h.signedPhotoURL(r, userID, small),
		URL:                   h.chatterResourceURL(r, userID),
	}
}

// chatterDefaultBody is the Photo body of a user without a photo: the
// default photo's URLs and no photoVersionId.
func (h *Handler) chatterDefaultBody(r *http.Request, userID string) chatterPhoto {
	small, medium, large := h.servedSize(chatterSmall), h.servedSize(chatterMedium), h.servedSize(chatterLarge)
	return chatterPhoto{
		FullEmailPhotoURL:     h.defaultURL(r, userID, large),
		LargePhotoURL:         h.defaultURL(r, userID, large),
		MediumPhotoURL:        h.defaultURL(r, userID, medium),
		SmallPhotoURL:         h.defaultURL(r, userID, small),
		StandardEmailPhotoURL: h.defaultURL(r, userID, small),
		URL:                   h.chatterResourceURL(r, userID),
	}
}

// chatterGet answers the user's Photo; public unless Options.PrivateReads.
func (h *Handler) chatterGet(w http.ResponseWriter, r *http.Request) error {
	_, userID, err := h.chatterBegin(r, reader)
	if err != nil {
		return err
	}
	p, err := h.svc.Get(r.Context(), userID)
	if photo.CodeOf(err) == photo.CodeBadUserID {
		return fail(kNotFound, "", "the user has no photo")
	}
	// A user whose first URL import still downloads has no photo yet.
	if errors.Is(err, photo.ErrNotFound) || (err == nil && p.VersionID == "") {
		if !h.defaults {
			return fail(kNotFound, "", "the user has no photo")
		}
		w.Header().Set("Cache-Control", "no-cache")
		writeJSON(w, http.StatusOK, h.chatterDefaultBody(r, userID))
		return nil
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	setPhotoETag(w, p)
	writeJSON(w, http.StatusOK, h.chatterPhotoBody(r, userID, p))
	return nil
}

// chatterPost sets the user's photo from an uploaded file or a stored one.
func (h *Handler) chatterPost(w http.ResponseWriter, r *http.Request) error {
	p, userID, err := h.chatterBegin(r, signedIn)
	if err != nil {
		return err
	}
	if err := permit(p, userID, "you may not change another user's photo"); err != nil {
		return err
	}
	in, err := h.readChatterInput(w, r)
	if err != nil {
		return err
	}
	rev, err := ifRevision(r)
	if err != nil {
		return err
	}
	opts := &photo.SetOptions{Crop: in.crop, IfRevision: rev}
	var ph *photo.Photo
	switch {
	case in.file != nil:
		ph, err = h.svc.Set(r.Context(), userID, bytes.NewReader(in.file), opts)
	case in.fileID != "":
		ph, err = h.setFromFile(r, p, userID, in, opts)
	default:
		return fail(kMissing, "fileUpload", "no image was given: send a fileUpload part or the fileId of an existing file")
	}
	if err != nil {
		return err
	}
	setPhotoETag(w, ph)
	writeJSON(w, http.StatusCreated, h.chatterPhotoBody(r, userID, ph))
	return nil
}

// chatterDelete removes the user's photo.
func (h *Handler) chatterDelete(w http.ResponseWriter, r *http.Request) error {
	p, userID, err := h.chatterBegin(r, signedIn)
	if err != nil {
		return err
	}
	if err := permit(p, userID, "you may not change another user's photo"); err != nil {
		return err
	}
	rev, err := ifRevision(r)
	if err != nil {
		return err
	}
	// Nothing to delete is no error: the outcome is the same.
	if err := h.svc.Delete(r.Context(), userID, &photo.DeleteOptions{IfRevision: rev}); err != nil && !errors.Is(err, photo.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setFromFile sets userID's photo from the file (and version) in asks for,
// which p must be allowed to use.
// A file or version that does not exist is the fileId field's not-found.
func (h *Handler) setFromFile(r *http.Request, p Principal, userID string, in *chatterInput, opts *photo.SetOptions) (*photo.Photo, error) {
	f, err := h.svc.File(r.Context(), in.fileID)
	if err == nil {
		if err := permit(p, f.Owner, "the file belongs to another user"); err != nil {
			return nil, err
		}
		var ph *photo.Photo
		if ph, err = h.svc.SetFromFile(r.Context(), userID, in.fileID, in.version, opts); err == nil {
			return ph, nil
		}
	}
	if errors.Is(err, photo.ErrNotFound) {
		return nil, fail(kNotFound, "fileId", "the file or file version does not exist")
	}
	return nil, err
}

// chatterInput is a photo POST's arguments, from any of the places
// Salesforce takes them.
type chatterInput struct {
	file    []byte // the fileUpload part, nil if none
	fileID  string
	version int // 0: the latest
	crop    *photo.Crop
}

// readChatterInput reads a photo POST: multipart (binary part fileUpload
// and an optional part json holding a JSON object), a JSON body, or
// request parameters (query or urlencoded form). Every place may hold
// cropSize, cropX, cropY, fileId and versionNumber, as numbers or numeric
// strings; a JSON object wins over parameters.
func (h *Handler) readChatterInput(w http.ResponseWriter, r *http.Request) (*chatterInput, error) {
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	in := &chatterInput{}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	hasBody := r.Body != nil && r.Body != http.NoBody
	switch {
	case mt == "multipart/form-data" || mt == "application/x-www-form-urlencoded":
		f, err := h.readForm(w, r, "fileUpload", h.maxBytes)
		if err != nil {
			return nil, err
		}
		if in.file, err = f.file(); err != nil {
			return nil, err
		}
		for k, v := range f.fields {
			if k != "json" {
				params[k] = v
			}
		}
		if js, ok := f.fields["json"]; ok && strings.TrimSpace(js) != "" {
			var obj map[string]any
			if err := parseJSON([]byte(js), &obj, msgNotObject); err != nil {
				return nil, err
			}
			if err := mergeJSONParams(params, obj); err != nil {
				return nil, err
			}
		}
	case mt == "application/json":
		var obj map[string]any
		if err := h.readJSON(w, r, &obj, msgNotObject); err != nil {
			return nil, err
		}
		if err := mergeJSONParams(params, obj); err != nil {
			return nil, err
		}
	case !hasBody || (mt == "" && r.ContentLength == 0):
	default:
		return nil, fail(kBadRequest, "", "unsupported Content-Type: send multipart/form-data, application/json or request parameters")
	}
	return in, in.parse(params)
}

// msgNotObject refuses JSON that is not the object Chatter expects.
const msgNotObject = "the JSON is malformed: it must be an object"

// mergeJSONParams adds the members of a decoded JSON object (nil for
// JSON's null) to params, numbers as their text.
func mergeJSONParams(params map[string]string, obj map[string]any) error {
	if obj == nil {
		return fail(kBadRequest, "", msgNotObject)
	}
	for k, v := range obj {
		switch v := v.(type) {
		case nil:
			delete(params, k)
		case string:
			params[k] = v
		case json.Number:
			params[k] = v.String()
		default:
			return fail(kBadRequest, k, fmt.Sprintf("%s must be a number or a string", k))
		}
	}
	return nil
}

// parse fills in from the parameters.
func (in *chatterInput) parse(params map[string]string) error {
	in.fileID = strings.TrimSpace(params["fileId"])
	if v := strings.TrimSpace(params["versionNumber"]); v != "" {
		if in.fileID == "" {
			return fail(kBadRequest, "versionNumber", "versionNumber needs a fileId")
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fail(kBadRequest, "versionNumber", "versionNumber must be a positive integer")
		}
		in.version = n
	}
	if in.file != nil && in.fileID != "" {
		return fail(kBadRequest, "fileId", "give either a fileUpload part or a fileId, not both")
	}
	var vals [3]int
	given := 0
	for i, name := range []string{"cropX", "cropY", "cropSize"} {
		v := strings.TrimSpace(params[name])
		if v == "" {
			continue
		}
		given++
		n, err := strconv.Atoi(v)
		if err != nil {
			return fail(kBadCrop, "crop", fmt.Sprintf("%s must be an integer number of pixels", name))
		}
		vals[i] = n
	}
	switch given {
	case 0:
	case 3:
		in.crop = &photo.Crop{X: vals[0], Y: vals[1], Size: vals[2]}
	default:
		return fail(kBadCrop, "crop", "cropX, cropY and cropSize must be given together")
	}
	return nil
}

// chatterFileBody is the file body of f.
func (h *Handler) chatterFileBody(r *http.Request, f *photo.File) chatterFile {
	v := f.Versions[len(f.Versions)-1]
	return chatterFile{
		ID:            f.ID,
		Type:          "File",
		Title:         f.Name,
		VersionNumber: strconv.Itoa(v.Number),
		ContentSize:   v.Bytes,
		MimeType:      v.ContentType,
		CreatedDate:   f.Created.UTC().Format(time.RFC3339),
		ModifiedDate:  v.Created.UTC().Format(time.RFC3339),
		Owner:         chatterReference{ID: f.Owner},
		URL:           h.baseURL(r) + "/services/data/" + pathSegment(r.PathValue("apiVersion")) + "/connect/files/" + pathSegment(f.ID),
	}
}

// readFileData reads a files POST: the bytes of part fileData, and a
// title from a title field, a json part's title, or the part's file name.
func (h *Handler) readFileData(w http.ResponseWriter, r *http.Request) ([]byte, string, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		return nil, "", fail(kBadRequest, "", "send the file as a multipart/form-data part named fileData")
	}
	f, err := h.readForm(w, r, "fileData", h.maxBytes)
	if err != nil {
		return nil, "", err
	}
	data, err := f.file()
	if err != nil {
		return nil, "", err
	}
	if data == nil {
		return nil, "", fail(kMissing, "fileData", "no file was given: send a non-empty part named fileData")
	}
	title := f.fields["title"]
	if js := f.fields["json"]; strings.TrimSpace(js) != "" {
		var obj map[string]any
		if err := parseJSON([]byte(js), &obj, msgNotObject); err != nil {
			return nil, "", err
		}
		params := map[string]string{}
		if err := mergeJSONParams(params, obj); err != nil {
			return nil, "", err
		}
		if t := params["title"]; t != "" {
			title = t
		}
	}
	if title == "" {
		title = f.fileName
	}
	return data, title, nil
}

// chatterCreateFile stores a new file owned by {userId}.
func (h *Handler) chatterCreateFile(w http.ResponseWriter, r *http.Request) error {
	p, userID, err := h.chatterBegin(r, signedIn)
	if err != nil {
		return err
	}
	if err := permit(p, userID, "you may not create files for another user"); err != nil {
		return err
	}
	data, title, err := h.readFileData(w, r)
	if err != nil {
		return err
	}
	f, err := h.svc.CreateFile(r.Context(), userID, title, bytes.NewReader(data))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, h.chatterFileBody(r, f))
	return nil
}

// chatterFileInfo answers a file's details, to its owner or an admin.
func (h *Handler) chatterFileInfo(w http.ResponseWriter, r *http.Request) error {
	f, err := h.chatterOwnFile(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.chatterFileBody(r, f))
	return nil
}

// chatterAddFileVersion stores new bytes as the file's next version.
func (h *Handler) chatterAddFileVersion(w http.ResponseWriter, r *http.Request) error {
	f, err := h.chatterOwnFile(r)
	if err != nil {
		return err
	}
	data, _, err := h.readFileData(w, r)
	if err != nil {
		return err
	}
	f, err = h.svc.AddFileVersion(r.Context(), f.ID, bytes.NewReader(data))
	if errors.Is(err, photo.ErrNotFound) {
		return fail(kNotFound, "", "the file does not exist")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, h.chatterFileBody(r, f))
	return nil
}

// chatterDeleteFile removes a file, for its owner or an admin.
func (h *Handler) chatterDeleteFile(w http.ResponseWriter, r *http.Request) error {
	f, err := h.chatterOwnFile(r)
	if err != nil {
		return err
	}
	err = h.svc.DeleteFile(r.Context(), f.ID)
	if errors.Is(err, photo.ErrNotFound) {
		return fail(kNotFound, "", "the file does not exist")
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// chatterOwnFile authenticates r and returns the file {fileId} if the
// caller owns it or is an admin.
func (h *Handler) chatterOwnFile(r *http.Request) (*photo.File, error) {
	p, _, err := h.chatterBegin(r, signedIn)
	if err != nil {
		return nil, err
	}
	f, err := h.svc.File(r.Context(), r.PathValue("fileId"))
	if errors.Is(err, photo.ErrNotFound) {
		return nil, fail(kNotFound, "", "the file does not exist")
	}
	if err != nil {
		return nil, err
	}
	if err := permit(p, f.Owner, "the file belongs to another user"); err != nil {
		return nil, err
	}
	return f, nil
}
