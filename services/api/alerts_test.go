package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const alertKey = "0123456789abcdef-key"

// evaluator stands in for the alert evaluator on the real bus: it records
// every control request and answers with reply.
type evaluator struct {
	mu    sync.Mutex
	reqs  []alerts.ControlRequest
	reply func(alerts.ControlRequest) alerts.ControlReply
}

func (e *evaluator) requests() []alerts.ControlRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]alerts.ControlRequest(nil), e.reqs...)
}

func (e *evaluator) last(t *testing.T) alerts.ControlRequest {
	t.Helper()
	reqs := e.requests()
	require.NotEmpty(t, reqs, "the evaluator was asked")
	return reqs[len(reqs)-1]
}

// alertServer serves the API over an embedded NATS; with answer set, a
// fake evaluator answers on subjects.AlertControl. No ClickHouse.
func alertServer(t *testing.T, answer func(alerts.ControlRequest) alerts.ControlReply) (*httptest.Server, *evaluator) {
	t.Helper()
	b := kittest.Bus(t)
	ev := &evaluator{reply: answer}
	if answer != nil {
		sub, err := b.Conn().Subscribe(subjects.AlertControl, func(m *nats.Msg) {
			var req alerts.ControlRequest
			if err := json.Unmarshal(m.Data, &req); err != nil {
				_ = m.Respond([]byte(`{"status":400,"error":"bad request"}`))
				return
			}
			ev.mu.Lock()
			ev.reqs = append(ev.reqs, req)
			ev.mu.Unlock()
			data, _ := json.Marshal(ev.reply(req))
			_ = m.Respond(data)
		})
		require.NoError(t, err)
		require.NoError(t, b.Conn().Flush())
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	srv := api.New(api.Config{APIKeys: []string{alertKey}}, api.Deps{JS: b.JetStream()}, telemetry.Nop())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, ev
}

// ok answers every request with 200 and a body naming the op.
func ok(req alerts.ControlRequest) alerts.ControlReply {
	body, _ := json.Marshal(map[string]string{"op": req.Op})
	return alerts.ControlReply{Status: http.StatusOK, Body: body}
}

func do(t *testing.T, ts *httptest.Server, method, path, bearer, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, r)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestAlertsAPINeedsKey(t *testing.T) {
	ts, ev := alertServer(t, ok)
	for _, rt := range api.AlertRoutes() {
		method, path, _ := strings.Cut(rt, " ")
		path = strings.NewReplacer("{id}", "a1", "{name}", "r1").Replace(path)
		for _, bearer := range []string{"", "wrong-key-0123456789"} {
			code, body := do(t, ts, method, path, bearer, "")
			require.Equal(t, http.StatusUnauthorized, code, "%s %s", method, path)
			require.Contains(t, body, "API key")
		}
	}
	require.Empty(t, ev.requests(), "nothing reaches the evaluator without the key")
}

func TestAlertsAPIListForwardsParameters(t *testing.T) {
	ts, ev := alertServer(t, func(alerts.ControlRequest) alerts.ControlReply {
		return alerts.ControlReply{Status: http.StatusOK, Body: json.RawMessage(`{"alerts":[{"id":"ab12-x","state":"firing"}]}`)}
	})
	for query, want := range map[string]alerts.ControlRequest{
		"":                                    {Op: alerts.OpList, Limit: 100},
		"?state=open":                         {Op: alerts.OpList, Limit: 100},
		"?state=firing&community=fx&limit=7":  {Op: alerts.OpList, State: alerts.StateFiring, Community: "fx", Limit: 7},
		"?state=pending&limit=1000":           {Op: alerts.OpList, State: alerts.StatePending, Limit: 1000},
		"?state=resolved&community=my-comm_1": {Op: alerts.OpList, State: alerts.StateResolved, Community: "my-comm_1", Limit: 100},
	} {
		code, body := do(t, ts, "GET", "/api/v1/alerts"+query, alertKey, "")
		require.Equal(t, http.StatusOK, code, body)
		require.JSONEq(t, `{"alerts":[{"id":"ab12-x","state":"firing"}]}`, body)
		require.Equal(t, want, ev.last(t), query)
	}
}

// Each endpoint asks the evaluator the right operation.
func TestAlertsAPIForwardsEachOperation(t *testing.T) {
	ts, ev := alertServer(t, ok)
	for _, tc := range []struct {
		method, path, body string
		want               alerts.ControlRequest
	}{
		{"GET", "/api/v1/alerts/3f2a-k1/events", "", alerts.ControlRequest{Op: alerts.OpEvents, AlertID: "3f2a-k1"}},
		{"POST", "/api/v1/alerts/3f2a-k1/ack", "", alerts.ControlRequest{Op: alerts.OpAck, AlertID: "3f2a-k1", By: "api"}},
		{"POST", "/api/v1/alerts/3f2a-k1/ack", `{"by":"alice"}`, alerts.ControlRequest{Op: alerts.OpAck, AlertID: "3f2a-k1", By: "alice"}},
		{"GET", "/api/v1/alerts/rules", "", alerts.ControlRequest{Op: alerts.OpRules}},
		{"DELETE", "/api/v1/alerts/rules/activity-drop", "", alerts.ControlRequest{Op: alerts.OpRuleDelete, Rule: "activity-drop"}},
		{"POST", "/api/v1/alerts/rules/activity-drop/test", "", alerts.ControlRequest{Op: alerts.OpTest, Rule: "activity-drop"}},
		{"GET", "/api/v1/alerts/silences", "", alerts.ControlRequest{Op: alerts.OpSilences}},
		{"DELETE", "/api/v1/alerts/silences/s-42", "", alerts.ControlRequest{Op: alerts.OpUnsilence, Silence: "s-42"}},
	} {
		code, body := do(t, ts, tc.method, tc.path, alertKey, tc.body)
		require.Equal(t, http.StatusOK, code, "%s %s: %s", tc.method, tc.path, body)
		require.JSONEq(t, `{"op":"`+tc.want.Op+`"}`, body)
		require.Equal(t, tc.want, ev.last(t), "%s %s", tc.method, tc.path)
	}
}

func TestAlertsAPIPutForwardsTheRule(t *testing.T) {
	ts, ev := alertServer(t, func(req alerts.ControlRequest) alerts.ControlReply {
		return alerts.ControlReply{Status: http.StatusOK, Body: json.RawMessage(`{"rule":{"name":"` + req.Rule + `"}}`)}
	})
	rule := `{"name": "drop", "community": "fx", "metric": "activities", "detector": {"type": "seasonal", "min_drop": 0.5}}`
	code, body := do(t, ts, "PUT", "/api/v1/alerts/rules/drop", alertKey, rule)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"rule":{"name":"drop"}}`, body)
	got := ev.last(t)
	require.Equal(t, alerts.OpRulePut, got.Op)
	require.Equal(t, "drop", got.Rule)
	require.JSONEq(t, rule, string(got.Body), "the JSON body as sent")

	// YAML cannot travel in a JSON message as it is: it goes as the same
	// document in JSON, which the evaluator's YAML decoder reads alike.
	yamlRule := "name: drop\ncommunity: fx\nmetric: activities\nfor: 2h\ndetector:\n  type: seasonal\n  min_drop: 0.5\ntargets: [ops]\n"
	code, body = do(t, ts, "PUT", "/api/v1/alerts/rules/drop", alertKey, yamlRule)
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"name":"drop","community":"fx","metric":"activities","for":"2h",
		"detector":{"type":"seasonal","min_drop":0.5},"targets":["ops"]}`, string(ev.last(t).Body))
}

