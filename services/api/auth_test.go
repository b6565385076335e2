package api_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/config"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

const (
	readToken  = "read-only-token-0123456789"
	adminToken = "admin-token-0123456789abc"
)

// scopedServer serves the API with a read token, an admin token (given
// as its SHA-256) and a rate limit, in front of an evaluator that
// answers everything.
func scopedServer(t *testing.T, rate float64) *httptest.Server {
	t.Helper()
	b := kittest.Bus(t)
	sub, err := b.Conn().Subscribe(subjects.AlertControl, func(m *nats.Msg) {
		data, _ := json.Marshal(alerts.ControlReply{Status: http.StatusOK, Body: json.RawMessage(`{}`)})
		_ = m.Respond(data)
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	cfg := api.Config{RateLimit: rate, Tokens: []api.Token{
		{Key: readToken, Scopes: []string{api.ScopeRead}},
		{Key: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(adminToken))), Scopes: []string{api.ScopeRead, api.ScopeAdmin}},
	}}
	require.NoError(t, cfg.Validate("api"))
	ts := httptest.NewServer(api.New(cfg, api.Deps{JS: b.JetStream()}, telemetry.Nop()).Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestTokensHoldScopes(t *testing.T) {
	ts := scopedServer(t, 0)
	rule := `{"community":"c","metric":"activities","window":"1h","detector":{"type":"seasonal"}}`
	for _, c := range []struct {
		method, path, body string
		read, admin        int
	}{
		{"GET", "/api/v1/alerts", "", 200, 200},
		{"GET", "/api/v1/alerts/rules", "", 200, 200},
		{"POST", "/api/v1/alerts/rules/r/test", "", 200, 200},
		{"PUT", "/api/v1/alerts/rules/r", rule, 403, 200},
		{"DELETE", "/api/v1/alerts/rules/r", "", 403, 200},
		{"POST", "/api/v1/alerts/a-1/ack", "", 403, 200},
		{"DELETE", "/api/v1/alerts/silences/s-1", "", 403, 200},
	} {
		code, body := do(t, ts, c.method, c.path, readToken, c.body)
		require.Equal(t, c.read, code, "read token: %s %s: %s", c.method, c.path, body)
		if code == 403 {
			require.Contains(t, body, "lacks the admin scope")
		}
		code, body = do(t, ts, c.method, c.path, adminToken, c.body)
		require.Equal(t, c.admin, code, "admin token: %s %s: %s", c.method, c.path, body)
	}
	code, _ := do(t, ts, "GET", "/api/v1/alerts", "sha256:"+fmt.Sprintf("%x", sha256.Sum256([]byte(adminToken))), "")
	require.Equal(t, 401, code, "the configured hash is not itself a token")
}

func TestRateLimitPerToken(t *testing.T) {
	ts := scopedServer(t, 2) // 2 per second, bursts of 4
	codes := map[int]int{}
	for range 8 {
		code, _ := do(t, ts, "GET", "/api/v1/alerts", readToken, "")
		codes[code]++
	}
	require.GreaterOrEqual(t, codes[200], 4)
	require.Greater(t, codes[429], 0, "over the burst: 429")
	// The other token has its own budget.
	code, _ := do(t, ts, "GET", "/api/v1/alerts", adminToken, "")
	require.Equal(t, 200, code)

	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/alerts", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	if resp.StatusCode == 429 {
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	}
}

func TestTokenConfigIsValidated(t *testing.T) {
	cfg := api.Config{RateLimit: -1, Tokens: []api.Token{{Key: "short", Scopes: []string{"write"}}, {Key: readToken}}}
	err := cfg.Validate("api")
	for _, want := range []string{"api.tokens[0].key: must be at least 16 characters", `api.tokens[0].scopes[0]: want one of read, admin, ingest, got "write"`,
		"api.tokens[1].scopes: want at least one", "api.rate_limit: must not be negative"} {
		require.ErrorContains(t, err, want)
	}
}

func TestAPIServesHTTPSWhenConfigured(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := kittest.SelfSignedCert(t, dir)
	b := kittest.Bus(t)
	cfg := api.Config{Listen: "127.0.0.1:0", APIKeys: []string{readToken}, TLS: config.ServerTLS{CertFile: certFile, KeyFile: keyFile}}
	require.NoError(t, cfg.Validate("api"))
	srv := api.New(cfg, api.Deps{JS: b.JetStream()}, telemetry.Nop())
	require.NoError(t, srv.Start(context.Background()))
	defer srv.Shutdown(context.Background())

	pem, err := os.ReadFile(certFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + srv.Addr() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	plain, err := http.Get("http://" + srv.Addr() + "/healthz")
	require.NoError(t, err)
	plain.Body.Close()
	require.Equal(t, http.StatusBadRequest, plain.StatusCode, "plain HTTP to the TLS port is refused")

	bad := api.Config{TLS: config.ServerTLS{CertFile: filepath.Join(dir, "nope.pem")}}
	require.ErrorContains(t, bad.Validate("api"), "api.tls: want cert_file and key_file")
}
