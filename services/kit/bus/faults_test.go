package bus_test

import (
	"context"
	"fmt"
	"strings"
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

// TestFullStreamRefusesWithAClearErrorAndDropsNothing: past its byte limit
// the activity stream refuses new messages. The publisher stops with an
// error naming the stream and the setting to raise, and every message it
// reported as acknowledged is in the stream.
func TestFullStreamRefusesWithAClearErrorAndDropsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := kittest.Bus(t, func(c *bus.Config) {
		c.Streams.ActivityMaxBytes = 256 << 10
		c.Streams.DeadLetterMaxBytes = 64 << 10
	})
	js := b.JetStream()
	var acked []string
	p := bus.NewPublisher(js, bus.WithWindow(64), bus.WithOnResult(func(r bus.Result) {
		require.NoError(t, r.Err)
		acked = append(acked, r.Tag.(string))
	}))
	var err error
	for i := 0; err == nil; i++ {
		require.Less(t, i, 10_000, "the stream never filled")
		id := fmt.Sprint("e-", i)
		err = p.Publish(ctx, msg(subjects.Activity("acme", "github"), id, strings.Repeat("x", 400)), id)
	}
	if err == nil {
		err = p.Flush(ctx)
	}
	require.ErrorIs(t, err, bus.ErrStreamFull)
	require.ErrorContains(t, err, "stream ACTIVITIES is full")
	require.ErrorContains(t, err, "raise nats.streams.activity_max_bytes")
	t.Logf("after %d acknowledged: %v", len(acked), err)

	// Every acknowledged message is there, nothing else.
	st, err := js.Stream(ctx, subjects.ActivityStream)
	require.NoError(t, err)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var stored []string
	for len(stored) < len(acked) {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err, "the stream holds %d of the %d acknowledged", len(stored), len(acked))
		stored = append(stored, m.Headers().Get(jetstream.MsgIDHeader))
	}
	require.Equal(t, acked, stored)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, len(acked), info.State.Msgs)

	// A full dead-letter stream is named too.
	for i := 0; ; i++ {
		require.Less(t, i, 10_000, "the dead-letter stream never filled")
		_, err = bus.PublishDeadLetter(ctx, js, bus.DeadLetter{Stage: subjects.StageIngest, Source: "jsonl", Reason: "test", Payload: []byte(strings.Repeat("y", 400) + fmt.Sprint(i))})
		if err != nil {
			break
		}
	}
	require.ErrorIs(t, err, bus.ErrStreamFull)
	require.ErrorContains(t, err, "stream DEADLETTER is full")
	require.ErrorContains(t, err, "nats.streams.dead_letter_max_bytes")
}

// TestPublisherStopsAtOnceOnAFullStream: after the stream refused a
// message for being full, the next Flush (ingest.Run flushes after its
// loop ends) once waited out the publisher's ack wait (a minute) for the
// failed message before failing again; `orbitflow ingest` into a full
// stream took a minute to say so.
func TestPublisherStopsAtOnceOnAFullStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := kittest.Bus(t, func(c *bus.Config) { c.Streams.ActivityMaxBytes = 256 << 10 })
	p := bus.NewPublisher(b.JetStream()) // ack wait: a minute
	var err error
	for i := 0; err == nil && i < 10_000; i++ {
		err = p.Publish(ctx, msg(subjects.Activity("acme", "github"), fmt.Sprint("e-", i), strings.Repeat("x", 400)), nil)
	}
	if err == nil {
		err = p.Flush(ctx)
	}
	require.ErrorIs(t, err, bus.ErrStreamFull)
	fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
	defer fcancel()
	require.ErrorIs(t, p.Flush(fctx), bus.ErrStreamFull, "Flush after the failure returns it, without waiting")
	require.ErrorIs(t, p.Publish(fctx, msg(subjects.Activity("acme", "github"), "late", "x"), nil), bus.ErrStreamFull)
}
