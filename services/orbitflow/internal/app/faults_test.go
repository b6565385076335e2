package app

// Fault tests of the composed services in one process (issue 7): the sink
// and the scoring processor restarted, separately and together, and the
// embedded NATS server stopped and started, while events and poison
// messages are published. Until `orbitflow run --target` exists (issue 9)
// the split is two stacks of this package: one holds the embedded NATS
// server (listening on loopback), the others reach it in external mode, the
// way a split deployment would; ClickHouse is the test engine, reached as
// an external server.

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
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
)

// faultConfig is a config whose ClickHouse is the test engine's database
// db (as an external server) and whose NATS is embedded in dir, listening
// on listen with a fixed token (clients reconnect after a restart).
func faultConfig(t *testing.T, dir, listen, chAddr, db string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.NATS.Embedded.Listen = listen
	cfg.NATS.Embedded.Token = "fault-test-token-0123456789"
	cfg.ClickHouse.Mode = store.ModeExternal
	cfg.ClickHouse.External.Addrs = []string{chAddr}
	cfg.ClickHouse.Database = db
	cfg.API.Listen = ""
	cfg.Gateway.Listen = ""
	cfg.Sink.FlushInterval = 100 * time.Millisecond
	cfg.Sink.RollupInterval = 0
	cfg.Sink.RetryInitial = 50 * time.Millisecond
	cfg.Sink.RetryMax = 500 * time.Millisecond
	cfg.Scoring.CheckpointInterval = time.Second // restarts resume from recent checkpoints
	// AckWait is 2×flush_timeout+30s: 32 s instead of 150 s. After a
	// restart of the NATS server, the sink's consumer can hold deliveries
	// that reached no one until AckWait (a pull request sent while
	// disconnected is replayed by the client after the reconnect, when its
	// fetch has given up): nothing is lost, but it waits that long.
	cfg.Sink.FlushTimeout = time.Second
	require.NoError(t, cfg.Validate())
	return cfg
}

// external is cfg reaching NATS at url instead of embedding it.
func external(cfg Config, url string) Config {
	cfg.NATS.Mode = bus.ModeExternal
	cfg.NATS.External.URLs = []string{url}
	cfg.NATS.External.Token = cfg.NATS.Embedded.Token
	return cfg
}

func startStack(t *testing.T, cfg Config, p Parts) *Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, cfg, p, telemetry.Nop())
	require.NoError(t, err)
	return s
}

func stopStack(t *testing.T, s *Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
}

// faultEvent is the i-th good event: 700 members over three sources, some
// mentioning others (edges, reach).
func faultEvent(i int) events.Event {
	srcs := []string{"github", "discourse", "slack"}
	types := map[string]string{"github": "github.issue.opened", "discourse": "discourse.post.created", "slack": "slack.message.posted"}
	src := srcs[i%3]
	ev := events.Event{ID: fmt.Sprintf("e-%d", i), SchemaVersion: 1, Community: "acme", Source: src, Type: types[src],
		OccurredAt: events.Timestamp{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Second)},
		ReceivedAt: events.Timestamp{Time: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
		Actor:      events.Actor{Source: src, SourceID: fmt.Sprint("u", i%700), Username: fmt.Sprint("user", i%700)},
		Channel:    "general"}
	if i%5 == 0 {
		ev.Targets = []events.Target{{Source: src, SourceID: fmt.Sprint("u", (i*7)%700), Kind: "mention"}}
	}
	return ev
}

func activityMsg(t *testing.T, ev events.Event) *nats.Msg {
	t.Helper()
	data, err := events.Encode(&ev)
	require.NoError(t, err)
	m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, ev.ID)
	return m
}

