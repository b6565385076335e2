package chhttp_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store/chhttp"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func newPasswordServer(t *testing.T) string {
	t.Helper()
	s := chhttp.New(kittest.Engine(t), chhttp.Config{Addr: "127.0.0.1:0", User: "analyst", Password: "s3cret-pass"}, telemetry.Nop().Logger)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s.Addr()
}
