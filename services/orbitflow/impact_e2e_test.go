package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

// On the demo community: a signal rule delivers signed signals with their
// evidence to a local webhook as the live feed talks, and the weekly report
// renders every section and goes out by e-mail.
func TestWeeklyReportAndSignalsOnTheDemo(t *testing.T) {
	hook := &signalHook{secret: []byte("demo-signal-secret")}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	smtp := kittest.NewSMTPServer(t, nil)

	in := newInstance(t)
	in.runArgs = []string{"--demo", "--demo-sources", "none"}
	require.NoError(t, os.MkdirAll(filepath.Join(in.dir, "data"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(in.dir, "data", "alerts.yaml"), fmt.Appendf(nil, `external_url: http://%s
targets:
  sales: {type: webhook, url: "%s/hook", secret: "demo-signal-secret"}
  team: {type: email, smtp: %q, tls: none, from: orbitflow@demo.example, to: [community-team@demo.example]}
rules: []
signals:
  - name: demo-sales
    description: someone asks about plans, SSO, a quote or cancelling
    community: demo
    keywords: [pricing, enterprise, SSO, quote, business plan, cancel]
    targets: [sales]
`, in.apiAddr, srv.URL, smtp.Addr()), 0o600))
	in.start()
	waitFor(t, 4*time.Minute, "the demo community ingested", func() bool {
		_, err := os.Stat(filepath.Join(in.dir, "data", demoMarker))
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// History over a day old is recorded, not delivered; the live feed
	// (the last hour of demo activity, as if it just came in) is.
	liveCtx, stopLive := context.WithTimeout(ctx, 90*time.Second)
	defer stopLive()
	live := make(chan error, 1)
	go func() {
		_, _, err := in.cli(liveCtx, "demo", "live", "--per-hour", "4000", "--since", "1h")
		live <- err
	}()
	var s alerts.Signal
	waitFor(t, 90*time.Second, "a live activity's signal delivered to the local webhook", func() bool {
		for _, x := range hook.signals() {
			if time.Since(x.Activity.OccurredAt) < 2*time.Hour {
				s = x
				return true
			}
		}
		return false
	})
	stopLive()
	<-live
	hook.mu.Lock()
	require.Empty(t, hook.bad, "every delivery verifies")
	hook.mu.Unlock()
	for _, x := range hook.signals() {
		require.Less(t, time.Since(x.Activity.OccurredAt), 25*time.Hour, "%s: history over a day old is not delivered", x.ID)
	}
	require.Equal(t, "signal", s.Kind)
	require.Equal(t, "demo-sales", s.Rule)
	require.Equal(t, "demo", s.Community)
	require.NotEmpty(t, s.Keywords)
	for _, k := range s.Keywords {
		require.Contains(t, strings.ToLower(s.Activity.Title), strings.ToLower(k), "the keyword is in the title")
	}
	require.NotEmpty(t, s.Reasons, "every signal shows why it fired")
	require.NotEmpty(t, s.Member.ID)

	// The weekly report of the demo's last full week, as the page.
	page := filepath.Join(in.dir, "report.html")
	_, errOut, err := in.cli(ctx, "report", "--community", "demo", "--format", "html", "--out", page)
	require.NoError(t, err, errOut)
	html, err := os.ReadFile(page)
	require.NoError(t, err)
	for _, want := range []string{`id="story"`, `id="health"`, `id="response"`, `id="gravity"`, `id="top"`, `id="structure"`,
		`id="pain-points"`, `id="signals"`, `id="accounts"`, "Active members"} {
		require.Contains(t, string(html), want)
	}
	// The numbers: the JSON equals what ClickHouse says.
	out, errOut, err := in.cli(ctx, "report", "--community", "demo", "--format", "json")
	require.NoError(t, err, errOut)
	var r struct {
		WeekStart time.Time `json:"week_start"`
		Story     []string  `json:"story"`
		Health    []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"health"`
		Structure *struct {
			Measures struct{ Members int } `json:"measures"`
		} `json:"structure"`
		PainPoints *struct {
			Questions int `json:"questions"`
		} `json:"pain_points"`
		SignalsTotal int `json:"signals_total"`
		Accounts     *struct {
			Week []struct {
				Dimension      string `json:"dimension"`
				Accounts       int    `json:"accounts"`
				ActiveAccounts int    `json:"active_accounts"`
			} `json:"week"`
		} `json:"accounts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	week := r.WeekStart.Format(time.DateOnly)
	require.Equal(t, in.sqlValue(fmt.Sprintf(`SELECT active_members FROM community_periods FINAL WHERE community = 'demo'
		AND unit = 'week' AND dimension = '' AND period_start = '%s'`, week)), fmt.Sprint(r.Health[0].Value), "active members")
	require.NotEmpty(t, r.Story)
	require.NotNil(t, r.Structure)
	require.Positive(t, r.Structure.Measures.Members)
	require.NotNil(t, r.PainPoints)
	require.Positive(t, r.PainPoints.Questions)
	require.Positive(t, r.SignalsTotal, "the history's signals of the week are in the report")
	require.NotNil(t, r.Accounts, "run --demo imported the customer accounts")
	require.Equal(t, "", r.Accounts.Week[0].Dimension)
	require.Equal(t, 120, r.Accounts.Week[0].Accounts)
	require.Positive(t, r.Accounts.Week[0].ActiveAccounts)
	t.Logf("the demo's week of %s:\n%s", week, strings.Join(r.Story, "\n"))
	// How long the API takes to build it (logged, not asserted).
	var took []time.Duration
	for range 3 {
		start := time.Now()
		var body map[string]any
		require.NoError(t, apiGet("http://"+in.apiAddr+"/api/v1/communities/demo/report", &body))
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("GET /report on the demo: %v (median of 3: %v)", took, took[1])

	// By e-mail, to the rules file's e-mail target.
	_, errOut, err = in.cli(ctx, "report", "--community", "demo", "--email", "team")
	require.NoError(t, err, errOut)
	require.Contains(t, errOut, "sent the report of demo, week of "+week+", to team (community-team@demo.example)")
	m := <-smtp.Got
	require.Equal(t, []string{"community-team@demo.example"}, m.To)
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(string(m.Data))))
	require.NoError(t, err)
	require.Equal(t, "Orbitflow weekly report: demo, week of "+r.WeekStart.Format("2 Jan 2006"), msg.Header.Get("Subject"))
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for _, typ := range []string{"text/plain", "text/html"} {
		p, err := parts.NextPart()
		require.NoError(t, err)
		require.Contains(t, p.Header.Get("Content-Type"), typ)
		body, err := io.ReadAll(p)
		require.NoError(t, err)
		require.Contains(t, string(body), r.Story[0])
	}
}
