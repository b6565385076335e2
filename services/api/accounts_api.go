package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/orbitflow/orbitflow/services/api/accounts"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// The customer accounts endpoints (package accounts). Reading takes the
// read scope; importing takes admin.

// AccountImportPath is where an accounts file is POSTed. Its body may be
// up to accounts.MaxFileBytes, unlike every other endpoint's 64 KiB, so
// it is served in front of the bounded mux (withAccountImport).
const AccountImportPath = "/api/v1/accounts/import"

// withAccountImport serves POST AccountImportPath itself (admin scope,
// body bounded by accounts.MaxFileBytes) and passes every other request
// to next.
func (s *Server) withAccountImport(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+AccountImportPath, http.MaxBytesHandler(s.auth(ScopeAdmin, http.HandlerFunc(s.importAccounts)), accounts.MaxFileBytes))
	imp := telemetry.InstrumentHTTP("api", s.meters, mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == AccountImportPath && r.Method == http.MethodPost {
			imp.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// importAccounts answers POST /api/v1/accounts/import: the body is a CSV
// (Content-Type text/csv) or JSON Lines (application/x-ndjson) file, or
// ?format=csv|jsonl; ?dry_run=true checks and counts without writing;
// ?replace=true makes the file the whole customer base (accounts it does
// not list are deleted).
// 200 with what was done; 400 with every problem of a bad file (nothing
// imported); 409 when a domain belongs to an account the file does not
// list; 413 over accounts.MaxFileBytes; 415 for another content type.
func (s *Server) importAccounts(w http.ResponseWriter, r *http.Request) {
	dry := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, badRequest{"dry_run", "true or false", v}.body())
			return
		}
		dry = b
	}
	replace := false
	if v := r.URL.Query().Get("replace"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, badRequest{"replace", "true or false", v}.body())
			return
		}
		replace = b
	}
	format := r.URL.Query().Get("format")
	switch {
	case format == "":
		format = accounts.FormatOf(r.Header.Get("Content-Type"))
		if format == "" {
			writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"field": "Content-Type",
				"error": fmt.Sprintf("Content-Type: want text/csv or application/x-ndjson (or ?format=csv|jsonl), got %q", r.Header.Get("Content-Type"))})
			return
		}
	case format != accounts.FormatCSV && format != accounts.FormatJSONL:
		writeJSON(w, http.StatusBadRequest, badRequest{"format", "csv or jsonl", format}.body())
		return
	}
	data, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body: larger than %d bytes", tooBig.Limit)})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	accts, err := accounts.Parse(bytes.NewReader(data), format)
	var fe *accounts.FileError
	if errors.As(err, &fe) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": fe.Error(), "problems": fe.Problems, "more": fe.More})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*s.cfg.QueryTimeout)
	defer cancel()
	imp := accounts.Import
	if replace {
		imp = accounts.Replace
	}
	res, err := imp(ctx, s.deps.CH, accts, dry)
	var ce *accounts.ConflictError
	if errors.As(err, &ce) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": ce.Error(), "problems": ce.Problems})
		return
	}
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	s.log.Info("accounts imported", "accounts", res.Accounts, "added", res.Added, "updated", res.Updated, "deleted", res.Deleted, "dry_run", res.DryRun)
	writeJSON(w, http.StatusOK, res)
}

// withTimeout bounds a build by the query timeout.
func (s *Server) withTimeout(r *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.QueryTimeout)
	return r.WithContext(ctx), cancel
}

// accountList answers GET /communities/{community}/accounts?days=30:
// every account with its linked members and the active members and
// activities of the days whole days before today (UTC).
func (s *Server) accountList(w http.ResponseWriter, r *http.Request) {
	r, cancel := s.withTimeout(r)
	defer cancel()
	s.serve(w, r, func(r *http.Request, q query) (map[string]any, error) {
		days, err := q.intParam(r, "days", 30, 1, 366)
		if err != nil {
			return nil, err
		}
		list, err := accounts.List(r.Context(), s.deps.CH, q.params["community"], time.Now().UTC(), days)
		if err != nil {
			return nil, err
		}
		if list == nil {
			list = []accounts.AccountActivity{}
		}
		return map[string]any{"community": q.params["community"], "days": days, "accounts": list}, nil
	})
}

