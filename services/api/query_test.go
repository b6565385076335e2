package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// queryServer serves the query API over a small community "fx": github:1
// opens an issue that github:2 answers after two hours; github:3 (also
// slack:U3) is active on both sources; a bot answers too and is ignored.
func queryServer(t *testing.T) (*httptest.Server, driver.Conn) {
	t.Helper()
	b := kittest.Bus(t)
	ch := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	loadTypes(t, ch)
	acts, err := ch.PrepareBatch(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
		thread_id, channel, weight, is_bot, received_at)`)
	require.NoError(t, err)
	for _, a := range []struct {
		id, identity, source, typ, at, thread, channel string
		weight                                         float32
		bot                                            bool
	}{
		{"e1", "github:1", "github", "github.issue.opened", "2026-03-02 10:00:00", "T1", "repo", 5, false},
		{"e2", "github:9", "github", "github.issue.commented", "2026-03-02 10:30:00", "T1", "repo", 4, true},
		{"e3", "github:2", "github", "github.issue.commented", "2026-03-02 12:00:00", "T1", "repo", 4, false},
		{"e4", "slack:U3", "slack", "slack.message.posted", "2026-03-02 13:00:00", "", "general", 3, false},
		{"e5", "github:3", "github", "github.pull_request.opened", "2026-03-03 09:00:00", "", "repo", 8, false},
	} {
		at, err := time.Parse(time.DateTime, a.at)
		require.NoError(t, err)
		require.NoError(t, acts.Append(a.id, "fx", a.source, a.typ, at, a.identity, a.identity, a.thread, a.channel, a.weight, a.bot, at))
	}
	require.NoError(t, acts.Send())
	require.NoError(t, ch.Exec(ctx, `INSERT INTO member_identities (community, identity, member_id, source, username, stream_seq) VALUES
		('fx', 'github:1', 'github:1', 'github', 'one', 1), ('fx', 'github:2', 'github:2', 'github', 'two', 1),
		('fx', 'github:3', 'github:3', 'github', 'three', 1), ('fx', 'slack:U3', 'github:3', 'slack', 'three', 1),
		('fx', 'github:9', 'github:9', 'github', 'bot', 1)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO members_raw (community, member_id, display_name, love, love_at, love_factor, love_period_ms,
		orbit_level, orbit_step, reach, reach_at, reach_factor, reach_period_ms, roles, is_bot, stream_seq) VALUES
		('fx', 'github:1', 'One', 9, now64(3), 0.9, 2592000000, 3, 5, 10, now64(3), 0.9, 2592000000, ['advocate'], false, 1),
		('fx', 'github:2', 'Two', 4, now64(3), 0.9, 2592000000, 3, 4, 10, now64(3), 0.9, 2592000000, [], false, 1),
		('fx', 'github:3', 'Three', 11, now64(3), 0.9, 2592000000, 2, 8, 0, now64(3), 0.9, 2592000000, ['code-contributor'], false, 1),
		('fx', 'github:9', 'Bot', 0, now64(3), 0.9, 2592000000, 0, 0, 0, now64(3), 0.9, 2592000000, [], true, 1)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO member_edges_raw (community, member_a, member_b, direct_interactions, strength, strength_at,
		reach_factor, reach_period_ms, stream_seq) VALUES ('fx', 'github:1', 'github:2', 1, 10, now64(3), 0.9, 2592000000, 1)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO role_changes (community, member_id, role, changed_at, change, reason, stream_seq) VALUES
		('fx', 'github:1', 'advocate', '2026-03-02 10:00:00', 'gained', 'rule advocate: Participating; reach in the top 10%', 1)`))
	require.NoError(t, store.Settle(ctx, ch, telemetry.Nop().Logger))
	s := api.New(api.Config{APIKeys: []string{key}}, api.Deps{JS: b.JetStream(), CH: ch}, telemetry.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, ch
}

func getJSON(t *testing.T, ts *httptest.Server, path string) (int, map[string]any) {
	t.Helper()
	resp, body := get(t, ts.URL+path, key)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return resp.StatusCode, v
}

func TestQueryAPIHealth(t *testing.T) {
	ts, _ := queryServer(t)
	code, v := getJSON(t, ts, "/api/v1/communities/fx/health?from=2026-03-02&to=2026-03-08&period=week")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, []any{map[string]any{"period_start": "2026-03-02", "active_members": float64(3), "activities": float64(4),
		"contributors": float64(3), "contributions": float64(4), "new_members": float64(3), "new_contributors": float64(3)}}, v["rows"])
	require.Equal(t, "week", v["period"])

	code, v = getJSON(t, ts, "/api/v1/communities/fx/health?from=2026-03-02&to=2026-03-08&period=week&segment=source")
	require.Equal(t, http.StatusOK, code, v)
	require.Len(t, v["rows"], 2, "github and slack")
	// Asked for, the bot (github:9, one comment) counts.
	code, v = getJSON(t, ts, "/api/v1/communities/fx/health?from=2026-03-02&to=2026-03-08&period=week&include=bots")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, []any{map[string]any{"period_start": "2026-03-02", "active_members": float64(4), "activities": float64(5),
		"contributors": float64(4), "contributions": float64(5), "new_members": float64(4), "new_contributors": float64(4)}}, v["rows"])
	require.Equal(t, "bots", v["include"])
	code, v = getJSON(t, ts, "/api/v1/communities/fx/health?from=2026-03-02&to=2026-03-08&period=week&include=teammates,bots&segment=source")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, map[string]any{"period_start": "2026-03-02", "segment": "github", "active_members": float64(4), "volume": float64(4),
		"contributors": float64(4), "contributions": float64(4)}, v["rows"].([]any)[0])
	code, v = getJSON(t, ts, "/api/v1/communities/fx/health?from=2026-03-02&to=2026-03-08&include=robots")
	require.Equal(t, http.StatusBadRequest, code, v)
	require.Contains(t, v["error"], "parameter include")
	code, v = getJSON(t, ts, "/api/v1/communities/fx/metrics/retention?from=2026-03-02&to=2026-03-08&include=bots")
	require.Equal(t, http.StatusBadRequest, code, v)
	require.Contains(t, v["error"], "only health and health_by")

	code, v = getJSON(t, ts, "/api/v1/communities/fx/health?from=2026-03-02&to=2026-03-08&period=week&segment=tag")
	require.Equal(t, http.StatusOK, code, v)
	require.Empty(t, v["rows"], "no activity has tags")

	code, v = getJSON(t, ts, "/api/v1/communities/fx/metrics/time_to_first_response?from=2026-03-01&to=2026-03-31&period=month&slo_hours=3")
	require.Equal(t, http.StatusOK, code, v)
	row := v["rows"].([]any)[0].(map[string]any)
	require.Equal(t, float64(7200), row["median_seconds"])
	require.Equal(t, float64(1), row["within_slo"])
	require.Equal(t, "3", v["slo_hours"])

	code, v = getJSON(t, ts, "/api/v1/communities/fx/metrics/contributor_absence?from=2026-03-01&to=2026-03-31&period=month")
	require.Equal(t, http.StatusOK, code, v)
	// Contributions: github:3 two (slack and a pull request), github:1 and github:2 one each.
	require.Equal(t, map[string]any{"period_start": "2026-03-01", "absence_factor": float64(1), "contributions": float64(4), "contributors": float64(3)},
		v["rows"].([]any)[0])

	code, v = getJSON(t, ts, "/api/v1/communities/fx/metrics/levels")
	require.Equal(t, http.StatusOK, code, v)
	require.Len(t, v["rows"], 2, "levels 2 and 3; the bot left out")

	code, v = getJSON(t, ts, "/api/v1/communities/fx/metrics/network")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, float64(1), v["rows"].([]any)[0].(map[string]any)["edges"])

	code, v = getJSON(t, ts, "/api/v1/communities/fx/metrics/nonsense")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, v["error"], `no metric "nonsense"`)
}

func TestQueryAPIMembersAndGraph(t *testing.T) {
	ts, _ := queryServer(t)
	// Pages of one, by love: github:3, github:1, github:2 (the bot left out).
	var got []string
	cursor := ""
	for range 5 {
		code, v := getJSON(t, ts, "/api/v1/communities/fx/members?sort=love&limit=1"+cursor)
		require.Equal(t, http.StatusOK, code, v)
		for _, m := range v["members"].([]any) {
			got = append(got, m.(map[string]any)["member_id"].(string))
		}
		next, ok := v["next_cursor"].(string)
		if !ok {
			break
		}
		cursor = "&cursor=" + url.QueryEscape(next)
	}
	require.Equal(t, []string{"github:3", "github:1", "github:2"}, got)

	code, v := getJSON(t, ts, "/api/v1/communities/fx/members?role=advocate")
	require.Equal(t, http.StatusOK, code, v)
	require.Len(t, v["members"], 1)
	code, v = getJSON(t, ts, "/api/v1/communities/fx/members?level=3&sort=reach")
	require.Equal(t, http.StatusOK, code, v)
	require.Len(t, v["members"], 2)

	code, v = getJSON(t, ts, "/api/v1/communities/fx/members/github:3")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, "Three", v["member"].(map[string]any)["display_name"])
	require.Len(t, v["identities"], 2, "github:3 and slack:U3")
	require.Len(t, v["love_by_source"], 2, "love from both identities' sources")
	code, v = getJSON(t, ts, "/api/v1/communities/fx/members/github:1")
	require.Equal(t, http.StatusOK, code, v)
	require.Contains(t, v["roles"].([]any)[0].(map[string]any)["reason"], "rule advocate")
	require.Len(t, v["connections"], 1)
	code, v = getJSON(t, ts, "/api/v1/communities/fx/members/github:404")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, v["error"], `no member "github:404"`)

	code, v = getJSON(t, ts, "/api/v1/communities/fx/graph?min_strength=5")
	require.Equal(t, http.StatusOK, code, v)
	require.Len(t, v["edges"], 1)
	require.Len(t, v["nodes"], 2)
	require.Nil(t, v["nodes"].([]any)[0].(map[string]any)["pocket"], "no weekly graph yet: null, not pocket 0")
}

// Bad parameters get a 400 naming the parameter; hostile ones never reach
// SQL as SQL; everything needs the key.
func TestQueryAPIRejectsBadAndHostileInput(t *testing.T) {
	ts, ch := queryServer(t)
	for path, want := range map[string]string{
		"/api/v1/communities/fx/health?period=year":                                                "parameter period: want one of day, week, month",
		"/api/v1/communities/fx/health?from=2026-13-01":                                            "parameter from: want a date YYYY-MM-DD",
		"/api/v1/communities/fx/health?from=2026-03-10&to=2026-03-01":                              "parameter from: want a date not after to",
		"/api/v1/communities/fx/health?from=2000-01-01&to=2026-03-01":                              "at most 3660 days",
		"/api/v1/communities/fx/health?segment=region":                                             "parameter segment: want one of source, channel, type, tag, level",
		"/api/v1/communities/fx/members?limit=0":                                                   "parameter limit: want an integer 1..1000",
		"/api/v1/communities/fx/members?sort=" + url.QueryEscape("love DESC, (SELECT 1)"):          "parameter sort",
		"/api/v1/communities/fx/members?cursor=nope":                                               "parameter cursor",
		"/api/v1/communities/fx/graph?min_strength=-1":                                             "parameter min_strength",
		"/api/v1/communities/fx/metrics/time_to_first_response?slo_hours=abc":                      "parameter slo_hours",
		"/api/v1/communities/fx/members?role=" + url.QueryEscape("x') OR 1=1 --"):                  "parameter role",
		"/api/v1/communities/" + url.PathEscape("fx' OR '1'='1") + "/health":                       "parameter community",
		"/api/v1/communities/fx/members/" + url.PathEscape("github:1' OR member_id != '") + "?x=1": "",
	} {
		resp, body := get(t, ts.URL+path, key)
		if want == "" {
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", path, body)
			continue
		}
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", path, body)
		require.Contains(t, body, want, path)
	}
	// A quote in a parameter is data, not SQL: the member id above found
	// nothing, and the table is whole.
	var n uint64
	require.NoError(t, ch.QueryRow(context.Background(), "SELECT count() FROM members_raw").Scan(&n))
	require.EqualValues(t, 4, n)

	for _, bearer := range []string{"", "wrong-key-0123456789"} {
		resp, _ := get(t, ts.URL+"/api/v1/communities/fx/health", bearer)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
}

// The OpenAPI document is served without a key, is valid JSON, and
// documents every route and every metric.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	ts, _ := queryServer(t)
	resp, body := get(t, ts.URL+"/api/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				Schema struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	for _, p := range api.Routes() {
		require.Contains(t, doc.Paths, p, "openapi.json documents %s", p)
	}
	var names []string
	for _, prm := range doc.Paths["/api/v1/communities/{community}/metrics/{name}"]["get"].Parameters {
		if prm.Name == "name" {
			names = prm.Schema.Enum
		}
	}
	require.ElementsMatch(t, api.MetricNames(), names, "every metric is in the document")
	require.True(t, strings.HasPrefix(body, "{"))
}
