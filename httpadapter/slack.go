package httpadapter

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/profilephoto/photo"
)

// The Slack dialect, Slack's users.setPhoto and its neighbours:
//
//	POST     /api/users.setPhoto      multipart: image, crop_x, crop_y, crop_w
//	POST     /api/users.deletePhoto
//	GET|POST /api/users.profile.get   the profile's image URLs
//
// The token comes from "Authorization: Bearer" or a token field (query,
// urlencoded or multipart, in any order: the body is read in full before
// anything is decided). Every answer is HTTP 200 with {"ok":true,...} or
// {"ok":false,"error":"<code>"}, Slack's codes from the error table.
//
// Decisions the document leaves open:
//   - Without a crop box a non-square image is letterboxed, as the
//     document says, whatever the Service's default Fit.
//   - users.deletePhoto without a photo is ok: afterwards there is none.
//   - An optional user argument, which Slack does not have, lets an admin
//     set or delete another user's photo (others get access_denied).
//   - users.profile.get of a user without a photo answers the default
//     photo's URLs (/photos/{userId}/default/{size}) as image_24 ...
//     image_1024, with is_custom_image false and no image_original or
//     avatar_hash, as Slack does for its default avatars (nothing with the
//     library's NoDefaultPhoto). A photo's profile has image_placeholder,
//     its ThumbHash (base64), a field Slack's clients ignore.
//   - users.profile.get takes Slack's optional user argument: any caller
//     with a valid token may read any user's profile, as in Slack (photo
//     metadata is public in the other dialects too).

func (h *Handler) slackRoutes() []route {
	return []route{
		{"POST /api/users.setPhoto", Slack, h.slackSetPhoto},
		{"POST /api/users.deletePhoto", Slack, h.slackDeletePhoto},
		{"GET /api/users.profile.get", Slack, h.slackProfileGet},
		{"POST /api/users.profile.get", Slack, h.slackProfileGet},
	}
}

// slackSizes are the image_N fields of a Slack profile.
var slackSizes = []int{24, 32, 48, 72, 192, 512, 1024}

// slackBegin reads r's form (fileField names its file part, "" for none)
// and authorizes it: the Authorization header first, else the token
// field. It returns the principal and the user the call is about: the
// caller, or the user argument.
func (h *Handler) slackBegin(w http.ResponseWriter, r *http.Request, fileField string) (*form, Principal, string, error) {
	// Bad credentials in the header are refused before the body is read:
	// no upload is processed for a caller we already know we will turn
	// away.
	if _, err := h.authorize(r, anyone, "", ""); err != nil {
		return nil, Principal{}, "", err
	}
	maxFile := int64(0)
	if fileField != "" {
		maxFile = h.maxBytes
	}
	f, err := h.readForm(w, r, fileField, maxFile)
	if err != nil {
		return nil, Principal{}, "", err
	}
	p, err := h.authorize(r, signedIn, "", f.fields["token"])
	if err != nil {
		return nil, Principal{}, "", err
	}
	target := p.ID
	if u := f.fields["user"]; u != "" {
		target = u
	}
	return f, p, target, nil
}

// slackOK writes {"ok":true} plus the given members.
func slackOK(w http.ResponseWriter, members map[string]any) {
	body := map[string]any{"ok": true}
	for k, v := range members {
		body[k] = v
	}
	writeJSON(w, http.StatusOK, body)
}

// slackSetPhoto is users.setPhoto.
func (h *Handler) slackSetPhoto(w http.ResponseWriter, r *http.Request) error {
	f, p, target, err := h.slackBegin(w, r, "image")
	if err != nil {
		return err
	}
	if err := permit(p, target, ""); err != nil {
		return err
	}
	crop, err := slackCrop(f.fields)
	if err != nil {
		return err
	}
	data, err := f.file()
	switch {
	case err != nil:
		return err
	case data == nil:
		return fail(kMissing, "image", "")
	}
	opts := &photo.SetOptions{Crop: crop, Fit: photo.Letterbox}
	if _, err := h.svc.Set(r.Context(), target, bytes.NewReader(data), opts); err != nil {
		return err
	}
	slackOK(w, nil)
	return nil
}

// slackCrop reads crop_x, crop_y and crop_w: all three or none.
func slackCrop(fields map[string]string) (*photo.Crop, error) {
	var vals [3]int
	given := 0
	for i, name := range []string{"crop_x", "crop_y", "crop_w"} {
		v := strings.TrimSpace(fields[name])
		if v == "" {
			continue
		}
		given++
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fail(kBadCrop, "crop", fmt.Sprintf("%s must be an integer", name))
		}
		vals[i] = n
	}
	switch given {
	case 0:
		return nil, nil
	case 3:
		return &photo.Crop{X: vals[0], Y: vals[1], Size: vals[2]}, nil
	}
	return nil, fail(kBadCrop, "crop", "crop_x, crop_y and crop_w must be given together")
}

// slackDeletePhoto is users.deletePhoto.
func (h *Handler) slackDeletePhoto(w http.ResponseWriter, r *http.Request) error {
	_, p, target, err := h.slackBegin(w, r, "")
	if err != nil {
		return err
	}
	if err := permit(p, target, ""); err != nil {
		return err
	}
	// Without a photo the call is ok: afterwards there is none.
	if err := h.svc.Delete(r.Context(), target, nil); err != nil && !errors.Is(err, photo.ErrNotFound) {
		return err
	}
	slackOK(w, nil)
	return nil
}

// slackProfileGet is users.profile.get: the photo part of the profile of
// the caller, or of the user argument.
func (h *Handler) slackProfileGet(w http.ResponseWriter, r *http.Request) error {
	_, _, target, err := h.slackBegin(w, r, "")
	if err != nil {
		return err
	}
	p, err := h.svc.Get(r.Context(), target)
	if errors.Is(err, photo.ErrNotFound) {
		p, err = nil, nil
	}
	if err != nil {
		return err
	}
	profile := map[string]any{"is_custom_image": false}
	if p != nil && p.VersionID != "" {
		profile["is_custom_image"] = true
		profile["avatar_hash"] = p.VersionID
		for _, s := range slackSizes {
			profile["image_"+strconv.Itoa(s)] = h.renditionURL(r, target, p.VersionID, h.servedSize(s))
		}
		profile["image_original"] = h.renditionURL(r, target, p.VersionID, 0)
		if p.Placeholder != "" {
			profile["image_placeholder"] = p.Placeholder
		}
	} else if h.defaults {
		for _, s := range slackSizes {
			profile["image_"+strconv.Itoa(s)] = h.defaultURL(r, target, h.servedSize(s))
		}
	}
	slackOK(w, map[string]any{"profile": profile})
	return nil
}
