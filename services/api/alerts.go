package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"gopkg.in/yaml.v3"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// The alert endpoints ask the alert evaluator (services/processors/alerts)
// over core NATS request-reply on subjects.AlertControl and pass its
// answer on: they keep no alert state themselves.

const (
	// alertTimeout bounds one request to the evaluator.
	alertTimeout = 10 * time.Second
	// maxSilence is how far ahead a silence may end.
	maxSilence = 90 * 24 * time.Hour
	// notAnswering is the 503 when no evaluator answers.
	notAnswering = "the alert evaluator is not answering: is `orbitflow run` running with alerts enabled?"
)

// alertRoute is one alert endpoint: build validates the request and
// turns it into what the evaluator is asked. Reading (and testing a
// rule, which changes nothing) takes the read scope; acknowledging,
// silencing and editing rules take admin.
type alertRoute struct {
	method, pattern string
	build           func(r *http.Request) (alerts.ControlRequest, error)
}

func (rt alertRoute) scope() string {
	if rt.method == "GET" || strings.HasSuffix(rt.pattern, "/test") {
		return ScopeRead
	}
	return ScopeAdmin
}

var alertEndpoints = []alertRoute{
	{"GET", "/api/v1/alerts", listAlerts},
	{"GET", "/api/v1/alerts/{id}/events", func(r *http.Request) (alerts.ControlRequest, error) {
		id, err := idParam(r, "id")
		return alerts.ControlRequest{Op: alerts.OpEvents, AlertID: id}, err
	}},
	{"POST", "/api/v1/alerts/{id}/ack", ackAlert},
	{"GET", "/api/v1/alerts/rules", func(*http.Request) (alerts.ControlRequest, error) {
		return alerts.ControlRequest{Op: alerts.OpRules}, nil
	}},
	{"PUT", "/api/v1/alerts/rules/{name}", putRule},
	{"DELETE", "/api/v1/alerts/rules/{name}", ruleOp(alerts.OpRuleDelete)},
	{"POST", "/api/v1/alerts/rules/{name}/test", ruleOp(alerts.OpTest)},
	{"GET", "/api/v1/alerts/silences", func(*http.Request) (alerts.ControlRequest, error) {
		return alerts.ControlRequest{Op: alerts.OpSilences}, nil
	}},
	{"POST", "/api/v1/alerts/silences", createSilence},
	{"DELETE", "/api/v1/alerts/silences/{id}", func(r *http.Request) (alerts.ControlRequest, error) {
		id, err := idParam(r, "id")
		return alerts.ControlRequest{Op: alerts.OpUnsilence, Silence: id}, err
	}},
}

func (s *Server) alertRoutes(mux *http.ServeMux) {
	for _, rt := range alertEndpoints {
		build := rt.build
		mux.Handle(rt.method+" "+rt.pattern, s.auth(rt.scope(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.alertControl(w, r, build)
		})))
	}
}

// AlertRoutes lists the alert endpoints as "METHOD /path" (for the
// OpenAPI test).
func AlertRoutes() []string {
	out := make([]string, 0, len(alertEndpoints))
	for _, rt := range alertEndpoints {
		out = append(out, rt.method+" "+rt.pattern)
	}
	return out
}

// alertPaths lists the alert endpoints' path patterns, each once.
func alertPaths() []string {
	var out []string
	seen := map[string]bool{}
	for _, rt := range alertEndpoints {
		if !seen[rt.pattern] {
			seen[rt.pattern] = true
			out = append(out, rt.pattern)
		}
	}
	return out
}

// bodyError is a request body the endpoint cannot use: 400, or 413 when
// it is larger than the server accepts.
type bodyError struct {
	status int
	msg    string
}

func (e bodyError) Error() string { return e.msg }

func listAlerts(r *http.Request) (alerts.ControlRequest, error) {
	req := alerts.ControlRequest{Op: alerts.OpList}
	q := r.URL.Query()
	switch v := q.Get("state"); v {
	case "", "open":
	case alerts.StatePending, alerts.StateFiring, alerts.StateResolved:
		req.State = v
	default:
		return req, badRequest{"state", "one of open, pending, firing, resolved", v}
	}
	if v := q.Get("community"); v != "" {
		if !isToken(v) {
			return req, badRequest{"community", "a community name (a-z, 0-9, _ and -)", v}
		}
		req.Community = v
	}
	req.Limit = 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return req, badRequest{"limit", "an integer 1..1000", v}
		}
		req.Limit = n
	}
	return req, nil
}