// accountShow answers GET /communities/{community}/accounts/{account}.
func (s *Server) accountShow(w http.ResponseWriter, r *http.Request) {
	r, cancel := s.withTimeout(r)
	defer cancel()
	id := r.PathValue("account")
	q, err := newQuery(r)
	if err == nil && !accounts.ValidID(id) {
		err = badRequest{"account", "an account id (1..128 of A-Z, a-z, 0-9 and . _ : @ / + -)", id}
	}
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	d, err := accounts.Show(r.Context(), s.deps.CH, q.params["community"], id)
	if errors.Is(err, accounts.ErrNoAccount) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// accountReach answers GET /communities/{community}/accounts/reach:
// ?period=day|week|month (default month) and from, to (dates; default the
// 12 months ending today): the share of accounts with an active member
// per period, overall, per segment and per plan, and every account's
// active members per period.
func (s *Server) accountReach(w http.ResponseWriter, r *http.Request) {
	r, cancel := s.withTimeout(r)
	defer cancel()
	s.serve(w, r, func(r *http.Request, q query) (map[string]any, error) {
		if err := q.enumParam(r, "period", "month", accounts.Periods...); err != nil {
			return nil, err
		}
		today := time.Now().UTC().Truncate(24 * time.Hour)
		to, err := dateParam(r, "to", today)
		if err != nil {
			return nil, err
		}
		from, err := dateParam(r, "from", to.AddDate(-1, 0, 1))
		if err != nil {
			return nil, err
		}
		if from.After(to) {
			return nil, badRequest{"from", "a date not after to (" + to.Format(time.DateOnly) + ")", from.Format(time.DateOnly)}
		}
		if to.Sub(from) > 3660*24*time.Hour {
			return nil, badRequest{"from", "a range of at most 3660 days", from.Format(time.DateOnly)}
		}
		reach, err := accounts.ReachOf(r.Context(), s.deps.CH, q.params["community"], q.params["period"], from, to)
		if err != nil {
			return nil, err
		}
		return map[string]any{"community": reach.Community, "period": reach.Period, "from": reach.From, "to": reach.To,
			"reach": reach.Rows, "accounts": reach.Accounts}, nil
	})
}

// accountDrops answers GET /communities/{community}/accounts/dropped:
// the accounts whose community activity dropped (accounts.DropRule from
// ?metric=active_members|activities, days, windows, min_drop,
// min_baseline; default the weekly report's rule), every account's
// windows with ?all=true.
func (s *Server) accountDrops(w http.ResponseWriter, r *http.Request) {
	r, cancel := s.withTimeout(r)
	defer cancel()
	s.serve(w, r, func(r *http.Request, q query) (map[string]any, error) {
		rule := accounts.WeeklyDropRule
		if err := q.enumParam(r, "metric", rule.Metric, "active_members", "activities"); err != nil {
			return nil, err
		}
		rule.Metric = q.params["metric"]
		var err error
		if rule.Days, err = q.intParam(r, "days", rule.Days, 1, 366); err != nil {
			return nil, err
		}
		if rule.Windows, err = q.intParam(r, "windows", rule.Windows, 1, 52); err != nil {
			return nil, err
		}
		if rule.MinDrop, err = shareParam(r, "min_drop", rule.MinDrop); err != nil {
			return nil, err
		}
		if err := q.floatParam(r, "min_baseline", rule.MinBaseline, 0); err != nil {
			return nil, err
		}
		rule.MinBaseline, _ = strconv.ParseFloat(q.params["min_baseline"], 64)
		all := false
		if v := r.URL.Query().Get("all"); v != "" {
			if all, err = strconv.ParseBool(v); err != nil {
				return nil, badRequest{"all", "true or false", v}
			}
		}
		var drops []accounts.Drop
		if all {
			drops, err = accounts.Windows(r.Context(), s.deps.CH, q.params["community"], time.Now().UTC(), rule)
		} else {
			drops, err = accounts.Dropped(r.Context(), s.deps.CH, q.params["community"], time.Now().UTC(), rule)
		}
		if err != nil {
			return nil, err
		}
		if drops == nil {
			drops = []accounts.Drop{}
		}
		return map[string]any{"community": q.params["community"], "rule": rule, "accounts": drops}, nil
	})
}

func shareParam(r *http.Request, name string, def float64) (float64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f > 1 {
		return 0, badRequest{name, "a share in (0, 1]", v}
	}
	return f, nil
}
