package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

// statusError is a control error with its HTTP-like status.
type statusError struct {
	status int
	msg    string
}

func (e statusError) Error() string { return e.msg }

func bad(format string, a ...any) error {
	return statusError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) error {
	return statusError{http.StatusNotFound, fmt.Sprintf(format, a...)}
}

// control answers one request of the API or the command line.
func (e *Evaluator) control(m *nats.Msg) {
	var req alerts.ControlRequest
	var body any
	err := json.Unmarshal(m.Data, &req)
	if err != nil {
		err = bad("request: want a JSON ControlRequest: %v", err)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		body, err = e.Control(ctx, req)
		cancel()
	}
	rep := alerts.ControlReply{Status: http.StatusOK}
	if req.Op == alerts.OpRulePut || req.Op == alerts.OpSilence {
		rep.Status = http.StatusCreated
	}
	var se statusError
	switch {
	case errors.As(err, &se):
		rep = alerts.ControlReply{Status: se.status, Error: se.msg}
	case err != nil:
		e.log.Warn("alert control request failed", "op", req.Op, "err", err)
		rep = alerts.ControlReply{Status: http.StatusInternalServerError, Error: err.Error()}
	default:
		rep.Body, _ = json.Marshal(body)
	}
	data, _ := json.Marshal(rep)
	_ = m.Respond(data)
}

// Control runs one control operation and returns the reply body.
func (e *Evaluator) Control(ctx context.Context, req alerts.ControlRequest) (any, error) {
	switch req.Op {
	case alerts.OpList:
		return e.list(ctx, req)
	case alerts.OpEvents:
		return e.events(ctx, req.AlertID)
	case alerts.OpRules:
		e.mu.Lock()
		defer e.mu.Unlock()
		return map[string]any{"rules": e.file.Rules, "targets": redacted(e.file.Targets)}, nil
	case alerts.OpRulePut:
		return e.putRule(req)
	case alerts.OpRuleDelete:
		return e.deleteRule(req.Rule)
	case alerts.OpTest:
		return e.test(ctx, req.Rule)
	case alerts.OpAck:
		return e.ack(ctx, req.AlertID, req.By)
	case alerts.OpSilence:
		return e.silence(ctx, req.Body)
	case alerts.OpUnsilence:
		return e.unsilence(ctx, req.Silence)
	case alerts.OpSilences:
		now := e.deps.Now()
		e.mu.Lock()
		defer e.mu.Unlock()
		out := []Silence{}
		for _, s := range e.silences {
			if now.Before(s.EndsAt) {
				out = append(out, s)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].EndsAt.Before(out[j].EndsAt) })
		return map[string]any{"silences": out}, nil
	}
	return nil, bad("op: want one of list, events, rules, rules.put, rules.delete, test, ack, silence, unsilence, silences; got %q", req.Op)
}

