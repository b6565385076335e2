package sink_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/sink"
)

// proxy is a loopback TCP proxy to ClickHouse whose outage is real: down
// closes the listener and every open connection (clients are reset, new
// ones refused), up listens again on the same address.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { p.down(); p.wg.Wait() })
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pipe(c)
			}()
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // went down meanwhile
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// down makes ClickHouse unreachable: connections in use are cut, new ones
// refused. Idempotent.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a polite close
		}
		c.Close()
	}
}

// up listens again on the same address.
func (p *proxy) up() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was ours a moment ago; retry briefly
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(p.t, err, "listen again on %s", p.addr)
	p.serve(ln)
}

// countingHandler counts log records by message (and drops them).
type countingHandler struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.n[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[msg]
}

// outage is how long ClickHouse is away in TestSinkRidesOutAClickHouseOutage:
// ORBITFLOW_CH_OUTAGE (a duration; 30s under make soak), 6s by default.
func outage(t testing.TB) time.Duration {
	if s := os.Getenv("ORBITFLOW_CH_OUTAGE"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(t, err, "ORBITFLOW_CH_OUTAGE")
		return d
	}
	return 6 * time.Second
}

// TestSinkRidesOutAClickHouseOutage cuts the sink's connection to ClickHouse
// (a TCP proxy closed, then opened again) while events are published at a
// steady rate. Meanwhile the sink retries with backoff and holds its acks,
// holds no more than MaxAckPending messages, and the stream keeps the rest;
// when ClickHouse is back, every acknowledged publish is in `activities`
// exactly once.
func TestSinkRidesOutAClickHouseOutage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+4*outage(t))
	defer cancel()
	addr, db := kittest.ClickHouse(t)
	open := func(addr string) clickhouse.Conn {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP,
			Auth: clickhouse.Auth{Database: db}, DialTimeout: 2 * time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	direct := open(addr)
	_, err := store.Migrate(ctx, direct, telemetry.Nop().Logger)
	require.NoError(t, err)
	px := newProxy(t, addr)
	b := kittest.Bus(t)
	e := &env{t: t, bus: b, js: b.JetStream(), ch: direct}

	cfg := sink.DefaultConfig()
	// MaxAckPending 1000 is the most the sink may hold; at ~2000 events/s
	// batches fill by size, so it holds two full ones while inserts fail.
	cfg.BatchSize = 500
	cfg.FlushInterval = time.Second
	cfg.RetryInitial = 100 * time.Millisecond
	cfg.RetryMax = time.Second
	logs := &countingHandler{n: map[string]int{}}
	s := sink.New(cfg, sink.Deps{JS: e.js, CH: open(px.addr), Registry: events.DefaultRegistry(), Salt: testSalt},
		telemetry.Settings{Logger: slog.New(logs)})
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	maxPending := subjects.SinkConsumers(cfg.BatchSize, cfg.FlushTimeout)[0].MaxAckPending

	// A steady publisher: ~2000 events/s, each acknowledged by the stream.
	var acked []string
	var mu sync.Mutex
	stop := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-stop:
				pubDone <- nil
				return
			case <-tick.C:
			}
			for range 10 {
				ev := event(i)
				data, err := events.Encode(&ev)
				if err != nil {
					pubDone <- err
					return
				}
				m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
				m.Data = data
				m.Header.Set(jetstream.MsgIDHeader, ev.ID)
				if _, err := e.js.PublishMsg(ctx, m); err != nil {
					pubDone <- fmt.Errorf("publish %s: %w", ev.ID, err)
					return
				}
				mu.Lock()
				acked = append(acked, ev.ID)
				mu.Unlock()
				i++
			}
		}
	}()
	published := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	info := func() *jetstream.ConsumerInfo {
		return e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream)
	}

	// Warm up: rows flow.
	require.Eventually(t, func() bool { return e.count("SELECT count() FROM activities_raw") > 1000 }, time.Minute, 50*time.Millisecond)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	px.down()
	outageStart := time.Now()
	var floor uint64
	var peak int
	for time.Since(outageStart) < outage(t) {
		i := info()
		peak = max(peak, i.NumAckPending)
		require.LessOrEqual(t, i.NumAckPending, maxPending, "the sink holds more than MaxAckPending")
		if floor == 0 && time.Since(outageStart) > time.Second {
			floor = i.AckFloor.Stream // what was written before the outage is acknowledged by now
		}
		time.Sleep(100 * time.Millisecond)
	}
	i := info()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	retries := logs.count("insert failed; holding acks and retrying")
	backlog := i.NumPending
	t.Logf("%s outage: %d published, sink holds %d (peak %d, MaxAckPending %d), %d waiting in the stream, ack floor %d, %d failed inserts, Go heap %+.1f MB",
		outage(t), published(), i.NumAckPending, peak, maxPending, backlog, i.AckFloor.Stream, retries,
		(float64(after.HeapAlloc)-float64(before.HeapAlloc))/(1<<20))
	require.Equal(t, floor, i.AckFloor.Stream, "an ack was sent while ClickHouse was away")
	require.Greater(t, backlog, uint64(2*maxPending), "the stream buffers what the sink cannot take")
	require.GreaterOrEqual(t, retries, 2, "the sink retried the insert")
	// Backoff, not a tight loop: from 100 ms doubling to 1 s (jittered to
	// at least half), a few attempts per second at most.
	require.LessOrEqual(t, retries, 10+2*int(outage(t)/time.Second), "inserts retried without backoff")
	require.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(256<<20), "the Go heap grew by more than 256 MB during the outage")

	px.up()
	back := time.Now()
	time.Sleep(2 * time.Second) // publishing goes on after the outage
	close(stop)
	require.NoError(t, <-pubDone)
	ids := acked
	require.Eventually(t, func() bool { return info().AckFloor.Stream >= uint64(len(ids)) }, 2*time.Minute, 100*time.Millisecond,
		"the sink never caught up after ClickHouse came back")
	t.Logf("caught up %s after ClickHouse came back", time.Since(back).Round(time.Millisecond))
	report, err := store.CheckExactlyOnce(ctx, direct, "acme", ids)
	require.NoError(t, err)
	t.Log(report)
	require.True(t, report.OK(), report.String())
	require.Zero(t, info().NumAckPending, "nothing is left unacknowledged")
}
