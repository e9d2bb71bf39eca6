package main

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/profilephoto/photo/httpadapter"
)

// errBadToken is what the authenticator returns for a token it does not
// know; the adapter answers it as bad credentials, distinct from none.
var errBadToken = errors.New("photod: unknown token")

// maxUserIDLen is the longest user ID, in bytes, that the photo library
// accepts; a tokens file naming a longer one is refused at start rather
// than on the user's first request.
const maxUserIDLen = 256

// maxTokenLen bounds a token, in the file and in a request, so that a huge
// header costs no more than a short one.
const maxTokenLen = 512

// tokens maps the SHA-256 of each bearer token to its principal. Looking up
// a hash rather than the token itself means the map's timing reveals
// nothing about the tokens it holds.
type tokens map[[sha256.Size]byte]httpadapter.Principal

// add records token for p, refusing a duplicate.
func (t tokens) add(token string, p httpadapter.Principal) error {
	k := sha256.Sum256([]byte(token))
	if _, dup := t[k]; dup {
		return errors.New("the token is already given to another line")
	}
	t[k] = p
	return nil
}

// parseTokens reads a tokens file: one "TOKEN USERID [admin]" a line,
// fields separated by spaces or tabs; blank lines and lines starting with #
// are ignored. name is used in errors, which name the offending line.
func parseTokens(r io.Reader, name string) (tokens, error) {
	t := tokens{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, token, err := parseTokenLine(line)
		if err == nil {
			err = t.add(token, p)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("%s: no tokens (want lines of TOKEN USERID [admin])", name)
	}
	return t, nil
}

func parseTokenLine(line string) (httpadapter.Principal, string, error) {
	f := strings.Fields(line)
	if len(f) < 2 || len(f) > 3 {
		return httpadapter.Principal{}, "", fmt.Errorf("want TOKEN USERID [admin], got %d fields", len(f))
	}
	token, user := f[0], f[1]
	switch {
	case len(token) > maxTokenLen:
		return httpadapter.Principal{}, "", fmt.Errorf("the token is longer than %d bytes", maxTokenLen)
	case !utf8.ValidString(token) || !utf8.ValidString(user):
		return httpadapter.Principal{}, "", errors.New("the line is not valid UTF-8")
	case len(user) > maxUserIDLen:
		return httpadapter.Principal{}, "", fmt.Errorf("the user ID is longer than %d bytes", maxUserIDLen)
	case user == "me":
		// Chatter's "me" means the caller, so a user called "me" could
		// never be addressed by others.
		return httpadapter.Principal{}, "", errors.New(`"me" is reserved and cannot be a user ID`)
	}
	p := httpadapter.Principal{ID: user}
	if len(f) == 3 {
		if f[2] != "admin" {
			return httpadapter.Principal{}, "", fmt.Errorf("the third field must be \"admin\", got %q", f[2])
		}
		p.Admin = true
	}
	return p, token, nil
}

// authenticator returns an httpadapter.Authenticator over t. It reads
// "Authorization: Bearer TOKEN", and "OAuth TOKEN" as Salesforce clients
// send it.
func (t tokens) authenticator() httpadapter.Authenticator {
	return func(r *http.Request) (httpadapter.Principal, error) {
		token, ok := bearerToken(r)
		if !ok {
			return httpadapter.Principal{}, httpadapter.ErrNoCredentials
		}
		if token == "" || len(token) > maxTokenLen {
			return httpadapter.Principal{}, errBadToken
		}
		p, ok := t[sha256.Sum256([]byte(token))]
		if !ok {
			return httpadapter.Principal{}, errBadToken
		}
		return p, nil
	}
}

// bearerToken returns the token of r's Authorization header and whether the
// request carries one at all. A header with another scheme counts as
// credentials (bad ones), not as none.
func bearerToken(r *http.Request) (string, bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	if h == "" {
		return "", false
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "OAuth") {
		return "", true
	}
	return strings.TrimSpace(token), true
}