// poison are messages published straight to the activity stream that the
// sink must dead-letter, with the reason it gives, and the scoring
// processor must not score; none may hold up what comes after them.
func poison(t *testing.T) (msgs []*nats.Msg, reasons []string) {
	t.Helper()
	add := func(subject, id string, data []byte, reason string) {
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, id)
		msgs, reasons = append(msgs, m), append(reasons, reason)
	}
	add(subjects.Activity("acme", "github"), "p-undecodable", []byte(`{"id":"p-undecodable","type":`), "decode")
	unknown := faultEvent(1)
	unknown.ID, unknown.Type, unknown.Actor.SourceID = "p-unknown-type", "github.nonsense", "poisoner-1"
	add(subjects.Activity("acme", "github"), unknown.ID, activityMsg(t, unknown).Data, "unknown type")
	long := faultEvent(1)
	long.ID, long.Title, long.Actor.SourceID = "p-long-title", strings.Repeat("t", events.MaxTextLen+1), "poisoner-2"
	add(subjects.Activity("acme", "github"), long.ID, activityMsg(t, long).Data, "title")
	wrong := faultEvent(1) // a valid acme event, on another community's subject
	wrong.ID, wrong.Actor.SourceID = "p-wrong-subject", "poisoner-3"
	add(subjects.Activity("other", "github"), wrong.ID, activityMsg(t, wrong).Data, "subject")
	huge := faultEvent(1) // past events.MaxEventBytes, within the stream's message size
	huge.ID, huge.Actor.SourceID = "p-oversized", "poisoner-4"
	huge.Attributes = map[string]string{"blob": strings.Repeat("x", 200<<10)}
	add(subjects.Activity("acme", "github"), huge.ID, activityMsg(t, huge).Data, "decode")
	add(subjects.Identity("acme"), "p-identity", []byte(`{"kind":"merge","identities":`), "")
	return msgs, reasons
}

// publisher publishes batches of messages with retries: a batch that fails
// (the server restarting) is published again under the same message ids,
// as `orbitflow ingest` run again would.
type publisher struct {
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream

	mu      sync.Mutex
	acked   int // messages acknowledged, in order
	retried int // batches published again
}

