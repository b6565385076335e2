// Package orbit is the scoring processor: it reads the activity stream in
// order, keeps the Orbit Model's state per community (scoring.Scorer, plus
// an identity.Resolver for username references), and writes members,
// member_edges and level_changes to ClickHouse.
//
// Exactly once, by checkpoint: the state is saved with the stream sequence
// it reflects, after every output up to that sequence is written. A restart
// loads the checkpoint and reads the stream from the next sequence with an
// ordered consumer, so every activity is applied once to the saved state,
// in stream order. Outputs written after the checkpoint are written again
// on replay with the same values and the same stream_seq, and
// ReplacingMergeTree keeps one copy. A checkpoint from another scoring
// config is not mixed in: the processor starts over from the stream's
// first activity.
//
// Partitions: the processor reads the stream in order and routes each
// change to the partition that owns the member (scoring.Scorer); after
// every fetched batch the partitions apply their changes in parallel. The
// partition count is configurable and does not change the numbers.
//
// Shards: across processes, the stream is split by community. Community c
// belongs to shard bus.ShardOf(c, shards); a processor applies the shards it owns
// (NewShards) and skips the rest, and keeps one checkpoint per shard, so a
// shard moves between processes (Group) by its checkpoint alone.
//
// Identities: each activity's actor is resolved to a member (identity
// package): the same e-mail hash merges automatically; merges and unmerges
// also come as commands on the stream (subjects.Identity), ordered with the
// activities. Either way the affected members are rebuilt from their
// activities in ClickHouse (identity.go), so no score keeps the trace of a
// wrong merge.
package orbit

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/identity"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

// Config configures the processor.
type Config struct {
	// ScoringFile holds the model's constants (deploy/config/scoring.yaml);
	// "" uses the defaults.
	ScoringFile string `yaml:"scoring_file"`
	// FlushInterval is the longest a changed score waits for ClickHouse.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// CheckpointInterval is how often the state is saved; a restart
	// replays at most this much of the stream.
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Partitions is how many owners the members are split across; they
	// apply in parallel (one per core is plenty).
	Partitions int `yaml:"partitions"`
	// Segments are the kinds of segment gravity is also computed for:
	// "source", "channel", "attribute:<key>" (e.g. attribute:plan). A
	// member belongs to a segment in a period when active in it then.
	Segments []string `yaml:"segments"`
	// MaxSegments bounds the segments tracked per community; activity in
	// further ones counts under "<kind>:(other)".
	MaxSegments int `yaml:"max_segments"`
	// Shards splits the communities across processes (split mode's
	// processors target shares them out, Group): each community belongs to
	// one shard by a hash of its name. More shards than processes lets
	// instances be added; one community never spans shards. Changing it
	// replays the stream from the start (checkpoints are per shard).
	Shards int `yaml:"shards"`
}

// DefaultConfig flushes every 250 ms (BenchmarkLatency: p99 from publish to
// the members row ~0.6 s at 20k events/s; with 1 s it is over a second) and
// checkpoints every 30 seconds.
func DefaultConfig() Config {
	return Config{FlushInterval: 250 * time.Millisecond, CheckpointInterval: 30 * time.Second, Partitions: 2,
		Segments: []string{"source", "channel"}, MaxSegments: 1000, Shards: 1}
}

// Validate reports every problem with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	if c.FlushInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("%s.flush_interval: must be at least 10ms, got %s", prefix, c.FlushInterval))
	}
	if c.CheckpointInterval < c.FlushInterval {
		errs = append(errs, fmt.Errorf("%s.checkpoint_interval: must be at least flush_interval, got %s", prefix, c.CheckpointInterval))
	}
	if c.Partitions < 1 || c.Partitions > 256 {
		errs = append(errs, fmt.Errorf("%s.partitions: must be 1..256, got %d", prefix, c.Partitions))
	}
	for i, k := range c.Segments {
		if k != "source" && k != "channel" && !(strings.HasPrefix(k, "attribute:") && len(k) > len("attribute:")) {
			errs = append(errs, fmt.Errorf("%s.segments[%d]: want source, channel or attribute:<key>, got %q", prefix, i, k))
		}
	}
	if c.Shards < 1 || c.Shards > 1024 {
		errs = append(errs, fmt.Errorf("%s.shards: must be 1..1024, got %d", prefix, c.Shards))
	}
	if c.MaxSegments < 1 {
		errs = append(errs, fmt.Errorf("%s.max_segments: must be at least 1, got %d", prefix, c.MaxSegments))
	}
	if c.ScoringFile != "" {
		if _, err := c.Scoring(); err != nil {
			errs = append(errs, fmt.Errorf("%s.scoring_file: %w", prefix, err))
		}
	}
	return errors.Join(errs...)
}

