package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/config"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
	alertsp "github.com/orbitflow/orbitflow/services/processors/alerts"
)

func sampleStatus() statusReport {
	ready := &statusReady{Ready: false}
	ready.Checks = append(ready.Checks,
		struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error,omitempty"`
		}{Name: "nats", OK: true},
		struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error,omitempty"`
		}{Name: "clickhouse", Error: "dial tcp 127.0.0.1:8123: connection refused"})
	return statusReport{
		At:     time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Target: "orbitflow run (pid 42, data dir ./data)",
		Ready:  ready,
		Throughput: []sourceRate{
			{Community: "acme", Source: "github", Events1m: 120, Events15m: 900, Rate1m: 2, Rate15m: 1},
			{Community: "acme", Source: "slack", Events1m: 6, Events15m: 45, Rate1m: 0.1, Rate15m: 0.05},
		},
		Streams: []api.StreamStatus{{Name: "ACTIVITIES", Messages: 945, Bytes: 123456, LastSeq: 945}},
		Consumers: []consumerLag{
			{Stream: "ACTIVITIES", Name: "sink-activities", Lag: 0, CaughtUp: true},
			{Stream: "DEADLETTER", Name: "sink-deadletters", Pending: 7, AckPending: 3, Lag: 10},
		},
		Dead: &deadLetterStatus{Total: 12, LastHour: 2, Newest: []deadLetter{
			{ReceivedAt: time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC), Stage: "ingest", Source: "jsonl",
				Reason: "events.jsonl:7: type: want a registered activity type,\n got \"github.nonsense\""},
		}},
		Members: []memberCounts{{Community: "acme", Total: 300, Active30d: 120, Leading: 3, Contributing: 20, Participating: 77, Exploring: 180, OutOfOrbit: 20}},
		Alerts: &alertStatus{Open: 1, Items: []alertsp.Alert{{Rule: "demo-source-silent", Community: "acme", State: "firing",
			Severity: "critical", Summary: "source slack stopped delivering"}}},
		Problems: []string{"clickhouse is not healthy: dial tcp 127.0.0.1:8123: connection refused (see the orbitflow log)"},
	}
}

// columnsAligned reports whether, in the table under header, every row's
// cells start where the header's do.
func columnsAligned(t *testing.T, out, header string, rows int) {
	t.Helper()
	lines := strings.Split(out, "\n")
	at := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), header) {
			at = i
		}
	}
	require.GreaterOrEqual(t, at, 0, "no header %q in\n%s", header, out)
	var starts []int
	h := lines[at]
	for i := 1; i < len(h); i++ {
		if h[i] != ' ' && h[i-1] == ' ' && i > 2 && h[i-2] == ' ' {
			starts = append(starts, i)
		}
	}
	require.NotEmpty(t, starts)
	for _, l := range lines[at+1 : at+1+rows] {
		for _, s := range starts {
			require.Greater(t, len(l), s, "row %q shorter than the header", l)
			require.NotEqual(t, byte(' '), l[s], "row %q: a cell should start at column %d\n%s", l, s, out)
			require.Equal(t, byte(' '), l[s-1], "row %q: column %d\n%s", l, s, out)
		}
	}
}

func TestRenderStatusTables(t *testing.T) {
	var b bytes.Buffer
	renderStatus(&b, sampleStatus(), 120)
	out := b.String()

	require.True(t, strings.HasPrefix(out, "orbitflow status at 2026-03-01 12:00:00 UTC\norbitflow run (pid 42, data dir ./data)\n"), out)
	for _, want := range []string{
		"  nats        ok\n",
		"  clickhouse  DOWN: dial tcp 127.0.0.1:8123: connection refused\n",
		"  ACTIVITIES/sink-activities   0        0            caught up\n",
		"  DEADLETTER/sink-deadletters  7        3            behind by 10\n",
		"  ACTIVITIES  945       123456  945\n",
		"12 in all, 2 in the last hour",
		"type: want a registered activity type, got", // the reason on one line
		"  1 open\n",
		"PROBLEMS\n  - clickhouse is not healthy",
	} {
		require.Contains(t, out, want, out)
	}
	require.NotContains(t, out, "type,\n got", "a reason's line breaks are folded")
	columnsAligned(t, out, "COMMUNITY  SOURCE", 2)
	columnsAligned(t, out, "CONSUMER", 2)
	columnsAligned(t, out, "COMMUNITY  TOTAL", 1)
	require.Contains(t, out, "acme       github  2.0          1.0           900")
}

