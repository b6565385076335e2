package chhttp_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store/chhttp"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestMain(m *testing.M) { kittest.Main(m) }

// newServer starts another HTTP interface on the shared engine.
func newServer(t testing.TB, cfg chhttp.Config) string {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	require.NoError(t, cfg.Validate())
	s := chhttp.New(kittest.Engine(t), cfg, telemetry.Nop().Logger)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	return s.Addr()
}

func newPasswordServer(t *testing.T) string {
	t.Helper()
	return newServer(t, chhttp.Config{User: "analyst", Password: "s3cret-pass"})
}