// Scoring loads the scoring config.
func (c Config) Scoring() (scoring.Config, error) {
	if c.ScoringFile == "" {
		return scoring.DefaultConfig(), nil
	}
	data, err := os.ReadFile(c.ScoringFile)
	if err != nil {
		return scoring.Config{}, err
	}
	return scoring.LoadConfig(data)
}

// Deps are what the processor reads and writes.
type Deps struct {
	JS       jetstream.JetStream
	CH       driver.Conn
	Registry *events.Registry
	// Salt keys the e-mail hashes the identities are merged by and finds
	// forgotten identities (people.email_salt). Required.
	Salt *events.Salt
	// Signals holds the signal rules and opt-outs (signals.Watcher, started
	// and stopped by the caller); nil evaluates none.
	Signals *signals.Watcher
}

// Bucket is the object store bucket that holds the checkpoint.
const Bucket = "orbitflow-scoring"

// CheckpointObject is the name of the checkpoint in Bucket with one shard
// (CheckpointName names each shard's with several).
const CheckpointObject = "checkpoint"

// CheckpointName is the checkpoint object of shard k of n.
func CheckpointName(k, n int) string {
	if n == 1 {
		return CheckpointObject
	}
	return fmt.Sprintf("checkpoint-%d-of-%d", k, n)
}

// Processor is the scoring processor (Start, Shutdown).
type Processor struct {
	cfg  Config
	sc   scoring.Config
	hash string
	deps Deps
	log  *slog.Logger
	met  metrics

	communities map[string]*community
	seq         uint64 // the last stream sequence applied
	// owned lists the shards applied (sorted); from is each one's
	// checkpointed sequence: its messages up to it are in its state.
	owned []int
	from  map[int]uint64
	// lastActivitySeq is the last activity's sequence: a rebuild waits
	// until the sink has written it.
	lastActivitySeq uint64
	// incomplete: a rebuild could not finish (shutdown); the state must
	// not be checkpointed past it.
	incomplete bool
	out        outputs
	// collect, during a flush, gathers the tables' batches (insert).
	collect []pendingInsert

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	abort  bool // tests: stop like a crash, without the final flush and checkpoint
	err    error
	// flushed, if set (benchmarks), is called after each successful flush
	// with the stream sequence the written rows reflect.
	flushed func(seq uint64)
	// dropped counts events of forgotten identities dropped.
	dropped atomic.Int64
	// tracer is nil when tracing is off.
	tracer *bus.Tracer
	// clock, if set (tests), is the time signals are judged fresh by.
	clock func() time.Time
}

// community is one community's state.
type community struct {
	scorer *scoring.Scorer
	ids    *identity.Resolver
	names  map[string]string // member id → display name
	// periods tracks gravity per period kind ("day", "week", "month"):
	// the current period's start and the previous period's weighted
	// commitment.
	periods map[string]periodState
	pending bool // changes are queued in the scorer's partitions
	// suggest: identities changed since merge_suggestions were written;
	// suggested are the pairs written as active.
	suggest   bool
	suggested map[[2]string]bool
	// segments is the segment gravity state: period kind → segment →
	// state.
	segments map[string]map[string]*segmentState
	// forgotten holds the tombstones (events.Salt.Tombstone) of forgotten
	// identity keys and username references: their events are dropped.
	forgotten map[string]struct{}
}

// periodState is one period kind's gravity bookkeeping.
type periodState struct {
	Start   int64 // the current period's start, Unix ms (0: none yet)
	PrevWC  float64
	HasPrev bool
}

// New returns a processor; Start begins reading. sc is the scoring config
// (Config.Scoring).
func New(cfg Config, sc scoring.Config, deps Deps, set telemetry.Settings) *Processor {
	return NewShards(cfg, sc, deps, set, bus.AllShards(cfg.Shards))
}