func TestRenderStatusCutsLongReasonsToTheWidth(t *testing.T) {
	rep := sampleStatus()
	rep.Dead.Newest[0].Reason = strings.Repeat("x", 500)
	var b bytes.Buffer
	renderStatus(&b, rep, 100)
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "xxx") {
			require.LessOrEqual(t, len(l), 100, l)
			require.True(t, strings.HasSuffix(l, "..."), l)
		}
	}
}

func TestRenderStatusWithNothingKnown(t *testing.T) {
	var b bytes.Buffer
	renderStatus(&b, statusReport{At: time.Unix(0, 0).UTC(), Target: "x", Problems: []string{"the API at http://127.0.0.1:8080 does not answer"}}, 0)
	out := b.String()
	require.Equal(t, 5, strings.Count(out, "unknown (see problems)"), out)
	require.Contains(t, out, "nothing written in the last 15 minutes")
	require.Contains(t, out, "PROBLEMS\n  - the API at http://127.0.0.1:8080 does not answer\n")
}

func TestAPIBase(t *testing.T) {
	tests := []struct {
		listen string
		tls    bool
		want   string
	}{
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"0.0.0.0:8080", false, "http://127.0.0.1:8080"},
		{":9000", true, "https://127.0.0.1:9000"},
		{"[::]:8080", false, "http://127.0.0.1:8080"},
		{"api.internal:443", true, "https://api.internal:443"},
	}
	for _, tt := range tests {
		c := api.Config{Listen: tt.listen}
		if tt.tls {
			c.TLS = config.ServerTLS{CertFile: "c.pem", KeyFile: "k.pem"}
		}
		got, why := apiBase(c)
		require.Empty(t, why)
		require.Equal(t, tt.want, got, tt.listen)
	}
	got, why := apiBase(api.Config{})
	require.Empty(t, got)
	require.Contains(t, why, "api.listen is empty")
	require.Contains(t, why, "--api URL")
}

func TestStatusSaysToStartOrbitflowWhenNothingRuns(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.DataDir = t.TempDir()
	_, err := newStatusSource(context.Background(), cfg, "", "")
	require.Error(t, err)
	require.Contains(t, err.Error(), "orbitflow is not running on data dir "+cfg.DataDir)
	require.Contains(t, err.Error(), "start it with `orbitflow run`")
}

func TestStatusFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	err := cmdStatus(context.Background(), []string{"--watch", "10ms"}, &out, &errOut)
	require.ErrorAs(t, err, new(usageError))
	require.Contains(t, err.Error(), "--watch: want an interval of at least 200ms")
	err = cmdStatus(context.Background(), []string{"extra"}, &out, &errOut)
	require.ErrorAs(t, err, new(usageError))
	require.Contains(t, err.Error(), "status takes no arguments")
}

func TestConfiguredReadKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(file, []byte("read-token-0123456789\n"), 0o600))
	require.Equal(t, "", configuredReadKey(api.Config{APIKeys: []string{"sha256:" + strings.Repeat("ab", 32)}}), "a hash cannot be sent")
	require.Equal(t, "plain-key-0123456789", configuredReadKey(api.Config{APIKeys: []string{"sha256:" + strings.Repeat("ab", 32), "plain-key-0123456789"}}))
	require.Equal(t, "read-token-0123456789", configuredReadKey(api.Config{Tokens: []api.Token{
		{Key: "admin-only-0123456789", Scopes: []string{api.ScopeAdmin}},
		{Key: "file:" + file, Scopes: []string{api.ScopeRead}},
	}}), "a read token, read from its file")
}
