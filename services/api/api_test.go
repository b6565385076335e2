package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const key = "k-0123456789abcdef-test"

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	b := kittest.Bus(t)
	ch := kittest.ClickHouseConn(t)
	s := api.New(api.Config{APIKeys: []string{key}}, api.Deps{JS: b.JetStream(), CH: ch}, telemetry.Nop())
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func get(t testing.TB, url, bearer string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	ts := newServer(t)
	resp, body := get(t, ts.URL+"/healthz", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok\n", body)
	resp, body = get(t, ts.URL+"/readyz", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, `"ready":true`)
}

func TestPipelineNeedsKey(t *testing.T) {
	ts := newServer(t)
	for _, bearer := range []string{"", "wrong-key-0123456789"} {
		resp, body := get(t, ts.URL+"/v1/pipeline", bearer)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, "API key")
	}
	resp, body := get(t, ts.URL+"/v1/pipeline", key)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	var p api.Pipeline
	require.NoError(t, json.Unmarshal([]byte(body), &p))
	require.Len(t, p.Streams, 2)
	require.Equal(t, subjects.ActivityStream, p.Streams[0].Name)
}

func TestServerStartAndShutdown(t *testing.T) {
	s := api.New(api.Config{Listen: "127.0.0.1:0", APIKeys: []string{key}}, api.Deps{}, telemetry.Nop())
	require.NoError(t, s.Shutdown(context.Background()), "safe without start")
	require.NoError(t, s.Start(context.Background()))
	resp, _ := get(t, "http://"+s.Addr()+"/healthz", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, s.Shutdown(context.Background()))
	require.NoError(t, s.Shutdown(context.Background()))
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, api.DefaultConfig().Validate("api"))
	err := api.Config{Listen: "nope", APIKeys: []string{"short"}}.Validate("api")
	require.ErrorContains(t, err, "api.listen")
	require.ErrorContains(t, err, "api.api_keys[0]")
}
