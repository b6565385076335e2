// Package sink writes the activity and dead-letter streams into ClickHouse.
//
// Each stream is read by a durable pull consumer. Messages are gathered into
// a batch (by size or time), written with one clickhouse-go batch, and each
// acknowledged only after the insert succeeded: a crash before the ack means
// redelivery, never loss. Redelivered rows collapse in ClickHouse
// (ReplacingMergeTree on the event id, read through FINAL views), so nothing
// is counted twice. Insert failures are retried with jittered backoff while
// the acks are held. Messages that cannot be decoded or fail validation go to
// the dead-letter stream with the reason, and are acked after that publish.
package sink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Config tunes batching and retries.
type Config struct {
	// BatchSize is the most rows one insert carries.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a row waits in a partial batch.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// FlushTimeout bounds one insert attempt.
	FlushTimeout time.Duration `yaml:"flush_timeout"`
	// RetryInitial and RetryMax bound the backoff between failed inserts.
	RetryInitial time.Duration `yaml:"retry_initial"`
	RetryMax     time.Duration `yaml:"retry_max"`
	// FetchSize is how many messages one pull request asks for.
	FetchSize int `yaml:"fetch_size"`
	// RollupInterval is how often the health rollups are brought up to
	// date (store.Rollups); 0 leaves them to another sink of the database.
	RollupInterval time.Duration `yaml:"rollup_interval"`
	// Shards splits the activity stream by community (bus.ShardOf) among
	// sink instances (Group): shard k of n reads the whole stream with its
	// own durable consumer (subjects.SinkActivitiesOf) and writes its
	// communities' messages alone, applying their forget commands in
	// order. 1: one consumer, SinkActivities.
	Shards int `yaml:"shards"`
}

// DefaultConfig returns the defaults: 20k rows or 500 ms. Under load the
// batches fill by size; below it a row waits at most 500 ms (orbitflow
// bench at 10k events/s: p99 publish → queryable 0.69 s, 1.38 s at 1 s,
// for 2% more CPU).
func DefaultConfig() Config {
	return Config{
		BatchSize:      20000,
		FlushInterval:  500 * time.Millisecond,
		FlushTimeout:   60 * time.Second,
		RetryInitial:   200 * time.Millisecond,
		RetryMax:       10 * time.Second,
		FetchSize:      5000,
		RollupInterval: 5 * time.Second,
		Shards:         1,
	}
}

// Validate reports every problem, each prefixed with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, path, fmt.Sprintf(format, a...)))
	}
	if c.BatchSize < 1 || c.BatchSize > 1_000_000 {
		add("batch_size", "must be 1..1000000, got %d", c.BatchSize)
	}
	if c.FlushInterval < 10*time.Millisecond {
		add("flush_interval", "must be at least 10ms, got %s", c.FlushInterval)
	}
	if c.FlushTimeout < time.Second {
		add("flush_timeout", "must be at least 1s, got %s", c.FlushTimeout)
	}
	if c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		add("retry_initial", "must be positive and at most retry_max (got %s, %s)", c.RetryInitial, c.RetryMax)
	}
	if c.FetchSize < 1 || c.FetchSize > 100_000 {
		add("fetch_size", "must be 1..100000, got %d", c.FetchSize)
	}
	if c.Shards < 1 || c.Shards > 256 {
		add("shards", "must be 1..256 (1: one sink instance writes everything), got %d", c.Shards)
	}
	if c.RollupInterval != 0 && c.RollupInterval < time.Second {
		add("rollup_interval", "must be 0 (off) or at least 1s, got %s", c.RollupInterval)
	}
	return errors.Join(errs...)
}

// Deps are what the sink writes through.
type Deps struct {
	JS       jetstream.JetStream
	CH       driver.Conn
	Registry *events.Registry
	// Salt keys what is stored of personal data (e-mail hashes) and finds
	// forgotten identities (people.email_salt). Required.
	Salt *events.Salt
}

