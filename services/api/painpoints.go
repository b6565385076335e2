package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/orbitflow/orbitflow/services/api/topics"
)

// painPoints answers GET /api/v1/communities/{community}/pain-points:
// the recurring topics of the question-like items of a period (from, to;
// default the last full week) against the period before (package topics).
func (s *Server) painPoints(w http.ResponseWriter, r *http.Request) {
	q, err := newQuery(r)
	var rep topics.Report
	if err == nil {
		var opt topics.Options
		if opt, err = painPointOptions(r, q); err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
			defer cancel()
			rep, err = topics.Compute(ctx, s.deps.CH, opt)
			if errors.Is(err, topics.ErrTooMany) {
				err = badRequest{"from", "a shorter period (it and the one before hold too many question-like items)", opt.From.Format(time.DateOnly)}
			}
		}
	}
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// painPointOptions reads from and to (both or neither, at most
// topics.MaxDays apart), limit and min_items.
func painPointOptions(r *http.Request, q query) (topics.Options, error) {
	opt := topics.Options{Community: q.params["community"]}
	v := r.URL.Query()
	var err error
	// Each date is checked before the pair, so a bad value is named.
	if opt.From, err = dateParam(r, "from", time.Time{}); err != nil {
		return opt, err
	}
	if opt.To, err = dateParam(r, "to", time.Time{}); err != nil {
		return opt, err
	}
	switch {
	case opt.From.IsZero() && !opt.To.IsZero():
		return opt, badRequest{"from", "a date YYYY-MM-DD too (from and to come together)", ""}
	case !opt.From.IsZero() && opt.To.IsZero():
		return opt, badRequest{"to", "a date YYYY-MM-DD too (from and to come together)", ""}
	case opt.From.After(opt.To):
		return opt, badRequest{"from", "a date not after to (" + opt.To.Format(time.DateOnly) + ")", v.Get("from")}
	case opt.To.Sub(opt.From) >= topics.MaxDays*24*time.Hour:
		return opt, badRequest{"from", fmt.Sprintf("a period of at most %d days", topics.MaxDays), v.Get("from")}
	}
	if opt.Limit, err = q.intParam(r, "limit", topics.DefaultLimit, 1, topics.MaxLimit); err != nil {
		return opt, err
	}
	if opt.MinItems, err = q.intParam(r, "min_items", topics.DefaultMinItems, 1, 1000); err != nil {
		return opt, err
	}
	return opt, nil
}
