package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Ignored items are not dropped silently: each is counted by reason, without
// the ids the reason names.
func TestLiveCountsOutcomesAndIgnoreReasons(t *testing.T) {
	b := kittest.Bus(t)
	reader := sdkmetric.NewManualReader()
	set := telemetry.Nop()
	set.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	live := ingest.NewLive(b.JetStream(), events.DefaultRegistry(), subjects.StageDiscord, 5*time.Second, set)
	ctx := context.Background()

	env := source.Env{Community: "acme"}
	ev := env.Event("discord:message:1", "discord.message.posted", time.Now().Add(-time.Minute))
	ev.Actor = env.Actor("discord", "7", "jane", "")
	out, err := live.Publish(ctx, "discord", source.One(ev), []byte("{}"), nil)
	require.NoError(t, err)
	require.Equal(t, 1, out.Published)
	out, err = live.Publish(ctx, "discord", source.One(ev), []byte("{}"), nil)
	require.NoError(t, err)
	require.Equal(t, 1, out.Duplicates)
	for _, id := range []string{"11", "12"} {
		out, err = live.Publish(ctx, "discord", source.Ignore("discord message %s: posted by a webhook, not a member", id), []byte("{}"), nil)
		require.NoError(t, err)
		require.Equal(t, "discord message "+id+": posted by a webhook, not a member", out.Ignored)
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				key := m.Name
				for _, kv := range dp.Attributes.ToSlice() {
					if kv.Key == "outcome" || kv.Key == "reason" {
						key += "|" + kv.Value.AsString()
					}
				}
				got[key] += dp.Value
			}
		}
	}
	require.Equal(t, map[string]int64{
		"orbitflow.connectors.events|published":                                           1,
		"orbitflow.connectors.events|duplicate":                                           1,
		"orbitflow.connectors.ignored|discord message: posted by a webhook, not a member": 2,
	}, got)
}
