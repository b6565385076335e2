package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// `streams check` against an external NATS without the streams names the
// admin step; `streams apply` declares them; then `check` passes.
func TestStreamsApplyThenCheck(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second))
	t.Cleanup(srv.Shutdown)
	t.Setenv("ORBITFLOW_NATS_MODE", "external")
	t.Setenv("ORBITFLOW_NATS_EXTERNAL_URLS", srv.ClientURL())
	dir := []string{"--data-dir", t.TempDir()}

	var out, errOut bytes.Buffer
	require.NotZero(t, run(append([]string{"streams", "check"}, dir...), &out, &errOut))
	require.Contains(t, errOut.String(), "run `orbitflow streams apply` with the admin user")

	out.Reset()
	require.Zero(t, run(append([]string{"streams", "apply"}, dir...), &out, &errOut), errOut.String())
	for _, s := range []string{subjects.ActivityStream, subjects.DeadLetterStream, subjects.AlertStream} {
		require.Contains(t, out.String(), s)
	}
	out.Reset()
	require.Zero(t, run(append([]string{"streams", "check"}, dir...), &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "[activities.> identity.>]")

	t.Setenv("ORBITFLOW_NATS_MODE", "embedded")
	errOut.Reset()
	require.Equal(t, 2, run(append([]string{"streams", "apply"}, dir...), &out, &errOut))
	require.Contains(t, errOut.String(), "this is for external NATS")
}