// NewShards returns a processor that applies the communities of the given
// shards of cfg.Shards and skips the others' messages.
func NewShards(cfg Config, sc scoring.Config, deps Deps, set telemetry.Settings, shards []int) *Processor {
	set = set.Named("scoring")
	cfg.Shards = max(cfg.Shards, 1)
	return &Processor{cfg: cfg, sc: sc, hash: sc.Hash(), deps: deps, log: set.Logger,
		met:         newMetrics(set.MeterProvider.Meter("github.com/orbitflow/orbitflow/services/processors/orbit")),
		communities: map[string]*community{}, out: newOutputs(), owned: slices.Sorted(slices.Values(shards)), from: map[int]uint64{},
		tracer: bus.NewTracer(set, "github.com/orbitflow/orbitflow/services/processors/orbit")}
}

// Start loads the checkpoint and starts the loop on its own context.
func (p *Processor) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		return errors.New("scoring: already started")
	}
	if p.deps.Salt == nil {
		return errors.New("scoring: Deps.Salt is nil: set people.email_salt, or let orbitflow generate <data_dir>/email-salt")
	}
	// As many copies as the stream the checkpoints stand for: a node
	// that dies takes neither with it.
	store, err := p.deps.JS.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: Bucket, Description: "Orbitflow scoring checkpoints", Storage: jetstream.FileStorage,
		Replicas: bus.StreamReplicas(ctx, p.deps.JS, subjects.ActivityStream)})
	if err != nil {
		return fmt.Errorf("scoring: checkpoint store: %w", err)
	}
	if err := p.restore(ctx, store); err != nil {
		return err
	}
	if err := p.writeWeights(ctx); err != nil {
		return err
	}
	if err := p.writeRoles(ctx); err != nil {
		return err
	}
	cons, err := p.consumer(ctx, p.seq)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		defer p.met.stopLag()
		p.run(runCtx, cons, store)
	}()
	p.log.Info("scoring processor started", "from_seq", p.seq+1, "model", scoring.ModelVersion, "config", p.hash, "shards", bus.ShardList(p.owned, p.cfg.Shards))
	return nil
}

// consumer creates the ordered consumer that reads the stream after seq,
// and reports its lag.
func (p *Processor) consumer(ctx context.Context, seq uint64) (jetstream.Consumer, error) {
	// The name prefix makes the consumer recognizable in consumer lists
	// (/readyz, orbitflow status); the nuid keeps a restart's consumer
	// apart from the one the server has not yet expired.
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subjects.ActivityPrefix + ".>", subjects.IdentityPrefix + ".>"},
		NamePrefix: "scoring-" + nuid.Next()}
	if seq > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	cons, err := p.deps.JS.OrderedConsumer(ctx, subjects.ActivityStream, cc)
	if err != nil {
		return nil, fmt.Errorf("scoring: consumer: %w", err)
	}
	p.met.stopLag()
	if err := p.met.observeLag(cons); err != nil {
		return nil, fmt.Errorf("scoring: %w", err)
	}
	return cons, nil
}

// stalled tells whether the stream holds messages past the last one
// applied (asked when none came for stallAfter): the ordered consumer
// lived on a server that died (it is not replicated), and its iterator may
// wait for it without end.
func (p *Processor) stalled(ctx context.Context) bool {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := p.deps.JS.Stream(sctx, subjects.ActivityStream)
	return err == nil && st.CachedInfo().State.LastSeq > p.Seq()
}

// stallAfter is how long the processor waits for messages the stream holds
// before it reads them with a new consumer.
const stallAfter = 10 * time.Second

// Shutdown stops reading, writes what is pending and saves a checkpoint.
// Idempotent; safe without Start.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("scoring: shutdown: %w (the next start replays from the last checkpoint)", ctx.Err())
	}
}

// Abort stops like a crash: no final write, no checkpoint (what was
// applied since the last one is applied again by whoever resumes from it).
func (p *Processor) Abort(ctx context.Context) error {
	p.mu.Lock()
	p.abort = true
	p.mu.Unlock()
	return p.Shutdown(ctx)
}

// Dropped is how many events of forgotten identities were dropped since
// start.
func (p *Processor) Dropped() int64 { return p.dropped.Load() }