// The evaluator's own verdicts (a rule that does not validate, no such
// alert) pass through with their status and message.
func TestAlertsAPIPassesEvaluatorErrorsThrough(t *testing.T) {
	ts, _ := alertServer(t, func(req alerts.ControlRequest) alerts.ControlReply {
		if req.Op == alerts.OpRulePut {
			return alerts.ControlReply{Status: http.StatusBadRequest, Error: `detector.type: want one of seasonal, band, threshold, got "nope"`}
		}
		return alerts.ControlReply{Status: http.StatusNotFound, Error: `no alert "zz-1"`}
	})
	code, body := do(t, ts, "PUT", "/api/v1/alerts/rules/drop", alertKey, `{"name":"drop","detector":{"type":"nope"}}`)
	require.Equal(t, http.StatusBadRequest, code)
	require.JSONEq(t, `{"error":"detector.type: want one of seasonal, band, threshold, got \"nope\""}`, body)
	code, body = do(t, ts, "POST", "/api/v1/alerts/zz-1/ack", alertKey, "")
	require.Equal(t, http.StatusNotFound, code)
	require.JSONEq(t, `{"error":"no alert \"zz-1\""}`, body)
}

func TestAlertsAPISilenceForwardsTheSpec(t *testing.T) {
	ts, ev := alertServer(t, func(alerts.ControlRequest) alerts.ControlReply {
		return alerts.ControlReply{Status: http.StatusCreated, Body: json.RawMessage(`{"silence":{"id":"s-1"}}`)}
	})
	ends := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	code, body := do(t, ts, "POST", "/api/v1/alerts/silences", alertKey,
		`{"rule":"drop","community":"fx","key":"github:1","ends_at":"`+ends.Format(time.RFC3339)+`","comment":"release week"}`)
	require.Equal(t, http.StatusCreated, code, body)
	require.JSONEq(t, `{"silence":{"id":"s-1"}}`, body)
	got := ev.last(t)
	require.Equal(t, alerts.OpSilence, got.Op)
	var spec alerts.SilenceSpec
	require.NoError(t, json.Unmarshal(got.Body, &spec))
	require.Equal(t, alerts.SilenceSpec{Rule: "drop", Community: "fx", Key: "github:1", EndsAt: ends, Comment: "release week", By: "api"}, spec)
}

