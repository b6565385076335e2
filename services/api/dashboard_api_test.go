package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// whoami tells a key its scopes (the dashboard disables alert actions for
// a read-only key) and where it is configured, never the key itself.
func TestWhoamiAnswersTheKeysScopes(t *testing.T) {
	const readKey = "read-only-0123456789abcdef"
	s := api.New(api.Config{APIKeys: []string{key}, Tokens: []api.Token{{Key: readKey, Scopes: []string{api.ScopeRead}}}},
		api.Deps{}, telemetry.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)

	resp, body := get(t, ts.URL+"/api/v1/whoami", key)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.JSONEq(t, `{"key": "api_keys[0]", "scopes": ["read", "admin", "ingest"]}`, body)
	resp, body = get(t, ts.URL+"/api/v1/whoami", readKey)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.JSONEq(t, `{"key": "tokens[0]", "scopes": ["read"]}`, body)
	require.NotContains(t, body, readKey)
	resp, _ = get(t, ts.URL+"/api/v1/whoami", "wrong-key-0123456789abcdef")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestCommunitiesListsThoseWithActivity(t *testing.T) {
	ts, _ := queryServer(t)
	code, v := getJSON(t, ts, "/api/v1/communities")
	require.Equal(t, http.StatusOK, code, v)
	// fx: four activities in March 2026 (the bot's left out).
	require.Equal(t, []any{map[string]any{"community": "fx", "activities": float64(4), "first_month": "2026-03-01",
		"last_month": "2026-03-01"}}, v["communities"])
}

// A member's activity: per period and source over all of its identities
// (github:3 is also slack:U3), and its latest activities, newest first.
func TestMemberActivityOverTime(t *testing.T) {
	ts, _ := queryServer(t)
	code, v := getJSON(t, ts, "/api/v1/communities/fx/members/github:3/activity?from=2026-03-01&to=2026-03-31&period=day")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, []any{
		map[string]any{"period_start": "2026-03-02", "source": "slack", "activities": float64(1)},
		map[string]any{"period_start": "2026-03-03", "source": "github", "activities": float64(1)},
	}, v["series"])
	recent := v["recent"].([]any)
	require.Len(t, recent, 2)
	require.Equal(t, "github.pull_request.opened", recent[0].(map[string]any)["type"])
	require.Equal(t, "2026-03-03T09:00:00Z", recent[0].(map[string]any)["occurred_at"])
	require.Equal(t, "slack.message.posted", recent[1].(map[string]any)["type"])

	code, v = getJSON(t, ts, "/api/v1/communities/fx/members/github:3/activity?from=2026-03-01&to=2026-03-31&period=month&limit=1")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, []any{
		map[string]any{"period_start": "2026-03-01", "source": "github", "activities": float64(1)},
		map[string]any{"period_start": "2026-03-01", "source": "slack", "activities": float64(1)},
	}, v["series"])
	require.Len(t, v["recent"], 1)

	code, v = getJSON(t, ts, "/api/v1/communities/fx/members/github:3/activity?from=2026-04-01&to=2026-04-30")
	require.Equal(t, http.StatusOK, code, v)
	require.Empty(t, v["series"], "nothing in April")
	require.Empty(t, v["recent"])

	for q, field := range map[string]string{"nocolon/activity": "id", "github:3/activity?limit=0": "limit",
		"github:3/activity?period=year": "period", "github:3/activity?from=2026-13-01": "from"} {
		code, v = getJSON(t, ts, "/api/v1/communities/fx/members/"+q)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Equal(t, field, v["field"], q)
	}
}

func TestMemberActivityOfAnUnknownMemberIsNotFound(t *testing.T) {
	ts, _ := queryServer(t)
	code, v := getJSON(t, ts, "/api/v1/communities/fx/members/github:404/activity")
	require.Equal(t, http.StatusNotFound, code, v)
	require.Contains(t, v["error"], `no member "github:404" in "fx"`)
}