// Seq is the last stream sequence applied (for tests and status).
func (p *Processor) Seq() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// run applies the stream in order and writes on schedule. It reads with
// the ordered consumer's message iterator, not Fetch: an ordered consumer
// deletes and recreates its server-side consumer at every Fetch (four
// times a second while idle, once per 1000 messages while busy); the
// iterator keeps one until a gap or a lost heartbeat.
func (p *Processor) run(ctx context.Context, cons jetstream.Consumer, store jetstream.ObjectStore) {
	lastFlush := time.Now()
	flushAt := lastFlush.Add(p.cfg.FlushInterval)
	checkpointAt := time.Now().Add(p.cfg.CheckpointInterval)
	// checkStallAt: no message since stallAfter; pushed back by every
	// batch that brings some, and by every check.
	checkStallAt := time.Now().Add(stallAfter)
	var it jetstream.MessagesContext
	defer func() {
		if it != nil {
			it.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			p.mu.Lock()
			abort := p.abort || p.incomplete
			p.mu.Unlock()
			if abort {
				return
			}
			p.finish(store)
			return
		}
		if it != nil && time.Now().After(checkStallAt) {
			checkStallAt = time.Now().Add(stallAfter)
			if p.stalled(ctx) {
				p.log.Warn("the stream holds messages the consumer does not deliver (its server died?); reading them with a new consumer",
					"after_seq", p.Seq(), "idle_over", stallAfter)
				it.Stop()
				it = nil
				if c, err := p.consumer(ctx, p.Seq()); err == nil {
					cons = c
				} else {
					p.log.Warn("a new consumer failed; retrying", "err", err)
				}
			}
		}
		if it == nil {
			var err error
			if it, err = cons.Messages(jetstream.PullMaxMessages(2 * fetchBatch)); err != nil {
				p.log.Warn("reading the stream failed; retrying", "err", err)
				it = nil
				time.Sleep(200 * time.Millisecond)
				continue
			}
		}
		// A batch: at most fetchBatch messages, those that arrive within
		// the wait and, past it, those already received (as Fetch would:
		// the time spent applying does not cut a batch short, or a
		// processor behind the stream would not see that it is and would
		// write after every short batch).
		deadline := time.Now().Add(min(max(time.Until(flushAt), 20*time.Millisecond), 250*time.Millisecond))
		stopped, fetched := false, 0
		var busy time.Duration // applying, not waiting for messages
		var first time.Time
		var last jetstream.Msg
		for fetched < fetchBatch {
			msg, err := it.Next(jetstream.NextMaxWait(max(time.Until(deadline), time.Millisecond)))
			if err != nil {
				if !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
					p.log.Warn("reading the stream failed; retrying", "err", err)
					it.Stop()
					it = nil // a new iterator resumes after the last message applied
				}
				break
			}
			fetched++
			last = msg
			start := time.Now()
			if first.IsZero() {
				if md, err := msg.Metadata(); err == nil {
					first = md.Timestamp
				}
			}
			if p.tracer != nil {
				stopped = !p.applyTraced(ctx, msg)
			} else {
				stopped = !p.apply(ctx, msg)
			}
			if stopped {
				break
			}
			busy += time.Since(start)
		}
		if stopped {
			return // no flush, no checkpoint past what could not be applied
		}
		start := time.Now()
		p.drainAll()
		p.met.applied(fetched, busy+time.Since(start), first)
		now := time.Now()
		if fetched > 0 {
			checkStallAt = now.Add(stallAfter)
		}
		due := flushAt
		if fetched == fetchBatch || behind(last) {
			// Behind the stream: let rows gather for longer (see catchUp).
			due = lastFlush.Add(catchUp * p.cfg.FlushInterval)
		}
		if now.After(due) {
			p.retry(ctx, "write scores", p.flush)
			lastFlush, flushAt = now, now.Add(p.cfg.FlushInterval)
		}
		if now.After(checkpointAt) {
			p.suggestAll()
			p.retry(ctx, "write scores", p.flush)
			p.retry(ctx, "save checkpoint", func(ctx context.Context) error { return p.checkpoint(ctx, store) })
			checkpointAt = now.Add(p.cfg.CheckpointInterval)
		}
	}
}

// behind tells whether the stream holds at least a batch more after msg
// (its metadata counts what is pending after it): a batch cut short
// because the iterator's buffer ran dry for a moment is no sign of being
// caught up.
func behind(msg jetstream.Msg) bool {
	if msg == nil {
		return false
	}
	md, err := msg.Metadata()
	return err == nil && md.NumPending >= fetchBatch
}

// fetchBatch is the most messages one batch takes before the processor
// drains its partitions and considers a write; a full batch means it is
// behind the stream.
const fetchBatch = 1000

