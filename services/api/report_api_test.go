package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The weekly report over the query fixture (community fx, week of
// 2 March 2026): JSON, the HTML page with its own policy, text, and the
// errors.
func TestWeeklyReportAPI(t *testing.T) {
	ts, _ := queryServer(t)
	code, v := getJSON(t, ts, "/api/v1/communities/fx/report?week=2026-03-04")
	require.Equal(t, http.StatusOK, code, v)
	rep := v["report"].(map[string]any)
	require.Equal(t, "2026-03-02T00:00:00Z", rep["week_start"])
	health := rep["health"].([]any)
	require.Equal(t, map[string]any{"name": "active_members", "label": "Active members", "value": float64(3), "previous": float64(0),
		"change": nil}, health[0])
	require.Equal(t, "3 members were active in the week of 2 Mar 2026, none the week before.", rep["story"].([]any)[0])

	resp, page := get(t, ts.URL+"/api/v1/communities/fx/report?week=2026-03-04&format=html", key)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'none'")
	require.NotContains(t, csp, "script-src")
	require.Contains(t, page, "<title>Weekly report: fx, week of Mon 2 Mar 2026</title>")

	resp, text := get(t, ts.URL+"/api/v1/communities/fx/report?week=2026-03-04&format=text", key)
	require.Equal(t, http.StatusOK, resp.StatusCode, text)
	require.True(t, strings.HasPrefix(text, "Weekly report: fx, Mon 2 Mar 2026 – Sun 8 Mar 2026\n"), text)

	code, v = getJSON(t, ts, "/api/v1/communities/fx/report?week=March")
	require.Equal(t, http.StatusBadRequest, code, v)
	require.Equal(t, "week", v["field"])
	code, v = getJSON(t, ts, "/api/v1/communities/fx/report?format=pdf")
	require.Equal(t, http.StatusBadRequest, code, v)
	require.Equal(t, "format", v["field"])
	code, v = getJSON(t, ts, "/api/v1/communities/nobody/report")
	require.Equal(t, http.StatusNotFound, code, v)
	require.Contains(t, v["error"], "has no activity")
	resp, _ = get(t, ts.URL+"/api/v1/communities/fx/report", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