func ackAlert(r *http.Request) (alerts.ControlRequest, error) {
	id, err := idParam(r, "id")
	if err != nil {
		return alerts.ControlRequest{}, err
	}
	var body struct {
		By string `json:"by"`
	}
	data, err := readBody(r)
	if err != nil {
		return alerts.ControlRequest{}, err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := strictJSON(data, &body, `{"by": "name"}`); err != nil {
			return alerts.ControlRequest{}, err
		}
	}
	if body.By == "" {
		body.By = "api"
	}
	if err := textParam("by", body.By, 128); err != nil {
		return alerts.ControlRequest{}, err
	}
	return alerts.ControlRequest{Op: alerts.OpAck, AlertID: id, By: body.By}, nil
}

// putRule forwards the rule as the evaluator decodes it (YAML, of which
// JSON is a part). A JSON body goes as it is; a YAML one is turned into
// the same document in JSON, because ControlRequest.Body must be JSON.
func putRule(r *http.Request) (alerts.ControlRequest, error) {
	req, err := ruleOp(alerts.OpRulePut)(r)
	if err != nil {
		return req, err
	}
	data, err := readBody(r)
	if err != nil {
		return req, err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return req, bodyError{http.StatusBadRequest, "body: want the rule as YAML or JSON, got nothing"}
	}
	if json.Valid(data) {
		req.Body = data
		return req, nil
	}
	if req.Body, err = yamlToJSON(data); err != nil {
		return req, bodyError{http.StatusBadRequest, "body: want the rule as YAML or JSON: " + err.Error()}
	}
	return req, nil
}

// yamlToJSON converts one YAML document to JSON.
func yamlToJSON(data []byte) (json.RawMessage, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return nil, errors.New("one YAML document only")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("a mapping (name: ..., metric: ..., detector: ...)")
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("not representable as JSON: %w", err)
	}
	return out, nil
}

func ruleOp(op string) func(r *http.Request) (alerts.ControlRequest, error) {
	return func(r *http.Request) (alerts.ControlRequest, error) {
		name := r.PathValue("name")
		if !isToken(name) || len(name) > 64 {
			return alerts.ControlRequest{}, badRequest{"name", "a rule name (a-z, 0-9, _ and -, at most 64)", name}
		}
		return alerts.ControlRequest{Op: op, Rule: name}, nil
	}
}

func createSilence(r *http.Request) (alerts.ControlRequest, error) {
	data, err := readBody(r)
	if err != nil {
		return alerts.ControlRequest{}, err
	}
	var spec alerts.SilenceSpec
	if err := strictJSON(data, &spec, `{"rule", "community", "key", "ends_at", "comment", "by"}`); err != nil {
		return alerts.ControlRequest{}, err
	}
	if err := validateSilence(&spec, time.Now()); err != nil {
		return alerts.ControlRequest{}, err
	}
	body, err := json.Marshal(spec)
	if err != nil {
		return alerts.ControlRequest{}, err
	}
	return alerts.ControlRequest{Op: alerts.OpSilence, Community: spec.Community, By: spec.By, Body: body}, nil
}

// validateSilence checks spec at now and fills in By.
func validateSilence(spec *alerts.SilenceSpec, now time.Time) error {
	for _, f := range []struct{ name, v string }{{"rule", spec.Rule}, {"community", spec.Community}, {"key", spec.Key}} {
		if err := textParam(f.name, f.v, 256); err != nil {
			return err
		}
	}
	if err := textParam("comment", spec.Comment, 1024); err != nil {
		return err
	}
	if spec.By == "" {
		spec.By = "api"
	}
	if err := textParam("by", spec.By, 128); err != nil {
		return err
	}
	if !spec.EndsAt.After(now) || spec.EndsAt.After(now.Add(maxSilence)) {
		got := ""
		if !spec.EndsAt.IsZero() {
			got = spec.EndsAt.Format(time.RFC3339)
		}
		return badRequest{"ends_at", "an RFC 3339 time in the future, at most 90 days ahead", got}
	}
	return nil
}

// idParam reads an alert or silence id from the path.
func idParam(r *http.Request, name string) (string, error) {
	v := r.PathValue(name)
	ok := v != "" && len(v) <= 128
	for i := 0; ok && i < len(v); i++ {
		b := v[i]
		ok = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':'
	}
	if !ok {
		return "", badRequest{name, "an id (letters, digits, -, _, . and :; at most 128)", v}
	}
	return v, nil
}

