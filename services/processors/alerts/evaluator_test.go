package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

func TestMain(m *testing.M) { kittest.Main(m) }

// receiver is a local webhook that verifies signatures and keeps what
// it received.
type receiver struct {
	mu     sync.Mutex
	got    []alerts.Notification
	bad    int
	secret []byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := notify.Verify(rc.secret, r.Header, body, 5*time.Minute, time.Now()); err != nil {
		rc.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var n alerts.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		rc.bad++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, n)
}

func (rc *receiver) received() []alerts.Notification {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]alerts.Notification(nil), rc.got...)
}

// insertActivities writes one activity per minute per source into
// activities_raw for the last span, received as they happened; a source
// in quiet stops delivering at its time.
func insertActivities(t *testing.T, ch driver.Conn, community string, span time.Duration, now time.Time, quiet map[string]time.Time) {
	t.Helper()
	ctx := context.Background()
	b, err := ch.PrepareBatch(ctx, "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at)")
	require.NoError(t, err)
	defer b.Close()
	for _, src := range []string{"github", "slack"} {
		for at := now.Add(-span); at.Before(now); at = at.Add(time.Minute) {
			if q, ok := quiet[src]; ok && !at.Before(q) {
				break
			}
			id := fmt.Sprintf("%s:%d", src, at.Unix())
			require.NoError(t, b.Append(id, community, src, "custom.x", at, src+":1", src+":1", at))
		}
	}
	require.NoError(t, b.Send())
}