// Sink runs one loop per consumer: one per owned shard of the activity
// stream and, with shard 0, the dead letters' and the health refresher.
type Sink struct {
	cfg   Config
	owned []int // the shards written, sorted
	deps  Deps
	log   *slog.Logger
	met   metrics
	// tracer is nil when tracing is off.
	tracer *bus.Tracer

	forget *forgetter
	meter  metric.Meter
	lag    metric.Registration // the stream lag gauge, while started

	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
	shutdown bool
	// aborted: the loops stop without flushing the batch they fill
	// (Abort).
	aborted atomic.Bool
}

type metrics struct {
	rows      metric.Int64Counter
	rejected  metric.Int64Counter // the sink's own dead letters, by reason
	retries   metric.Int64Counter
	flushDur  metric.Float64Histogram
	batchSize metric.Int64Histogram
	// activities counts stored activities by source and type: what came
	// in, each event once (duplicates are gone by then).
	activities metric.Int64Counter
	// deadLetters counts stored dead letters of every stage by stage,
	// source and reason kind: what was rejected anywhere.
	deadLetters metric.Int64Counter
	// forgotten counts events of forgotten identities dropped.
	forgotten metric.Int64Counter
}

// New returns a sink of every shard; Start begins consuming.
func New(cfg Config, deps Deps, set telemetry.Settings) *Sink {
	cfg.Shards = max(cfg.Shards, 1)
	return NewShards(cfg, deps, set, bus.AllShards(cfg.Shards))
}

// NewShards returns a sink of the shards owned among cfg.Shards (Group's
// worker). The owner of shard 0 also writes the dead letters and runs the
// health refresher: one sink of the group does.
func NewShards(cfg Config, deps Deps, set telemetry.Settings, owned []int) *Sink {
	cfg.Shards = max(cfg.Shards, 1)
	set = set.Named("sink")
	m := set.MeterProvider.Meter("github.com/orbitflow/orbitflow/services/sink")
	var met metrics
	met.rows, _ = m.Int64Counter("orbitflow.sink.rows", metric.WithDescription("Rows written to ClickHouse"))
	met.rejected, _ = m.Int64Counter("orbitflow.sink.dead_lettered",
		metric.WithDescription("Messages the sink sent to the dead-letter stream, by reason kind"))
	met.retries, _ = m.Int64Counter("orbitflow.sink.insert_retries", metric.WithDescription("Failed insert attempts that were retried"))
	met.flushDur, _ = m.Float64Histogram("orbitflow.sink.flush_duration", metric.WithUnit("s"),
		metric.WithDescription("Time to write one batch to ClickHouse (the insert with its materialized views), by table"))
	met.batchSize, _ = m.Int64Histogram("orbitflow.sink.batch_size", metric.WithDescription("Rows per insert, by table"),
		metric.WithExplicitBucketBoundaries(1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000, 50000))
	met.activities, _ = m.Int64Counter("orbitflow.activities",
		metric.WithDescription("Activities written to ClickHouse, by source and type (custom.* types as custom); each event counts once"))
	met.deadLetters, _ = m.Int64Counter("orbitflow.rejected",
		metric.WithDescription("Rejected inputs of every stage, counted as their dead letters are stored: by stage, source and reason kind"))
	met.forgotten, _ = m.Int64Counter("orbitflow.sink.forgotten_dropped",
		metric.WithDescription("Events of forgotten identities dropped (not stored, not dead-lettered)"))
	return &Sink{cfg: cfg, owned: slices.Sorted(slices.Values(owned)), deps: deps, log: set.Logger, met: met, meter: m,
		tracer: bus.NewTracer(set, "github.com/orbitflow/orbitflow/services/sink")}
}

