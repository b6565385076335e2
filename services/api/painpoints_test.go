package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// painServer serves community "pp": in the week of 2026-03-09 three
// forum topics on SSO login (answered after 1 h and 3 h, one unanswered)
// and a ticket on billing; in the week before one SSO topic.
func painServer(t *testing.T) *httptest.Server {
	t.Helper()
	b := kittest.Bus(t)
	ch := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	loadTypes(t, ch)
	batch, err := ch.PrepareBatch(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
		thread_id, channel, weight, is_bot, received_at, title, url)`)
	require.NoError(t, err)
	for _, a := range []struct{ id, identity, source, typ, at, thread, title string }{
		{"t1", "discourse:1", "discourse", "discourse.topic.created", "2026-03-09 10:00:00", "T1", "SSO login loops"},
		{"t1r", "discourse:2", "discourse", "discourse.post.created", "2026-03-09 11:00:00", "T1", "SSO login loops"},
		{"t2", "discourse:3", "discourse", "discourse.topic.created", "2026-03-10 10:00:00", "T2", "Cannot SSO login with Okta"},
		{"t2r", "discourse:2", "discourse", "discourse.post.created", "2026-03-10 13:00:00", "T2", "Cannot SSO login with Okta"},
		{"t3", "discourse:4", "discourse", "discourse.topic.created", "2026-03-11 10:00:00", "T3", "SSO login after upgrade?"},
		{"t4", "support:c1", "support", "support.ticket.opened", "2026-03-12 10:00:00", "T4", "Billing address"},
		{"p1", "discourse:1", "discourse", "discourse.topic.created", "2026-03-04 10:00:00", "P1", "SSO login"},
	} {
		at, err := time.Parse(time.DateTime, a.at)
		require.NoError(t, err)
		require.NoError(t, batch.Append(a.id, "pp", a.source, a.typ, at, a.identity, a.identity, a.thread, "c", float32(1), false, at,
			a.title, "https://forum.example/"+a.thread))
	}
	require.NoError(t, batch.Send())
	require.NoError(t, store.Settle(ctx, ch, telemetry.Nop().Logger))
	s := api.New(api.Config{APIKeys: []string{key}}, api.Deps{JS: b.JetStream(), CH: ch}, telemetry.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestPainPointsAPI(t *testing.T) {
	ts := painServer(t)
	resp, body := get(t, ts.URL+"/api/v1/communities/pp/pain-points?from=2026-03-09&to=2026-03-15", key)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.JSONEq(t, `{"community":"pp","from":"2026-03-09","to":"2026-03-15","previous_from":"2026-03-02","previous_to":"2026-03-08",
		"questions":4,"previous_questions":1,"unanswered":2,"unanswered_share":0.5,"median_response_seconds":7200,
		"topics":[{"key":"sso login","label":"sso login","items":3,"previous_items":1,"growth":2,"growth_ratio":2,"new":false,
			"unanswered":1,"unanswered_share":0.3333333333333333,"median_response_seconds":7200,"examples":[
			{"id":"T3","type":"discourse.topic.created","url":"https://forum.example/T3","title":"SSO login after upgrade?","opened_at":"2026-03-11T10:00:00Z","answered":false},
			{"id":"T2","type":"discourse.topic.created","url":"https://forum.example/T2","title":"Cannot SSO login with Okta","opened_at":"2026-03-10T10:00:00Z","answered":true},
			{"id":"T1","type":"discourse.topic.created","url":"https://forum.example/T1","title":"SSO login loops","opened_at":"2026-03-09T10:00:00Z","answered":true}]}]}`, body)

	// min_items=1 lists the one-offs too; limit cuts the list
	_, v := getJSON(t, ts, "/api/v1/communities/pp/pain-points?from=2026-03-09&to=2026-03-15&min_items=1&limit=3")
	keys := []string{}
	for _, tp := range v["topics"].([]any) {
		keys = append(keys, tp.(map[string]any)["key"].(string))
	}
	require.Equal(t, []string{"sso login", "bill address", "login loop"}, keys)

	// the default period is the last full week: nothing there
	code, v := getJSON(t, ts, "/api/v1/communities/pp/pain-points")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, float64(0), v["questions"])
	require.Equal(t, []any{}, v["topics"])

	for q, field := range map[string]string{
		"?from=2026-03-09":                       "to",
		"?from=%27%3B+DROP+TABLE+activities+--":  "from",
		"?to=%27%3B+DROP+TABLE+activities+--":    "to",
		"?to=2026-03-09":                         "from",
		"?from=2026-03-10&to=2026-03-09":         "from",
		"?from=2025-01-01&to=2026-03-09":         "from",
		"?from=2026-3-9&to=2026-03-09":           "from",
		"?from=2026-03-09&to=tomorrow":           "to",
		"?limit=0":                               "limit",
		"?limit=201":                             "limit",
		"?min_items=x":                           "min_items",
		"?from=2026-03-09&to=2026-03-15&limit=-": "limit",
	} {
		code, v := getJSON(t, ts, "/api/v1/communities/pp/pain-points"+q)
		require.Equal(t, http.StatusBadRequest, code, q)
		require.Equal(t, field, v["field"], q)
	}
	code, v = getJSON(t, ts, "/api/v1/communities/PP!/pain-points")
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "community", v["field"])
	resp, _ = get(t, ts.URL+"/api/v1/communities/pp/pain-points", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
