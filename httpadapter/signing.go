package httpadapter

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strconv"
)

// Signed photo URLs are how the Chatter email URLs (fullEmailPhotoUrl,
// standardEmailPhotoUrl) work without credentials for a limited time, as
// Salesforce's do:
//
//	/photos/{userId}/{size}?expires=UNIX&sig=SIG
//
// SIG is the unpadded base64url HMAC-SHA256, under Options.SigningKey, of
// the user ID, the size segment and the expiry. The URL redirects to the
// user's current photo, so an email shows the newest photo until the link
// expires. A wrong signature is 403, an expired link 410.

// randomKey returns a fresh 256-bit signing key.
func randomKey() []byte {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return b
}

// photoSignature signs one (user, size, expiry). Each field is length
// prefixed, so that no two different triples make the same message
// whatever bytes a user ID holds.
func (h *Handler) photoSignature(userID, sizeSeg string, expires int64) string {
	mac := hmac.New(sha256.New, h.opts.SigningKey)
	var buf []byte
	for _, f := range []string{"photo-url-v1", userID, sizeSeg, strconv.FormatInt(expires, 10)} {
		buf = binary.AppendUvarint(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	mac.Write(buf)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// signedPhotoURL returns the absolute signed URL of userID's current photo
// at size, valid for Options.EmailURLTTL from now.
func (h *Handler) signedPhotoURL(r *http.Request, userID string, size int) string {
	exp := h.now().Add(h.opts.EmailURLTTL).Unix()
	seg := sizeSegment(size)
	return h.currentURL(r, userID, size) + "?expires=" + strconv.FormatInt(exp, 10) +
		"&sig=" + h.photoSignature(userID, seg, exp)
}

// checkPhotoSignature checks a signed URL's query. The signature is
// checked first, so an edited expiry is a bad signature, not a live link.
func (h *Handler) checkPhotoSignature(userID, sizeSeg, expires, sig string) error {
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || sig == "" {
		return fail(kBadSignature, "", "the link is incomplete: it needs both expires and sig")
	}
	want := h.photoSignature(userID, sizeSeg, exp)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return fail(kBadSignature, "", "")
	}
	if h.now().Unix() > exp {
		return fail(kLinkExpired, "", "")
	}
	return nil
}
