package httpadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// maxJSONBytes bounds a JSON request body, and a JSON form part (as
// maxFieldBytes does every field).
const maxJSONBytes = 64 << 10

// readJSON reads r's body and decodes it into v as parseJSON does. It is
// the one reader of JSON bodies, with one overflow rule: a body longer
// than maxJSONBytes is refused (kBadRequest, "the JSON body is too long"),
// never cut short and decoded. A body that fails to arrive is worded by
// bodyError; the body is bounded by Options.MaxRequestBytes too.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, v any, malformed string) error {
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxRequestBytes)
	data, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBytes+1))
	if err != nil {
		return bodyError(err)
	}
	if len(data) > maxJSONBytes {
		return fail(kBadRequest, "", "the JSON body is too long")
	}
	return parseJSON(data, v, malformed)
}

// parseJSON decodes data, which must hold one JSON value and nothing
// more, into v; numbers decoded into an interface are json.Numbers. Data
// that does not decode into v is refused with kBadRequest in the words of
// malformed, which name what the route expects.
func parseJSON(data []byte, v any, malformed string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fail(kBadRequest, "", malformed)
	}
	if dec.More() {
		return fail(kBadRequest, "", "the JSON is malformed: more than one value")
	}
	return nil
}

// tooLarge is the one refusal of a body or file over a limit of the
// adapter's (kFileTooLarge), about field ("" for the whole body). The
// library's own refusal, photo.CodeFileTooLarge, is classified as the
// same kind.
func tooLarge(field string) error {
	return fail(kFileTooLarge, field, "")
}

// bodyError words a failure to read a request body.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge("")
	}
	if isBodyTimeout(err) {
		return fail(kBodyTimeout, "", "")
	}
	if strings.Contains(err.Error(), "multipart") {
		return fail(kBadForm, "", "the multipart body is malformed")
	}
	return fail(kBadRequest, "", "the request body could not be read")
}

// formError words a failure to read a form body: as bodyError, except
// that a body that cannot be read as a form is Slack's invalid_form_data.
func formError(err error) error {
	err = bodyError(err)
	var re *requestError
	if errors.As(err, &re) && re.kind == kBadRequest {
		re.kind = kBadForm
	}
	return err
}
