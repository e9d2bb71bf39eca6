package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/profilephoto/photo/httpadapter"
	"github.com/profilephoto/photo/internal/thumbhash"
)

//go:embed web
var webFiles embed.FS

// asset is one embedded file of the page, read once at start.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

// loadAssets reads the embedded page's files.
func loadAssets() (map[string]asset, error) {
	root, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, err
	}
	out := map[string]asset{}
	err = fs.WalkDir(root, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[name] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The placeholder decoder lives beside its Go encoder; the page loads
	// it from here.
	sum := sha256.Sum256(thumbhash.Script)
	out["thumbhash.js"] = asset{body: thumbhash.Script, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: mime.TypeByExtension(".js")}
	if _, ok := out["index.html"]; !ok {
		return nil, errors.New("photod: the embedded page has no index.html")
	}
	return out, nil
}

// pageOptions are what the page's handlers need to know of the server.
type pageOptions struct {
	// demoToken, when not empty, is served by GET /demo-token (photod made
	// it because no -tokens file was given).
	demoToken string
	// demoUser is the demo token's user.
	demoUser string
	// authenticate identifies callers for GET /whoami.
	authenticate httpadapter.Authenticator
	// baseURL is -base-url; its origin may serve the rendition images.
	baseURL string
}

// routes adds photod's own routes to mux: the page at / and its files
// under /ui/, /healthz, /whoami (the caller's user ID, so the page can
// fill it in) and /demo-token (the demo token and user in demo mode; 204
// with no body when a -tokens file is used).
func (o pageOptions) routes(mux *http.ServeMux) error {
	assets, err := loadAssets()
	if err != nil {
		return err
	}
	csp := contentSecurityPolicy(o.baseURL)
	serve := func(w http.ResponseWriter, r *http.Request, a asset) {
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, assets["index.html"])
	})
	mux.HandleFunc("GET /ui/{name}", func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		serve(w, r, a)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, assets["icon.svg"])
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		p, err := o.authenticate(r)
		switch {
		case errors.Is(err, httpadapter.ErrNoCredentials):
			writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": "no token was given"})
		case err != nil:
			writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "invalid-credentials", "message": "the token is not valid"})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"userId": p.ID, "admin": p.Admin})
		}
	})
	mux.HandleFunc("GET /demo-token", func(w http.ResponseWriter, r *http.Request) {
		if o.demoToken == "" {
			// Not demo mode: there is no token to hand out. 204 rather than
			// 404, so that the page's probe logs no failed request.
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": o.demoToken, "userId": o.demoUser})
	})
	return nil
}

// contentSecurityPolicy allows the page its own scripts and styles only,
// images from itself, object URLs of the picked file, and the -base-url
// origin that rendition URLs point at.
func contentSecurityPolicy(baseURL string) string {
	img := "'self' blob: data:"
	if u, err := url.Parse(baseURL); err == nil && u.Scheme != "" && u.Host != "" {
		img += " " + u.Scheme + "://" + u.Host
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src " + img,
		"connect-src 'self'",
		"form-action 'self'",
		"base-uri 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