// Start declares the durable consumers and starts the loops. The loops run
// on their own context, not ctx; Shutdown stops them.
func (s *Sink) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil || s.shutdown {
		return errors.New("sink: already started")
	}
	if s.deps.Salt == nil {
		return errors.New("sink: Deps.Salt is nil: set people.email_salt, or let orbitflow generate <data_dir>/email-salt")
	}
	if err := s.writeTypes(ctx); err != nil {
		return err
	}
	s.forget = newForgetter(s.deps.Salt, s.deps, s.log, s.met.forgotten)
	s.forget.rollupEvery = s.cfg.RollupInterval
	if err := s.forget.load(ctx); err != nil {
		return err
	}
	decl := subjects.SinkConsumers(s.cfg.BatchSize, s.cfg.FlushTimeout)
	activities := func() tableWriter { return newActivityWriter(s.deps.Registry).withForget(s.forget) }
	type loop struct {
		cons      jetstream.Consumer
		newWriter func() tableWriter
		shard     int // of the activity stream; -1: every message
	}
	var loops []loop
	for _, k := range s.owned {
		c := decl[0]
		c.Durable = subjects.SinkActivitiesOf(k, s.cfg.Shards)
		if s.cfg.Shards > 1 {
			c.Description = fmt.Sprintf("ClickHouse sink: activities table, shard %d of %d", k, s.cfg.Shards)
		}
		cons, err := bus.EnsureConsumer(ctx, s.deps.JS, c)
		if err != nil {
			return err
		}
		shard := k
		if s.cfg.Shards == 1 {
			shard = -1
		}
		loops = append(loops, loop{cons, activities, shard})
	}
	first := len(s.owned) > 0 && s.owned[0] == 0
	if first {
		cons, err := bus.EnsureConsumer(ctx, s.deps.JS, decl[1])
		if err != nil {
			return err
		}
		loops = append(loops, loop{cons, func() tableWriter { return newDeadLetterWriter() }, -1})
	}
	consumers := make([]jetstream.Consumer, len(loops))
	for i, l := range loops {
		consumers[i] = l.cons
	}
	if err := s.observeLag(consumers); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(runCtx, l.cons, l.newWriter, l.shard)
		}()
	}
	if s.cfg.RollupInterval > 0 && first {
		wg.Add(1)
		go func() {
			defer wg.Done()
			store.NewRollups(s.deps.CH, s.log).Run(runCtx, s.cfg.RollupInterval)
		}()
	}
	go func() { wg.Wait(); close(s.done) }()
	s.log.Info("sink started", "shards", bus.ShardList(s.owned, s.cfg.Shards), "dead_letters", first)
	return nil
}

// Dropped is how many events of forgotten identities this sink dropped
// since Start (the metric orbitflow.sink.forgotten_dropped counts the same).
func (s *Sink) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forget == nil {
		return 0
	}
	return s.forget.n.Load()
}

// observeLag reports each consumer's lag at every metrics collection
// (bus.LagMetric, labelled with the durable name).
func (s *Sink) observeLag(consumers []jetstream.Consumer) error {
	named := make(map[string]jetstream.Consumer, len(consumers))
	for _, c := range consumers {
		named[c.CachedInfo().Name] = c
	}
	reg, err := bus.ObserveLag(s.meter, named)
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	s.lag = reg
	return nil
}

// Shutdown stops fetching, flushes and acks what the loops hold, and waits
// for them, at most until ctx ends. Idempotent and safe without Start.
func (s *Sink) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	cancel, done := s.cancel, s.done
	if s.lag != nil {
		_ = s.lag.Unregister()
		s.lag = nil
	}
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sink: shutdown: %w (unacknowledged rows will be redelivered)", ctx.Err())
	}
}

// Abort stops like Shutdown, except that the batch being filled is
// dropped unwritten and unacknowledged (redelivered to the shard's next
// owner): a Group's shard lease was lost, and another instance may write
// the shard already. A batch being inserted still finishes.
func (s *Sink) Abort(ctx context.Context) error {
	s.aborted.Store(true)
	return s.Shutdown(ctx)
}

