package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
)

func TestAlertsParse(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	silence := func(spec alerts.SilenceSpec) alerts.ControlRequest {
		b, err := json.Marshal(spec)
		require.NoError(t, err)
		return alerts.ControlRequest{Op: alerts.OpSilence, Community: spec.Community, By: spec.By, Body: b}
	}
	for _, tc := range []struct {
		args []string
		want alerts.ControlRequest
		json bool
		err  string
	}{
		{args: []string{"list"}, want: alerts.ControlRequest{Op: alerts.OpList, Limit: 100}},
		{args: []string{"--data-dir", "/tmp/x", "list", "--state", "firing", "--community", "fx", "--limit", "5", "--json"},
			want: alerts.ControlRequest{Op: alerts.OpList, State: alerts.StateFiring, Community: "fx", Limit: 5}, json: true},
		{args: []string{"list", "--state", "open"}, want: alerts.ControlRequest{Op: alerts.OpList, Limit: 100}},
		{args: []string{"list", "--state", "burning"}, err: "--state: want open, pending, firing or resolved"},
		{args: []string{"list", "--limit", "0"}, err: "--limit: want 1..1000"},
		{args: []string{"list", "extra"}, err: "takes no arguments"},
		{args: []string{"test", "activity-drop"}, want: alerts.ControlRequest{Op: alerts.OpTest, Rule: "activity-drop"}},
		{args: []string{"test"}, err: "alerts test takes one argument, RULE"},
		{args: []string{"ack", "ab12-k1", "--by", "alice"}, want: alerts.ControlRequest{Op: alerts.OpAck, AlertID: "ab12-k1", By: "alice"}},
		{args: []string{"ack"}, err: "see orbitflow alerts list"},
		{args: []string{"unsilence", "s-1"}, want: alerts.ControlRequest{Op: alerts.OpUnsilence, Silence: "s-1"}},
		{args: []string{"rules", "--json"}, want: alerts.ControlRequest{Op: alerts.OpRules}, json: true},
		{args: []string{"silences"}, want: alerts.ControlRequest{Op: alerts.OpSilences}},
		{args: []string{"silence", "--rule", "drop", "--key", "github:1", "--for", "2h", "--comment", "release", "--by", "bob"},
			want: silence(alerts.SilenceSpec{Rule: "drop", Key: "github:1", EndsAt: now.Add(2 * time.Hour), Comment: "release", By: "bob"})},
		{args: []string{"silence", "--community", "fx"}, err: "--for: want a duration up to 90 days"},
		{args: []string{"silence", "--for", "2400h"}, err: "--for"},
		{args: []string{"silence", "--for", "soon"}, err: "invalid value"},
		{args: []string{"nothing"}, err: "usage: orbitflow alerts list|test"},
	} {
		ac, err := parseAlerts(tc.args, io.Discard, now)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.args)
			var ue usageError
			require.ErrorAs(t, err, &ue, "a command-line mistake exits 2")
			continue
		}
		require.NoError(t, err, tc.args)
		require.Equal(t, tc.want, ac.req, tc.args)
		require.Equal(t, tc.json, ac.json, tc.args)
	}
}

func TestAlertsListTable(t *testing.T) {
	body := []byte(`{"alerts":[
		{"id":"9f3c2a-sq1","rule":"activity-drop","community":"fx","key":"","severity":"critical","state":"firing",
		 "started_at":"2026-03-02T10:00:00Z","fired_at":"2026-03-02T10:15:00Z","resolved_at":"0001-01-01T00:00:00Z",
		 "acknowledged_at":"2026-03-02T11:00:00Z","acknowledged_by":"alice","value":3,"baseline":41.5,
		 "summary":"activities 3 in the last hour, 93% under the median 41.5 of the same hour of the 4 weeks before"},
		{"id":"1b2c-sq2","rule":"contributor-silent","community":"fx","key":"github:583231","severity":"warning","state":"pending",
		 "started_at":"2026-03-02T09:30:00Z","value":0.123456,"baseline":2,"summary":"silent for 21 days"}]}`)
	var out bytes.Buffer
	ac := alertsCmd{sub: "list", req: alerts.ControlRequest{Op: alerts.OpList}}
	require.NoError(t, printAlertsReply(&out, ac, body, 160))
	want := "" +
		"ID          STATE           SEVERITY  RULE                COMMUNITY  KEY            SINCE              VALUE   BASELINE  SUMMARY\n" +
		"9f3c2a-sq1  firing (acked)  critical  activity-drop       fx         -              2026-03-02 10:00Z  3       41.5      activities 3 in the last hour, 93% und…\n" +
		"1b2c-sq2    pending         warning   contributor-silent  fx         github:583231  2026-03-02 09:30Z  0.1235  2         silent for 21 days\n"
	require.Equal(t, want, out.String())
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		require.LessOrEqual(t, len([]rune(l)), 160, "fits the width: %q", l)
	}

	out.Reset()
	require.NoError(t, printAlertsReply(&out, ac, body, 0))
	require.Contains(t, out.String(), "of the 4 weeks before\n", "not cut without a width")

	out.Reset()
	ac.req.State = alerts.StateResolved
	require.NoError(t, printAlertsReply(&out, ac, []byte(`{"alerts":[]}`), 80))
	require.Equal(t, "no resolved alerts\n", out.String())

	out.Reset()
	ac.json = true
	require.NoError(t, printAlertsReply(&out, ac, []byte(`{"alerts":[{"id":"x"}]}`), 80))
	require.Equal(t, "{\n  \"alerts\": [\n    {\n      \"id\": \"x\"\n    }\n  ]\n}\n", out.String())
}

