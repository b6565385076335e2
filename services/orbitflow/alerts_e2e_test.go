package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	alertsp "github.com/orbitflow/orbitflow/services/processors/alerts"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

func TestDemoRulesAreValid(t *testing.T) {
	f, err := alertsp.DecodeFile([]byte(demoRules))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(f.Rules), 8)
	require.Len(t, f.Signals, 1)
	require.Equal(t, "demo-sales-interest", f.Signals[0].Name)
	require.Empty(t, f.Signals[0].Targets, "recorded, not delivered: nothing listens on the demo's machine")
	require.Contains(t, demoRules, "#     demo-signals: {type: webhook", "how to route them")
}

// signedHook is a local webhook receiver that checks every signature.
type signedHook struct {
	secret []byte
	mu     sync.Mutex
	got    []alerts.Notification
	bad    []string
}

func (h *signedHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.Verify(h.secret, r.Header, body, 5*time.Minute, time.Now()); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n alerts.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.got = append(h.got, n)
}

func (h *signedHook) firing(key string) *alerts.Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, n := range h.got {
		for _, a := range n.Alerts {
			if a.Key == key && a.State == alerts.StateFiring {
				return &h.got[i]
			}
		}
	}
	return nil
}

// TestDemoSourceStoppedFiresSignedAbsenceAlert: the demo community talks
// on three sources through `orbitflow demo live`; stopping the github
// feed fires the source-absence alert within its window (1 minute here),
// and a local webhook receives it signed, naming github and saying the
// other sources still deliver.
func TestDemoSourceStoppedFiresSignedAbsenceAlert(t *testing.T) {
	hook := &signedHook{secret: []byte("demo-webhook-secret-0123")}
	srv := httptest.NewServer(hook)
	defer srv.Close()

	in := newInstance(t)
	secretFile := filepath.Join(in.dir, "hook.secret")
	require.NoError(t, os.WriteFile(secretFile, hook.secret, 0o600))
	cfg, err := os.ReadFile(in.config)
	require.NoError(t, err)
	rules := filepath.Join(in.dir, "alerts.yaml")
	cfg = append(cfg, fmt.Sprintf("alerts: {rules_file: %q, interval: 2s, stream_debounce: 1s, backoff: 200ms}\n", rules)...)
	require.NoError(t, os.WriteFile(in.config, cfg, 0o600))
	require.NoError(t, os.WriteFile(rules, []byte(fmt.Sprintf(`
targets:
  local: {type: webhook, url: "%s/hook", secret: "file:%s", max_attempts: 5}
rules:
  - name: demo-source-silent
    community: demo
    detector: {type: source_absence, lookback: 10m}
    window: 1m
    severity: critical
    targets: [local]
`, srv.URL, secretFile)), 0o600))
	in.start()
	defer func() { _ = in.stop(syscall.SIGTERM) }()

	var logs []*kittest.SyncBuffer
	feed := func(sources string) *exec.Cmd {
		cmd := exec.Command(binary, "demo", "live", "--config", in.config, "--sources", sources, "--per-hour", "6000", "--since", "12m")
		log := &kittest.SyncBuffer{}
		logs = append(logs, log)
		cmd.Stdout, cmd.Stderr = log, log
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		return cmd
	}
	others := feed("slack,discourse")
	gh := feed("github")
	defer func() { _ = others.Process.Signal(syscall.SIGINT); _ = others.Wait() }()

	// Everyone talks: no alert while the catch-up and the live feed flow.
	deadline := time.Now().Add(time.Minute)
	for in.sqlValue("SELECT countIf(source = 'github' AND received_at > now64(3) - INTERVAL 30 SECOND) > 0 FROM activities") != "1" {
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, _, _ := in.cli(ctx, "sql", "SELECT source, count(), max(received_at), max(occurred_at), now64(3) FROM activities GROUP BY source")
			cancel()
			t.Fatalf("no live github activity; ClickHouse has:\n%s\nfeeds said:\n%s\n%s", out, logs[0], logs[1])
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(5 * time.Second)
	require.Nil(t, hook.firing("github"), "no absence alert while github talks")

	// Stop the github feed: the alert fires within the 1-minute window
	// (plus an evaluation interval and the sink's flush).
	require.NoError(t, gh.Process.Signal(syscall.SIGINT))
	require.NoError(t, gh.Wait())
	stopped := time.Now()
	require.Eventually(t, func() bool { return hook.firing("github") != nil }, 90*time.Second, 250*time.Millisecond,
		"no signed github absence alert; run log:\n%s", in.runLog.String())
	t.Logf("absence alert received %s after the github feed stopped", time.Since(stopped).Round(time.Second))
	n := hook.firing("github")
	require.Equal(t, "demo-source-silent", n.Rule)
	require.Equal(t, "critical", n.Severity)
	require.Equal(t, "connector", n.Alerts[0].Labels["diagnosis"])
	require.Contains(t, n.Alerts[0].Summary, "slack")
	hook.mu.Lock()
	require.Empty(t, hook.bad)
	require.Len(t, hook.got, 1, "one notification: the other sources never alerted")
	hook.mu.Unlock()

	// The command line sees it too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, errOut, err := in.cli(ctx, "alerts", "list")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "demo-source-silent")
	require.Contains(t, out, "github")
	out, errOut, err = in.cli(ctx, "alerts", "test", "demo-source-silent")
	require.NoError(t, err, errOut)
	require.True(t, strings.Contains(out, "FIRES"), out)
}
