package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/sink"
)

type env struct {
	t   testing.TB
	bus *bus.Bus
	js  jetstream.JetStream
	ch  driver.Conn
}

// testSalt keys e-mail hashes and tombstones in these tests.
var testSalt = events.MustSalt("orbitflow-test-salt-0123456789")

func newEnv(t testing.TB) *env {
	t.Helper()
	b := kittest.Bus(t)
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(context.Background(), ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	return &env{t: t, bus: b, js: b.JetStream(), ch: ch}
}

func testConfig() sink.Config {
	cfg := sink.DefaultConfig()
	cfg.FlushInterval = 100 * time.Millisecond
	cfg.RetryInitial = 50 * time.Millisecond
	cfg.RetryMax = 200 * time.Millisecond
	return cfg
}

func (e *env) startSink(cfg sink.Config) *sink.Sink {
	e.t.Helper()
	s := sink.New(cfg, sink.Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt}, telemetry.Nop())
	require.NoError(e.t, s.Start(context.Background()))
	e.t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func event(i int) events.Event {
	return events.Event{
		ID:            fmt.Sprintf("t-%d", i),
		SchemaVersion: 1,
		Community:     "acme",
		Source:        "github",
		Type:          "github.issue.opened",
		// In the past of received_at, however large i: a valid event.
		OccurredAt: events.Timestamp{Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(-time.Duration(i) * time.Second)},
		ReceivedAt: events.Timestamp{Time: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		Actor:      events.Actor{Source: "github", SourceID: fmt.Sprint(i % 7), Username: fmt.Sprintf("u%d", i%7)},
		Targets:    []events.Target{{Source: "github", SourceID: "99", Kind: "mention"}},
		Attributes: map[string]string{"repo": "acme/widgets"},
	}
}

func (e *env) publish(subject string, data []byte, id string) {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, id)
	_, err := e.js.PublishMsg(context.Background(), m)
	require.NoError(e.t, err)
}

func (e *env) publishEvents(from, to int) {
	e.t.Helper()
	for i := from; i < to; i++ {
		ev := event(i)
		data, err := events.Encode(&ev)
		require.NoError(e.t, err)
		e.publish(subjects.Activity(ev.Community, ev.Source), data, ev.ID)
	}
}

// publishAsync publishes events 0..n-1 with the async publisher (fast, for
// benchmark set-up) and returns when the stream has them all.
func (e *env) publishAsync(n int) {
	e.t.Helper()
	ctx := context.Background()
	p := bus.NewPublisher(e.js)
	for i := 0; i < n; i++ {
		ev := event(i)
		data, err := events.Encode(&ev)
		require.NoError(e.t, err)
		m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.ID)
		require.NoError(e.t, p.Publish(ctx, m, nil))
	}
	require.NoError(e.t, p.Flush(ctx))
}

func (e *env) count(query string) uint64 {
	e.t.Helper()
	var n uint64
	require.NoError(e.t, e.ch.QueryRow(context.Background(), query).Scan(&n))
	return n
}

func (e *env) eventually(query string, want uint64) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := e.count(query)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: got %d, want %d", query, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) consumerInfo(name, stream string) *jetstream.ConsumerInfo {
	e.t.Helper()
	c, err := e.js.Consumer(context.Background(), stream, name)
	require.NoError(e.t, err)
	info, err := c.Info(context.Background())
	require.NoError(e.t, err)
	return info
}

func TestSinkWritesActivitiesAndDeadLettersBadInput(t *testing.T) {
	e := newEnv(t)
	e.publishEvents(0, 1000)
	e.publish(subjects.Activity("acme", "github"), []byte(`{"id":`), "broken-1")
	wrong := event(1000) // valid, but published under another community's subject
	data, err := events.Encode(&wrong)
	require.NoError(t, err)
	e.publish(subjects.Activity("other", "github"), data, "wrong-subject")
	e.startSink(testConfig())

	e.eventually("SELECT count() FROM activities", 1000)
	e.eventually("SELECT count() FROM dead_letters", 2)

	var typ, member string
	var weight float32
	var targets []string
	require.NoError(t, e.ch.QueryRow(context.Background(),
		"SELECT type, member_id, weight, target_member_ids FROM activities WHERE event_id = 't-8'").Scan(&typ, &member, &weight, &targets))
	require.Equal(t, "github.issue.opened", typ)
	require.Equal(t, "github:1", member)
	w, _ := events.DefaultRegistry().Weight("github.issue.opened")
	require.Equal(t, float32(w), weight)
	require.Equal(t, []string{"github:99"}, targets)

	var stage, reason string
	require.NoError(t, e.ch.QueryRow(context.Background(),
		"SELECT stage, reason FROM dead_letters WHERE payload = '{\"id\":'").Scan(&stage, &reason))
	require.Equal(t, "sink", stage)
	require.Contains(t, reason, "decode")
	require.NoError(t, e.ch.QueryRow(context.Background(),
		"SELECT reason FROM dead_letters WHERE subject = 'activities.other.github'").Scan(&reason))
	require.Contains(t, reason, "subject")

	// Every message is acknowledged once it is written.
	require.Eventually(t, func() bool {
		return e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).AckFloor.Stream == 1002
	}, 10*time.Second, 50*time.Millisecond)
}

