package httpadapter

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/profilephoto/photo"
)

// kind is a failure as the adapter sees it, before any dialect words it.
type kind int

const (
	kInternal            kind = iota
	kNoAuth                   // no credentials
	kBadAuth                  // credentials refused
	kForbidden                // a principal acting on another user's photo
	kNotFound                 // no photo, no version, no upload, no file
	kConflict                 // a revision or import superseded
	kBadRequest               // malformed request: fields, JSON, ranges
	kCanceled                 // the client went away or the request timed out
	kMissing                  // photo.CodeMissing: no image given
	kFileTooLarge             // photo.CodeFileTooLarge, tooLarge (a file or body over a limit)
	kBadImage                 // not an image, unsupported, corrupt, truncated, too small
	kImageTooLarge            // photo.CodeImageTooLarge
	kTooManyFrames            // photo.CodeTooManyFrames
	kBadCrop                  // photo.CodeBadCrop
	kRangeConflict            // a resumable chunk that does not start where the upload ends
	kRangeInvalid             // a chunk past the declared length, or a wrong total
	kIncomplete               // associating an upload that has not all its bytes
	kBadSignature             // a signed photo URL whose signature does not match
	kLinkExpired              // a signed photo URL past its expiry
	kInvalidURL               // profile-image's url field is not an absolute http(s) URL
	kBusy                     // the URL import queue is full, or the adapter is closing
	kBodyTimeout              // the request body stalled or arrived too slowly
	kBadForm                  // a form body (multipart or urlencoded) that cannot be parsed
	kMethodNotAllowed         // a path the adapter has, with an HTTP method it does not serve
	kUnknownMethod            // a Slack method the adapter does not have
	kRateLimited              // a rate limit (per principal or global) was reached
	kQuota                    // photo.ErrQuotaExceeded: the caller holds too much already
	kServerBusy               // photo.ErrBusy, or no write slot came free in time
	kURLNotAllowed            // photo.CodeURLNotAllowed: an import's URL refused by policy
	kDownloadFailed           // photo.CodeDownloadFailed: an import's download failed
	kDownloadInterrupted      // photo.CodeDownloadInterrupted: an import never finished
	kRefused                  // photo.CodeRefused: the application's BeforeCommit hook refused the image

	numKinds // the number of kinds; keep last
)

// wording is how every dialect says one kind of failure. This table is the
// only place that maps errors to statuses and codes.
type wording struct {
	status       int    // HTTP status for the REST dialects
	chatterCode  string // Salesforce errorCode (status as above)
	slack        string // Slack error code (always HTTP 200)
	piCode       string // profile-image top-level code
	piFieldCode  string // profile-image field error code, when a validation failure
	defaultField string // profile-image field the error is about
	message      string // safe default message
	importCode   string // profile-image code of a failed URL import; "" means download-failed
}