// Bad parameters and bodies get a 400 naming what is wrong, and never
// reach the evaluator.
func TestAlertsAPIRejectsBadInput(t *testing.T) {
	ts, ev := alertServer(t, ok)
	future := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/api/v1/alerts?state=burning", "", 400, "parameter state: want one of open, pending, firing, resolved"},
		{"GET", "/api/v1/alerts?limit=0", "", 400, "parameter limit: want an integer 1..1000"},
		{"GET", "/api/v1/alerts?limit=1001", "", 400, "parameter limit"},
		{"GET", "/api/v1/alerts?limit=ten", "", 400, "parameter limit"},
		{"GET", "/api/v1/alerts?community=Bad%20One", "", 400, "parameter community"},
		{"GET", "/api/v1/alerts/a%20b/events", "", 400, "parameter id"},
		{"POST", "/api/v1/alerts/a1/ack", `{"by":"bob","extra":1}`, 400, `unknown field \"extra\"`},
		{"POST", "/api/v1/alerts/a1/ack", `{"by":"bob"} {}`, 400, "more than one JSON value"},
		{"PUT", "/api/v1/alerts/rules/Drop", `{"name":"Drop"}`, 400, "parameter name: want a rule name"},
		{"PUT", "/api/v1/alerts/rules/drop", "", 400, "body: want the rule as YAML or JSON, got nothing"},
		{"PUT", "/api/v1/alerts/rules/drop", "name: [unclosed", 400, "body: want the rule as YAML or JSON"},
		{"PUT", "/api/v1/alerts/rules/drop", "just words", 400, "a mapping"},
		{"PUT", "/api/v1/alerts/rules/drop", strings.Repeat("x", 65<<10), 413, "body: larger than"},
		{"DELETE", "/api/v1/alerts/rules/" + strings.Repeat("a", 65), "", 400, "parameter name"},
		{"POST", "/api/v1/alerts/rules/-x/test", "", 400, "parameter name"},
		{"POST", "/api/v1/alerts/silences", `{"rule":"drop","ends_at":"` + future(time.Hour) + `","until":"x"}`, 400, `unknown field \"until\"`},
		{"POST", "/api/v1/alerts/silences", `{"rule":"drop"}`, 400, "parameter ends_at: want an RFC 3339 time in the future"},
		{"POST", "/api/v1/alerts/silences", `{"ends_at":"` + future(-time.Hour) + `"}`, 400, "parameter ends_at"},
		{"POST", "/api/v1/alerts/silences", `{"ends_at":"` + future(91*24*time.Hour) + `"}`, 400, "at most 90 days ahead"},
		{"POST", "/api/v1/alerts/silences", `{"ends_at":"tomorrow"}`, 400, "body: want JSON"},
		{"POST", "/api/v1/alerts/silences", `{"rule":"` + strings.Repeat("r", 257) + `","ends_at":"` + future(time.Hour) + `"}`, 400, "parameter rule: want at most 256 bytes"},
		{"POST", "/api/v1/alerts/silences", `{"key":"` + strings.Repeat("k", 257) + `","ends_at":"` + future(time.Hour) + `"}`, 400, "parameter key"},
		{"POST", "/api/v1/alerts/silences", `{"community":"` + strings.Repeat("c", 257) + `","ends_at":"` + future(time.Hour) + `"}`, 400, "parameter community"},
		{"DELETE", "/api/v1/alerts/silences/s%2F1", "", 400, "parameter id"},
	} {
		code, body := do(t, ts, tc.method, tc.path, alertKey, tc.body)
		require.Equal(t, tc.code, code, "%s %s: %s", tc.method, tc.path, body)
		require.Contains(t, body, tc.want, "%s %s", tc.method, tc.path)
	}
	require.Empty(t, ev.requests())
}