func (e *Evaluator) list(ctx context.Context, req alerts.ControlRequest) (any, error) {
	states := map[string][]string{"": {alerts.StatePending, alerts.StateFiring}, "open": {alerts.StatePending, alerts.StateFiring},
		alerts.StatePending: {alerts.StatePending}, alerts.StateFiring: {alerts.StateFiring}, alerts.StateResolved: {alerts.StateResolved}}
	st, ok := states[req.State]
	if !ok {
		return nil, bad("state: want open, pending, firing or resolved, got %q", req.State)
	}
	limit := req.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	p := map[string]string{"states": arrayParam(st), "community": req.Community, "limit": strconv.Itoa(limit)}
	rows, err := e.deps.CH.Query(withParams(ctx, p), `SELECT alert_id, fingerprint, rule, community, key, severity, state, version,
		started_at, ifNull(fired_at, toDateTime64(0, 3, 'UTC')), ifNull(resolved_at, toDateTime64(0, 3, 'UTC')),
		ifNull(acknowledged_at, toDateTime64(0, 3, 'UTC')), acknowledged_by, ifNull(notified_at, toDateTime64(0, 3, 'UTC')),
		value, baseline, summary, labels
		FROM alerts FINAL WHERE has({states:Array(String)}, state) AND ({community:String} = '' OR community = {community:String})
		ORDER BY started_at DESC, alert_id LIMIT {limit:UInt32}`)
	if err != nil {
		return nil, fmt.Errorf("alerts: list: %w", err)
	}
	defer rows.Close()
	out := []Alert{}
	for rows.Next() {
		var a Alert
		if err := rows.Scan(&a.ID, &a.Fingerprint, &a.Rule, &a.Community, &a.Key, &a.Severity, &a.State, &a.Version, &a.StartedAt,
			&a.FiredAt, &a.ResolvedAt, &a.AckedAt, &a.AckedBy, &a.NotifiedAt, &a.Value, &a.Baseline, &a.Summary, &a.Labels); err != nil {
			return nil, err
		}
		a.FiredAt, a.ResolvedAt, a.AckedAt, a.NotifiedAt = zeroEpoch(a.FiredAt), zeroEpoch(a.ResolvedAt), zeroEpoch(a.AckedAt), zeroEpoch(a.NotifiedAt)
		out = append(out, a)
	}
	return map[string]any{"alerts": out}, rows.Err()
}

