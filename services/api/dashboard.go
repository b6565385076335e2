package api

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// The web dashboard (services/api/web) is built by `make web` into
// web/dist and embedded here. Before a build web/dist holds only a
// placeholder (.keep), so this compiles and the server answers with a
// page saying how to build it.
//
//go:embed all:web/dist
var webDist embed.FS

// dashboardCSP allows only the dashboard's own files: no inline script,
// no inline style element, nothing from another origin. Chart.js and
// the graph draw on canvas and set element styles through the CSSOM,
// which style-src does not govern.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// notBuilt is the answer while the bundle is missing.
const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orbitflow dashboard not built</title></head>
<body><main><h1>The Orbitflow dashboard is not built into this binary</h1>
<p>Run <code>make web</code> (or <code>make build</code>, which runs it) in the repository and start the new
<code>bin/orbitflow</code>. The API itself works: see <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</main></body></html>
`

// dashboard serves the single-page app: the built files, with long cache
// lifetimes for the content-hashed assets and none for the rest, and
// index.html for every other GET path (the app routes on the client).
type dashboard struct {
	files fs.FS
	index []byte // nil: not built
	at    time.Time
}

func newDashboard(dist fs.FS) *dashboard {
	d := &dashboard{files: dist, at: time.Now()}
	if b, err := fs.ReadFile(dist, "index.html"); err == nil {
		d.index = b
	}
	return d
}

func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	sub, err := fs.Sub(webDist, "web/dist")
	if err != nil {
		panic(err) // the embed pattern names this directory: it exists
	}
	mux.Handle("GET /", newDashboard(sub))
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	// Unknown API paths (and /metrics when no metrics are served) stay
	// JSON errors: only app routes fall back to the app.
	if p == "api" || p == "v1" || p == "metrics" || strings.HasPrefix(p, "api/") || strings.HasPrefix(p, "v1/") {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such endpoint; see /api/v1/openapi.json"})
		return
	}
	if d.index == nil {
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(notBuilt))
		return
	}
	if p != "" && p != "index.html" && !strings.HasPrefix(path.Base(p), ".") {
		if b, err := fs.ReadFile(d.files, p); err == nil {
			if strings.HasPrefix(p, "assets/") {
				// Vite names every asset by its content's hash.
				h.Set("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				h.Set("Cache-Control", "no-cache")
			}
			if ct := mime.TypeByExtension(path.Ext(p)); ct != "" {
				h.Set("Content-Type", ct)
			}
			http.ServeContent(w, r, p, d.at, bytes.NewReader(b))
			return
		}
		if strings.HasPrefix(p, "assets/") {
			// A missing asset, not an app route: an old page asking for
			// assets of a previous build gets a 404, not HTML as script.
			h.Set("Cache-Control", "no-cache")
			http.Error(w, "not found: reload the page (the dashboard was rebuilt)", http.StatusNotFound)
			return
		}
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", d.at, bytes.NewReader(d.index))
}