// tableWriter turns messages into the columns of one table.
type tableWriter interface {
	table() string
	// add appends msg's row, or returns the dead letter for it.
	add(msg jetstream.Msg) *bus.DeadLetter
	len() int
	// actions counts what send does besides writing rows (forget
	// commands, messages to delete).
	actions() int
	// send writes the buffered rows with one batch, then does the actions.
	send(ctx context.Context, conn driver.Conn) error
	// tally counts the written rows in the writer's own metrics (after a
	// successful send, before reset).
	tally(ctx context.Context, m *metrics)
	reset()
}

// maxPollWait bounds one pull request's wait, and so how long Shutdown waits
// for a loop to notice it.
const maxPollWait = 250 * time.Millisecond

// batch is the rows of one insert and the messages acked after it.
type batch struct {
	ctx    context.Context // ends the retries (the run's, or none at shutdown)
	w      tableWriter
	held   []jetstream.Msg // taken and not yet acknowledged
	traces *batchTrace     // the messages' spans; nil when tracing is off
}

// run is one consumer's loop (of shard, if not -1, the messages of its
// communities alone; the others are acked unread): it fetches and decodes into one batch while
// the previous batch is inserted and acked by a second goroutine, so decoding
// and the insert overlap (BenchmarkSinkThroughput: ~15% faster than in turn). At most two batches exist, which the consumer's
// MaxAckPending (twice the batch size) allows. On ctx's end it hands over
// what it holds (flushed with no deadline), waits for the acks, and returns.
func (s *Sink) run(ctx context.Context, cons jetstream.Consumer, newWriter func() tableWriter, shard int) {
	first := newWriter()
	log := s.log.With("table", first.table())
	free := make(chan *batch, 2)
	free <- &batch{w: first}
	free <- &batch{w: newWriter()}
	full := make(chan *batch)
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for b := range full {
			if b.traces != nil {
				s.flushTraced(b, log)
			} else {
				s.flush(b.ctx, log, b.w, b.held)
			}
			clear(b.held) // drop references to the messages' data
			b.held = b.held[:0]
			free <- b
		}
	}()
	cur := <-free
	deadline := time.Now().Add(s.cfg.FlushInterval)
	for {
		if ctx.Err() != nil {
			if len(cur.held) > 0 && !s.aborted.Load() {
				cur.ctx = context.Background()
				full <- cur
			}
			close(full)
			<-flushed
			// Acks are fire-and-forget: make sure the server has them
			// before the connection is drained.
			if nc := s.deps.JS.Conn(); nc != nil {
				if err := nc.FlushTimeout(10 * time.Second); err != nil {
					log.Warn("flushing acks at shutdown failed; those messages will be redelivered and deduplicated", "err", err)
				}
			}
			return
		}
		// Fetch does not watch ctx: bound each pull so Shutdown is noticed
		// within maxPollWait even when the flush interval is long.
		wait := min(max(time.Until(deadline), 20*time.Millisecond), maxPollWait)
		want := min(s.cfg.FetchSize, s.cfg.BatchSize-len(cur.held))
		msgs, err := cons.Fetch(want, jetstream.FetchMaxWait(wait))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("fetch failed; retrying", "err", err)
				sleep(ctx, s.cfg.RetryInitial)
			}
			continue
		}
		for msg := range msgs.Messages() {
			if shard >= 0 && bus.ShardOfSubject(msg.Subject(), s.cfg.Shards) != shard {
				// Another shard's: its sink writes it. Acked now (it is
				// no row of this batch), so it takes no room in one.
				if err := msg.Ack(); err != nil {
					log.Debug("ack of another shard's message failed; it comes again and is skipped again", "err", err)
				}
				continue
			}
			if s.tracer != nil {
				s.addTraced(ctx, log, cur, msg)
			} else if dl := cur.w.add(msg); dl != nil {
				s.deadLetter(ctx, log, *dl)
			}
			cur.held = append(cur.held, msg)
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			log.Warn("fetch ended with an error; retrying", "err", err)
			if len(cur.held) == 0 {
				// Nothing came (no responders: a NATS node restarting, a
				// cluster electing a leader): wait before asking again
				// rather than spin.
				sleep(ctx, s.cfg.RetryInitial)
			}
		}
		if len(cur.held) > 0 && (len(cur.held) >= s.cfg.BatchSize || !time.Now().Before(deadline)) {
			cur.ctx = ctx
			full <- cur
			cur = <-free // waits while both batches are being written
		}
		if !time.Now().Before(deadline) {
			deadline = time.Now().Add(s.cfg.FlushInterval)
		}
	}
}