func TestAlertsAPIWithoutEvaluatorIs503(t *testing.T) {
	ts, _ := alertServer(t, nil)
	for _, p := range []struct{ method, path string }{{"GET", "/api/v1/alerts"}, {"GET", "/api/v1/alerts/rules"}, {"POST", "/api/v1/alerts/a1/ack"}} {
		code, body := do(t, ts, p.method, p.path, alertKey, "")
		require.Equal(t, http.StatusServiceUnavailable, code, body)
		require.JSONEq(t, `{"error":"the alert evaluator is not answering: is `+"`orbitflow run`"+` running with alerts enabled?"}`, body)
	}
}

// A reply that is not a ControlReply, or has no valid status, is the
// evaluator's fault: 502.
func TestAlertsAPIBadReplyIs502(t *testing.T) {
	ts, _ := alertServer(t, func(alerts.ControlRequest) alerts.ControlReply { return alerts.ControlReply{} })
	code, body := do(t, ts, "GET", "/api/v1/alerts", alertKey, "")
	require.Equal(t, http.StatusBadGateway, code, body)
	require.Contains(t, body, "status 0")
}

// The OpenAPI document (served without ClickHouse) documents every alert
// endpoint with its method.
func TestOpenAPIDocumentsAlertRoutes(t *testing.T) {
	ts, _ := alertServer(t, nil)
	code, body := do(t, ts, "GET", "/api/v1/openapi.json", "", "")
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	for _, rt := range api.AlertRoutes() {
		method, path, _ := strings.Cut(rt, " ")
		require.Contains(t, doc.Paths, path, "openapi.json documents %s", path)
		require.Contains(t, doc.Paths[path], strings.ToLower(method), "openapi.json documents %s", rt)
	}
	for _, p := range api.Routes() {
		require.Contains(t, doc.Paths, p)
	}
}

// FuzzAlertsAPIInput throws arbitrary query strings and bodies at the
// alert endpoints: never a panic, never a 5xx other than the 503 of the
// missing evaluator.
func FuzzAlertsAPIInput(f *testing.F) {
	for _, s := range []string{"", `{"by":"x"}`, `{"ends_at":"2030-01-01T00:00:00Z"}`, "name: x\ndetector: {type: band}\n", "state=firing&limit=3",
		"\x00\xff", `{"rule":"a","rule":"b"}`, "a: &x [*x]", "[1,2]", "null"} {
		f.Add(s)
	}
	b := kittest.Bus(f)
	h := api.New(api.Config{APIKeys: []string{alertKey}}, api.Deps{JS: b.JetStream()}, telemetry.Nop()).Handler()
	f.Fuzz(func(t *testing.T, in string) {
		for _, rt := range api.AlertRoutes() {
			method, path, _ := strings.Cut(rt, " ")
			path = strings.NewReplacer("{id}", "a1", "{name}", "r1").Replace(path)
			req := httptest.NewRequest(method, path, strings.NewReader(in))
			req.URL.RawQuery = in
			req.Header.Set("Authorization", "Bearer "+alertKey)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s with %q: %d %s", rt, in, w.Code, w.Body)
			}
		}
	})
}
