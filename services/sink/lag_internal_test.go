package sink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestStreamLagIsObservedPerConsumer: the gauge counts what a consumer has
// not processed, delivered-and-unacknowledged included, and goes away with
// the sink.
func TestStreamLagIsObservedPerConsumer(t *testing.T) {
	b := kittest.Bus(t)
	js := b.JetStream()
	ctx := context.Background()
	decl := activityConsumer()
	cons, err := bus.EnsureConsumer(ctx, js, decl)
	require.NoError(t, err)
	for i := range 5 {
		_, err := js.Publish(ctx, subjects.Activity("acme", "github"), []byte("{}"), jetstream.WithMsgID(fmt.Sprint("lag-", i)))
		require.NoError(t, err)
	}
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	defer m.Shutdown(ctx)
	set := telemetry.Nop()
	set.MeterProvider = m.Provider()
	s := New(DefaultConfig(), Deps{JS: js}, set)
	require.NoError(t, s.observeLag([]jetstream.Consumer{cons}))
	scrape := func() string { return kittest.Scrape(m) }
	line := `orbitflow_stream_lag{consumer="` + decl.Durable + `",stream="ACTIVITIES"}`
	require.Contains(t, scrape(), line+" 5")

	// Two delivered and not acknowledged still count; acknowledged do not.
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var got []jetstream.Msg
	for msg := range batch.Messages() {
		got = append(got, msg)
	}
	require.Len(t, got, 2)
	require.Contains(t, scrape(), line+" 5")
	for _, msg := range got {
		require.NoError(t, msg.DoubleAck(ctx))
	}
	require.Contains(t, scrape(), line+" 3")

	require.NoError(t, s.Shutdown(ctx))
	require.NotContains(t, scrape(), "orbitflow_stream_lag")
}

// activityConsumer is the sink's activity consumer declaration.
func activityConsumer() subjects.Consumer {
	return subjects.SinkConsumers(DefaultConfig().BatchSize, DefaultConfig().FlushTimeout)[0]
}