// catchUp stretches the flush interval while the processor is behind: a
// member touched many times is written once instead of once per interval,
// and the engine's small inserts, most of what scoring costs ClickHouse,
// come catchUp times less often, so the processor catches up sooner (rows
// are at most catchUp intervals late, and were already late).
const catchUp = 4

// finish flushes and checkpoints at shutdown.
func (p *Processor) finish(store jetstream.ObjectStore) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.flush(ctx); err != nil {
		p.err = fmt.Errorf("scoring: final write: %w (the next start replays from the last checkpoint)", err)
		return
	}
	if err := p.checkpoint(ctx, store); err != nil {
		p.err = fmt.Errorf("scoring: final checkpoint: %w (the next start replays from the last checkpoint)", err)
	}
}

// retry runs f until it succeeds or ctx ends; reading waits meanwhile, so
// nothing is applied past what can be written.
func (p *Processor) retry(ctx context.Context, what string, f func(context.Context) error) {
	backoff := 200 * time.Millisecond
	for {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err := f(wctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		p.log.Warn(what+" failed; retrying", "err", err, "retry_in", backoff)
		time.Sleep(backoff)
		backoff = min(2*backoff, 10*time.Second)
	}
}

// apply scores one stream message; false when it could not be applied
// (a rebuild cut short by shutdown: nothing after it is applied, and the
// next start replays from the last checkpoint). Messages that are not
// valid events, or not on their own subject, are the sink's to
// dead-letter; here they are skipped.
func (p *Processor) apply(ctx context.Context, msg jetstream.Msg) bool {
	md, err := msg.Metadata()
	if err != nil {
		return true
	}
	seq := md.Sequence.Stream
	if p.cfg.Shards > 1 {
		if from, ok := p.from[bus.ShardOfSubject(msg.Subject(), p.cfg.Shards)]; !ok || seq <= from {
			p.setSeq(seq) // another process's shard, or in this shard's checkpoint
			return true
		}
	}
	if strings.HasPrefix(msg.Subject(), subjects.IdentityPrefix+".") {
		if err := p.applyCommand(ctx, msg.Data(), seq); err != nil {
			p.stopIncomplete(err)
			return false
		}
		p.setSeq(seq)
		return true
	}
	defer p.setSeq(seq)
	p.lastActivitySeq = seq
	ev, err := events.Decode(msg.Data()) // copies: ids outlive the message
	if err != nil {
		return true
	}
	// Score only what the sink writes (it dead-letters the rest): the scores
	// must be those of the activities table, which rebuilds read again.
	if p.deps.Registry.Validate(&ev) != nil || msg.Subject() != subjects.Activity(ev.Community, ev.Source) {
		return true
	}
	weight, ok := p.deps.Registry.Weight(ev.Type)
	if !ok || ev.Community == "" {
		return true
	}
	c := p.communities[ev.Community]
	if c == nil {
		c = newCommunity(p.sc, p.cfg.Partitions)
		p.communities[ev.Community] = c
	}
	if p.isForgotten(ev.Community, c, ev.Actor.Identity()) {
		p.dropped.Add(1) // a forgotten identity: as if the event never came
		return true
	}
	p.closePeriods(ev.Community, c, ev.OccurredAt.UnixMilli(), seq)
	known := c.ids.Len()
	member, merged := c.ids.Observe(identity.Identity{Source: ev.Actor.Source, SourceID: ev.Actor.SourceID,
		Username: ev.Actor.Username, DisplayName: ev.Actor.DisplayName, EmailSHA256: p.deps.Salt.Email(ev.Actor.EmailSHA256)})
	if c.ids.Len() != known || merged != nil {
		c.suggest = true
		p.out.idents[memberKey{ev.Community, ev.Actor.Identity()}] = struct{}{}
	}
	p.markSegments(c, member, &ev)
	// The same e-mail hash merged two members: if both have scores, they
	// are rebuilt (a new identity joining a member has none to rebuild).
	if merged != nil && c.scorer.Known(merged.Members[0]) && c.scorer.Known(merged.Members[1]) {
		if err := p.rebuild(ctx, ev.Community, c, merged, []string{ev.Actor.Identity()}, "", seq); err != nil {
			p.stopIncomplete(err)
			return false
		}
	}
	if name := displayName(ev.Actor); name != "" {
		c.names[member] = name
	}
	a := scoring.Activity{Member: member, At: ev.OccurredAt.UnixMilli(), Type: ev.Type, Weight: weight,
		Thread: ev.ThreadID, Bot: ev.Actor.IsBot, Teammate: ev.Attributes["teammate"] == "true",
		Source: ev.Source, Channel: ev.Channel, Seq: seq}
	for _, t := range ev.Targets {
		if p.isForgotten(ev.Community, c, t.Identity()) {
			continue
		}
		a.Targets = append(a.Targets, scoring.Target{Member: c.ids.Resolve(t.Source, t.SourceID), Kind: t.Kind})
	}
	c.scorer.Enqueue(a)
	c.pending = true
	if p.deps.Signals != nil {
		p.evaluateSignals(c, member, &ev, seq)
	}
	p.out.seq = seq
	return true
}

// applyTraced is apply inside a consumer span ("process ACTIVITIES"), a
// child of the context the message carries: the event's trace shows when
// it was scored. The span covers applying the event to the model; its
// rows are written by a later flush.
func (p *Processor) applyTraced(ctx context.Context, msg jetstream.Msg) bool {
	ctx, span := p.tracer.StartProcess(ctx, "", ConsumerGroup, msg.Subject(), msg.Headers())
	defer span.End()
	if md, err := msg.Metadata(); err == nil {
		span.SetAttributes(attribute.Int64("messaging.nats.stream.sequence", int64(md.Sequence.Stream)))
	}
	ok := p.apply(ctx, msg)
	if !ok {
		span.SetStatus(codes.Error, "not applied: the processor stopped before an identity change was applied; the next start replays it")
	}
	return ok
}

// ConsumerGroup names the scoring processor in traces
// (messaging.consumer.group.name).
const ConsumerGroup = "scoring"

func newCommunity(sc scoring.Config, partitions int) *community {
	return &community{scorer: scoring.NewPartitioned(sc, partitions), ids: identity.New(), names: map[string]string{},
		periods: map[string]periodState{}, suggested: map[[2]string]bool{}, segments: map[string]map[string]*segmentState{},
		forgotten: map[string]struct{}{}}
}

func (p *Processor) setSeq(seq uint64) {
	p.mu.Lock()
	p.seq = seq
	p.mu.Unlock()
}

// stopIncomplete records that an activity could not be applied (shutdown
// during a rebuild): the run ends without saving a checkpoint past it.
func (p *Processor) stopIncomplete(err error) {
	p.log.Warn("stopping before an identity change was applied; the next start replays it", "err", err)
	p.mu.Lock()
	p.incomplete = true
	p.mu.Unlock()
}

// drainAll applies what the partitions have queued.
func (p *Processor) drainAll() {
	for name, c := range p.communities {
		if c.pending {
			p.drain(name, c)
		}
	}
}

// drain applies one community's queued changes and records the rows they
// change.
func (p *Processor) drain(name string, c *community) {
	for _, ch := range c.scorer.Drain() {
		p.out.level(name, ch)
		p.out.member(name, ch.Member)
	}
	for _, ch := range c.scorer.RoleChanges() {
		p.out.role(name, ch)
		p.out.member(name, ch.Member)
	}
	c.scorer.Touched(func(id string) { p.out.member(name, id) },
		func(x, y string) { p.out.edge(name, x, y) })
	c.pending = false
}

func displayName(a events.Actor) string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	return a.Username
}