func TestSinkRedeliveryIsNotCountedTwice(t *testing.T) {
	e := newEnv(t)
	e.publishEvents(0, 500)
	s := e.startSink(testConfig())
	e.eventually("SELECT count() FROM activities", 500)
	require.NoError(t, s.Shutdown(context.Background()))

	// Replay the whole stream: a new consumer delivers every message again.
	require.NoError(t, e.js.DeleteConsumer(context.Background(), subjects.ActivityStream, subjects.SinkActivities))
	e.startSink(testConfig())
	require.Eventually(t, func() bool { // every row written a second time …
		return e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).AckFloor.Stream == 500
	}, 20*time.Second, 50*time.Millisecond)
	require.EqualValues(t, 500, e.count("SELECT count() FROM activities"), "… and read once")
	require.EqualValues(t, 500, e.count("SELECT uniqExact(event_id) FROM activities"))
}

// The sink once acked with AckAll: one delivery it never received (a pull
// that ended client-side while the server still sent) was acknowledged by
// the next batch's ack and never written. Here the test itself takes one
// delivery from the sink's durable and holds it.
func TestSinkNeverAcksADeliveryItDidNotWrite(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.publishEvents(0, 100)
	cfg := testConfig()
	cons, err := bus.EnsureConsumer(ctx, e.js, subjects.SinkConsumers(cfg.BatchSize, cfg.FlushTimeout)[0])
	require.NoError(t, err)
	stolen, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var held jetstream.Msg
	for m := range stolen.Messages() {
		held = m
	}
	require.NotNil(t, held)
	md, err := held.Metadata()
	require.NoError(t, err)
	require.EqualValues(t, 1, md.Sequence.Stream)

	e.startSink(cfg)
	e.eventually("SELECT count() FROM activities", 99)
	time.Sleep(300 * time.Millisecond) // let the last acks land
	info := e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream)
	require.EqualValues(t, 0, info.AckFloor.Stream, "the delivery the sink never saw is not acknowledged")
	require.Equal(t, 1, info.NumAckPending)

	// Given back, it is delivered to the sink, written, and acknowledged.
	require.NoError(t, held.Nak())
	e.eventually("SELECT count() FROM activities", 100)
	require.Eventually(t, func() bool {
		return e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).AckFloor.Stream == 100
	}, 10*time.Second, 50*time.Millisecond)
}

func TestSinkHoldsAcksWhileClickHouseFails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Make every insert fail: the table is gone.
	require.NoError(t, e.ch.Exec(ctx, "RENAME TABLE activities_raw TO activities_raw_away"))
	e.publishEvents(0, 300)
	e.startSink(testConfig())

	require.Eventually(t, func() bool {
		return e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).NumAckPending == 300
	}, 10*time.Second, 50*time.Millisecond, "the sink takes the messages …")
	time.Sleep(500 * time.Millisecond) // several failed attempts
	info := e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream)
	require.EqualValues(t, 0, info.AckFloor.Stream, "… and acknowledges none while inserts fail")

	require.NoError(t, e.ch.Exec(ctx, "RENAME TABLE activities_raw_away TO activities_raw"))
	e.eventually("SELECT count() FROM activities", 300)
	require.Eventually(t, func() bool {
		return e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).AckFloor.Stream == 300
	}, 10*time.Second, 50*time.Millisecond)
}

func TestSinkShutdownFlushesWhatItHolds(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig()
	cfg.FlushInterval = time.Hour // only shutdown flushes
	e.publishEvents(0, 200)
	s := e.startSink(cfg)
	require.Eventually(t, func() bool {
		return e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).NumAckPending == 200
	}, 10*time.Second, 50*time.Millisecond)
	require.EqualValues(t, 0, e.count("SELECT count() FROM activities"))
	// Shutdown must not wait out the flush interval (a pull in flight once
	// held it for the whole hour).
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Shutdown(sctx))
	require.EqualValues(t, 200, e.count("SELECT count() FROM activities"))
	require.EqualValues(t, 200, e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).AckFloor.Stream)
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, sink.DefaultConfig().Validate("sink"))
	cfg := sink.DefaultConfig()
	cfg.BatchSize = 0
	cfg.FlushInterval = 0
	cfg.FetchSize = -1
	err := cfg.Validate("sink")
	require.ErrorContains(t, err, "sink.batch_size")
	require.ErrorContains(t, err, "sink.flush_interval")
	require.ErrorContains(t, err, "sink.fetch_size")
}

