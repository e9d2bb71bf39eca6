package safefetch

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// maxPostAnswer is how much of the answer to a Post is read (and thrown
// away) so that the server sees its answer taken.
const maxPostAnswer = 64 << 10

// Post sends body to rawURL with the POST method under the fetcher's
// policy, the same as Fetch's: the URL is checked, and so is every address
// that its host resolves to before it is dialled. It returns the answer's
// status; any status is a success of Post, the caller judges it. Redirects
// are not followed (a 3xx status is returned as it is), header is sent as
// given (with the fetcher's User-Agent unless it names one), Options.Timeout
// bounds the whole exchange and IdleTimeout every wait, and at most 64 KiB
// of the answer's body is read. Every error is an *Error.
func (f *Fetcher) Post(ctx context.Context, rawURL string, header http.Header, body []byte) (int, error) {
	u, err := f.checkURL(rawURL)
	if err != nil {
		return 0, err
	}
	tctx, cancel := context.WithTimeoutCause(ctx, f.timeout, errTotalTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, newError(KindInvalidURL, err, "the URL is not valid")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", f.userAgent)
	}
	resp, err := f.poster.Do(req)
	if err != nil {
		return 0, classify(ctx, tctx, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxPostAnswer))
	return resp.StatusCode, nil
}
