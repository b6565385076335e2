package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/api/signals"
)

// Signals (services/processors/signals): the list reads the signals table
// the scoring processor writes; the opt-outs are the configuration's
// (Config.SignalOptOuts) and the key-value bucket alerts.OptOutBucket,
// which the processor watches.

func (s *Server) signalRoutes(mux *http.ServeMux) {
	base := "/api/v1/communities/{community}/signals"
	mux.Handle("GET "+base, s.auth(ScopeRead, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, s.signalList)
	})))
	mux.Handle("GET "+base+"/opt-outs", s.auth(ScopeRead, http.HandlerFunc(s.listOptOuts)))
	mux.Handle("PUT "+base+"/opt-outs/{member}", s.auth(ScopeAdmin, http.HandlerFunc(s.putOptOut)))
	mux.Handle("DELETE "+base+"/opt-outs/{member}", s.auth(ScopeAdmin, http.HandlerFunc(s.deleteOptOut)))
}

// signalList answers GET …/signals: ?rule=&from=&to=&limit=. from and to
// are dates (to inclusive; default the 30 days ending today, UTC).
func (s *Server) signalList(r *http.Request, q query) (map[string]any, error) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	to, err := dateParam(r, "to", today)
	if err != nil {
		return nil, err
	}
	from, err := dateParam(r, "from", to.AddDate(0, 0, -29))
	if err != nil {
		return nil, err
	}
	if from.After(to) {
		return nil, badRequest{"from", "a date not after to (" + to.Format(time.DateOnly) + ")", from.Format(time.DateOnly)}
	}
	limit, err := q.intParam(r, "limit", 100, 1, 1000)
	if err != nil {
		return nil, err
	}
	rule := r.URL.Query().Get("rule")
	if rule != "" && !isToken(rule) {
		return nil, badRequest{"rule", "a signal rule name (a-z, 0-9, _ and -)", rule}
	}
	if s.deps.CH == nil {
		return nil, errors.New("no ClickHouse")
	}
	sigs, err := signals.List(r.Context(), s.deps.CH, signals.Query{Community: q.params["community"], Rule: rule,
		From: from, To: to.AddDate(0, 0, 1), Limit: limit})
	if err != nil {
		return nil, err
	}
	return map[string]any{"community": q.params["community"], "from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly),
		"signals": sigs}, nil
}

// optOutBucket opens the opt-out bucket (it exists once the scoring
// processor started; the API creates it when it does not).
func (s *Server) optOutBucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := s.deps.JS.KeyValue(ctx, alerts.OptOutBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = s.deps.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: alerts.OptOutBucket, History: 1,
			Description: "Orbitflow: members who opted out of signals", Storage: jetstream.FileStorage})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = s.deps.JS.KeyValue(ctx, alerts.OptOutBucket)
		}
	}
	return kv, err
}

// optOutTarget reads the community and member of an opt-out request.
func optOutTarget(r *http.Request) (community, member string, err error) {
	community = r.PathValue("community")
	if !isToken(community) {
		return "", "", badRequest{"community", "a community name (a-z, 0-9, _ and -)", community}
	}
	member = r.PathValue("member")
	if r.Method != http.MethodGet {
		if verr := alerts.ValidOptOutMember(member); verr != nil {
			return "", "", badRequest{"member", "a member id or identity key like github:583231 (1..256 printable bytes, no spaces)", member}
		}
	}
	return community, member, nil
}

func (s *Server) optOutFail(w http.ResponseWriter, r *http.Request, err error) {
	var bad badRequest
	if errors.As(err, &bad) {
		writeJSON(w, http.StatusBadRequest, bad.body())
		return
	}
	s.log.Warn("signal opt-outs failed", "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the opt-out bucket is not available: " + firstLine(err.Error())})
}