// BenchmarkSinkThroughput measures stream → ClickHouse throughput: b.N events
// are published first (untimed), then the sink drains them.
func BenchmarkSinkThroughput(b *testing.B) {
	e := newEnv(b)
	e.publishAsync(b.N)
	b.ResetTimer()
	start := time.Now()
	e.startSink(sink.DefaultConfig())
	for e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).AckFloor.Stream < uint64(b.N) {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	// Every event was written, none dead-lettered: otherwise this measured
	// the dead-letter path (it once did, with fixtures the validator refused).
	require.EqualValues(b, b.N, e.count("SELECT count() FROM activities"))
}

// BenchmarkStreamDelivery is the ceiling of any sink on this machine: b.N
// events fetched from the activity stream and acked, with nothing decoded or
// written. BenchmarkSinkThroughput can approach it, never pass it.
func BenchmarkStreamDelivery(b *testing.B) {
	e := newEnv(b)
	e.publishAsync(b.N)
	cons, err := e.js.CreateConsumer(context.Background(), subjects.ActivityStream, jetstream.ConsumerConfig{
		Durable: "ceiling", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 40000})
	require.NoError(b, err)
	b.ResetTimer()
	start := time.Now()
	n := 0
	for n < b.N {
		batch, err := cons.Fetch(5000, jetstream.FetchMaxWait(time.Second))
		require.NoError(b, err)
		for m := range batch.Messages() {
			require.NoError(b, m.Ack())
			n++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	require.Equal(b, b.N, n)
}

// TestSinkStoresKeyedEmailHashes: activities_raw.email_sha256 holds the
// salted hash (events.Salt.Email), never the event's bare SHA-256.
func TestSinkStoresKeyedEmailHashes(t *testing.T) {
	e := newEnv(t)
	e.startSink(testConfig())
	ev := event(1)
	ev.Actor.EmailSHA256 = events.HashEmail("jane@example.org")
	data, err := events.Encode(&ev)
	require.NoError(t, err)
	e.publish(subjects.Activity(ev.Community, ev.Source), data, ev.ID)
	e.eventually("SELECT count() FROM activities_raw", 1)
	var stored string
	require.NoError(t, e.ch.QueryRow(context.Background(), "SELECT email_sha256 FROM activities_raw").Scan(&stored))
	require.Equal(t, testSalt.Email(ev.Actor.EmailSHA256), stored)
	require.NotEqual(t, ev.Actor.EmailSHA256, stored, "the bare SHA-256 of an address must not be stored")
}

// A sink started on a stream whose consumer was declared by an older
// version (activities only) updates it to read the identity commands too:
// otherwise it would never see a forget.
func TestSinkConsumerUpgradeReadsIdentityCommands(t *testing.T) {
	e := newEnv(t)
	old := subjects.SinkConsumers(testConfig().BatchSize, testConfig().FlushTimeout)[0]
	old.FilterSubject = subjects.ActivityPrefix + ".>"
	_, err := bus.EnsureConsumer(context.Background(), e.js, old)
	require.NoError(t, err)
	e.startSink(testConfig())
	info := e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream)
	require.Empty(t, info.Config.FilterSubject, "the sink's consumer reads the whole activity stream")
}

func (e *env) group(holder string, shards int) *sink.Group {
	e.t.Helper()
	cfg := testConfig()
	cfg.Shards = shards
	// The ack wait a crashed instance's messages wait out: 2 x 10 s + 30 s.
	// An attempt must hold a forget's erasure, which waits for a health
	// refresh (every second here).
	cfg.FlushTimeout = 10 * time.Second
	cfg.RollupInterval = time.Second
	g := sink.NewGroup(cfg, sink.Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt},
		telemetry.Nop(), holder, 1500*time.Millisecond)
	require.NoError(e.t, g.Start(context.Background()))
	e.t.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	return g
}

// publishCommunity publishes events from..to-1 of community (ids of the
// community's own) and returns their ids; the actor of event i is
// github:<i%7>.
func (e *env) publishCommunity(community string, from, to int) []string {
	e.t.Helper()
	var ids []string
	for i := from; i < to; i++ {
		ev := event(i)
		ev.Community, ev.ID = community, fmt.Sprintf("%s-%d", community, i)
		data, err := events.Encode(&ev)
		require.NoError(e.t, err)
		e.publish(subjects.Activity(ev.Community, ev.Source), data, ev.ID)
		ids = append(ids, ev.ID)
	}
	return ids
}