func (e *Evaluator) events(ctx context.Context, id string) (any, error) {
	if id == "" || len(id) > 128 {
		return nil, bad("alert_id: want an alert id, got %q", id)
	}
	rows, err := e.deps.CH.Query(withParams(ctx, map[string]string{"id": id}), `SELECT event_id, alert_id, version, rule, community, key,
		severity, from_state, to_state, at, value, baseline, summary, by FROM alert_events FINAL WHERE alert_id = {id:String} ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("alerts: events: %w", err)
	}
	defer rows.Close()
	out := []alerts.Change{}
	for rows.Next() {
		var c alerts.Change
		if err := rows.Scan(&c.EventID, &c.AlertID, &c.Version, &c.Rule, &c.Community, &c.Key, &c.Severity, &c.From, &c.To, &c.At,
			&c.Value, &c.Baseline, &c.Summary, &c.By); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, notFound("no alert %q", id)
	}
	return map[string]any{"events": out}, nil
}

// putRule creates or replaces a rule and saves the file; the file is
// validated whole before it is written.
func (e *Evaluator) putRule(req alerts.ControlRequest) (any, error) {
	r, err := DecodeRule(req.Body)
	if err != nil {
		return nil, bad("rule: %v", err)
	}
	if r.Name == "" {
		r.Name = req.Rule
	}
	if req.Rule != "" && r.Name != req.Rule {
		return nil, bad("name: the body names %q but the path %q", r.Name, req.Rule)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	f := e.file
	f.Rules = slices.Clone(f.Rules)
	if i := slices.IndexFunc(f.Rules, func(x Rule) bool { return x.Name == r.Name }); i >= 0 {
		f.Rules[i] = r
	} else {
		f.Rules = append(f.Rules, r)
	}
	return map[string]any{"rule": r}, e.save(f)
}

func (e *Evaluator) deleteRule(name string) (any, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := slices.IndexFunc(e.file.Rules, func(x Rule) bool { return x.Name == name })
	if i < 0 {
		return nil, notFound("no rule %q in %s", name, e.cfg.RulesFile)
	}
	f := e.file
	f.Rules = slices.Delete(slices.Clone(f.Rules), i, i+1)
	return map[string]any{"deleted": name}, e.save(f)
}

// save validates f, writes it and uses it. Called with mu held.
func (e *Evaluator) save(f File) error {
	if err := f.Validate(); err != nil {
		return bad("%v", err)
	}
	if e.cfg.RulesFile == "" {
		return errors.New("alerts.rules_file is not set: rules cannot be saved")
	}
	if err := f.Save(e.cfg.RulesFile); err != nil {
		return err
	}
	if err := e.use(f, true); err != nil {
		return err
	}
	if st, err := os.Stat(e.cfg.RulesFile); err == nil {
		e.modTime = st.ModTime()
	}
	return nil
}

// test evaluates a rule now without changing any alert.
func (e *Evaluator) test(ctx context.Context, name string) (any, error) {
	e.mu.Lock()
	i := slices.IndexFunc(e.file.Rules, func(x Rule) bool { return x.Name == name })
	var r Rule
	var open []string
	if i >= 0 {
		r = e.file.Rules[i]
		open = e.book.Keys(r.Name, r.Community)
	}
	e.mu.Unlock()
	if i < 0 {
		return nil, notFound("no rule %q in %s", name, e.cfg.RulesFile)
	}
	return Evaluate(ctx, e.rd, r, e.deps.Now(), Env{Live: e.liveSeen, Open: open})
}

func (e *Evaluator) ack(ctx context.Context, id, by string) (any, error) {
	if by == "" {
		by = "unknown"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.book.Find(id)
	if a == nil {
		return nil, notFound("no open alert %q (resolved alerts need no acknowledgement)", id)
	}
	if !a.AckedAt.IsZero() {
		return map[string]any{"alert": *a}, nil // already acknowledged: idempotent
	}
	t := e.book.Ack(a, by, e.deps.Now())
	e.outbox = append(e.outbox, batch{transitions: []Transition{t}})
	e.flush(ctx)
	return map[string]any{"alert": t.Alert}, nil
}

func (e *Evaluator) silence(ctx context.Context, body json.RawMessage) (any, error) {
	var spec alerts.SilenceSpec
	if err := json.Unmarshal(body, &spec); err != nil {
		return nil, bad("silence: want a JSON SilenceSpec: %v", err)
	}
	now := e.deps.Now()
	if !spec.EndsAt.After(now) {
		return nil, bad("ends_at: want a time in the future, got %s", spec.EndsAt.Format(time.RFC3339))
	}
	s := Silence{ID: newID("s-"), Rule: spec.Rule, Community: spec.Community, Key: spec.Key, StartsAt: now, EndsAt: spec.EndsAt,
		Comment: spec.Comment, By: spec.By}
	if err := e.writeSilence(ctx, s, 1); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.silences[s.ID] = s
	e.mu.Unlock()
	return map[string]any{"silence": s}, nil
}

func (e *Evaluator) unsilence(ctx context.Context, id string) (any, error) {
	e.mu.Lock()
	s, ok := e.silences[id]
	e.mu.Unlock()
	if !ok {
		return nil, notFound("no active silence %q", id)
	}
	s.EndsAt = e.deps.Now()
	if err := e.writeSilence(ctx, s, 2); err != nil {
		return nil, err
	}
	e.mu.Lock()
	delete(e.silences, id)
	e.mu.Unlock()
	return map[string]any{"expired": id}, nil
}

func (e *Evaluator) writeSilence(ctx context.Context, s Silence, version uint64) error {
	return e.insert(ctx, "alert_silences", "silence_id, rule, community, key, starts_at, ends_at, comment, created_by, version",
		[][]any{{s.ID, s.Rule, s.Community, s.Key, s.StartsAt, s.EndsAt, s.Comment, s.By, version}})
}

// redacted hides what may be a secret in targets: a Slack webhook URL is
// its own credential, and any URL's query and path may carry a token.
func redacted(ts map[string]notify.Target) map[string]notify.Target {
	out := make(map[string]notify.Target, len(ts))
	for name, t := range ts {
		if u, err := url.Parse(t.URL); err == nil && u.Host != "" && (t.Type == notify.TypeSlack || u.RawQuery != "") {
			t.URL = u.Scheme + "://" + u.Host + "/…"
		}
		out[name] = t
	}
	return out
}