// checkpointState is what a checkpoint holds.
type checkpointState struct {
	Seq             uint64
	LastActivitySeq uint64
	Hash            string
	Model           string
	Communities     []communityState
	// Salt is the fingerprint of the salt the e-mail hashes were keyed
	// with ("": a checkpoint from before they were keyed).
	Salt string
}

type communityState struct {
	Name       string
	Scorer     []byte
	Identities []byte
	Names      map[string]string
	Periods    map[string]periodState
	Suggested  map[[2]string]bool
	Segments   map[string]map[string]*segmentState
	Forgotten  []string // tombstones, sorted
}

// checkpoint saves each owned shard's state with the sequence it
// reflects: where the processor is, or the shard's own checkpoint while the
// processor is still replaying up to it.
func (p *Processor) checkpoint(ctx context.Context, store jetstream.ObjectStore) error {
	byShard := map[int][]string{}
	for n := range p.communities {
		k := bus.ShardOf(n, p.cfg.Shards)
		byShard[k] = append(byShard[k], n)
	}
	for _, k := range p.owned {
		st := checkpointState{Seq: max(p.seq, p.from[k]), LastActivitySeq: p.lastActivitySeq, Hash: p.hash, Model: scoring.ModelVersion,
			Salt: p.deps.Salt.Fingerprint()}
		names := byShard[k]
		slices.Sort(names)
		for _, n := range names {
			c := p.communities[n]
			var sb, ib bytes.Buffer
			if err := c.scorer.WriteSnapshot(&sb); err != nil {
				return err
			}
			if err := c.ids.WriteSnapshot(&ib); err != nil {
				return err
			}
			st.Communities = append(st.Communities, communityState{Name: n, Scorer: sb.Bytes(), Identities: ib.Bytes(), Names: c.names, Periods: c.periods, Suggested: c.suggested, Segments: c.segments,
				Forgotten: slices.Sorted(maps.Keys(c.forgotten))})
		}
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(st); err != nil {
			return err
		}
		if _, err := store.Put(ctx, jetstream.ObjectMeta{Name: CheckpointName(k, p.cfg.Shards),
			Description: fmt.Sprintf("stream seq %d, scoring config %s", st.Seq, st.Hash)}, &buf); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
	}
	return nil
}

