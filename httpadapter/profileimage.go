package httpadapter

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/safefetch"
)

// The profile-image dialect, a user's profile-image resource:
//
//	GET    /v1/users/{userId}/profile/profile-image  200 the image body, 404 when none
//	POST   /v1/users/{userId}/profile/profile-image  multipart (field file): 201 with the image body
//	                                                 JSON {"url": ...}: 202, status "downloading"
//	DELETE /v1/users/{userId}/profile/profile-image  204, 404 when none (removes every kept version too)
//
// and its history, when photo.Options.KeepVersions keeps earlier versions
// (same credentials as POST and DELETE: the user, or an admin):
//
//	GET    .../profile-image/versions                       200 {"userId", "versions": [...]}: the
//	                                                        current version first (current: true), then
//	                                                        the kept ones, newest first; 404 when none
//	POST   .../profile-image/versions/{versionId}/restore   200 with the image body: the version is
//	                                                        current again, a new revision with the same
//	                                                        versionId (its URLs stay valid); 404 when
//	                                                        not kept, 409 when If-Match is stale
//	DELETE .../profile-image/versions/{versionId}           204: the kept version is removed; 404 when
//	                                                        not kept, 409 when it is the current one
//	                                                        (restore another, or DELETE the image) or
//	                                                        If-Match is stale
//
// A URL import answers at once and fetches in the background (see
// importer.go); polling GET shows "downloading", then "ready", or "failed"
// with error {code, message}: url-not-allowed, download-failed,
// download-interrupted, file-too-large, invalid-file-format or
// image-refused (the application's photo.Options.BeforeCommit). While it
// downloads, and after it fails, GET still describes, and the rendition
// URLs still serve, the previous photo if there is one.
//
// Errors: 400 {"code":"validation-failure","fieldErrors":[{field, code}]}
// for a missing or refused file (field file: field-missing,
// file-too-large, invalid-file-format, image-refused) or URL (field url: field-missing,
// invalid-url); 401 {"code":"unauthorized"} without credentials and
// {"code":"invalid-credentials"} with bad ones; 403 {"code":"forbidden"}
// for another user's photo without admin rights; 404 {"code":"not-found"};
// 503 {"code":"import-queue-full"} (with Retry-After) when too many
// imports wait.

const profileImagePath = "/v1/users/{userId}/profile/profile-image"

func (h *Handler) profileImageRoutes() []route {
	return []route{
		{"GET " + profileImagePath, ProfileImage, h.profileImageGet},
		{"POST " + profileImagePath, ProfileImage, h.profileImagePost},
		{"DELETE " + profileImagePath, ProfileImage, h.profileImageDelete},
		{"GET " + profileImagePath + "/versions", ProfileImage, h.profileImageVersions},
		{"POST " + profileImagePath + "/versions/{versionId}/restore", ProfileImage, h.profileImageRestore},
		{"DELETE " + profileImagePath + "/versions/{versionId}", ProfileImage, h.profileImageDeleteVersion},
	}
}

// imageBody is the profile-image resource, and what the Igloo association
// answers. The fields that describe an image are absent while a first
// import downloads (there is no image yet).
type imageBody struct {
	UserID string `json:"userId"`
	// Status is ready, downloading or failed.
	Status string `json:"status"`
	// VersionID changes whenever the image changes.
	VersionID string `json:"versionId,omitempty"`
	// URL is the largest rendition; Width, Height and MimeType describe
	// it.
	URL      string `json:"url,omitempty"`
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
	MimeType string `json:"mimeType,omitempty"`
	// Renditions are every square rendition, ascending.
	Renditions []renditionBody `json:"renditions,omitempty"`
	// Placeholder is the photo's ThumbHash (base64) to draw while the
	// renditions load.
	Placeholder string `json:"placeholder,omitempty"`
	// Original is the normalised original (upright, metadata stripped).
	Original *renditionBody `json:"original,omitempty"`
	// Error says why the last import failed, when Status is failed.
	Error *importErrorBody `json:"error,omitempty"`
	// Created is when the image was stored.
	Created *time.Time `json:"created,omitempty"`
}

