package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestMetricsNeedAReadToken: /metrics serves the meter provider's
// instruments to a scrape that presents a token with the read scope.
func TestMetricsNeedAReadToken(t *testing.T) {
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	defer m.Shutdown(context.Background())
	set := telemetry.Nop()
	set.MeterProvider, set.MetricsHandler = m.Provider(), m.Handler()
	c, err := m.Provider().Meter("test").Int64Counter("orbitflow.test.events")
	require.NoError(t, err)
	c.Add(context.Background(), 7)
	srv := httptest.NewServer(api.New(api.Config{Tokens: []api.Token{{Key: "reader-key", Scopes: []string{api.ScopeRead}},
		{Key: "ingest-key", Scopes: []string{api.ScopeIngest}}}}, api.Deps{}, set).Handler())
	defer srv.Close()
	get := func(key string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("reader-key")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "orbitflow_test_events_total 7")
	code, _ = get("")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = get("ingest-key")
	require.Equal(t, http.StatusForbidden, code)

	// Without a metrics handler there is no such route.
	plain := httptest.NewServer(api.New(api.Config{APIKeys: []string{"k"}}, api.Deps{}, telemetry.Nop()).Handler())
	defer plain.Close()
	req, _ := http.NewRequest("GET", plain.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