// wordings words every kind. The last three, the library's import
// failures, are only shown as a failed import's code (importCode), never
// as an answer; their other columns are those of the kinds the library
// groups them in (invalid input, busy).
var wordings = map[kind]wording{
	kInternal:            {500, "UNKNOWN_EXCEPTION", "internal_error", "internal-error", "", "", "an internal error occurred", ""},
	kNoAuth:              {401, "INVALID_SESSION_ID", "not_authed", "unauthorized", "", "", "no credentials were given", ""},
	kBadAuth:             {401, "INVALID_SESSION_ID", "invalid_auth", "invalid-credentials", "", "", "the credentials are invalid or expired", ""},
	kForbidden:           {403, "INSUFFICIENT_ACCESS", "access_denied", "forbidden", "", "", "you may not change this user's photo", ""},
	kNotFound:            {404, "NOT_FOUND", "not_found", "not-found", "", "", "the requested resource does not exist", ""},
	kConflict:            {409, "CONFLICT", "internal_error", "conflict", "", "", "the photo was changed by another request", ""},
	kBadRequest:          {400, "INVALID_INPUT", "invalid_arguments", "bad-request", "", "", "the request is malformed", ""},
	kCanceled:            {503, "REQUEST_LIMIT_EXCEEDED", "request_timeout", "unavailable", "", "", "the request did not complete", ""},
	kMissing:             {400, "INVALID_INPUT", "invalid_arguments", "validation-failure", "field-missing", "file", "no image was given", "field-missing"},
	kFileTooLarge:        {400, "INVALID_INPUT", "too_large", "validation-failure", "file-too-large", "file", "the file is too large", "file-too-large"},
	kBadImage:            {400, "INVALID_INPUT", "bad_image", "validation-failure", "invalid-file-format", "file", "the file is not a supported image", "invalid-file-format"},
	kImageTooLarge:       {400, "INVALID_INPUT", "too_large", "validation-failure", "file-too-large", "file", "the image dimensions are too large", "file-too-large"},
	kTooManyFrames:       {400, "INVALID_INPUT", "too_many_frames", "validation-failure", "invalid-file-format", "file", "the animation has too many frames", "invalid-file-format"},
	kBadCrop:             {400, "FIELD_INTEGRITY_EXCEPTION", "invalid_arguments", "validation-failure", "invalid-crop", "crop", "the crop box does not fit the image", "invalid-crop"},
	kRangeConflict:       {409, "INVALID_INPUT", "invalid_arguments", "range-conflict", "", "", "the chunk does not continue the upload", ""},
	kRangeInvalid:        {416, "INVALID_INPUT", "invalid_arguments", "range-not-satisfiable", "", "", "the content range does not fit the declared length", ""},
	kIncomplete:          {409, "INVALID_INPUT", "invalid_arguments", "upload-incomplete", "", "", "the upload has not received all its bytes", ""},
	kBadSignature:        {403, "INSUFFICIENT_ACCESS", "invalid_auth", "invalid-signature", "", "", "the link's signature is not valid", ""},
	kLinkExpired:         {410, "INSUFFICIENT_ACCESS", "token_expired", "link-expired", "", "", "the link has expired; ask for a new one", ""},
	kInvalidURL:          {400, "INVALID_INPUT", "invalid_arguments", "validation-failure", "invalid-url", "url", "the URL is not a valid absolute http or https URL", ""},
	kBusy:                {503, "SERVER_UNAVAILABLE", "ratelimited", "import-queue-full", "", "", "too many URL imports are in progress; try again later", ""},
	kBodyTimeout:         {408, "INVALID_INPUT", "request_timeout", "request-timeout", "", "", "the request body stopped arriving or arrived too slowly", ""},
	kBadForm:             {400, "INVALID_INPUT", "invalid_form_data", "bad-request", "", "", "the form data is malformed", ""},
	kMethodNotAllowed:    {405, "METHOD_NOT_ALLOWED", "invalid_arguments", "method-not-allowed", "", "", "the HTTP method is not allowed here", ""},
	kUnknownMethod:       {404, "NOT_FOUND", "unknown_method", "not-found", "", "", "the requested resource does not exist", ""},
	kRateLimited:         {429, "REQUEST_LIMIT_EXCEEDED", "ratelimited", "rate-limited", "", "", "too many requests; try again later", ""},
	kQuota:               {403, "REQUEST_LIMIT_EXCEEDED", "limit_exceeded", "quota-exceeded", "", "", "a quota was exceeded", ""},
	kServerBusy:          {503, "SERVER_UNAVAILABLE", "ratelimited", "busy", "", "", "the server is busy; try again later", ""},
	kURLNotAllowed:       {400, "INVALID_INPUT", "invalid_arguments", "bad-request", "", "", "the URL is not allowed", "url-not-allowed"},
	kDownloadFailed:      {400, "INVALID_INPUT", "invalid_arguments", "bad-request", "", "", "the download failed", "download-failed"},
	kDownloadInterrupted: {503, "SERVER_UNAVAILABLE", "ratelimited", "busy", "", "", "the download did not finish", "download-interrupted"},
	kRefused:             {400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "bad_image", "validation-failure", "image-refused", "file", "the image was refused", "image-refused"},
}

