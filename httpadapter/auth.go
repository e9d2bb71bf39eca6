package httpadapter

import (
	"context"
	"errors"
	"net/http"
)

// Principal is the caller a request acts for.
type Principal struct {
	// ID is the caller's user ID.
	ID string
	// Admin callers may change any user's photo; others only their own.
	Admin bool
}

// ErrNoCredentials is what an Authenticator returns when the request
// carries no credentials at all. Any other error means the credentials
// are bad; the dialects answer the two differently (Slack: not_authed vs
// invalid_auth).
var ErrNoCredentials = errors.New("httpadapter: no credentials")

// Authenticator returns the principal a request acts for, ErrNoCredentials
// when it carries none, or another error when its credentials are bad.
// Slack clients may send the token as a form field instead of a header:
// the adapter then calls the Authenticator on a copy of the request whose
// Authorization header is "Bearer <token>", so an Authenticator only ever
// needs to read the header.
type Authenticator func(*http.Request) (Principal, error)

// need is what a route asks of a request's credentials. Credentials that
// are present but refused are refused whatever the need.
type need int

const (
	anyone   need = iota // none will do (the signed photo URLs, a Slack body not read yet)
	reader               // none will do unless Options.PrivateReads (metadata reads)
	signedIn             // a principal is required (every change)
)

// authorize is the adapter's one authorization gate. It authenticates r
// (once per request: see authenticate) or, when r has no Authorization
// header and token is not "", the form token (Slack), whose principal's
// write rate admitLate then checks. It refuses bad credentials with
// kBadAuth, and missing ones with kNoAuth when n asks for them. When
// owner is not "", the principal must also be allowed to act on owner's
// photo (see permit).
//
// The refusals carry the table's messages; writeError words them for the
// dialect (Salesforce's session messages, Igloo's WWW-Authenticate).
func (h *Handler) authorize(r *http.Request, n need, owner, token string) (Principal, error) {
	p, a := h.authenticate(r)
	if a == authNone && token != "" {
		if p, a = h.authenticateToken(r, token); a == authOK {
			if err := h.admitLate(r, p); err != nil {
				return Principal{}, err
			}
		}
	}
	switch {
	case a == authBad:
		return Principal{}, fail(kBadAuth, "", "")
	case a == authNone && (n == signedIn || (n == reader && h.opts.PrivateReads)):
		return Principal{}, fail(kNoAuth, "", "")
	}
	if owner != "" {
		if err := permit(p, owner, ""); err != nil {
			return Principal{}, err
		}
	}
	return p, nil
}

// permit is the one ownership rule: p may act on what belongs to owner
// (a photo, a file, an upload) when p is owner or an admin. Otherwise it
// refuses with kForbidden, in the words of denied ("" for the table's).
// authorize applies it when the owner is known from the request; handlers
// apply it to owners they learn later (a file's, an upload's, Chatter's
// "me", Slack's user argument).
func permit(p Principal, owner, denied string) error {
	if p.Admin || p.ID == owner {
		return nil
	}
	return fail(kForbidden, "", denied)
}

// auth is the outcome of authenticating a request.
type auth int

const (
	authNone auth = iota // no credentials
	authBad              // credentials present but refused
	authOK
)

// authKey is the context key of a request's *authResult.
type authKey struct{}

// authResult remembers the outcome of authenticating a request with a
// given Authorization header, so that the Authenticator runs once a
// request however many steps (limitWrites, authorize) ask. handle puts an
// empty one in every request's context.
type authResult struct {
	done   bool // header, p and a are set
	header string
	p      Principal
	a      auth
	// lateLimit marks a write admitted before its principal was known,
	// whose per-principal rate limit admitLate checks.
	lateLimit bool
}

// withAuthResult returns r with an empty authResult in its context,
// unless it has one.
func withAuthResult(r *http.Request) *http.Request {
	if _, ok := r.Context().Value(authKey{}).(*authResult); ok {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), authKey{}, &authResult{}))
}

// authenticate runs the Authenticator on r, or returns what it said
// before for the same Authorization header.
func (h *Handler) authenticate(r *http.Request) (Principal, auth) {
	header := r.Header.Get("Authorization")
	res, _ := r.Context().Value(authKey{}).(*authResult)
	if res != nil && res.done && res.header == header {
		return res.p, res.a
	}
	p, a := h.runAuthenticator(r)
	if res != nil && !res.done {
		res.done, res.header, res.p, res.a = true, header, p, a
	}
	return p, a
}

// runAuthenticator calls Options.Authenticate.
func (h *Handler) runAuthenticator(r *http.Request) (Principal, auth) {
	if h.opts.Authenticate == nil {
		return Principal{}, authNone
	}
	p, err := h.opts.Authenticate(r)
	switch {
	case errors.Is(err, ErrNoCredentials):
		return Principal{}, authNone
	case err != nil || p.ID == "":
		return Principal{}, authBad
	}
	return p, authOK
}

// authenticateToken authenticates a token taken from a form field.
func (h *Handler) authenticateToken(r *http.Request, token string) (Principal, auth) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer "+token)
	return h.authenticate(r2)
}