func newPublisher(t *testing.T, url, token string) *publisher {
	t.Helper()
	nc, err := nats.Connect(url, nats.Token(token), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return &publisher{t: t, nc: nc, js: js}
}

func (p *publisher) batch(ctx context.Context, msgs []*nats.Msg) error {
	for attempt := 0; ; attempt++ {
		pub := bus.NewPublisher(p.js, bus.WithAckWait(10*time.Second), bus.WithOnResult(func(r bus.Result) {
			require.NoError(p.t, r.Err)
		}))
		var err error
		for _, m := range msgs {
			if err = pub.Publish(ctx, m, nil); err != nil {
				break
			}
		}
		if err == nil {
			err = pub.Flush(ctx)
		}
		if err == nil {
			p.mu.Lock()
			p.acked += len(msgs)
			p.mu.Unlock()
			return nil
		}
		if ctx.Err() != nil || attempt > 100 {
			return err
		}
		p.mu.Lock()
		p.retried++
		p.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

func chConn(t *testing.T, addr, db string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// settle waits until the sink has written and the scoring processor has
// applied the whole activity stream.
func settle(t *testing.T, js jetstream.JetStream, scoring func() uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		st, err := js.Stream(ctx, subjects.ActivityStream)
		require.NoError(t, err)
		last := st.CachedInfo().State.LastSeq
		c, err := js.Consumer(ctx, subjects.ActivityStream, subjects.SinkActivities)
		require.NoError(t, err)
		info, err := c.Info(ctx)
		require.NoError(t, err)
		if info.AckFloor.Stream >= last && scoring() >= last {
			time.Sleep(time.Second) // the processor's last flush (every 250 ms)
			return
		}
		require.NoError(t, ctx.Err(), "the pipeline did not settle: stream at %d, sink at %d, scoring at %d", last, info.AckFloor.Stream, scoring())
		time.Sleep(100 * time.Millisecond)
	}
}

// scores are a community's members and edges, as the events decide them
// (not presence, which is as of each flush), one line each.
func scores(t *testing.T, conn driver.Conn, db string) []string {
	t.Helper()
	q := `SELECT concat('member ', member_id, ' ', display_name, ' ', toString(first_seen), ' ', toString(last_seen), ' love ', toString(love),
	       ' ', toString(love_at), ' level ', toString(orbit_level), ' step ', toString(orbit_step), ' reach ', toString(reach), ' ', toString(reach_at),
	       ' roles ', toString(roles), ' ', toString(is_bot), ' ', toString(is_teammate), ' ', merged_into)
	FROM ` + db + `.members_raw FINAL WHERE community = 'acme'
	UNION ALL
	SELECT concat('edge ', member_a, ' ', member_b, ' ', toString(direct_interactions), ' ', toString(indirect_interactions),
	       ' ', toString(strength), ' ', toString(strength_at))
	FROM ` + db + `.member_edges_raw FINAL WHERE community = 'acme'`
	rows, err := conn.Query(context.Background(), "SELECT * FROM ("+q+") ORDER BY 1")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func faultEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, name)
		return n
	}
	return def
}

// TestRestartsAndPoisonWhilePublishingLoseNothing publishes events at a
// steady pace, with poison messages among them, while the sink, the scoring
// processor, both, and the embedded NATS server are restarted in turn.
// Afterwards every acknowledged event is in `activities` exactly once, each
// poison message is a dead letter with its reason, and the scores equal
// those of a clean pipeline fed the same events without faults or poison.
// ORBITFLOW_RESTART_TEST_EVENTS and ORBITFLOW_RESTART_TEST_FAULTS scale it.
func TestRestartsAndPoisonWhilePublishingLoseNothing(t *testing.T) {
	n := faultEnvInt(t, "ORBITFLOW_RESTART_TEST_EVENTS", 12_000)
	faults := faultEnvInt(t, "ORBITFLOW_RESTART_TEST_FAULTS", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+time.Duration(n/1000)*time.Second)
	defer cancel()
	chAddr, db := kittest.ClickHouse(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	natsAddr := l.Addr().String()
	require.NoError(t, l.Close())
	cfg := faultConfig(t, t.TempDir(), natsAddr, chAddr, db)

	infra := startStack(t, cfg, Parts{ClickHouse: true, Bus: true})
	url, token := infra.Bus.ClientURL()
	workers := external(cfg, url)
	sinkStack := startStack(t, workers, Parts{ClickHouse: true, Bus: true, Sink: true})
	scoreStack := startStack(t, workers, Parts{ClickHouse: true, Bus: true, Scoring: true})
	defer func() { // whatever runs at the end, stopped in order
		for _, s := range []*Stack{sinkStack, scoreStack, infra} {
			if s != nil {
				_ = s.Shutdown(context.Background())
			}
		}
	}()

	pub := newPublisher(t, url, token)
	bad, reasons := poison(t)
	poisonAt := map[int]*nats.Msg{} // one poison message amid each stretch of events
	for k, m := range bad {
		poisonAt[(2*k+1)*n/(2*len(bad))] = m
	}
	const batch = 300
	pubDone := make(chan error, 1)
	go func() {
		for from := 0; from < n; from += batch {
			var msgs []*nats.Msg
			for i := from; i < min(from+batch, n); i++ {
				msgs = append(msgs, activityMsg(t, faultEvent(i)))
				if m := poisonAt[i]; m != nil {
					msgs = append(msgs, m)
				}
			}
			if err := pub.batch(ctx, msgs); err != nil {
				pubDone <- err
				return
			}
			time.Sleep(150 * time.Millisecond) // a steady pace, spread over the faults
		}
		pubDone <- nil
	}()

	// Faults in turn, each once publishing has gone a step further.
	actions := []string{"sink", "scoring", "nats", "sink+scoring", "nats"}
	for k := range faults {
		for pub.count() < (k+1)*n/(faults+1) {
			require.NoError(t, ctx.Err(), "publishing stalled at %d", pub.count())
			time.Sleep(20 * time.Millisecond)
		}
		what := actions[k%len(actions)]
		start := time.Now()
		switch what {
		case "sink":
			stopStack(t, sinkStack)
			sinkStack = startStack(t, workers, Parts{ClickHouse: true, Bus: true, Sink: true})
		case "scoring":
			stopStack(t, scoreStack)
			scoreStack = startStack(t, workers, Parts{ClickHouse: true, Bus: true, Scoring: true})
		case "sink+scoring":
			stopStack(t, sinkStack)
			stopStack(t, scoreStack)
			sinkStack = startStack(t, workers, Parts{ClickHouse: true, Bus: true, Sink: true})
			scoreStack = startStack(t, workers, Parts{ClickHouse: true, Bus: true, Scoring: true})
		case "nats":
			stopStack(t, infra)
			infra = nil
			time.Sleep(500 * time.Millisecond) // clients notice and retry
			infra = startStack(t, cfg, Parts{ClickHouse: true, Bus: true})
		}
		t.Logf("fault %d/%d: restarted %s at %d published (%s)", k+1, faults, what, pub.count(), time.Since(start).Round(time.Millisecond))
	}
	require.NoError(t, <-pubDone)
	pub.mu.Lock()
	t.Logf("published %d messages (%d good, %d poison), %d batches published again", pub.acked, n, len(bad), pub.retried)
	pub.mu.Unlock()

	js := infra.Bus.JetStream()
	began := time.Now()
	settle(t, js, func() uint64 { return scoreStack.Scoring.Seq() })
	t.Logf("written and scored %s after the last publish", time.Since(began).Round(time.Millisecond))
	conn := chConn(t, chAddr, db)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("e-%d", i)
	}
	report, err := store.CheckExactlyOnce(ctx, conn, "acme", ids)
	require.NoError(t, err)
	t.Log(report)
	require.True(t, report.OK(), report.String())

	// Every poison message is a dead letter, with its reason.
	for i, m := range bad {
		var reason string
		require.NoError(t, conn.QueryRow(ctx, "SELECT any(reason) FROM dead_letters WHERE startsWith(payload, {p:String})",
			clickhouse.Named("p", string(m.Data[:min(len(m.Data), 40)]))).Scan(&reason), m.Header.Get(jetstream.MsgIDHeader))
		if reasons[i] == "" { // an identity command: the scoring processor's to ignore
			continue
		}
		require.Contains(t, reason, reasons[i], "dead letter of %s", m.Header.Get(jetstream.MsgIDHeader))
	}

	// The same events through a pipeline nobody disturbs, in the same order.
	_, refDB := kittest.ClickHouse(t)
	ref := startStack(t, faultConfig(t, t.TempDir(), "", chAddr, refDB), Parts{ClickHouse: true, Bus: true, Sink: true, Scoring: true})
	defer func() { _ = ref.Shutdown(context.Background()) }()
	refPub := bus.NewPublisher(ref.Bus.JetStream(), bus.WithOnResult(func(r bus.Result) { require.NoError(t, r.Err) }))
	for i := range n {
		require.NoError(t, refPub.Publish(ctx, activityMsg(t, faultEvent(i)), nil))
	}
	require.NoError(t, refPub.Flush(ctx))
	settle(t, ref.Bus.JetStream(), ref.Scoring.Seq)
	got, want := scores(t, conn, db), scores(t, conn, refDB)
	require.NotEmpty(t, want)
	if diff := firstDiff(got, want); diff != "" {
		t.Fatalf("scores differ from the clean pipeline's (%d vs %d lines): %s", len(got), len(want), diff)
	}
	t.Logf("%d members and edges equal the clean pipeline's", len(want))
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("line %d:\n  faulted: %s\n  clean:   %s", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("%d lines vs %d", len(got), len(want))
	}
	return ""
}