// flush writes the buffered rows, retrying until it succeeds, then acks
// every held message. When ctx ends during retries the messages stay
// unacknowledged (redelivered after a restart).
func (s *Sink) flush(ctx context.Context, log *slog.Logger, w tableWriter, held []jetstream.Msg) (written bool) {
	n := w.len()
	if n > 0 || w.actions() > 0 {
		backoff := s.cfg.RetryInitial
		for attempt := 1; ; attempt++ {
			start := time.Now()
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.FlushTimeout)
			err := s.send(ictx, w, s.deps.CH, attempt)
			cancel()
			if err == nil {
				table := metric.WithAttributes(attribute.String("table", w.table()))
				s.met.flushDur.Record(ctx, time.Since(start).Seconds(), table)
				s.met.rows.Add(ctx, int64(n), table)
				if n > 0 {
					s.met.batchSize.Record(ctx, int64(n), table)
				}
				w.tally(ctx, &s.met)
				break
			}
			s.met.retries.Add(ctx, 1)
			log.WarnContext(ctx, "insert failed; holding acks and retrying", "rows", n, "attempt", attempt, "retry_in", backoff, "err", err)
			if ctx.Err() != nil && attempt >= 3 {
				log.ErrorContext(ctx, "giving up at shutdown; the rows stay in the stream and are written after restart", "rows", n)
				w.reset()
				return false
			}
			sleep(context.WithoutCancel(ctx), jitter(backoff))
			backoff = min(2*backoff, s.cfg.RetryMax)
		}
	}
	w.reset()
	var failed int
	var firstErr error
	for _, m := range held {
		if err := m.Ack(); err != nil {
			failed++
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if failed > 0 {
		// Not lost: the rows are written and the messages will be delivered
		// again; ClickHouse collapses the copies.
		log.WarnContext(ctx, "acks failed; those messages will be redelivered and deduplicated", "failed", failed, "err", firstErr)
	}
	return true
}

// deadLetter publishes dl, retrying until the stream takes it: the original
// is acked (with its batch) only afterwards.
func (s *Sink) deadLetter(ctx context.Context, log *slog.Logger, dl bus.DeadLetter) {
	s.met.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", ReasonKind(dl.Reason))))
	backoff := s.cfg.RetryInitial
	for {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, err := bus.PublishDeadLetter(pctx, s.deps.JS, dl)
		cancel()
		if err == nil {
			log.DebugContext(ctx, "dead-lettered", "subject", dl.Subject, "seq", dl.Seq, "reason", dl.Reason)
			return
		}
		log.WarnContext(ctx, "dead-letter publish failed; retrying", "err", err)
		sleep(context.WithoutCancel(ctx), jitter(backoff))
		backoff = min(2*backoff, s.cfg.RetryMax)
	}
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// writeTypes records the activity type registry in use (activity_types):
// health metrics read which types are contributions and which open or
// respond to an item.
func (s *Sink) writeTypes(ctx context.Context) error {
	b, err := s.deps.CH.PrepareBatch(ctx, "INSERT INTO activity_types (type, weight, contribution, item, description)")
	if err != nil {
		return fmt.Errorf("sink: activity_types: %w", err)
	}
	defer b.Close()
	for _, t := range s.deps.Registry.Types() {
		if err := b.Append(t.Name, t.Weight, t.Contribution, t.Item, t.Description); err != nil {
			return fmt.Errorf("sink: activity_types: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("sink: insert into activity_types: %w", err)
	}
	return nil
}