// codeKinds is the kind of every photo Code: the one place where the
// library's refusals meet the dialects' words (wordings). It is complete:
// a test ranges over every Code constant of the photo package.
var codeKinds = map[photo.Code]kind{
	photo.ErrInvalidInput:  kBadRequest,
	photo.ErrNotFound:      kNotFound,
	photo.ErrConflict:      kConflict,
	photo.ErrBusy:          kServerBusy,
	photo.ErrQuotaExceeded: kQuota,

	photo.CodeMissing:           kMissing,
	photo.CodeFileTooLarge:      kFileTooLarge,
	photo.CodeNotImage:          kBadImage,
	photo.CodeUnsupportedFormat: kBadImage,
	photo.CodeCorrupt:           kBadImage,
	photo.CodeTruncated:         kBadImage,
	photo.CodeTooSmall:          kBadImage,
	photo.CodeImageTooLarge:     kImageTooLarge,
	photo.CodeTooManyFrames:     kTooManyFrames,
	photo.CodeBadCrop:           kBadCrop,
	photo.CodeBadUserID:         kBadRequest,
	photo.CodeBadArgument:       kBadRequest,
	photo.CodeBadRange:          kRangeInvalid,
	photo.CodeURLNotAllowed:     kURLNotAllowed,
	photo.CodeDownloadFailed:    kDownloadFailed,
	photo.CodeRefused:           kRefused,

	photo.CodeUploadConflict:      kRangeConflict,
	photo.CodeUploadIncomplete:    kIncomplete,
	photo.CodeDownloadInterrupted: kDownloadInterrupted,
}

// adapterWords are the kinds whose refusals the adapter words itself, in
// the table's message: the library's message of a missing resource, a
// conflict or a busy server says more about its insides than a client
// needs. Every other refusal shows the library's SafeMessage.
var adapterWords = map[kind]bool{kNotFound: true, kConflict: true, kServerBusy: true}

// classify turns an error into its kind and a message safe to show. A
// refusal of the library (a photo Code) takes its kind from codeKinds and
// its message from SafeMessage; an error of the adapter's own carries
// both; a stalled body and the context take the table's words, and
// anything else is internal.
func classify(err error) (kind, string) {
	var pe *photo.Error
	if errors.As(err, &pe) {
		if k, ok := codeKinds[pe.Code]; ok {
			if adapterWords[k] {
				return k, wordings[k].message
			}
			return k, pe.SafeMessage()
		}
	}
	var re *requestError
	if errors.As(err, &re) {
		return re.kind, re.msg
	}
	switch {
	case isBodyTimeout(err):
		return kBodyTimeout, wordings[kBodyTimeout].message
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return kCanceled, wordings[kCanceled].message
	}
	return kInternal, wordings[kInternal].message
}

// requestError is a failure the adapter itself finds in a request, with a
// message safe to show.
type requestError struct {
	kind       kind
	msg        string
	field      string         // the offending field, for profile-image's field errors and Igloo's field member
	retryAfter time.Duration  // for a retryable refusal: when to come back; 0 for the default
	extra      map[string]any // more members of an Igloo body (received, length)
}

func (e *requestError) Error() string { return e.msg }

// fail returns a requestError of kind k; an empty msg takes the table's.
func fail(k kind, field, msg string) error {
	if msg == "" {
		msg = wordings[k].message
	}
	return &requestError{kind: k, msg: msg, field: field}
}

// retryLater returns a retryable refusal of kind k (kRateLimited,
// kServerBusy or kBusy) whose answer tells the client to come back after
// d (0: defaultRetryAfter). An empty msg takes the table's.
func retryLater(k kind, msg string, d time.Duration) error {
	if msg == "" {
		msg = wordings[k].message
	}
	return &requestError{kind: k, msg: msg, retryAfter: d}
}

