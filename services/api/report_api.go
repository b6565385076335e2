package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/orbitflow/orbitflow/services/api/report"
)

// reportCSP is the weekly report page's policy: the page is one HTML
// document styled inline (as e-mail needs), with no script, no frame and
// nothing fetched.
const reportCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// weeklyReport answers GET /api/v1/communities/{community}/report: the
// weekly report of ?week= (a date in the week; default the last full
// week), as JSON or, with ?format=html, as the page the e-mail shows.
func (s *Server) weeklyReport(w http.ResponseWriter, r *http.Request) {
	q, err := newQuery(r)
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	if err := q.enumParam(r, "format", "json", "json", "html", "text"); err != nil {
		s.respond(w, r, nil, err)
		return
	}
	var at time.Time
	if v := r.URL.Query().Get("week"); v != "" {
		if at, err = dateParam(r, "week", time.Time{}); err != nil {
			s.respond(w, r, nil, err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	defer cancel()
	rep, err := report.Build(ctx, s.deps.CH, report.Options{Community: q.params["community"], Week: at})
	switch {
	case errors.Is(err, report.ErrNoData):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	case err != nil:
		s.respond(w, r, nil, err)
		return
	}
	switch q.params["format"] {
	case "html":
		page, err := report.HTML(rep)
		if err != nil {
			s.respond(w, r, nil, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", reportCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write([]byte(report.Text(rep)))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"report": rep})
	}
}
