package httpadapter

import (
	"net/http"
	"slices"
	"strings"
)

// Requests that no route takes (an unknown path under a dialect's prefix,
// or a method its path does not have) are answered in that dialect, so a
// client's error handling sees the shape it knows: Salesforce's error
// array (404 NOT_FOUND, 405 METHOD_NOT_ALLOWED with Allow), Slack's
// {"ok":false} with HTTP 200 (unknown_method, or invalid_arguments for a
// method that exists but not with that HTTP method), and {code, message}
// for the other dialects and the rendition URLs. A dialect that is off
// answers nothing, not even these.

// fallbackPrefixes are the path prefixes each dialect owns; 0 is always on.
var fallbackPrefixes = []struct {
	prefix  string
	dialect Dialect
}{
	{"/services/data/", Chatter},
	{"/.api2/", Igloo},
	{"/v1/", ProfileImage},
	{"/api/", Slack},
	{"/photos/", 0},
}

// allowed maps each route path (its pattern without the method) to the
// methods it serves, and finds the path a request has.
type allowed struct {
	paths   *http.ServeMux
	methods map[string][]string
}

// newAllowed indexes the paths of the routes that are on.
func newAllowed(rs []route) *allowed {
	a := &allowed{paths: http.NewServeMux(), methods: map[string][]string{}}
	for _, rt := range rs {
		m, p, _ := strings.Cut(rt.pattern, " ")
		if _, seen := a.methods[p]; !seen {
			a.paths.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
		}
		a.methods[p] = append(a.methods[p], m)
		if m == http.MethodGet {
			a.methods[p] = append(a.methods[p], http.MethodHead)
		}
	}
	for p := range a.methods {
		slices.Sort(a.methods[p])
	}
	return a
}

// of returns the methods r's path serves, none when no route has it.
func (a *allowed) of(r *http.Request) []string {
	_, p := a.paths.Handler(r)
	return a.methods[p]
}

// fallbackRoutes are the catch-all patterns of the dialects that are on,
// each also without its trailing slash (so that the mux does not redirect
// "/api" to "/api/"), and "/" for any other path: {code, message} 404.
func (h *Handler) fallbackRoutes(on []route) []route {
	a := newAllowed(on)
	answer := func(d Dialect) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			methods := a.of(r)
			if len(methods) == 0 {
				return notFound(d)
			}
			msg := "the HTTP method " + r.Method + " is not allowed here; allowed: " + strings.Join(methods, ", ")
			if d != Slack {
				w.Header().Set("Allow", strings.Join(methods, ", "))
			}
			return fail(kMethodNotAllowed, "", msg)
		}
	}
	var rs []route
	for _, fp := range fallbackPrefixes {
		if fp.dialect != 0 && h.opts.Dialects&fp.dialect == 0 {
			continue
		}
		rs = append(rs, route{fp.prefix, fp.dialect, answer(fp.dialect)}, route{strings.TrimSuffix(fp.prefix, "/"), fp.dialect, answer(fp.dialect)})
	}
	return append(rs, route{"/", 0, answer(0)})
}

// notFound is the refusal of a path no route has, in dialect d's terms
// (Slack's unknown_method).
func notFound(d Dialect) error {
	if d == Slack {
		return fail(kUnknownMethod, "", "")
	}
	return fail(kNotFound, "", "")
}

// dialectOf returns the dialect whose prefix path has, 0 when none that
// is on does.
func (h *Handler) dialectOf(path string) Dialect {
	for _, fp := range fallbackPrefixes {
		if strings.HasPrefix(path, fp.prefix) || path == strings.TrimSuffix(fp.prefix, "/") {
			if fp.dialect != 0 && h.opts.Dialects&fp.dialect == 0 {
				return 0
			}
			return fp.dialect
		}
	}
	return 0
}

// isClean reports whether an escaped path is one the ServeMux serves as
// it is, rather than redirecting to a cleaned form with an HTML body: it
// begins with a slash and has no empty, "." or ".." segment (a final
// slash apart).
func isClean(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if (s == "" && i != len(segs)-1) || s == "." || s == ".." {
			return false
		}
	}
	return true
}
