package httpadapter

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/profilephoto/photo"
)

// The REST dialects (Chatter, profile-image, the upload's association)
// give a user's photo resource an entity tag made of the photo's revision,
// and take it back in If-Match: a write whose If-Match no longer names the
// current revision changes nothing and answers 409 Conflict: the client
// lost a race with another writer and should read the photo again before
// it retries.

// photoETag is the entity tag of p's resource.
func photoETag(p *photo.Photo) string {
	return `"r` + strconv.FormatInt(p.Revision, 10) + `"`
}

// setPhotoETag sets the ETag header of a response that describes p.
func setPhotoETag(w http.ResponseWriter, p *photo.Photo) {
	if p != nil && p.Revision > 0 {
		w.Header().Set("ETag", photoETag(p))
	}
}

// ifRevision returns the revision r's If-Match header names: 0 when there
// is none or it is "*" (any), and an error for anything that is not one of
// our entity tags.
func ifRevision(r *http.Request) (int64, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	v = strings.TrimPrefix(v, "W/")
	if n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(v, `"r`), `"`), 10, 64); err == nil &&
		n > 0 && strings.HasPrefix(v, `"r`) && strings.HasSuffix(v, `"`) && len(v) > 3 {
		return n, nil
	}
	return 0, fail(kBadRequest, "", "If-Match must be the ETag of the photo, as GET returns it")
}
