package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const signalReadKey = "k-signals-read-0123456789"

func signalServer(t *testing.T) (*httptest.Server, *api.Server) {
	t.Helper()
	b := kittest.Bus(t)
	ch := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	row := func(id, rule, event, member string, at time.Time, level, step uint8, kw []string) []any {
		return []any{"acme", id, rule, "desc " + rule, event, at, member, member, "name " + member, level, step, []string{"champion"}, "Initech",
			"github", "github.issue.opened", "acme/widgets", "title " + event, "https://x/" + event, kw, []string{"why " + event}, []string{"crm"},
			true, uint64(1), at}
	}
	cols := `community, signal_id, rule, description, event_id, occurred_at, member_id, identity, display_name, orbit_level, orbit_step,
		roles, organization, source, type, channel, title, url, keywords, reasons, targets, delivered, stream_seq, detected_at`
	rows := [][]any{
		row("s1", "sales", "e1", "github:1", day.Add(10*time.Hour), 2, 8, []string{"pricing"}),
		row("s2", "churn", "e2", "github:2", day.Add(24*time.Hour+time.Hour), 3, 5, []string{"cancel"}),
		row("s3", "sales", "e3", "github:3", day.Add(-5*24*time.Hour), 1, 11, []string{"quote"}),
	}
	require.NoError(t, store.Insert(ctx, ch, "signals", cols, rows))
	require.NoError(t, store.Insert(ctx, ch, "signals", cols, rows[:1])) // a replay's copy: FINAL keeps one
	s := api.New(api.Config{APIKeys: []string{key}, Tokens: []api.Token{{Key: signalReadKey, Scopes: []string{api.ScopeRead}}}},
		api.Deps{JS: b.JetStream(), CH: ch, SignalOptOuts: map[string][]string{"acme": {"github:99"}}}, telemetry.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, s
}

func TestSignalsListWithEvidence(t *testing.T) {
	ts, _ := signalServer(t)
	code, body := do(t, ts, "GET", "/api/v1/communities/acme/signals?from=2026-11-15&to=2026-11-21", signalReadKey, "")
	require.Equal(t, http.StatusOK, code, body)
	var got struct {
		From, To string
		Signals  []alerts.Signal
	}
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Equal(t, "2026-11-15", got.From)
	require.Equal(t, "2026-11-21", got.To)
	var ids []string
	for _, s := range got.Signals {
		ids = append(ids, s.ID)
	}
	require.Equal(t, []string{"s2", "s1", "s3"}, ids, "newest first; to is inclusive; one copy of s1")
	s := got.Signals[1]
	require.Equal(t, "sales", s.Rule)
	require.Equal(t, "signal", s.Kind)
	require.Equal(t, alerts.SignalMember{ID: "github:1", Identity: "github:1", DisplayName: "name github:1", Level: 2,
		LevelName: "Contributing II", Step: 8, Roles: []string{"champion"}, Organization: "Initech"}, s.Member)
	require.Equal(t, alerts.SignalActivity{EventID: "e1", Source: "github", Type: "github.issue.opened", Channel: "acme/widgets",
		Title: "title e1", URL: "https://x/e1", OccurredAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}, s.Activity)
	require.Equal(t, []string{"pricing"}, s.Keywords)
	require.Equal(t, []string{"why e1"}, s.Reasons)
	require.Equal(t, "Leading II", got.Signals[2].Member.LevelName)

	code, body = do(t, ts, "GET", "/api/v1/communities/acme/signals?from=2026-11-15&to=2026-11-21&rule=sales&limit=1", signalReadKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Len(t, got.Signals, 1)
	require.Equal(t, "s1", got.Signals[0].ID)

	code, body = do(t, ts, "GET", "/api/v1/communities/acme/signals?from=2026-11-20&to=2026-11-20", signalReadKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.Len(t, got.Signals, 1, "one day: only s1")

	for _, tc := range []struct{ query, want string }{
		{"?rule=Bad!", `{"error":"parameter rule: want a signal rule name (a-z, 0-9, _ and -), got \"Bad!\"","field":"rule"}`},
		{"?limit=0", `"field":"limit"`},
		{"?from=2026-12-01&to=2026-11-01", `"field":"from"`},
		{"?to=yesterday", `"field":"to"`},
	} {
		code, body := do(t, ts, "GET", "/api/v1/communities/acme/signals"+tc.query, signalReadKey, "")
		require.Equal(t, http.StatusBadRequest, code, tc.query)
		require.Contains(t, body, tc.want)
	}
	code, _ = do(t, ts, "GET", "/api/v1/communities/acme/signals", "", "")
	require.Equal(t, http.StatusUnauthorized, code)
}

func TestSignalOptOutsAPI(t *testing.T) {
	ts, _ := signalServer(t)
	base := "/api/v1/communities/acme/signals/opt-outs"
	list := func() []alerts.OptOut {
		code, body := do(t, ts, "GET", base, signalReadKey, "")
		require.Equal(t, http.StatusOK, code, body)
		var got struct {
			OptOuts []alerts.OptOut `json:"opt_outs"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		return got.OptOuts
	}
	require.Equal(t, []alerts.OptOut{{Community: "acme", Member: "github:99", Config: true}}, list())

	code, body := do(t, ts, "PUT", base+"/github:5", signalReadKey, "")
	require.Equal(t, http.StatusForbidden, code, "a read token cannot opt members out: "+body)
	code, body = do(t, ts, "PUT", base+"/github:5", key, `{"comment":"asked by mail"}`)
	require.Equal(t, http.StatusOK, code, body)
	code, body = do(t, ts, "PUT", base+"/github:6", key, "")
	require.Equal(t, http.StatusOK, code, body)
	got := list()
	require.Len(t, got, 3)
	require.Equal(t, []string{"github:5", "github:6", "github:99"}, []string{got[0].Member, got[1].Member, got[2].Member})
	require.Equal(t, "asked by mail", got[0].Comment)
	require.False(t, got[0].At.IsZero())

	code, body = do(t, ts, "PUT", base+"/github:7", key, `{"comment":"x","extra":1}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"field":"body"`)
	code, body = do(t, ts, "PUT", "/api/v1/communities/Acme!/signals/opt-outs/github:7", key, "")
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"field":"community"`)

	code, _ = do(t, ts, "DELETE", base+"/github:5", key, "")
	require.Equal(t, http.StatusNoContent, code)
	code, body = do(t, ts, "DELETE", base+"/github:5", key, "")
	require.Equal(t, http.StatusNotFound, code, body)
	code, body = do(t, ts, "DELETE", base+"/github:99", key, "")
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, "signals.opt_out.acme")
	got = list()
	require.Equal(t, []string{"github:6", "github:99"}, []string{got[0].Member, got[1].Member})
}