// restore loads the owned shards' checkpoints; the stream is read from
// the oldest one's next sequence, and each shard skips what its own holds.
func (p *Processor) restore(ctx context.Context, store jetstream.ObjectStore) error {
	var from []uint64
	for _, k := range p.owned {
		seq, err := p.restoreShard(ctx, store, k)
		if err != nil {
			return err
		}
		p.from[k] = seq
		from = append(from, seq)
	}
	if len(from) > 0 {
		p.seq = slices.Min(from)
	}
	return nil
}

// restoreShard loads shard k's checkpoint and returns the sequence it
// reflects (0: none, or one to replay from the start).
func (p *Processor) restoreShard(ctx context.Context, store jetstream.ObjectStore, k int) (uint64, error) {
	name := CheckpointName(k, p.cfg.Shards)
	data, err := store.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("scoring: load checkpoint %s: %w", name, err)
	}
	var st checkpointState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
		return 0, fmt.Errorf("scoring: checkpoint is corrupt (%v); delete object %q of bucket %s to replay its shard from the start", err, name, Bucket)
	}
	if st.Salt != "" && st.Salt != p.deps.Salt.Fingerprint() {
		return 0, fmt.Errorf("scoring: the checkpoint's e-mail hashes were keyed with another salt (fingerprint %s, this one %s): "+
			"set people.email_salt back to the salt of this data, or delete object %q of bucket %s to replay from the start",
			st.Salt, p.deps.Salt.Fingerprint(), name, Bucket)
	}
	if st.Hash != p.hash || st.Model != scoring.ModelVersion {
		p.log.Warn("the checkpoint is from another scoring config or model: replaying the stream from the start",
			"checkpoint", name, "checkpoint_config", st.Hash, "config", p.hash)
		return 0, nil
	}
	for _, cs := range st.Communities {
		sc, err := scoring.ReadSnapshot(p.sc, p.cfg.Partitions, bytes.NewReader(cs.Scorer))
		if err != nil {
			return 0, err
		}
		ids, err := identity.ReadSnapshot(bytes.NewReader(cs.Identities))
		if err != nil {
			return 0, err
		}
		if cs.Names == nil {
			cs.Names = map[string]string{}
		}
		if cs.Periods == nil {
			cs.Periods = map[string]periodState{}
		}
		if cs.Suggested == nil {
			cs.Suggested = map[[2]string]bool{}
		}
		if cs.Segments == nil {
			cs.Segments = map[string]map[string]*segmentState{}
		}
		if st.Salt == "" {
			ids.RekeyEmails(p.deps.Salt.Email) // written before e-mail hashes were keyed
		}
		forgotten := map[string]struct{}{}
		for _, ts := range cs.Forgotten {
			forgotten[ts] = struct{}{}
		}
		p.communities[cs.Name] = &community{scorer: sc, ids: ids, names: cs.Names, periods: cs.Periods, suggested: cs.Suggested,
			segments: cs.Segments, forgotten: forgotten}
	}
	p.lastActivitySeq = max(p.lastActivitySeq, st.LastActivitySeq)
	return st.Seq, nil
}
