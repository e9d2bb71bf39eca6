package httpadapter

import (
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/profilephoto/photo"
)

// The rendition routes serve the bytes every dialect links to:
//
//	GET /photos/{userId}/{versionId}/{size}  the bytes, immutable
//	GET /photos/{userId}/{size}              302 to the current version
//	GET /photos/{userId}/default/{size}      the user's default photo
//
// size is one of the Service's Sizes or OnDemandSizes, written as a plain
// decimal integer, or "original" for the normalised original. The
// versioned URL stops working (404) once the user's photo changes: its
// bytes are gone. The unversioned one also takes the signed expiring
// query of the Chatter email URLs (see signing.go).
//
// A URL names a size, not a format: a rendition (not the original) is
// served as WebP to a client whose Accept names image/webp (see
// wantsWebP), else as stored (JPEG, or PNG for transparency). Those
// responses, and the redirect, carry Vary: Accept, and each format has its
// own ETag, so that caches keep the formats apart and If-None-Match,
// Range and If-Range apply to the bytes of the format served.

// Cache-Control values of the rendition routes.
const (
	// cacheImmutable: a versioned URL's bytes never change.
	cacheImmutable = "public, max-age=31536000, immutable"
	// cacheCurrent: the redirect to the current version may be reused for
	// a minute, so a page full of avatars does not ask again for each one,
	// and a new photo shows within a minute.
	cacheCurrent = "public, max-age=60"
	// cacheCurrentPrivate is cacheCurrent for a response that needed
	// credentials.
	cacheCurrentPrivate = "private, max-age=60"
	// cacheDefault: a default photo's URL is stable and its bytes change
	// only when the host's display name for the user does (its initials)
	// or a release changes the drawing; setting or deleting a photo does
	// not change it, only whether the dialects link to it. An hour of
	// reuse keeps pages full of defaults from asking again and again,
	// and bounds how long a renamed user's old initials show; after that
	// the strong ETag makes the revalidation a cheap 304. Not immutable.
	cacheDefault = "public, max-age=3600"
	// cacheNone: answers that must not outlive the state they describe
	// (a 404 before the first upload).
	cacheNone = "no-cache"
)

// sizeOriginal is the size segment of the normalised original.
const sizeOriginal = "original"

func (h *Handler) renditionRoutes() []route {
	return []route{
		{"GET /photos/{userId}/{versionId}/{size}", 0, h.serveRendition},
		{"GET /photos/{userId}/{size}", 0, h.redirectCurrent},
		{"GET /photos/{userId}/default/{size}", 0, h.serveDefault},
	}
}