func TestAlertsTestOutput(t *testing.T) {
	body := []byte(`{"rule":{"name":"activity-drop","community":"fx","metric":"activities","window":"1h","severity":"critical",
		"detector":{"type":"seasonal","weeks":4,"min_drop":0.5},"targets":["ops"]},
		"at":"2026-03-02T10:00:00Z",
		"series":[{"start":"2026-03-02T09:00:00Z","end":"2026-03-02T10:00:00Z","value":3,"volume":3}],
		"baseline":[{"start":"2026-02-23T09:00:00Z","end":"2026-02-23T10:00:00Z","value":40,"volume":40},
		            {"start":"2026-02-16T09:00:00Z","end":"2026-02-16T10:00:00Z","value":43,"volume":43}],
		"decisions":[{"key":"","firing":true,"value":3,"baseline":41.5,"lower":30.2,"upper":52.8,"score":-6.1,
		              "summary":"activities 3, outside the band 30.2..52.8"}]}`)
	var out bytes.Buffer
	require.NoError(t, printAlertsReply(&out, alertsCmd{sub: "test"}, body, 0))
	require.Equal(t, `rule activity-drop: community fx, metric activities, detector seasonal (min_drop=0.5, weeks=4), window 1h, severity critical → ops
evaluated at 2026-03-02 10:00Z

series (history first, the current window last):
  START              END                VALUE
  2026-03-02 09:00Z  2026-03-02 10:00Z  3

baseline (the same hour of past weeks):
  START              END                VALUE
  2026-02-23 09:00Z  2026-02-23 10:00Z  40
  2026-02-16 09:00Z  2026-02-16 10:00Z  43

value 3, baseline (median) 41.5, band 30.2..52.8, score -6.1

decisions (1, 1 firing):
  FIRES  activities 3, outside the band 30.2..52.8
`, out.String())

	// A member rule: many decisions, the firing ones first, at most 50.
	var decs []map[string]any
	for i := range 70 {
		d := map[string]any{"key": fmt.Sprintf("github:%d", i), "firing": i%10 == 9, "summary": fmt.Sprintf("quiet %d days", i)}
		if i%7 == 0 {
			d["skipped"] = "joined too recently"
		}
		decs = append(decs, d)
	}
	b, err := json.Marshal(map[string]any{"rule": map[string]any{"name": "silent", "community": "fx",
		"detector": map[string]any{"type": "member_silence"}}, "at": "2026-03-02T10:00:00Z", "decisions": decs})
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, printAlertsReply(&out, alertsCmd{sub: "test"}, b, 0))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Contains(t, out.String(), "decisions (70, 6 firing):")
	i := 0
	for !strings.HasPrefix(lines[i], "decisions") {
		i++
	}
	got := lines[i+1:]
	require.Len(t, got, 51, "50 decisions and the rest counted")
	require.Equal(t, "  FIRES  github:9  quiet 9 days", got[0])
	require.Equal(t, "  FIRES  github:69  quiet 69 days", got[5], "every firing one first (49 is skipped)")
	require.Equal(t, "  ok  github:1  quiet 1 days", got[6])
	require.Equal(t, "  … 20 more", got[50])
	require.NotContains(t, out.String(), "baseline (median)", "no single band for many keys")
}

