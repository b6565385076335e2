package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestReadyzWaitsForConsumersToCatchUp: a consumer with more than
// api.ready_max_lag messages left makes /readyz answer 503 naming it and
// the setting; once it has processed them, ready again.
func TestReadyzWaitsForConsumersToCatchUp(t *testing.T) {
	ctx := context.Background()
	b := kittest.Bus(t)
	js := b.JetStream()
	ch := kittest.ClickHouseConn(t)
	cons, err := js.CreateOrUpdateConsumer(ctx, subjects.ActivityStream, jetstream.ConsumerConfig{
		Durable: "slow-reader", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	for i := range 5 {
		_, err := js.Publish(ctx, subjects.Activity("acme", "github"), []byte("{}"), jetstream.WithMsgID(fmt.Sprint("r-", i)))
		require.NoError(t, err)
	}
	cfg := api.DefaultConfig()
	cfg.ReadyMaxLag = 3
	ts := httptest.NewServer(api.New(cfg, api.Deps{JS: js, CH: ch}, telemetry.Nop()).Handler())
	defer ts.Close()
	readyz := func() (int, api.Readiness, string) {
		resp, body := get(t, ts.URL+"/readyz", "")
		var r api.Readiness
		require.NoError(t, json.Unmarshal([]byte(body), &r), body)
		return resp.StatusCode, r, body
	}

	code, r, body := readyz()
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.False(t, r.Ready)
	require.Contains(t, r.Consumers, api.ConsumerLag{Stream: subjects.ActivityStream, Consumer: "slow-reader", Lag: 5})
	require.Contains(t, body, "slow-reader on ACTIVITIES is 5 messages behind (api.ready_max_lag is 3)")
	for _, c := range r.Checks {
		if c.Name != "consumers" {
			require.True(t, c.OK, "%s: %s", c.Name, c.Error)
		}
	}

	// Delivered and not acknowledged still counts; acknowledged does not.
	batch, err := cons.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	require.Len(t, msgs, 5)
	code, _, body = readyz()
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	for _, m := range msgs[:3] {
		require.NoError(t, m.DoubleAck(ctx))
	}
	code, r, body = readyz()
	require.Equal(t, http.StatusOK, code, body)
	require.True(t, r.Ready)
	require.Contains(t, r.Consumers, api.ConsumerLag{Stream: subjects.ActivityStream, Consumer: "slow-reader", Lag: 2})
}

func TestReadyMaxLagMustNotBeNegative(t *testing.T) {
	cfg := api.DefaultConfig()
	cfg.ReadyMaxLag = -1
	require.ErrorContains(t, cfg.Validate("api"), "api.ready_max_lag: must not be negative")
}

// TestOpsServerJudgesItsOwnConsumers: a split-mode process's ops server
// answers /healthz, /readyz and /metrics only; its readiness counts its own
// consumers (by name prefix), not the others', and needs no ClickHouse
// when it has none (the connectors).
func TestOpsServerJudgesItsOwnConsumers(t *testing.T) {
	ctx := context.Background()
	b := kittest.Bus(t)
	js := b.JetStream()
	for _, name := range []string{"sink-activities", "someone-else"} {
		_, err := js.CreateOrUpdateConsumer(ctx, subjects.ActivityStream, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy})
		require.NoError(t, err)
	}
	for i := range 5 {
		_, err := js.Publish(ctx, subjects.Activity("acme", "github"), []byte("{}"), jetstream.WithMsgID(fmt.Sprint("o-", i)))
		require.NoError(t, err)
	}
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	defer m.Shutdown(ctx)
	set := telemetry.Nop()
	set.MeterProvider, set.MetricsHandler = m.Provider(), m.Handler()
	cfg := api.DefaultConfig()
	cfg.APIKeys, cfg.ReadyMaxLag = []string{key}, 3
	serve := func(consumers []string) *httptest.Server {
		ts := httptest.NewServer(api.NewOps(cfg, api.Deps{JS: js, Consumers: consumers}, set).Handler())
		t.Cleanup(ts.Close)
		return ts
	}

	sinkOps := serve([]string{"sink-"})
	resp, body := get(t, sinkOps.URL+"/readyz", "")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	var r api.Readiness
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	require.Equal(t, []api.ConsumerLag{{Stream: subjects.ActivityStream, Consumer: "sink-activities", Lag: 5}}, r.Consumers)
	require.Len(t, r.Checks, 2, "nats and consumers: no ClickHouse here")

	connectorOps := serve([]string{})
	resp, body = get(t, connectorOps.URL+"/readyz", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, `"consumers":[]`)

	resp, body = get(t, connectorOps.URL+"/metrics", key)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "go_goroutines")
	resp, _ = get(t, connectorOps.URL+"/metrics", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = get(t, connectorOps.URL+"/api/v1/alerts", key)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no API on the ops server")
	resp, _ = get(t, connectorOps.URL+"/healthz", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