// withProgress returns err, as classify sees it, with an upload's
// progress: the answer's body carries received and length.
func withProgress(err error, received, length int64) error {
	k, msg := classify(err)
	return &requestError{kind: k, msg: msg, extra: map[string]any{"received": received, "length": length}}
}

// defaultRetryAfter is the Retry-After of a retryable refusal that names
// no delay of its own.
const defaultRetryAfter = 5 * time.Second

// setRetryAfter adds Retry-After, in whole seconds rounded up, to the
// answer of a retryable kind: the delay err carries, or
// defaultRetryAfter. writeError calls it for every dialect, Slack's too:
// Slack sends the header with its ratelimited error.
func setRetryAfter(w http.ResponseWriter, err error, k kind) {
	if k != kRateLimited && k != kServerBusy && k != kBusy {
		return
	}
	d := defaultRetryAfter
	var re *requestError
	if errors.As(err, &re) && re.retryAfter > 0 {
		d = re.retryAfter
	}
	w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
}

// logFailure logs what a client will not see: the cause of a 5xx.
func (h *Handler) logFailure(r *http.Request, k kind, err error) {
	if k == kInternal {
		h.log.ErrorContext(r.Context(), "httpadapter: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fieldError is one entry of profile-image's fieldErrors.
type fieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// chatterMessages are Salesforce's own words for the kinds that have them
// (a missing and a refused session), which the Chatter dialect says in
// place of any other message.
var chatterMessages = map[kind]string{
	kNoAuth:  msgNoSession,
	kBadAuth: msgBadSession,
}

// Salesforce's messages for a missing and a refused session.
const (
	msgNoSession  = "No session ID was given: send one in the Authorization header"
	msgBadSession = "Session expired or invalid"
)

// iglooChallenges are the WWW-Authenticate headers of the Igloo dialect's
// 401 answers (RFC 6750).
var iglooChallenges = map[kind]string{
	kNoAuth:  `Bearer realm="photo"`,
	kBadAuth: `Bearer realm="photo", error="invalid_token"`,
}

// writeError is the adapter's one error writer: it answers err in the
// words of dialect d, 0 being the rendition routes' and openapi.json's.
// It classifies err once, logs the cause of an internal error, and adds
// Retry-After to a retryable refusal; then it writes the dialect's body:
//
//   - Chatter: Salesforce's JSON array of {errorCode, message}, with
//     Salesforce's session messages (chatterMessages);
//   - Slack: HTTP 200 with {"ok": false, "error": code};
//   - ProfileImage: {code, message}, and for a validation failure
//     fieldErrors naming the field;
//   - Igloo and 0: {code, message}, plus the field a request error is
//     about and the members it carries (an upload's received and length);
//     Igloo's 401 answers have a WWW-Authenticate challenge.
func (h *Handler) writeError(d Dialect, w http.ResponseWriter, r *http.Request, err error) {
	k, msg := classify(err)
	h.logFailure(r, k, err)
	setRetryAfter(w, err, k)
	wd := wordings[k]
	var re *requestError
	if !errors.As(err, &re) {
		re = &requestError{}
	}
	switch d {
	case Chatter:
		if m, ok := chatterMessages[k]; ok {
			msg = m
		}
		writeJSON(w, wd.status, []map[string]string{{"errorCode": wd.chatterCode, "message": msg}})
	case Slack:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": wd.slack})
	case ProfileImage:
		body := map[string]any{"code": wd.piCode, "message": msg}
		if wd.piFieldCode != "" {
			field := wd.defaultField
			if re.field != "" {
				field = re.field
			}
			body["fieldErrors"] = []fieldError{{Field: field, Code: wd.piFieldCode, Message: msg}}
		}
		writeJSON(w, wd.status, body)
	default:
		if d == Igloo && (k == kNoAuth || k == kBadAuth) {
			w.Header().Set("WWW-Authenticate", iglooChallenges[k])
		}
		body := map[string]any{"code": wd.piCode, "message": msg}
		if re.field != "" {
			body["field"] = re.field
		}
		maps.Copy(body, re.extra)
		writeJSON(w, wd.status, body)
	}
}