func TestAlertsRulesAndSilencesOutput(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, printAlertsReply(&out, alertsCmd{sub: "rules"}, []byte(`{"rules":[
		{"name":"drop","community":"fx","segment":{"dimension":"source","value":"slack"},"metric":"activities",
		 "detector":{"type":"band","periods":8,"k":3},"period":"week","for":"2h","targets":["ops","chat"]},
		{"name":"off","community":"fx","detector":{"type":"threshold"},"disabled":true}],
		"targets":{"ops":{"type":"webhook","url":"https://hooks.example/x","secret":"<redacted>"},"chat":{"type":"slack"}}}`), 0))
	require.Equal(t, `rule drop: community fx (source slack), metric activities, detector band (k=3, periods=8), period week, for 2h → ops, chat
rule off: community fx, detector threshold [disabled]

targets:
  chat: slack
  ops: webhook https://hooks.example/x
`, out.String())

	out.Reset()
	require.NoError(t, printAlertsReply(&out, alertsCmd{sub: "silences"}, []byte(`{"silences":[
		{"id":"s-1","rule":"drop","community":"fx","key":"","starts_at":"2026-03-02T10:00:00Z","ends_at":"2026-03-02T12:00:00Z","comment":"release","by":"bob"},
		{"id":"s-22","ends_at":"2026-03-03T12:00:00Z"}]}`), 0))
	require.Equal(t, `ID    MATCHES                  UNTIL              BY   COMMENT
s-1   rule drop, community fx  2026-03-02 12:00Z  bob  release
s-22  every alert              2026-03-03 12:00Z  -    -
`, out.String())
}

// alertsDataDir is a data dir as a running `orbitflow run` leaves it:
// locked, with run.json naming an embedded NATS that listens on loopback.
func alertsDataDir(t *testing.T) (dir string, nc *nats.Conn) {
	t.Helper()
	b := kittest.Bus(t, func(c *bus.Config) { c.Embedded.Listen = freePort(t) })
	url, token := b.ClientURL()
	dir = t.TempDir()
	lock, err := app.LockDataDir(dir)
	require.NoError(t, err)
	t.Cleanup(lock.Release)
	require.NoError(t, app.WriteState(dir, app.RunState{PID: os.Getpid(), NATSURL: url, NATSToken: token, StartedAt: time.Now()}))
	return dir, b.Conn()
}

// The command finds the running orbitflow through run.json and asks the
// evaluator (here a stand-in on the real bus); its errors are printed.
func TestAlertsCommandAsksTheEvaluator(t *testing.T) {
	dir, nc := alertsDataDir(t)
	var (
		mu   sync.Mutex
		reqs []alerts.ControlRequest
	)
	sub, err := nc.Subscribe(subjects.AlertControl, func(m *nats.Msg) {
		var req alerts.ControlRequest
		_ = json.Unmarshal(m.Data, &req)
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		reply := alerts.ControlReply{Status: 200, Body: json.RawMessage(`{"alerts":[{"id":"a1","rule":"drop","community":"fx",
			"severity":"warning","state":"firing","started_at":"2026-03-02T10:00:00Z","value":1,"baseline":9,"summary":"low"}]}`)}
		if req.Op == alerts.OpAck {
			reply = alerts.ControlReply{Status: 404, Error: `no open alert "zz"`}
		}
		data, _ := json.Marshal(reply)
		_ = m.Respond(data)
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	var stdout, stderr bytes.Buffer
	code := run([]string{"alerts", "list", "--data-dir", dir, "--state", "firing", "--community", "fx"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Contains(t, stdout.String(), "a1  firing  warning   drop  fx")
	mu.Lock()
	require.Equal(t, alerts.ControlRequest{Op: alerts.OpList, State: alerts.StateFiring, Community: "fx", Limit: 100}, reqs[0])
	mu.Unlock()

	stdout.Reset()
	code = run([]string{"alerts", "ack", "--data-dir", dir, "zz"}, &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), `orbitflow alerts: no open alert "zz"`)

	// No evaluator answers.
	require.NoError(t, sub.Unsubscribe())
	require.NoError(t, nc.Flush())
	stderr.Reset()
	code = run([]string{"alerts", "rules", "--data-dir", dir}, &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "the alert evaluator is not answering: is `orbitflow run` running with alerts enabled?")
}

func TestAlertsCommandWithoutARun(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"alerts", "list", "--data-dir", t.TempDir()}, &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "is `orbitflow run` running? start it, or pass --data-dir")

	stderr.Reset()
	code = run([]string{"alerts", "list", "--state", "nope"}, &stdout, &stderr)
	require.Equal(t, 2, code, "a command-line mistake")
	require.Contains(t, stderr.String(), "--state")
}