// Three sinks share the shards of the activity stream, one crashes, one
// leaves, one joins: every event is written exactly once, each shard's
// messages by the instance that owns it, and a forget command drops the
// forgotten identity's later events whichever instance writes them.
func TestSinkGroupWritesEveryEventOnce(t *testing.T) {
	e := newEnv(t)
	const shards = 3
	// One community per shard, and a second in shard 0.
	byShard := map[int][]string{}
	for i := 0; len(byShard) < shards || len(byShard[0]) < 2; i++ {
		c := fmt.Sprintf("c%d", i)
		if k := bus.ShardOf(c, shards); len(byShard[k]) < 2 {
			byShard[k] = append(byShard[k], c)
		}
	}
	var communities []string
	for k := range shards {
		communities = append(communities, byShard[k]...)
	}
	published := map[string][]string{}
	next := 0
	publish := func(n int) {
		for _, c := range communities {
			published[c] = append(published[c], e.publishCommunity(c, next, next+n)...)
		}
		next += n
	}
	total := func() uint64 {
		var n uint64
		for _, ids := range published {
			n += uint64(len(ids))
		}
		return n
	}
	waitFor := func(query string, want uint64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute) // past a crashed instance's ack wait
		for e.count(query) != want {
			require.True(t, time.Now().Before(deadline), "%s: %d, want %d", query, e.count(query), want)
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitWritten := func(want uint64) { t.Helper(); waitFor("SELECT count() FROM activities", want) }

	publish(200)
	a := e.group("a", shards)
	require.Equal(t, [][]int{{0, 1, 2}}, kittest.SettledShards(t, shards, a), "alone, an instance writes every shard")
	waitWritten(total())

	b, c := e.group("b", shards), e.group("c", shards)
	for i, o := range kittest.SettledShards(t, shards, a, b, c) {
		require.Len(t, o, 1, "instance %d: one shard of three each", i)
	}
	dl := e.consumerInfo(subjects.SinkDeadLetters, subjects.DeadLetterStream)
	require.Equal(t, subjects.SinkDeadLetters, dl.Name, "the dead letters keep one consumer")
	for k := range shards {
		e.consumerInfo(subjects.SinkActivitiesOf(k, shards), subjects.ActivityStream)
	}
	publish(200)
	waitWritten(total())

	// Forget github:3 of the second community of shard 0; its events
	// after the command are dropped, those of github:3 elsewhere kept.
	victim := byShard[0][1]
	cmd := events.IdentityCommand{ID: "forget-1", Community: victim, Kind: events.IdentityForget,
		Tombstones: []string{testSalt.Tombstone(victim, "github:3")}, At: events.NewTimestamp(time.Now())}
	require.NoError(t, cmd.Validate())
	data, err := json.Marshal(cmd)
	require.NoError(t, err)
	e.publish(subjects.Identity(victim), data, cmd.ID)
	publish(200)

	// c dies with what it holds unacknowledged: its shard waits for the
	// lease to expire, then another instance writes it.
	require.NoError(t, c.Kill(context.Background()))
	publish(200)
	kittest.SettledShards(t, shards, a, b)

	// b leaves cleanly, d joins.
	require.NoError(t, b.Shutdown(context.Background()))
	d := e.group("d", shards)
	publish(200)
	kittest.SettledShards(t, shards, a, d)

	var kept []string
	for i, id := range published[victim] {
		if i%7 != 3 {
			kept = append(kept, id)
		}
	}
	forgotten := len(published[victim]) - len(kept)
	published[victim] = kept
	// The erasure is done when the command is logged.
	waitFor("SELECT count() FROM forget_log WHERE command_id = 'forget-1'", 1)
	waitWritten(total())
	for _, c := range communities {
		r, err := store.CheckExactlyOnce(context.Background(), e.ch, c, published[c])
		require.NoError(t, err)
		require.True(t, r.OK(), "community %s: %s", c, r)
	}
	require.Equal(t, uint64(1), e.count("SELECT count() FROM forget_log WHERE command_id = 'forget-1'"), "the forget applied once, by shard 0's owner")
	require.Equal(t, uint64(0), e.count(fmt.Sprintf("SELECT count() FROM activities WHERE community = '%s' AND identity = 'github:3'", victim)))
	require.Equal(t, uint64(next/7+1)*uint64(len(communities)-1), e.count("SELECT count() FROM activities WHERE identity = 'github:3'"),
		"github:3 of the other communities is kept")
	require.Positive(t, forgotten)
	require.NoError(t, d.Shutdown(context.Background()))
	require.NoError(t, a.Shutdown(context.Background()))
}