// parseSize reads a size segment: "original" (0) or a decimal integer in
// canonical form (no sign, no leading zero, so that each rendition has
// one URL) that is one of the Service's sizes or on-demand sizes.
func (h *Handler) parseSize(s string) (int, bool) {
	if s == sizeOriginal {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	if _, ok := slices.BinarySearch(h.sizes, n); ok {
		return n, true
	}
	return 0, false
}

// sizeSegment is the URL segment of a size; 0 is the original.
func sizeSegment(size int) string {
	if size == 0 {
		return sizeOriginal
	}
	return strconv.Itoa(size)
}

// servedSize returns the size to link to for a dialect that wants want
// pixels: want itself when the Service serves it, else the smallest
// larger size it serves, else its largest.
func (h *Handler) servedSize(want int) int {
	if i, _ := slices.BinarySearch(h.sizes, want); i < len(h.sizes) {
		return h.sizes[i]
	}
	return h.sizes[len(h.sizes)-1]
}

// pathSegment escapes s as one path segment. url.PathEscape leaves "." and
// ".." as they are, and a mux would clean them away, so those two are
// written with %2E: a user ID may be any string.
func pathSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// renditionURL returns the absolute, immutable URL of one rendition of a
// version (size 0: the normalised original).
func (h *Handler) renditionURL(r *http.Request, userID, versionID string, size int) string {
	return h.baseURL(r) + "/photos/" + pathSegment(userID) + "/" + pathSegment(versionID) + "/" + sizeSegment(size)
}

// defaultURL returns the absolute URL of userID's default photo at size.
func (h *Handler) defaultURL(r *http.Request, userID string, size int) string {
	return h.baseURL(r) + "/photos/" + pathSegment(userID) + "/default/" + strconv.Itoa(size)
}

// currentURL returns the absolute URL that redirects to the current
// version of userID's photo at size.
func (h *Handler) currentURL(r *http.Request, userID string, size int) string {
	return h.baseURL(r) + "/photos/" + pathSegment(userID) + "/" + sizeSegment(size)
}

// serveRendition serves the bytes of a rendition. The bytes are public:
// their URL holds the version, which nobody can guess. A plain GET or
// HEAD, perhaps with If-None-Match, is answered here, so that the bytes
// reach the connection through the store's own WriteTo (sendfile on the
// filesystem store); Range and the other conditional requests go to
// http.ServeContent, which answers Range, If-Range, If-Match and the dates.
func (h *Handler) serveRendition(w http.ResponseWriter, r *http.Request) error {
	size, ok := h.parseSize(r.PathValue("size"))
	if !ok {
		return fail(kNotFound, "", "there is no rendition of that size")
	}
	format := ""
	if size != 0 {
		if wantsWebP(r.Header.Values("Accept")) {
			format = webpType
		}
	}
	b, err := h.svc.OpenRendition(r.Context(), r.PathValue("userId"), r.PathValue("versionId"), size, format)
	cache := cacheImmutable
	if format != "" && errors.Is(err, photo.ErrBusy) {
		// No room to make the WebP now: the stored format serves as well,
		// briefly cached, so that a later request gets the WebP.
		b, err = h.svc.OpenRendition(r.Context(), r.PathValue("userId"), r.PathValue("versionId"), size, "")
		cache = cacheCurrent
	}
	if photo.CodeOf(err) == photo.CodeBadUserID {
		return fail(kNotFound, "", "")
	}
	if err != nil {
		return err
	}
	defer b.Close()
	if size != 0 {
		w.Header().Add("Vary", "Accept")
	}
	return h.serveBlob(w, r, b, cache)
}

// serveBlob answers r with the bytes of b: its ETag, Content-Type and
// cache, 304 on a matching If-None-Match, Range and HEAD; the plain GET
// copies the store's reader, which may send the file with sendfile.
func (h *Handler) serveBlob(w http.ResponseWriter, r *http.Request, b *photo.Blob, cache string) error {
	hd := w.Header()
	etag := strconv.Quote(b.Rendition.ETag)
	// Setting Content-Type keeps ServeContent from sniffing the bytes.
	hd.Set("Content-Type", b.Rendition.ContentType)
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", cache)
	hd.Set("X-Content-Type-Options", "nosniff")
	if !plainRequest(r) {
		http.ServeContent(&rangeErrorWriter{ResponseWriter: w, h: h, r: r, size: b.Rendition.Bytes}, withoutEmptySuffixRanges(r), "", b.ModTime, b)
		return nil
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListed(inm, etag) {
		hd.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Length", strconv.FormatInt(b.Rendition.Bytes, 10))
	if !b.ModTime.IsZero() {
		hd.Set("Last-Modified", b.ModTime.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		// b.ReadSeekCloser, not b: the store's reader may have a WriteTo.
		if _, err := io.Copy(w, b.ReadSeekCloser); err != nil {
			h.log.DebugContext(r.Context(), "httpadapter: serving a rendition ended early", "err", err)
		}
	}
	return nil
}

// serveDefault serves a user's default photo. Like rendition bytes it is
// public, whatever Options.PrivateReads says (an email client fetches it
// without credentials): it shows no more than the initials of the host's
// display name. It answers If-None-Match (304), Range and HEAD, and 404
// for a size that is not served, the "original" (a default has none) and
// when the Service draws no defaults.
func (h *Handler) serveDefault(w http.ResponseWriter, r *http.Request) error {
	seg := r.PathValue("size")
	size, ok := h.parseSize(seg)
	if !ok || seg == sizeOriginal {
		return fail(kNotFound, "", "there is no default photo of that size")
	}
	b, err := h.svc.Default(r.Context(), r.PathValue("userId"), size)
	if photo.CodeOf(err) == photo.CodeBadUserID {
		err = fail(kNotFound, "", "")
	}
	if err != nil {
		w.Header().Set("Cache-Control", cacheNone)
		return err
	}
	defer b.Close()
	return h.serveBlob(w, r, b, cacheDefault)
}

// webpType is the media type of WebP renditions.
const webpType = "image/webp"

// wantsWebP reports whether the Accept header values prefer WebP to the
// stored formats: image/webp is named with a q-value above 0 and at least
// that of JPEG and of PNG (the more specific range wins: image/jpeg over
// image/* over */*). Only a range that names image/webp counts for WebP:
// "*/*" and "image/*" alone do not, since browsers that cannot show WebP
// send them too. Media types and parameter names are case-insensitive;
// a range whose q-value is malformed is ignored.
func wantsWebP(accept []string) bool {
	webp := acceptQ(accept, "image", "webp", true)
	if webp <= 0 {
		return false
	}
	return webp >= max(acceptQ(accept, "image", "jpeg", false), acceptQ(accept, "image", "png", false))
}

// acceptQ returns the q-value (0 to 1000) that the Accept header values
// give typ/sub: that of the most specific range matching it, or -1 when
// none does; exact limits the match to typ/sub itself.
func acceptQ(accept []string, typ, sub string, exact bool) int {
	best, q := -1, -1 // specificity of the match so far: 0 */*, 1 typ/*, 2 typ/sub
	for _, line := range accept {
		for rng := range strings.SplitSeq(line, ",") {
			mt, params, _ := strings.Cut(rng, ";")
			t, st, ok := strings.Cut(strings.ToLower(strings.TrimSpace(mt)), "/")
			if !ok {
				continue
			}
			t, st = strings.TrimSpace(t), strings.TrimSpace(st)
			var spec int
			switch {
			case t == typ && st == sub:
				spec = 2
			case exact:
				continue
			case t == typ && st == "*":
				spec = 1
			case t == "*" && st == "*":
				spec = 0
			default:
				continue
			}
			rq, ok := qValue(params)
			if !ok || spec < best {
				continue
			}
			if spec > best {
				best, q = spec, rq
			} else {
				q = max(q, rq)
			}
		}
	}
	return q
}

// qValue returns the q parameter among a range's parameters ("a=b;q=0.5")
// in thousandths, 1000 when there is none, and false when it is malformed.
func qValue(params string) (int, bool) {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		v = strings.TrimSpace(v)
		// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
		ip, frac, _ := strings.Cut(v, ".")
		if (ip != "0" && ip != "1") || len(frac) > 3 {
			return 0, false
		}
		n := 0
		for i := range 3 {
			d := 0
			if i < len(frac) {
				if frac[i] < '0' || frac[i] > '9' {
					return 0, false
				}
				d = int(frac[i] - '0')
			}
			n = 10*n + d
		}
		if ip == "1" {
			if n != 0 {
				return 0, false
			}
			return 1000, true
		}
		return n, true
	}
	return 1000, true
}

// plainRequest reports whether r asks for the whole body with no
// condition other than If-None-Match.
func plainRequest(r *http.Request) bool {
	for _, k := range []string{"Range", "If-Range", "If-Match", "If-Unmodified-Since", "If-Modified-Since"} {
		if _, ok := r.Header[k]; ok {
			return false
		}
	}
	return true
}

// etagListed reports whether the If-None-Match value list names etag (a
// strong tag, quoted) or is "*". The comparison is weak, as RFC 9110
// asks for If-None-Match: W/"x" matches "x".
func etagListed(list, etag string) bool {
	for tag := range strings.SplitSeq(list, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

// rangeErrorWriter answers ServeContent's 416, for a Range header it
// cannot parse or satisfy, as {code: range-not-satisfiable, message} in
// JSON instead of its line of plain text, always with the Content-Range
// (bytes */size) that RFC 9110 asks for.
type rangeErrorWriter struct {
	http.ResponseWriter
	h       *Handler
	r       *http.Request
	size    int64 // of the whole representation
	replied bool  // the 416 is answered: ServeContent's own body is dropped
}

func (w *rangeErrorWriter) WriteHeader(code int) {
	if code != http.StatusRequestedRangeNotSatisfiable {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replied = true
	hd := w.Header()
	for _, k := range []string{"Cache-Control", "ETag", "Last-Modified", "Content-Length"} {
		hd.Del(k)
	}
	hd.Set("Content-Range", "bytes */"+strconv.FormatInt(w.size, 10))
	w.h.writeError(0, w.ResponseWriter, w.r, fail(kRangeInvalid, "", "the requested range cannot be satisfied"))
}

func (w *rangeErrorWriter) Write(p []byte) (int, error) {
	if w.replied {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *rangeErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withoutEmptySuffixRanges returns r without the suffix ranges of length
// zero ("-0") in its Range header, which RFC 9110 calls unsatisfiable but
// ServeContent answers with 206 and a malformed Content-Range. When no
// other range is left, the header asks for a range past any end, which
// ServeContent answers with 416 (or ignores, as it must, when If-Range
// does not match).
func withoutEmptySuffixRanges(r *http.Request) *http.Request {
	unit, specs, ok := strings.Cut(r.Header.Get("Range"), "=")
	if !ok || strings.TrimSpace(unit) != "bytes" {
		return r
	}
	var kept []string
	dropped := false
	for spec := range strings.SplitSeq(specs, ",") {
		spec = strings.TrimSpace(spec)
		if n, isSuffix := strings.CutPrefix(spec, "-"); isSuffix && n != "" && strings.Trim(n, "0") == "" {
			dropped = true
			continue
		}
		kept = append(kept, spec)
	}
	if !dropped {
		return r
	}
	r2 := r.Clone(r.Context())
	if len(kept) == 0 {
		kept = []string{strconv.FormatInt(math.MaxInt64, 10) + "-"}
	}
	r2.Header.Set("Range", "bytes="+strings.Join(kept, ","))
	return r2
}

// redirectCurrent answers 302 to the current version's rendition. It is
// public unless Options.PrivateReads is set, because it reveals the
// current version; the Chatter email URLs carry a signature instead of
// credentials. A token that is present is always checked.
func (h *Handler) redirectCurrent(w http.ResponseWriter, r *http.Request) error {
	userID, sizeSeg := r.PathValue("userId"), r.PathValue("size")
	size, ok := h.parseSize(sizeSeg)
	if !ok {
		return fail(kNotFound, "", "there is no rendition of that size")
	}
	// A signed URL stands in for credentials.
	q := r.URL.Query()
	signed := q.Has("sig") || q.Has("expires")
	n := reader
	if signed {
		n = anyone
	}
	if _, err := h.authorize(r, n, "", ""); err != nil {
		return err
	}
	cache := cacheCurrent
	switch {
	case signed:
		if err := h.checkPhotoSignature(userID, sizeSeg, q.Get("expires"), q.Get("sig")); err != nil {
			return err
		}
	case h.opts.PrivateReads:
		cache = cacheCurrentPrivate
	}
	if h.opts.PrivateReads {
		w.Header().Add("Vary", "Authorization")
	}
	p, err := h.svc.Get(r.Context(), userID)
	switch {
	case photo.CodeOf(err) == photo.CodeBadUserID:
		err = fail(kNotFound, "", "")
	case err == nil && p.VersionID == "":
		err = fail(kNotFound, "", "the user has no photo yet")
	}
	if err != nil {
		w.Header().Set("Cache-Control", cacheNone)
		return err
	}
	hd := w.Header()
	hd.Set("Cache-Control", cache)
	if size != 0 {
		// The target's bytes depend on Accept; a cache that stores the
		// redirect with what it followed it to must keep them apart.
		hd.Add("Vary", "Accept")
	}
	// Not http.Redirect: its little HTML body would make this the one
	// page the adapter serves.
	hd.Set("Location", h.renditionURL(r, userID, p.VersionID, size))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusFound)
	return nil
}
