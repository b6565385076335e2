package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// structureServer serves community "st": hub gh:h tied to gh:a, gh:b, gh:c and gh:d
// (strength 10, reach factor 1: no decay), and gh:e without ties; gh:a and gh:b
// had activity naming organization acme.
func structureServer(t *testing.T) *httptest.Server {
	t.Helper()
	ch := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	var members, edges []string
	for _, id := range []string{"a", "b", "c", "d", "e", "h"} {
		members = append(members, fmt.Sprintf("('st', 'gh:%s', '%s', 3, 1, 1, 2592000000)", id, strings.ToUpper(id)))
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		edges = append(edges, fmt.Sprintf("('st', 'gh:%s', 'gh:h', 1, 10, now64(3), 1, 2592000000, 1)", id))
	}
	require.NoError(t, ch.Exec(ctx, `INSERT INTO members_raw (community, member_id, display_name, orbit_level, stream_seq,
		reach_factor, reach_period_ms) VALUES `+strings.Join(members, ", ")))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO member_edges_raw (community, member_a, member_b, direct_interactions, strength,
		strength_at, reach_factor, reach_period_ms, stream_seq) VALUES `+strings.Join(edges, ", ")))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
		channel, weight, is_bot, received_at, attributes) VALUES
		('s1', 'st', 'github', 'x', '2026-11-02 10:00:00', 'gh:a', 'gh:a', 'repo', 1, false, now64(3), map('organization', 'acme')),
		('s2', 'st', 'github', 'x', '2026-11-02 10:00:00', 'gh:b', 'gh:b', 'repo', 1, false, now64(3), map('organization', 'acme'))`))
	require.NoError(t, store.Settle(ctx, ch, telemetry.Nop().Logger))
	s := api.New(api.Config{APIKeys: []string{key}}, api.Deps{CH: ch}, telemetry.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestStructureAPI(t *testing.T) {
	ts := structureServer(t)

	code, v := getJSON(t, ts, "/api/v1/communities/st/structure")
	require.Equal(t, http.StatusOK, code, v)
	m := v["measures"].(map[string]any)
	require.Equal(t, "hub", m["class"])
	require.Equal(t, float64(6), m["members"])
	require.Equal(t, float64(1), m["centralization"])
	require.Equal(t, 4.0/15, m["density"])
	risk := v["bus_risk"].([]any)
	require.Len(t, risk, 3)
	require.Equal(t, float64(1), risk[0].(map[string]any)["pair_share_lost"])
	require.Equal(t, []any{map[string]any{"member_id": "gh:h", "display_name": "H"}}, risk[0].(map[string]any)["removed"])
	require.Equal(t, []any{}, v["trend"])

	code, v = getJSON(t, ts, "/api/v1/communities/st/structure?segment=organization:acme")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, "organization:acme", v["segment"])
	require.Equal(t, "pool", v["measures"].(map[string]any)["class"], "a and b are not tied to each other")

	code, v = getJSON(t, ts, "/api/v1/communities/st/structure/segments?min_members=1")
	require.Equal(t, http.StatusOK, code, v)
	var segs []string
	for _, s := range v["segments"].([]any) {
		s := s.(map[string]any)
		segs = append(segs, fmt.Sprint(s["segment"], " ", s["measures"].(map[string]any)["class"]))
	}
	require.Equal(t, []string{"source:github pool", "channel:repo pool", "organization:acme pool"}, segs)

	code, v = getJSON(t, ts, "/api/v1/communities/st/introductions?member=gh:c&segment=organization:acme")
	require.Equal(t, http.StatusOK, code, v)
	paths := v["paths"].([]any)
	require.Len(t, paths, 2)
	first := paths[0].(map[string]any)
	require.Equal(t, "gh:a", first["target"].(map[string]any)["member_id"])
	require.Equal(t, float64(10), first["strength"])
	require.Equal(t, float64(2), first["hops"])

	code, v = getJSON(t, ts, "/api/v1/communities/st/introductions?member=github:new&segment=organization:acme")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, false, v["known"])
	require.Contains(t, v["note"], "not a member of st yet")

	code, v = getJSON(t, ts, "/api/v1/communities/st/amplifiers?limit=2")
	require.Equal(t, http.StatusOK, code, v)
	amps := v["amplifiers"].([]any)
	require.Len(t, amps, 2)
	require.Equal(t, "gh:h", amps[0].(map[string]any)["member_id"])
	require.Equal(t, float64(40), amps[0].(map[string]any)["reach"])

	code, v = getJSON(t, ts, "/api/v1/communities/st/bridges")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, true, v["exact"])
	require.Equal(t, []any{}, v["pairs"], "one pocket: nothing to bridge")
	require.Len(t, v["pockets"], 1)
}

func TestStructureAPIRejectsBadParameters(t *testing.T) {
	ts := structureServer(t)
	for path, field := range map[string]string{
		"/api/v1/communities/st/structure?segment=team:x":                     "segment",
		"/api/v1/communities/st/structure/segments?limit=0":                   "limit",
		"/api/v1/communities/st/bridges?min_strength=0":                       "min_strength",
		"/api/v1/communities/st/bridges?per_pair=51":                          "per_pair",
		"/api/v1/communities/st/introductions?segment=organization:acme":      "member",
		"/api/v1/communities/st/introductions?member=gh:a":                    "segment",
		"/api/v1/communities/st/introductions?member=a&segment=tag:x":         "member",
		"/api/v1/communities/st/introductions?member=gh:a&segment=org:acme":   "segment",
		"/api/v1/communities/st/amplifiers?segment=organization:acme&limit=x": "limit",
		"/api/v1/communities/ST/amplifiers":                                   "community",
	} {
		code, v := getJSON(t, ts, path)
		require.Equal(t, http.StatusBadRequest, code, path)
		require.Equal(t, field, v["field"], path)
	}
	resp, _ := get(t, ts.URL+"/api/v1/communities/st/structure", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
