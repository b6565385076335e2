package bus_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server keeps a few process-wide goroutines after shutdown.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).startGoRoutine"),
		goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/pse.updateUsage"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.init.0.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}

func msg(subject, id string, data string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	m.Header.Set(jetstream.MsgIDHeader, id)
	return m
}

func TestStartDeclaresStreamsIdempotently(t *testing.T) {
	dir := t.TempDir()
	cfg := kittest.BusConfig()
	for i := 0; i < 2; i++ { // the second start finds the streams and changes nothing
		b := bus.New(cfg, dir, telemetry.Nop())
		require.NoError(t, b.Start(context.Background()))
		for _, s := range subjects.Streams(cfg.Streams.Limits()) {
			st, err := b.JetStream().Stream(context.Background(), s.Name)
			require.NoError(t, err)
			info := st.CachedInfo()
			require.Equal(t, s.Subjects, info.Config.Subjects)
			require.Equal(t, jetstream.DiscardNew, info.Config.Discard)
			require.Equal(t, s.Duplicates, info.Config.Duplicates)
		}
		require.NoError(t, b.Shutdown(context.Background()))
		require.NoError(t, b.Shutdown(context.Background()), "shutdown is idempotent")
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	b := bus.New(kittest.BusConfig(), t.TempDir(), telemetry.Nop())
	require.NoError(t, b.Shutdown(context.Background()))
}

func TestPublisherDedupsByMsgIDAndReportsInOrder(t *testing.T) {
	b := kittest.Bus(t)
	var results []bus.Result
	p := bus.NewPublisher(b.JetStream(), bus.WithWindow(8), bus.WithOnResult(func(r bus.Result) { results = append(results, r) }))
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		require.NoError(t, p.Publish(ctx, msg(subjects.Activity("acme", "github"), fmt.Sprintf("id-%d", i%25), "x"), i))
	}
	require.NoError(t, p.Flush(ctx))
	require.Len(t, results, 50)
	dups := 0
	for i, r := range results {
		require.Equal(t, i, r.Tag, "results come in publish order")
		require.NoError(t, r.Err)
		if r.Duplicate {
			dups++
			require.Equal(t, results[i-25].Seq, r.Seq, "a duplicate reports the original's sequence")
		}
	}
	require.Equal(t, 25, dups)
	st, err := b.JetStream().Stream(ctx, subjects.ActivityStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 25, info.State.Msgs, "the stream holds each message id once")
}

func TestPublisherRejectsMessageWithoutID(t *testing.T) {
	b := kittest.Bus(t)
	p := bus.NewPublisher(b.JetStream())
	m := nats.NewMsg(subjects.Activity("acme", "github"))
	require.ErrorIs(t, p.Publish(context.Background(), m, nil), bus.ErrNoMsgID)
}

func TestPublisherFullStreamIsAnErrorNotADrop(t *testing.T) {
	b := kittest.Bus(t, func(c *bus.Config) { c.Streams.ActivityMaxBytes = 4096 })
	p := bus.NewPublisher(b.JetStream(), bus.WithWindow(4))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		err = p.Publish(ctx, msg(subjects.Activity("acme", "github"), fmt.Sprint(i), strings.Repeat("x", 200)), i)
	}
	if err == nil {
		err = p.Flush(ctx)
	}
	require.Error(t, err, "publishing into a full stream must fail loudly")
	require.True(t, bus.Fatal(errors.Unwrap(err)) || bus.Fatal(err), "got %v", err)
}

func TestDeadLetterKeepsPayloadHeadersAndReason(t *testing.T) {
	b := kittest.Bus(t)
	ctx := context.Background()
	orig := nats.Header{}
	orig.Set("X-GitHub-Delivery", "abc")
	d := bus.DeadLetter{Stage: subjects.StageIngest, Source: "jsonl", Reason: "type: unknown type\nsecond line", Payload: []byte("{\"a\":\n\n1}"), Header: orig}
	_, err := bus.PublishDeadLetter(ctx, b.JetStream(), d)
	require.NoError(t, err)
	ack, err := bus.PublishDeadLetter(ctx, b.JetStream(), d)
	require.NoError(t, err)
	require.True(t, ack.Duplicate, "the same dead letter again is deduplicated")
	st, err := b.JetStream().Stream(ctx, subjects.DeadLetterStream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs)
	raw, err := st.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "deadletter.ingest.jsonl", raw.Subject)
	require.Empty(t, raw.Header.Get(subjects.HeaderTruncated), "a payload that fits is kept whole")
	require.Equal(t, d.Payload, raw.Data)
	require.Equal(t, "type: unknown type second line", raw.Header.Get(subjects.HeaderReason))
	require.Equal(t, "abc", raw.Header.Get(subjects.HeaderOrigHeader+"X-GitHub-Delivery"))
}