type renditionBody struct {
	Size     int    `json:"size,omitempty"`
	URL      string `json:"url"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	MimeType string `json:"mimeType"`
}

type importErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// newImageBody describes p with absolute URLs for r.
func (h *Handler) newImageBody(r *http.Request, p *photo.Photo) *imageBody {
	b := &imageBody{UserID: p.UserID, Status: string(p.Status)}
	if p.VersionID != "" {
		rb := func(x photo.Rendition) renditionBody {
			return renditionBody{Size: x.Size, URL: h.renditionURL(r, p.UserID, p.VersionID, x.Size),
				Width: x.Width, Height: x.Height, MimeType: x.ContentType}
		}
		b.VersionID = p.VersionID
		b.Placeholder = p.Placeholder
		b.Renditions = make([]renditionBody, 0, len(p.Renditions))
		for _, x := range p.Renditions {
			b.Renditions = append(b.Renditions, rb(x))
		}
		if len(b.Renditions) > 0 {
			l := b.Renditions[len(b.Renditions)-1]
			b.URL, b.Width, b.Height, b.MimeType = l.URL, l.Width, l.Height, l.MimeType
		}
		o := rb(p.Original)
		b.Original = &o
		c := p.Created.UTC()
		b.Created = &c
	}
	if p.Status == photo.StatusFailed && p.ImportError != nil {
		b.Error = &importErrorBody{Code: importCode(p.ImportError.Code), Message: p.ImportError.SafeMessage()}
	}
	return b
}

// importCode words an import failure's code in the dialect (the table's
// importCode column): the codes of refused bytes become the field codes a
// multipart upload would get; any code without one is download-failed.
func importCode(c photo.Code) string {
	if ic := wordings[codeKinds[c]].importCode; ic != "" {
		return ic
	}
	return wordings[kDownloadFailed].importCode
}

func (h *Handler) profileImageGet(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.authorize(r, reader, "", ""); err != nil {
		return err
	}
	userID := r.PathValue("userId")
	w.Header().Set("Cache-Control", "no-cache")
	p, err := h.svc.Get(r.Context(), userID)
	if errors.Is(err, photo.ErrNotFound) {
		return fail(kNotFound, "", "the user has no profile image")
	}
	if err != nil {
		return err
	}
	setPhotoETag(w, p)
	writeJSON(w, http.StatusOK, h.newImageBody(r, p))
	return nil
}

func (h *Handler) profileImagePost(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("userId")
	caller, err := h.authorize(r, signedIn, userID, "")
	if err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return h.profileImageFromURL(w, r, caller.ID, userID)
	}
	// Anything else is read as a form, which holds no file unless it is
	// multipart: the file is then missing.
	f, err := h.readForm(w, r, "file", h.maxBytes)
	if err != nil {
		return err
	}
	data, err := f.file()
	switch {
	case err != nil:
		return err
	case data == nil:
		return fail(kMissing, "file", "the file field is missing")
	case len(data) == 0:
		return fail(kBadImage, "file", "the file is empty")
	}
	rev, err := ifRevision(r)
	if err != nil {
		return err
	}
	p, err := h.svc.Set(r.Context(), userID, bytes.NewReader(data), &photo.SetOptions{IfRevision: rev})
	if err != nil {
		return err
	}
	setPhotoETag(w, p)
	writeJSON(w, http.StatusCreated, h.newImageBody(r, p))
	return nil
}

// profileImageFromURL starts a URL import: 202 with the photo as it now
// stands (status downloading, and the previous image if there is one).
func (h *Handler) profileImageFromURL(w http.ResponseWriter, r *http.Request, callerID, userID string) error {
	var body struct {
		URL any `json:"url"`
	}
	if err := h.readJSON(w, r, &body, "the body is not a JSON object"); err != nil {
		return err
	}
	raw, isString := body.URL.(string)
	switch {
	case body.URL == nil || (isString && strings.TrimSpace(raw) == ""):
		return fail(kMissing, "url", "the url field is missing")
	case !isString:
		return fail(kInvalidURL, "url", "the url field must be a string")
	}
	if err := h.imports.check(raw); errors.Is(err, safefetch.ErrInvalidURL) {
		msg := wordings[kInvalidURL].message
		var se *safefetch.Error
		if errors.As(err, &se) && se.Message != "" {
			msg = se.Message
		}
		return fail(kInvalidURL, "url", msg)
	}
	p, err := h.imports.submit(r.Context(), callerID, userID, raw)
	if err != nil {
		return err
	}
	w.Header().Set("Location", h.baseURL(r)+"/v1/users/"+pathSegment(userID)+"/profile/profile-image")
	writeJSON(w, http.StatusAccepted, h.newImageBody(r, p))
	return nil
}

func (h *Handler) profileImageDelete(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("userId")
	if _, err := h.authorize(r, signedIn, userID, ""); err != nil {
		return err
	}
	rev, err := ifRevision(r)
	if err != nil {
		return err
	}
	err = h.svc.Delete(r.Context(), userID, &photo.DeleteOptions{IfRevision: rev})
	if errors.Is(err, photo.ErrNotFound) {
		return fail(kNotFound, "", "the user has no profile image")
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// versionsBody is the profile image's history: what
// GET .../profile-image/versions answers.
type versionsBody struct {
	UserID string `json:"userId"`
	// Versions are the current version first, then the kept ones, newest
	// first.
	Versions []versionBody `json:"versions"`
}

// versionBody is one version of the profile image, described as the
// image body describes the current one.
type versionBody struct {
	// Current is true for the version that GET serves.
	Current   bool      `json:"current"`
	VersionID string    `json:"versionId"`
	Created   time.Time `json:"created"`
	// URL is the largest rendition; Width, Height and MimeType describe
	// it.
	URL        string          `json:"url"`
	Width      int             `json:"width"`
	Height     int             `json:"height"`
	MimeType   string          `json:"mimeType"`
	Renditions []renditionBody `json:"renditions"`
	Original   *renditionBody  `json:"original,omitempty"`
}

func (h *Handler) newVersionBody(r *http.Request, p *photo.Photo, current bool) versionBody {
	b := h.newImageBody(r, p)
	return versionBody{Current: current, VersionID: b.VersionID, Created: p.Created.UTC(),
		URL: b.URL, Width: b.Width, Height: b.Height, MimeType: b.MimeType,
		Renditions: b.Renditions, Original: b.Original}
}

func (h *Handler) profileImageVersions(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("userId")
	if _, err := h.authorize(r, signedIn, userID, ""); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-cache")
	p, err := h.svc.Get(r.Context(), userID)
	if errors.Is(err, photo.ErrNotFound) {
		return fail(kNotFound, "", "the user has no profile image")
	}
	if err != nil {
		return err
	}
	body := versionsBody{UserID: p.UserID, Versions: make([]versionBody, 0, 1+len(p.History))}
	if p.VersionID != "" {
		body.Versions = append(body.Versions, h.newVersionBody(r, p, true))
	}
	for i := range p.History {
		body.Versions = append(body.Versions, h.newVersionBody(r, &p.History[i], false))
	}
	setPhotoETag(w, p)
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (h *Handler) profileImageRestore(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("userId")
	if _, err := h.authorize(r, signedIn, userID, ""); err != nil {
		return err
	}
	rev, err := ifRevision(r)
	if err != nil {
		return err
	}
	p, err := h.svc.Restore(r.Context(), userID, r.PathValue("versionId"), &photo.SetOptions{IfRevision: rev})
	if errors.Is(err, photo.ErrNotFound) {
		return fail(kNotFound, "", "the profile image keeps no such version")
	}
	if err != nil {
		return err
	}
	setPhotoETag(w, p)
	writeJSON(w, http.StatusOK, h.newImageBody(r, p))
	return nil
}

func (h *Handler) profileImageDeleteVersion(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("userId")
	if _, err := h.authorize(r, signedIn, userID, ""); err != nil {
		return err
	}
	rev, err := ifRevision(r)
	if err != nil {
		return err
	}
	err = h.svc.Delete(r.Context(), userID, &photo.DeleteOptions{IfRevision: rev, VersionID: r.PathValue("versionId")})
	switch {
	case errors.Is(err, photo.ErrNotFound):
		return fail(kNotFound, "", "the profile image keeps no such version")
	case errors.Is(err, photo.ErrConflict) && rev == 0:
		// Without If-Match, the only conflict is the current version.
		return fail(kConflict, "", "the version is the current one: restore another, or delete the profile image")
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
