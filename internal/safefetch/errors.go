package safefetch

import (
	"context"
	"fmt"
)

// Kind is the category of a refused or failed fetch. The HTTP adapter maps
// each kind to its own code (profile-image: KindInvalidURL to invalid-url,
// KindNotAllowed to url-not-allowed, KindTooLarge to file-too-large,
// KindFailed to download-failed).
type Kind string

// The kinds an *Error carries.
const (
	// KindInvalidURL: the URL does not parse, is not absolute, has no host
	// or port that could be dialled, or is too long.
	KindInvalidURL Kind = "invalid-url"
	// KindNotAllowed: the policy refuses the URL: its scheme is not http or
	// https, it carries credentials, or its host (or a redirect's host, or
	// any address a name resolves to) is not a permitted address.
	KindNotAllowed Kind = "not-allowed"
	// KindTooLarge: the body has, or declares, more than Options.MaxBytes.
	KindTooLarge Kind = "too-large"
	// KindFailed: the download did not succeed: a status other than 200,
	// too many redirects, a name that does not resolve, a network error, a
	// timeout, a body that ends early, or a cancelled context.
	KindFailed Kind = "failed"
)

// Sentinels, one for each Kind: errors.Is(err, ErrNotAllowed) holds for an
// *Error whose Kind is KindNotAllowed.
var (
	ErrInvalidURL = &Error{Kind: KindInvalidURL}
	ErrNotAllowed = &Error{Kind: KindNotAllowed}
	ErrTooLarge   = &Error{Kind: KindTooLarge}
	ErrFailed     = &Error{Kind: KindFailed}
)

// Error is the error of every refused or failed fetch, from Fetch and from
// reading a Response alike. Message (and so Error()) is safe to show to the
// person who gave the URL: it never names a resolved address or other
// internal detail. Err, the cause, may hold such detail: log it, do not
// show it.
type Error struct {
	// Kind says what went wrong.
	Kind Kind
	// Message explains it in words, for people.
	Message string
	// Status is the HTTP status of a response other than 200, else 0.
	Status int
	// Err is the underlying cause, or nil. A fetch that timed out has a
	// cause matching context.DeadlineExceeded; one whose context was
	// cancelled, a cause matching the context's error.
	Err error
}

// Error returns the message, prefixed with the package name. It leaves the
// cause out on purpose, so that printing the error never leaks it.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = string(e.Kind)
	}
	return "safefetch: " + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Err == nil && t.Status == 0 && t.Kind == e.Kind
}

func newError(kind Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: cause}
}

// The causes the fetcher cancels its context with, so that an error can
// tell which limit cut the download off. Both match
// context.DeadlineExceeded.
var (
	errTotalTimeout = fmt.Errorf("total time limit reached: %w", context.DeadlineExceeded)
	errIdleTimeout  = fmt.Errorf("no data within the idle time limit: %w", context.DeadlineExceeded)
)
