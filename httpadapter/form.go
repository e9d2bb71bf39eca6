package httpadapter

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
)

// form is a request body's fields and at most one file, read in full. The
// fields of the dialects may come in any order (a Slack token after the
// image), so the body is read before anything is decided; the file is
// capped at maxFile bytes and every field at maxField bytes.
type form struct {
	fields map[string]string
	// data holds the bytes of the file part, nil when there was none:
	// read it with file, which also reports a file over the limit.
	data []byte
	// tooLarge is the refusal of a file part over maxFile, whose bytes
	// were not kept; nil when there was none.
	tooLarge error
	// partType is the file part's declared Content-Type, never trusted:
	// kept only for logs.
	partType string
	// fileName is the file part's declared file name, if any.
	fileName string
}

// file returns the bytes of the form's file part, nil when it had none,
// or tooLarge's refusal when the part was over the limit.
func (f *form) file() ([]byte, error) {
	if f.tooLarge != nil {
		return nil, f.tooLarge
	}
	return f.data, nil
}

const maxFieldBytes = 64 << 10

// readForm reads a multipart/form-data or application/x-www-form-urlencoded
// body. fileField names the part that holds the file; any other part with
// a file name is skipped. The body is also bounded by
// Options.MaxRequestBytes. A request without a body, or with another
// content type, gives an empty form, not an error.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request, fileField string, maxFile int64) (*form, error) {
	f := &form{fields: map[string]string{}}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			f.fields[k] = v[0]
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		return f, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxRequestBytes)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		boundary := params["boundary"]
		if boundary == "" {
			return nil, fail(kBadForm, "", "the multipart body has no boundary")
		}
		mr := multipart.NewReader(r.Body, boundary)
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return f, nil
			}
			if err != nil {
				return nil, formError(err)
			}
			name := p.FormName()
			switch {
			case name == fileField:
				var buf bytes.Buffer
				n, err := io.Copy(&buf, io.LimitReader(p, maxFile+1))
				if err != nil {
					return nil, formError(err)
				}
				if n > maxFile {
					f.tooLarge = tooLarge(fileField)
					if _, err := io.Copy(io.Discard, p); err != nil {
						return nil, formError(err)
					}
					continue
				}
				f.data = buf.Bytes()
				f.partType = p.Header.Get("Content-Type")
				f.fileName = p.FileName()
			case p.FileName() != "":
				// Browsers send FormData.append("json", blob) with a file
				// name: a small part is still a field (Chatter's json crop
				// part). A larger stray file is skipped.
				v, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
				if err != nil {
					return nil, formError(err)
				}
				if len(v) <= maxFieldBytes {
					f.fields[name] = string(v)
				} else if _, err := io.Copy(io.Discard, p); err != nil {
					return nil, formError(err)
				}
			default:
				v, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
				if err != nil {
					return nil, formError(err)
				}
				if len(v) > maxFieldBytes {
					return nil, fail(kBadRequest, name, fmt.Sprintf("the field %q is too long", name))
				}
				f.fields[name] = string(v)
			}
		}
	case "application/x-www-form-urlencoded":
		data, err := io.ReadAll(io.LimitReader(r.Body, maxFieldBytes*4+1))
		if err != nil {
			return nil, formError(err)
		}
		if len(data) > maxFieldBytes*4 {
			return nil, fail(kBadForm, "", "the form is too long")
		}
		vals, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, fail(kBadForm, "", "the form is malformed")
		}
		for k, v := range vals {
			if len(v) > 0 {
				f.fields[k] = v[0]
			}
		}
		return f, nil
	}
	return f, nil
}