func TestSourceAbsenceFiresSignedAndResolvesFromTheStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	b := kittest.Bus(t)
	js := b.JetStream()

	rc := &receiver{secret: []byte("s3cret-for-tests")}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	t.Setenv("ALERT_HOOK_SECRET", string(rc.secret))

	now := time.Now().UTC()
	insertActivities(t, ch, "c", 2*time.Hour, now, map[string]time.Time{"github": now.Add(-20 * time.Minute)})

	dir := t.TempDir()
	rules := filepath.Join(dir, "alerts.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(fmt.Sprintf(`
external_url: http://orbitflow.example
targets:
  ops:
    type: webhook
    url: %s/hook
    secret: env:ALERT_HOOK_SECRET
rules:
  - name: source-silent
    description: a source stopped delivering
    community: c
    detector: {type: source_absence, lookback: 90m}
    window: 10m
    severity: critical
    targets: [ops]
`, hook.URL)), 0o600))
	cfg := DefaultConfig()
	cfg.RulesFile, cfg.Interval, cfg.StreamDebounce, cfg.Backoff = rules, 500*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond
	met, err := telemetry.NewMetrics()
	require.NoError(t, err)
	defer met.Shutdown(context.Background())
	set := telemetry.Nop()
	set.MeterProvider = met.Provider()
	ev := New(cfg, Deps{JS: js, CH: ch}, set)
	require.NoError(t, ev.Start(ctx))
	defer func() { require.NoError(t, ev.Shutdown(context.Background())) }()

	// github went quiet 20 minutes ago while slack still talks: one
	// signed notification, a connector diagnosis, one firing alert.
	require.Eventually(t, func() bool { return len(rc.received()) >= 1 }, 30*time.Second, 50*time.Millisecond)
	n := rc.received()[0]
	require.Equal(t, "source-silent", n.Rule)
	require.Equal(t, alerts.StateFiring, n.Status)
	require.Len(t, n.Alerts, 1)
	require.Equal(t, "github", n.Alerts[0].Key)
	require.Equal(t, "connector", n.Alerts[0].Labels["diagnosis"])
	require.Contains(t, n.Alerts[0].Summary, "slack")
	require.Contains(t, n.URL, "http://orbitflow.example/")
	require.Zero(t, rc.bad)

	// The evaluations are counted: the one that fired, and the ones after.
	scrape := kittest.Scrape(met)
	require.Contains(t, scrape, `orbitflow_alerts_evaluations_total{detector="source_absence",outcome="changed"} 1`)
	require.Contains(t, scrape, `orbitflow_alerts_transitions_total{rule="source-silent",to="firing"} 1`)
	require.Contains(t, scrape, `orbitflow_alerts_evaluation_duration_seconds_count{detector="source_absence"}`)

	list, err := ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpList, State: alerts.StateFiring})
	require.NoError(t, err)
	open := list.(map[string]any)["alerts"].([]Alert)
	require.Len(t, open, 1)
	id := open[0].ID

	// Acknowledged: a change, no notification.
	_, err = ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpAck, AlertID: id, By: "ana"})
	require.NoError(t, err)

	// Later evaluations keep it firing: still one notification.
	time.Sleep(2 * cfg.Interval)
	require.Len(t, rc.received(), 1)

	// A restart restores the open alert: no second notification, and the
	// changes published again at start are dropped as duplicates.
	require.NoError(t, ev.Shutdown(ctx))
	ev = New(cfg, Deps{JS: js, CH: ch}, telemetry.Nop())
	require.NoError(t, ev.Start(ctx))
	time.Sleep(3 * cfg.Interval)
	require.Len(t, rc.received(), 1)

	// github talks again on the stream: the watcher sees it before
	// ClickHouse does, and the alert resolves with a notification.
	_, err = js.Publish(ctx, subjects.Activity("c", "github"), []byte(`{}`))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rc.received()) >= 2 }, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, alerts.StateResolved, rc.received()[1].Status)

	evs, err := ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpEvents, AlertID: id})
	require.NoError(t, err)
	var tos []string
	for _, c := range evs.(map[string]any)["events"].([]alerts.Change) {
		tos = append(tos, c.To)
	}
	require.Equal(t, []string{alerts.StateFiring, alerts.Acknowledged, alerts.StateResolved}, tos)

	// Every change is on the stream too, once.
	st, err := js.Stream(ctx, subjects.AlertStream)
	require.NoError(t, err)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subjects.AlertChangePrefix+".>"))
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{subjects.AlertChange("c"): 3}, info.State.Subjects)
}

func TestRulesAreValidatedEditedAndHotReloaded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	b := kittest.Bus(t)
	rules := filepath.Join(t.TempDir(), "alerts.yaml")
	cfg := DefaultConfig()
	cfg.RulesFile, cfg.ReloadInterval = rules, 100*time.Millisecond
	ev := New(cfg, Deps{JS: b.JetStream(), CH: ch}, telemetry.Nop())
	require.NoError(t, ev.Start(ctx))
	defer func() { require.NoError(t, ev.Shutdown(context.Background())) }()

	// A bad rule is refused with the field named; the file is untouched.
	_, err = ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpRulePut, Rule: "drop", Body: []byte(`{"community": "c", "metric": "activities", "detector": {"type": "seasonal"}, "window": "30s"}`)})
	require.ErrorContains(t, err, "window: want a duration from 1m to 7d")
	_, statErr := os.Stat(rules)
	require.ErrorIs(t, statErr, os.ErrNotExist)

	_, err = ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpRulePut, Rule: "drop", Body: []byte("community: c\nmetric: activities\ndetector: {type: seasonal}\nwindow: 1h\n")})
	require.NoError(t, err)
	f, err := LoadFile(rules)
	require.NoError(t, err)
	require.Len(t, f.Rules, 1)

	// Edited by hand: picked up; a broken edit is refused and the rules in use stay.
	require.NoError(t, os.WriteFile(rules, []byte("rules:\n  - {name: a, community: c, metric: gravity, period: week, detector: {type: threshold, op: '<', value: 0, for_periods: 2}}\n  - {name: b, community: c, metric: retention, period: month, detector: {type: change, change: -0.05}}\n"), 0o600))
	require.Eventually(t, func() bool {
		r, _ := ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpRules})
		return len(r.(map[string]any)["rules"].([]Rule)) == 2
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, os.WriteFile(rules, []byte("rules:\n  - {name: a, community: c, metric: nope}\n"), 0o600))
	time.Sleep(500 * time.Millisecond)
	r, _ := ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpRules})
	require.Len(t, r.(map[string]any)["rules"].([]Rule), 2)

	// test evaluates now: gravity has no rows yet, so no verdict.
	res, err := ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpTest, Rule: "a"})
	require.NoError(t, err)
	require.NotEmpty(t, res.(Evaluation).Decisions[0].Skipped)
	_, err = ev.Control(ctx, alerts.ControlRequest{Op: alerts.OpTest, Rule: "zz"})
	require.ErrorContains(t, err, `no rule "zz"`)
}

func TestRuleFileValidationNamesEveryProblem(t *testing.T) {
	_, err := DecodeFile([]byte(`
targets:
  hook: {type: webhook, url: "ftp://x"}
rules:
  - name: Bad Name
    community: c
    metric: activities
    detector: {type: seasonal, weeks: 2}
    window: 1h
    targets: [nobody]
  - name: g
    community: c
    metric: gravity
    detector: {type: seasonal}
  - name: g
    community: c
    detector: {type: member_silence, levels: [7]}
`))
	require.Error(t, err)
	for _, want := range []string{"targets.hook", "rules[0] (Bad Name).name", "detector.weeks: want 3..26", `targets[0]: no target "nobody"`,
		"rules[1] (g).period: want day, week or month", "seasonal compares hours of the week", `rules[2] (g).name: "g" is also rules[1]`,
		"detector.levels[0]: want 1 (Leading) .. 4 (Exploring), got 7"} {
		require.ErrorContains(t, err, want)
	}
	_, err = DecodeFile([]byte("rules:\n  - {name: a, community: c, metric: gravity, period: week, slo_hours: 4, detector: {type: threshold, op: '<', value: 0}}\n"))
	require.ErrorContains(t, err, "slo_hours: only ttfr_within_slo takes it")
	_, err = DecodeFile([]byte("rules:\n  - {name: a, community: c, metric: activities, detector: {type: seasonal}, window: 1h, colour: red}\n"))
	require.ErrorContains(t, err, "field colour not found")

	d, err := ParseDuration("14d")
	require.NoError(t, err)
	require.Equal(t, 14*24*time.Hour, d.D())
	require.Equal(t, "2w", Duration(14*24*time.Hour).String())
	require.Equal(t, "90m", Duration(90*time.Minute).String())
}