// textParam checks a free-text field: UTF-8, no control characters, at
// most max bytes.
func textParam(name, v string, max int) error {
	if len(v) > max {
		return badRequest{name, fmt.Sprintf("at most %d bytes", max), v[:32] + "…"}
	}
	if !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return badRequest{name, "text without control characters", v}
	}
	return nil
}

// readBody reads the request body, which the mux bounds.
func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", tooBig.Limit)}
	case err != nil:
		return nil, bodyError{http.StatusBadRequest, "body: " + err.Error()}
	}
	return data, nil
}

// strictJSON decodes one JSON object into v; unknown fields are errors.
func strictJSON(data []byte, v any, want string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(new(json.RawMessage)) != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err != nil {
		return bodyError{http.StatusBadRequest, fmt.Sprintf("body: want JSON %s: %v", want, err)}
	}
	return nil
}

// alertControl asks the evaluator what build makes of the request and
// answers with its reply: the reply's status, its body on success, and
// {"error": ...} otherwise. It blocks for up to alertTimeout.
func (s *Server) alertControl(w http.ResponseWriter, r *http.Request, build func(*http.Request) (alerts.ControlRequest, error)) {
	req, err := build(r)
	var (
		bad badRequest
		be  bodyError
	)
	switch {
	case errors.As(err, &bad):
		writeJSON(w, http.StatusBadRequest, bad.body())
		return
	case errors.As(err, &be):
		writeJSON(w, be.status, map[string]string{"error": be.Error()})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	reply, err := s.askEvaluator(r.Context(), req)
	switch {
	case err == nil:
	case r.Context().Err() != nil:
		s.log.Debug("alert request abandoned by the client", "path", r.URL.Path, "op", req.Op)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the request was cancelled"})
		return
	case errors.Is(err, errBadReply):
		s.log.Warn("the alert evaluator's reply is not a ControlReply", "path", r.URL.Path, "op", req.Op, "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("the alert evaluator is not answering", "path", r.URL.Path, "op", req.Op, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": notAnswering})
		return
	default:
		s.log.Warn("alert request failed", "path", r.URL.Path, "op", req.Op, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": notAnswering + " (" + err.Error() + ")"})
		return
	}
	switch req.Op {
	case alerts.OpRulePut, alerts.OpRuleDelete, alerts.OpAck, alerts.OpSilence, alerts.OpUnsilence:
		// An audit line: who changed what (never the body).
		s.log.Info("alert change requested", "op", req.Op, "rule", req.Rule, "alert", req.AlertID, "silence", req.Silence,
			"by", req.By, "status", reply.Status)
	}
	switch {
	case reply.Status < 200 || reply.Status > 599:
		s.log.Warn("the alert evaluator answered an invalid status", "op", req.Op, "status", reply.Status)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": fmt.Sprintf("the alert evaluator answered status %d", reply.Status)})
	case reply.Status == http.StatusNoContent:
		w.WriteHeader(reply.Status)
	case reply.Status < 300:
		body := []byte(reply.Body)
		if len(body) == 0 {
			body = []byte("{}")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(reply.Status)
		_, _ = w.Write(append(body, '\n'))
	default:
		msg := reply.Error
		if msg == "" {
			msg = http.StatusText(reply.Status)
		}
		writeJSON(w, reply.Status, map[string]string{"error": msg})
	}
}

var (
	// errNoBus is the answer of a server built without NATS.
	errNoBus = fmt.Errorf("api: no NATS connection: %w", nats.ErrNoResponders)
	// errBadReply is a reply that does not decode.
	errBadReply = errors.New("the alert evaluator sent a reply that is not a ControlReply")
)

// askEvaluator sends req on subjects.AlertControl and waits up to
// alertTimeout (or ctx) for the reply.
func (s *Server) askEvaluator(ctx context.Context, req alerts.ControlRequest) (alerts.ControlReply, error) {
	var reply alerts.ControlReply
	if s.deps.JS == nil || s.deps.JS.Conn() == nil {
		return reply, errNoBus
	}
	data, err := json.Marshal(req)
	if err != nil {
		return reply, fmt.Errorf("api: encode the %s request: %w", req.Op, err)
	}
	ctx, cancel := context.WithTimeout(ctx, alertTimeout)
	defer cancel()
	msg, err := s.deps.JS.Conn().RequestWithContext(ctx, subjects.AlertControl, data)
	if err != nil {
		return reply, err
	}
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return reply, fmt.Errorf("%w (%s): %v", errBadReply, req.Op, err)
	}
	return reply, nil
}
