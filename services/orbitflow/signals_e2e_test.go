package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

// signalHook is a local webhook receiver of signals that checks every
// signature.
type signalHook struct {
	secret []byte
	mu     sync.Mutex
	got    []alerts.Signal
	bad    []string
}

func (h *signalHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.Verify(h.secret, r.Header, body, 5*time.Minute, time.Now()); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var s alerts.Signal
	if err := json.Unmarshal(body, &s); err != nil || r.Header.Get(alerts.HeaderKind) != alerts.KindSignal {
		h.bad = append(h.bad, fmt.Sprintf("kind %q, body %s", r.Header.Get(alerts.HeaderKind), body))
		http.Error(w, "not a signal", http.StatusBadRequest)
		return
	}
	h.got = append(h.got, s)
}

func (h *signalHook) signals() []alerts.Signal {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alerts.Signal(nil), h.got...)
}

// TestSignalRuleDeliversToALocalWebhook: with a signal rule in the rules
// file, `orbitflow run` delivers a signed signal for the member who asks
// about pricing, none for the teammate, the bot or the member who opted out
// through the command line, and `orbitflow signals list` shows why it fired.
func TestSignalRuleDeliversToALocalWebhook(t *testing.T) {
	hook := &signalHook{secret: []byte("signal-webhook-secret-0123")}
	srv := httptest.NewServer(hook)
	defer srv.Close()

	in := newInstance(t)
	cfg, err := os.ReadFile(in.config)
	require.NoError(t, err)
	rules := filepath.Join(in.dir, "alerts.yaml")
	cfg = append(cfg, fmt.Sprintf("alerts: {rules_file: %q, backoff: 200ms}\nsignals: {opt_out: {acme: [\"github:4\"]}}\n", rules)...)
	require.NoError(t, os.WriteFile(in.config, cfg, 0o600))
	require.NoError(t, os.WriteFile(rules, []byte(fmt.Sprintf(`
targets:
  sales: {type: webhook, url: "%s/hook", secret: %q, max_attempts: 5}
rules: []
signals:
  - name: sales-pricing
    description: asks about plans
    community: acme
    keywords: [pricing, SSO, quote]
    targets: [sales]
`, srv.URL, hook.secret)), 0o600))
	in.start()
	defer func() { _ = in.stop(syscall.SIGTERM) }()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	out, errOut, err := in.cli(ctx, "signals", "opt-out", "add", "--community", "acme", "--comment", "asked by mail", "github:3")
	require.NoError(t, err, errOut)
	require.Equal(t, "github:3 opted out of signals in acme: its activities produce no signal from now on (signals recorded before stay)\n", out)
	out, errOut, err = in.cli(ctx, "signals", "opt-out", "list", "--community", "acme", "--json")
	require.NoError(t, err, errOut)
	var listed struct {
		OptOuts []alerts.OptOut `json:"opt_outs"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed.OptOuts, 2)
	require.Equal(t, alerts.OptOut{Community: "acme", Member: "github:4", Config: true}, listed.OptOuts[0])
	require.Equal(t, "github:3", listed.OptOuts[1].Member)
	require.Equal(t, "asked by mail", listed.OptOuts[1].Comment)
	time.Sleep(time.Second) // the processor's watch of the bucket

	at := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05.000Z")
	line := func(id, actor, title, extra string) string {
		return fmt.Sprintf(`{"id":"%s","schema_version":1,"community":"acme","source":"github","type":"github.issue.opened","occurred_at":"%s",`+
			`"actor":{"source":"github","source_id":"%s","username":"user%s"%s},"channel":"acme/widgets","title":%q,"url":"https://github.com/acme/widgets/issues/%s"%s}`,
			id, at, actor, actor, map[bool]string{true: `,"is_bot":true`}[extra == "bot"], title, id,
			map[bool]string{true: `,"attributes":{"teammate":"true"}`}[extra == "teammate"])
	}
	file := filepath.Join(in.dir, "signals.jsonl")
	require.NoError(t, os.WriteFile(file, []byte(strings.Join([]string{
		line("s1", "1", "What does SSO pricing look like?", ""),
		line("s2", "2", "pricing page typo", "teammate"),
		line("s3", "3", "pricing for our team", ""), // opted out through the command line
		line("s4", "4", "quote please", ""),         // opted out in the config
		line("s5", "5", "pricing bump", "bot"),
		line("s6", "6", "lasso pricings", ""),
	}, "\n")+"\n"), 0o600))
	out, errOut, err = in.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", "--wait", file)
	require.NoError(t, err, "ingest: %s\n%s", out, errOut)
	require.Contains(t, out, "published 6")

	require.Eventually(t, func() bool { return len(hook.signals()) > 0 }, 90*time.Second, 100*time.Millisecond,
		"no signal delivered; run log:\n%s", in.runLog.String())
	time.Sleep(2 * time.Second) // any other would have come by now
	got := hook.signals()
	require.Len(t, got, 1, "only the member who asked; not the teammate, the bot or those who opted out")
	s := got[0]
	require.Equal(t, "sales-pricing", s.Rule)
	require.Equal(t, "s1", s.Activity.EventID)
	require.Equal(t, "github:1", s.Member.ID)
	require.Equal(t, uint8(3), s.Member.Level, "an issue (weight 5) puts a new member at Participating II")
	require.Equal(t, "Participating II", s.Member.LevelName)
	require.Equal(t, []string{"pricing", "SSO"}, s.Keywords)
	require.Equal(t, []string{`title has ["pricing", "SSO"]`, "not a teammate or a bot, and not opted out of signals"}, s.Reasons)
	hook.mu.Lock()
	require.Empty(t, hook.bad)
	hook.mu.Unlock()

	out, errOut, err = in.cli(ctx, "signals", "list", "--community", "acme")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "sales-pricing  user1 (github:1, Participating II)")
	require.Contains(t, out, `github github.issue.opened: "What does SSO pricing look like?"`)
	require.Contains(t, out, `- title has ["pricing", "SSO"]`)
	require.Equal(t, 1, strings.Count(out, "sales-pricing"))

	out, errOut, err = in.cli(ctx, "signals", "test", "sales-pricing", "--days", "2")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "signal rule sales-pricing (acme): 3 of 6 activities of the last 2 days would fire")

	out, errOut, err = in.cli(ctx, "signals", "opt-out", "remove", "--community", "acme", "github:3")
	require.NoError(t, err, errOut)
	require.Equal(t, "github:3 may produce signals in acme again\n", out)
	_, errOut, err = in.cli(ctx, "signals", "opt-out", "remove", "--community", "acme", "github:4")
	require.Error(t, err)
	require.Contains(t, errOut, "github:4 opted out in the configuration (signals.opt_out.acme); remove it there")
}