func TestExternalModeNeedsToken(t *testing.T) {
	cfg := bus.DefaultConfig()
	cfg.Embedded.Listen = "127.0.0.1:0"
	// Port 0 is not resolvable to a client URL before start; use a fixed free port.
	cfg.Embedded.Listen = freeAddr(t)
	b := bus.New(cfg, t.TempDir(), telemetry.Nop())
	require.NoError(t, b.Start(context.Background()))
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	url, token := b.ClientURL()
	require.NotEmpty(t, token)

	_, err := bus.Dial(url, nats.Token("wrong"))
	require.Error(t, err, "a wrong token is refused")

	ext := bus.DefaultConfig()
	ext.Mode = bus.ModeExternal
	ext.External.URLs = []string{url}
	ext.External.Token = token
	require.NoError(t, ext.Validate("bus"))
	c := bus.New(ext, "", telemetry.Nop())
	require.NoError(t, c.Start(context.Background()))
	defer c.Shutdown(context.Background())
	_, err = c.JetStream().Stream(context.Background(), subjects.ActivityStream)
	require.NoError(t, err)
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := bus.DefaultConfig()
	cfg.Mode = "cluster"
	cfg.Streams.Storage = "tape"
	cfg.Streams.Replicas = 9
	cfg.PublishMaxPending = 0
	err := cfg.Validate("bus")
	require.Error(t, err)
	for _, want := range []string{"bus.mode", "bus.streams.storage", "bus.streams.replicas", "bus.publish_max_pending"} {
		require.Contains(t, err.Error(), want)
	}
	cfg = bus.DefaultConfig()
	cfg.Embedded.SyncInterval = "soon"
	require.ErrorContains(t, cfg.Validate("bus"), "bus.embedded.sync_interval")
	cfg.Embedded.SyncInterval = "always"
	require.NoError(t, cfg.Validate("bus"))
}

func TestDeadLetterTooLargeForTheStreamIsTruncatedNotLost(t *testing.T) {
	b := kittest.Bus(t, func(c *bus.Config) { c.Streams.MaxMsgSize = 2048 })
	ctx := context.Background()
	payload := []byte(strings.Repeat("0123456789", 1000)) // 10 kB
	d := bus.DeadLetter{Stage: subjects.StageIngest, Source: "jsonl", Reason: "line: too long", Payload: payload}
	ack, err := bus.PublishDeadLetter(ctx, b.JetStream(), d)
	require.NoError(t, err)
	st, err := b.JetStream().Stream(ctx, subjects.DeadLetterStream)
	require.NoError(t, err)
	raw, err := st.GetMsg(ctx, ack.Sequence)
	require.NoError(t, err)
	require.Equal(t, payload[:bus.TruncatedPayloadBytes], raw.Data)
	require.Equal(t, "10000", raw.Header.Get(subjects.HeaderTruncated))
	sum := sha256.Sum256(payload)
	require.Equal(t, hex.EncodeToString(sum[:]), raw.Header.Get(subjects.HeaderPayloadSHA))
	require.Equal(t, "line: too long", raw.Header.Get(subjects.HeaderReason))

	ack, err = bus.PublishDeadLetter(ctx, b.JetStream(), d)
	require.NoError(t, err)
	require.True(t, ack.Duplicate, "the truncated copy keeps the full payload's message id")
}

// A publish whose ack was lost with the connection may have landed or not;
// it must be retried with its message id, not reported as refused.
func TestDisconnectsAreTransient(t *testing.T) {
	for _, err := range []error{nats.ErrDisconnected, nats.ErrConnectionReconnecting, nats.ErrStaleConnection, nats.ErrTimeout} {
		require.True(t, bus.Transient(fmt.Errorf("wrapped: %w", err)), "%v", err)
		require.False(t, bus.Fatal(err), "%v", err)
	}
	require.True(t, bus.Fatal(nats.ErrConnectionClosed))
	require.False(t, bus.Transient(nats.ErrConnectionClosed))
}

// A closed connection leaves async publishes unsettled inside the client
// (an ingest once hung in Flush for good after its server was killed):
// the publisher must notice the closed connection and stop with an error.
func TestPublisherStopsWhenTheConnectionCloses(t *testing.T) {
	b := kittest.Bus(t, func(c *bus.Config) { c.Embedded.Listen = "127.0.0.1:0" })
	url, token := b.ClientURL()
	nc, err := bus.Dial(url, nats.Token(token))
	require.NoError(t, err)
	defer nc.Close()
	// A responder that never answers: the publishes' acks never come.
	sub, err := nc.SubscribeSync("silent.subject")
	require.NoError(t, err)
	defer sub.Unsubscribe()
	js, err := jetstream.New(nc) // no async publish timeout, as a caller may configure it
	require.NoError(t, err)

	p := bus.NewPublisher(js, bus.WithAckWait(time.Hour)) // only the close can end the wait
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < 10; i++ {
		require.NoError(t, p.Publish(ctx, msg("silent.subject", fmt.Sprint(i), "x"), i))
	}
	nc.Close()
	err = p.Flush(ctx)
	require.ErrorIs(t, err, nats.ErrConnectionClosed, "got %v", err)
	require.NoError(t, ctx.Err(), "Flush returned because the connection closed, not because the test gave up")
}

// An ack that never comes on a live connection is retried under the same
// message id after the ack wait, and stops publishing once out of retries.
func TestPublisherRetriesAnAckThatNeverComes(t *testing.T) {
	b := kittest.Bus(t)
	nc := b.Conn()
	sub, err := nc.SubscribeSync("silent.subject")
	require.NoError(t, err)
	defer sub.Unsubscribe()

	p := bus.NewPublisher(b.JetStream(), bus.WithAckWait(300*time.Millisecond), bus.WithRetries(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.Publish(ctx, msg("silent.subject", "only", "x"), 0))
	err = p.Flush(ctx)
	require.ErrorIs(t, err, jetstream.ErrAsyncPublishTimeout)
	require.NoError(t, ctx.Err())
	for i := 0; i < 2; i++ { // the first attempt and the retry, same id
		m, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		require.Equal(t, "only", m.Header.Get(jetstream.MsgIDHeader))
	}
}
