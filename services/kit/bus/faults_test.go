package bus_test

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

// TestEmbeddedStartGivesBackWhatAStoppedProcessHeld: deliveries of the
// sink's consumer that a stopped process never acknowledged once waited
// out AckWait (150 s by default) after a restart. The embedded server
// belongs to the process that starts it, so they are delivered again at
// once; messages acknowledged before are not lost by it.
func TestEmbeddedStartGivesBackWhatAStoppedProcessHeld(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := kittest.BusConfig()
	decl := subjects.SinkConsumers(100, time.Minute)[0] // AckWait 2m30s

	b := bus.New(cfg, dir, telemetry.Nop())
	require.NoError(t, b.Start(ctx))
	for i := range 10 {
		_, err := b.JetStream().PublishMsg(ctx, msg(subjects.Activity("acme", "github"), fmt.Sprint("id-", i), "{}"))
		require.NoError(t, err)
	}
	cons, err := bus.EnsureConsumer(ctx, b.JetStream(), decl)
	require.NoError(t, err)
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var got int
	for m := range batch.Messages() {
		if got < 4 { // the first four are written and acknowledged
			require.NoError(t, m.DoubleAck(ctx))
		}
		got++
	}
	require.Equal(t, 10, got)
	require.NoError(t, b.Shutdown(ctx)) // six held, never acknowledged

	b = bus.New(cfg, dir, telemetry.Nop())
	require.NoError(t, b.Start(ctx))
	defer b.Shutdown(context.Background())
	cons, err = b.JetStream().Consumer(ctx, decl.Stream, decl.Durable)
	require.NoError(t, err)
	batch, err = cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	require.NoError(t, err)
	var seqs []uint64
	for m := range batch.Messages() {
		md, err := m.Metadata()
		require.NoError(t, err)
		seqs = append(seqs, md.Sequence.Stream)
		require.NoError(t, m.Ack())
	}
	require.Equal(t, []uint64{5, 6, 7, 8, 9, 10}, seqs, "the six held messages come again at once, the four acknowledged do not")
}

// TestReleaseDeliveriesOfAMissingConsumer: nothing to give back before the
// sink's first start.
func TestReleaseDeliveriesOfAMissingConsumer(t *testing.T) {
	b := kittest.Bus(t)
	n, err := bus.ReleaseDeliveries(context.Background(), b.JetStream(), subjects.ActivityStream, "nobody")
	require.NoError(t, err)
	require.Zero(t, n)
}