// listOptOuts answers GET …/signals/opt-outs: the configuration's and the
// bucket's, sorted by member.
func (s *Server) listOptOuts(w http.ResponseWriter, r *http.Request) {
	community, _, err := optOutTarget(r)
	if err != nil {
		s.optOutFail(w, r, err)
		return
	}
	out := []alerts.OptOut{}
	for _, m := range s.deps.SignalOptOuts[community] {
		out = append(out, alerts.OptOut{Community: community, Member: m, Config: true})
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	kv, err := s.optOutBucket(ctx)
	if err != nil {
		s.optOutFail(w, r, err)
		return
	}
	wt, err := kv.Watch(ctx, community+".>", jetstream.IgnoreDeletes())
	if err != nil {
		s.optOutFail(w, r, err)
		return
	}
	defer func() { _ = wt.Stop() }()
	for e := range wt.Updates() {
		if e == nil {
			break
		}
		var o alerts.OptOut
		if json.Unmarshal(e.Value(), &o) == nil && o.Member != "" {
			out = append(out, o)
		}
		if len(out) > maxRows {
			break
		}
	}
	slices.SortStableFunc(out, func(a, b alerts.OptOut) int { return strings.Compare(a.Member, b.Member) })
	writeJSON(w, http.StatusOK, map[string]any{"community": community, "opt_outs": out})
}

// putOptOut answers PUT …/signals/opt-outs/{member}: the member produces
// no signal from now on. The body, optional, is {"comment": "..."}.
func (s *Server) putOptOut(w http.ResponseWriter, r *http.Request) {
	community, member, err := optOutTarget(r)
	if err != nil {
		s.optOutFail(w, r, err)
		return
	}
	var body struct {
		Comment string `json:"comment"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 4<<10+1))
	switch {
	case err != nil:
		s.optOutFail(w, r, badRequest{"body", "a JSON object {\"comment\": \"...\"} of at most 4 KiB", err.Error()})
		return
	case len(data) > 4<<10:
		s.optOutFail(w, r, badRequest{"body", "at most 4 KiB", "a larger body"})
		return
	case len(strings.TrimSpace(string(data))) > 0:
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			s.optOutFail(w, r, badRequest{"body", "a JSON object {\"comment\": \"...\"}", firstLine(err.Error())})
			return
		}
		if err := textParam("comment", body.Comment, 1024); err != nil {
			s.optOutFail(w, r, err)
			return
		}
	}
	by := ""
	if c := credentialOf(r); c != nil {
		by = c.name
	}
	o := alerts.OptOut{Community: community, Member: member, By: by, Comment: body.Comment, At: time.Now().UTC()}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	kv, err := s.optOutBucket(ctx)
	if err == nil {
		val, _ := json.Marshal(o)
		_, err = kv.Put(ctx, alerts.OptOutKey(community, member), val)
	}
	if err != nil {
		s.optOutFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// deleteOptOut answers DELETE …/signals/opt-outs/{member}: 404 when the
// member had not opted out through the API (a configured opt-out is
// removed from the configuration only: 409).
func (s *Server) deleteOptOut(w http.ResponseWriter, r *http.Request) {
	community, member, err := optOutTarget(r)
	if err != nil {
		s.optOutFail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	kv, err := s.optOutBucket(ctx)
	if err != nil {
		s.optOutFail(w, r, err)
		return
	}
	key := alerts.OptOutKey(community, member)
	if _, err := kv.Get(ctx, key); errors.Is(err, jetstream.ErrKeyNotFound) {
		if slices.Contains(s.deps.SignalOptOuts[community], member) {
			writeJSON(w, http.StatusConflict, map[string]string{"error": fmt.Sprintf("%s opted out in the configuration (signals.opt_out.%s); remove it there", member, community)})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("%s has not opted out of signals in %s", member, community)})
		return
	} else if err != nil {
		s.optOutFail(w, r, err)
		return
	}
	if err := kv.Delete(ctx, key); err != nil {
		s.optOutFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
