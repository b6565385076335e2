package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
	"github.com/orbitflow/orbitflow/services/connectors/generic"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/config"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestGatewayServesHTTPSWhenConfigured(t *testing.T) {
	b := kittest.Bus(t)
	certFile, keyFile := kittest.SelfSignedCert(t, t.TempDir())
	cfg := gateway.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.TLS = config.ServerTLS{CertFile: certFile, KeyFile: keyFile}
	cfg.Hooks = []gateway.HookConfig{{Source: generic.Source, Community: "acme", Secrets: []string{key}}}
	require.NoError(t, cfg.Validate("gateway", []string{generic.Source}))
	g := gateway.New(cfg, gateway.Deps{JS: b.JetStream(), Registry: events.DefaultRegistry(),
		Webhooks: map[string]source.Webhook{generic.Source: generic.Webhook{}}}, telemetry.Nop())
	require.NoError(t, g.Start(context.Background()))
	defer g.Shutdown(context.Background())

	pem, err := os.ReadFile(certFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequest(http.MethodPost, "https://"+g.Addr()+cfg.Hooks[0].URLPath(), nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "over HTTPS the gateway answers (here: no key)")

	plain, err := http.Post("http://"+g.Addr()+cfg.Hooks[0].URLPath(), "application/json", nil)
	require.NoError(t, err)
	plain.Body.Close()
	require.Equal(t, http.StatusBadRequest, plain.StatusCode, "plain HTTP to the TLS port is refused")
}
