package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/sink"
)

// Config is one bench run.
type Config struct {
	// Duration is how long each pipeline phase publishes.
	Duration time.Duration
	// Rates are the phases' publish rates in events/s; 0 is flat out.
	Rates []int
	// CeilingEvents is how many messages the ceilings measure.
	CeilingEvents int
	// Members is how many members the load draws from (power law).
	Members int
	Seed    uint64
	// Poll is how often the bench asks ClickHouse what is queryable: the
	// resolution of the latency figures.
	Poll time.Duration
	// BatchSize is the sink's batch size (the ClickHouse ceiling inserts
	// batches of this size).
	BatchSize int
	// Drain bounds the wait, after publishing, for the last event to be
	// queryable and scored.
	Drain time.Duration
	// Progress receives a line now and then (nil: silent).
	Progress func(format string, a ...any)
	// Tick, if set, is called on the publishing goroutine every 1000
	// events a phase publishes: the phase ("max", "50000"), the events sent
	// so far and the number it will send (0 when flat out: unknown).
	Tick func(phase string, sent, total int)
	// Profile, if set, receives each phase's CPU profile.
	Profile func(phase string, data []byte)
}

// Deps are the started pipeline the bench drives.
type Deps struct {
	JS       jetstream.JetStream
	CH       driver.Conn
	Registry *events.Registry
	// ScoredSeq is the last stream sequence the scoring processor applied.
	ScoredSeq func() uint64
}

// Community is the community the pipeline phases publish to; the ceilings
// use CeilingCommunity.
const (
	Community        = "bench"
	CeilingCommunity = "bench-ceiling"
)

// Result is one run's figures.
type Result struct {
	Ceilings Ceilings `json:"ceilings"`
	Phases   []Phase  `json:"phases"`
	// Members is the bench community's members at the end; StateBytes
	// the scoring checkpoint's size, so StateBytes/Members is the state
	// a member costs (set by the caller, which owns the processor).
	Members    int64 `json:"members"`
	StateBytes int64 `json:"state_bytes"`
}

// Ceilings are the parts measured alone, on the same messages.
type Ceilings struct {
	Events int `json:"events"`
	// JetStream is publish (with message ids, async, acked) and a
	// concurrent pull consumer acking each message, nothing else.
	JetStream float64 `json:"jetstream_events_per_s"`
	// ClickHouse is the sink's insert of the same rows (decoded
	// beforehand) in batches of BatchSize into activities_raw (with its
	// materialized views).
	ClickHouse float64 `json:"clickhouse_rows_per_s"`
	// ClickHousePlain is the same insert into a copy of activities_raw
	// without its materialized views: what the rollups cost the insert.
	ClickHousePlain float64 `json:"clickhouse_plain_rows_per_s"`
	BatchSize       int     `json:"batch_size"`
}

// Lower is the lower of the two ceilings and its name.
func (c Ceilings) Lower() (float64, string) {
	if c.ClickHouse < c.JetStream {
		return c.ClickHouse, "ClickHouse insert"
	}
	return c.JetStream, "JetStream"
}

// Phase is one pipeline phase's figures.
type Phase struct {
	Rate      int     `json:"rate"` // 0: flat out
	Published int     `json:"published"`
	Offered   float64 `json:"offered_events_per_s"` // published / publishing time
	// Sustained is published / (first publish → last event queryable).
	Sustained float64 `json:"sustained_events_per_s"`
	// Latency from publish to the row being queryable in activities_raw
	// (an upper bound: the poll that saw it finished this late).
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// Lag is messages in the stream not yet processed, the most seen.
	SinkLagMax    int64 `json:"sink_lag_max"`
	ScoringLagMax int64 `json:"scoring_lag_max"`
	// ScoredAfter is first publish → the scoring processor applied the
	// last event.
	ScoredAfter time.Duration `json:"scored_after_ns"`
	Usage       Usage         `json:"usage"`
	// Engine is what the ClickHouse engine counted during the phase
	// (system.events): queries, their time, rows read, merged, inserted.
	Engine map[string]uint64 `json:"engine"`
}

// engineEvents are the system.events counters a phase reports.
var engineEvents = []string{"Query", "InsertQuery", "SelectQuery", "InsertQueryTimeMicroseconds", "SelectQueryTimeMicroseconds",
	"MergesTimeMilliseconds", "Merge", "InsertedRows", "SelectedRows", "MergedRows"}

// readEngineEvents reads the engine's cumulative counters.
func readEngineEvents(ctx context.Context, ch driver.Conn) (map[string]uint64, error) {
	rows, err := ch.Query(ctx, "SELECT event, value FROM system.events WHERE event IN {names:Array(String)}", clickhouse.Named("names", engineEvents))
	if err != nil {
		return nil, fmt.Errorf("bench: read system.events: %w", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var name string
		var v uint64
		if err := rows.Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("bench: read system.events: %w", err)
		}
		out[name] = v
	}
	return out, rows.Err()
}

func (c Config) progress(format string, a ...any) {
	if c.Progress != nil {
		c.Progress(format, a...)
	}
}

// Run measures the ceilings, then each phase in turn, on a started pipeline
// whose database and streams hold nothing of the bench communities yet.
func Run(ctx context.Context, cfg Config, d Deps) (Result, error) {
	var res Result
	corpus, err := newCorpus(cfg, d.Registry)
	if err != nil {
		return res, err
	}
	res.Ceilings.Events, res.Ceilings.BatchSize = len(corpus), cfg.BatchSize
	cfg.progress("ceiling: JetStream publish+consume of %d messages (no processing) ...", len(corpus))
	if res.Ceilings.JetStream, err = jetStreamCeiling(ctx, d.JS, corpus); err != nil {
		return res, err
	}
	cfg.progress("ceiling: JetStream %.0f events/s; ClickHouse bulk insert of the same %d rows ...", res.Ceilings.JetStream, len(corpus))
	if res.Ceilings.ClickHouse, res.Ceilings.ClickHousePlain, err = clickHouseCeiling(ctx, d.CH, d.Registry, corpus, cfg.BatchSize); err != nil {
		return res, err
	}
	cfg.progress("ceiling: ClickHouse %.0f rows/s (%.0f rows/s without the materialized views)", res.Ceilings.ClickHouse, res.Ceilings.ClickHousePlain)
	corpus = nil
	for i, rate := range cfg.Rates {
		ph, err := runPhase(ctx, cfg, d, i, rate)
		if err != nil {
			return res, err
		}
		res.Phases = append(res.Phases, ph)
	}
	row := d.CH.QueryRow(ctx, "SELECT uniqExact(member_id) FROM activities_raw WHERE community = {c:String}", clickhouse.Named("c", Community))
	var members uint64
	if err := row.Scan(&members); err != nil {
		return res, fmt.Errorf("bench: count members: %w", err)
	}
	res.Members = int64(members)
	return res, nil
}

// message is one prepared activity message.
type message struct {
	subject string
	id      string
	data    []byte
}

// newCorpus generates the ceilings' messages (validated and encoded as a
// connector would) for CeilingCommunity.
func newCorpus(cfg Config, reg *events.Registry) ([]message, error) {
	g := NewGenerator(CeilingCommunity, "ceiling-", cfg.Members, cfg.Seed+1)
	out := make([]message, cfg.CeilingEvents)
	now := time.Now()
	for i := range out {
		ev := g.Next(now)
		if err := reg.Validate(&ev); err != nil {
			return nil, fmt.Errorf("bench: generated event %s: %w", ev.ID, err)
		}
		data, err := events.Encode(&ev)
		if err != nil {
			return nil, err
		}
		out[i] = message{subject: subjects.Activity(ev.Community, ev.Source), id: ev.ID, data: data}
	}
	return out, nil
}

// ceilingStream is a stream like the activity stream (same storage,
// limits and duplicate window) on its own subjects.
const ceilingStream = "BENCH_CEILING"

// jetStreamCeiling publishes the corpus into a copy of the activity stream
// while one pull consumer fetches and acks each message: events/s from the
// first publish to the last ack sent.
func jetStreamCeiling(ctx context.Context, js jetstream.JetStream, corpus []message) (float64, error) {
	act, err := js.Stream(ctx, subjects.ActivityStream)
	if err != nil {
		return 0, fmt.Errorf("bench: the activity stream: %w", err)
	}
	sc := act.CachedInfo().Config // the limits in use, storage included
	sc.Name, sc.Subjects, sc.Description = ceilingStream, []string{"benchceiling.>"}, "orbitflow bench: the JetStream ceiling (deleted after)"
	_ = js.DeleteStream(ctx, ceilingStream)
	if _, err := js.CreateStream(ctx, sc); err != nil {
		return 0, fmt.Errorf("bench: ceiling stream: %w", err)
	}
	defer func() { _ = js.DeleteStream(context.WithoutCancel(ctx), ceilingStream) }()
	sinkCons := subjects.SinkConsumers(20000, time.Minute)[0]
	cons, err := js.CreateOrUpdateConsumer(ctx, ceilingStream, jetstream.ConsumerConfig{
		Durable: "ceiling", AckPolicy: jetstream.AckExplicitPolicy, AckWait: sinkCons.AckWait,
		MaxAckPending: sinkCons.MaxAckPending, MaxDeliver: -1})
	if err != nil {
		return 0, fmt.Errorf("bench: ceiling consumer: %w", err)
	}
	n := len(corpus)
	consumed := make(chan error, 1)
	start := time.Now()
	go pprof.Do(ctx, pprof.Labels(LabelKey, "bench-ceiling-consumer"), func(ctx context.Context) {
		got := 0
		deadline := time.Now().Add(5 * time.Minute)
		for got < n {
			if time.Now().After(deadline) || ctx.Err() != nil {
				consumed <- fmt.Errorf("bench: ceiling consumer got %d of %d messages", got, n)
				return
			}
			batch, err := cons.Fetch(5000, jetstream.FetchMaxWait(250*time.Millisecond))
			if err != nil {
				continue
			}
			for m := range batch.Messages() {
				_ = m.Ack()
				got++
			}
		}
		consumed <- js.Conn().Flush()
	})
	var pubErr error
	pub := bus.NewPublisher(js, bus.WithOnResult(func(r bus.Result) {
		if r.Err != nil && pubErr == nil {
			pubErr = r.Err
		}
	}))
	for _, m := range corpus {
		msg := nats.NewMsg("benchceiling." + m.subject)
		msg.Data = m.data
		msg.Header.Set(jetstream.MsgIDHeader, m.id)
		if err := pub.Publish(ctx, msg, nil); err != nil {
			return 0, fmt.Errorf("bench: ceiling publish: %w", err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		return 0, err
	}
	if pubErr != nil {
		return 0, fmt.Errorf("bench: ceiling publish: %w", pubErr)
	}
	if err := <-consumed; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// plainTable is a copy of activities_raw without its materialized views.
const plainTable = "bench_ceiling_plain"

// clickHouseCeiling decodes the corpus into the sink's columns, batch by
// batch, then times only the inserts, one after another as the sink makes
// them: into activities_raw (with its materialized views), then into a
// copy without them.
func clickHouseCeiling(ctx context.Context, ch driver.Conn, reg *events.Registry, corpus []message, batchSize int) (withViews, plain float64, err error) {
	var batches []*sink.Rows
	for i := 0; i < len(corpus); i += batchSize {
		r := sink.NewRows(reg)
		for j, m := range corpus[i:min(i+batchSize, len(corpus))] {
			if err := r.Add(m.subject, m.data, uint64(i+j+1)); err != nil {
				return 0, 0, fmt.Errorf("bench: ceiling row %s: %w", m.id, err)
			}
		}
		batches = append(batches, r)
	}
	timed := func(insert func(*sink.Rows) error) (float64, error) {
		start := time.Now()
		for _, r := range batches {
			if err := insert(r); err != nil {
				return 0, fmt.Errorf("bench: ceiling insert: %w", err)
			}
		}
		return float64(len(corpus)) / time.Since(start).Seconds(), nil
	}
	if withViews, err = timed(func(r *sink.Rows) error { return r.Insert(ctx, ch) }); err != nil {
		return 0, 0, err
	}
	if err := ch.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+plainTable+" AS activities_raw"); err != nil {
		return 0, 0, fmt.Errorf("bench: %s: %w", plainTable, err)
	}
	defer func() { _ = ch.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+plainTable) }()
	if plain, err = timed(func(r *sink.Rows) error { return r.InsertInto(ctx, ch, plainTable) }); err != nil {
		return 0, 0, err
	}
	return withViews, plain, nil
}

// published is one acknowledged publish: its stream sequence and when
// Publish was called.
type published struct {
	seq uint64
	at  time.Time
}

// poll is what was queryable at an instant: every sequence up to maxSeq.
type poll struct {
	at     time.Time
	maxSeq uint64
}

func phaseName(rate int) string {
	if rate == 0 {
		return "max"
	}
	return strconv.Itoa(rate)
}

// runPhase publishes at rate for cfg.Duration, then waits until the last
// event is queryable and scored.
func runPhase(ctx context.Context, cfg Config, d Deps, idx, rate int) (Phase, error) {
	ph := Phase{Rate: rate}
	name := phaseName(rate)
	cfg.progress("pipeline at %s events/s for %s ...", name, cfg.Duration)
	sinkCons, err := d.JS.Consumer(ctx, subjects.ActivityStream, subjects.SinkActivities)
	if err != nil {
		return ph, fmt.Errorf("bench: the sink's consumer: %w", err)
	}
	var lastSeq atomic.Uint64 // the highest sequence acknowledged to the publisher
	var queryable atomic.Uint64
	var polls []poll
	var sinkLag, scoreLag atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var pollErr error
	wg.Add(2)
	go pprof.Do(sampleCtx, pprof.Labels(LabelKey, "bench-poller"), func(ctx context.Context) {
		defer wg.Done()
		t := time.NewTicker(cfg.Poll)
		defer t.Stop()
		var lastBlock uint64
		for {
			// Not cancelled by ctx: a poll in flight finishes (a cancelled
			// query is an error in the engine's log).
			qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			seq, block, err := pollQueryable(qctx, d.CH, lastBlock)
			cancel()
			if err != nil {
				pollErr = err
				return
			}
			seq = max(seq, queryable.Load())
			lastBlock = max(lastBlock, block)
			polls = append(polls, poll{at: time.Now(), maxSeq: seq})
			queryable.Store(seq)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	go pprof.Do(sampleCtx, pprof.Labels(LabelKey, "bench-poller"), func(ctx context.Context) {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			last := int64(lastSeq.Load())
			if info, err := sinkCons.Info(ctx); err == nil {
				sinkLag.Store(max(sinkLag.Load(), int64(info.NumPending)+int64(info.NumAckPending)))
				last = max(last, int64(info.Delivered.Stream)+int64(info.NumPending))
			}
			scoreLag.Store(max(scoreLag.Load(), last-int64(d.ScoredSeq())))
		}
	})
	defer func() { stopSampling(); wg.Wait() }()

	engineBefore, err := readEngineEvents(ctx, d.CH)
	if err != nil {
		return ph, err
	}
	m, err := startMeter()
	if err != nil {
		return ph, err
	}
	var pubs []published
	start := time.Now()
	var pubErr error
	pprof.Do(ctx, pprof.Labels(LabelKey, "bench-load"), func(ctx context.Context) {
		pubs, pubErr = publish(ctx, cfg, d, idx, rate, &lastSeq)
	})
	publishedFor := time.Since(start)
	if pubErr != nil {
		_, _ = m.stop(nil)
		return ph, pubErr
	}
	ph.Published = len(pubs)
	ph.Offered = float64(len(pubs)) / publishedFor.Seconds()
	cfg.progress("pipeline at %s: published %d in %s (%.0f/s); waiting until every event is queryable and scored ...",
		name, len(pubs), publishedFor.Round(time.Millisecond), ph.Offered)
	last := lastSeq.Load()
	deadline := time.Now().Add(cfg.Drain)
	var scored time.Time
	for queryable.Load() < last || scored.IsZero() {
		if scored.IsZero() && d.ScoredSeq() >= last {
			scored = time.Now()
		}
		if pollErr != nil {
			_, _ = m.stop(nil)
			return ph, pollErr
		}
		if time.Now().After(deadline) {
			_, _ = m.stop(nil)
			return ph, fmt.Errorf("bench: %s after publishing, %d of %d events are queryable and the scoring processor is at sequence %d of %d: the pipeline did not keep up (raise --drain, or lower the rate)",
				cfg.Drain, int64(queryable.Load())-int64(pubs[0].seq)+1, len(pubs), d.ScoredSeq(), last)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopSampling()
	wg.Wait()
	var prof *bytes.Buffer
	if cfg.Profile != nil {
		prof = &bytes.Buffer{}
	}
	if ph.Usage, err = m.stop(prof); err != nil {
		return ph, err
	}
	if prof != nil {
		cfg.Profile(name, prof.Bytes())
	}
	engineAfter, err := readEngineEvents(ctx, d.CH)
	if err != nil {
		return ph, err
	}
	ph.Engine = map[string]uint64{}
	for k, v := range engineAfter {
		ph.Engine[k] = v - engineBefore[k]
	}
	ph.ScoredAfter = scored.Sub(start)
	ph.SinkLagMax, ph.ScoringLagMax = sinkLag.Load(), scoreLag.Load()
	lat, done, err := latencies(pubs, polls)
	if err != nil {
		return ph, err
	}
	ph.Sustained = float64(len(pubs)) / done.Sub(pubs[0].at).Seconds()
	ph.P50, ph.P99, ph.Max = quantile(lat, 0.5), quantile(lat, 0.99), lat[len(lat)-1]
	if err := checkRows(ctx, d.CH, prefix(idx), len(pubs)); err != nil {
		return ph, err
	}
	cfg.progress("pipeline at %s: sustained %.0f events/s end to end; p50 %s, p99 %s, max %s", name, ph.Sustained,
		ph.P50.Round(time.Millisecond), ph.P99.Round(time.Millisecond), ph.Max.Round(time.Millisecond))
	return ph, nil
}

// pollQueryable returns the highest stream sequence of the bench community
// in the parts of activities_raw written since block afterBlock, and the
// highest block number seen. Reading only new parts keeps the poll from
// reading the whole table 50 times a second (it read ~400 rows per event
// published and was most of what the engine read). A part's name is
// partition_minblock_maxblock_level; block numbers grow across the table,
// and a merged part holding a new block has that block as its max.
func pollQueryable(ctx context.Context, ch driver.Conn, afterBlock uint64) (seq, block uint64, err error) {
	err = ch.QueryRow(ctx, `SELECT max(stream_seq), max(toUInt64(splitByChar('_', _part)[3])) FROM activities_raw
		WHERE toUInt64(splitByChar('_', _part)[3]) > {after:UInt64} AND community = {c:String}`,
		clickhouse.Named("after", afterBlock), clickhouse.Named("c", Community)).Scan(&seq, &block)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: poll ClickHouse: %w", err)
	}
	return seq, block, nil
}

func prefix(idx int) string { return "bench-" + strconv.Itoa(idx) + "-" }

// publish runs the load: generated events, validated and encoded as a
// connector does, published with their ids at rate (0: as fast as the
// publish window allows) for cfg.Duration.
func publish(ctx context.Context, cfg Config, d Deps, idx, rate int, lastSeq *atomic.Uint64) ([]published, error) {
	g := NewGenerator(Community, prefix(idx), cfg.Members, cfg.Seed+uint64(idx)*7919)
	var pubs []published
	var refused error
	pub := bus.NewPublisher(d.JS, bus.WithOnResult(func(r bus.Result) {
		switch {
		case r.Err != nil:
			refused = cmp.Or(refused, fmt.Errorf("bench: the stream refused an event: %w", r.Err))
		case r.Duplicate:
			refused = cmp.Or(refused, fmt.Errorf("bench: event %v was a duplicate: the bench needs a fresh data dir", r.Tag))
		default:
			pubs = append(pubs, published{seq: r.Seq, at: r.Tag.(time.Time)})
			lastSeq.Store(max(lastSeq.Load(), r.Seq))
		}
	}))
	start := time.Now()
	end := start.Add(cfg.Duration)
	sent := 0
	for {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		if rate > 0 {
			due := int(float64(rate) * now.Sub(start).Seconds())
			if sent >= due {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		ev := g.Next(now)
		if err := d.Registry.Validate(&ev); err != nil {
			return nil, fmt.Errorf("bench: generated event %s: %w", ev.ID, err)
		}
		data, err := events.Encode(&ev)
		if err != nil {
			return nil, err
		}
		msg := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
		msg.Data = data
		msg.Header.Set(jetstream.MsgIDHeader, ev.ID)
		if err := pub.Publish(ctx, msg, time.Now()); err != nil {
			return nil, fmt.Errorf("bench: publish: %w", err)
		}
		sent++
		if cfg.Tick != nil && sent%1000 == 0 {
			cfg.Tick(phaseName(rate), sent, int(float64(rate)*cfg.Duration.Seconds()))
		}
		if refused != nil {
			return nil, refused
		}
	}
	if err := pub.Flush(ctx); err != nil {
		return nil, fmt.Errorf("bench: publish: %w", err)
	}
	if refused != nil {
		return nil, refused
	}
	if len(pubs) == 0 {
		return nil, errors.New("bench: nothing was published")
	}
	return pubs, nil
}

// latencies pairs each publish with the first poll that saw its sequence
// queryable. The sink writes in stream order, so a poll's maxSeq covers
// every sequence below it. It returns the sorted latencies and when the
// last event became queryable.
func latencies(pubs []published, polls []poll) ([]time.Duration, time.Time, error) {
	sort.Slice(pubs, func(i, j int) bool { return pubs[i].seq < pubs[j].seq })
	lat := make([]time.Duration, 0, len(pubs))
	p := 0
	var done time.Time
	for _, pb := range pubs {
		for p < len(polls) && polls[p].maxSeq < pb.seq {
			p++
		}
		if p == len(polls) {
			return nil, done, fmt.Errorf("bench: sequence %d was never seen queryable", pb.seq)
		}
		lat = append(lat, max(polls[p].at.Sub(pb.at), 0))
		done = polls[p].at
	}
	slices.Sort(lat)
	return lat, done, nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(q*float64(len(sorted)-1))]
}

// checkRows verifies the phase's events are in ClickHouse exactly once
// (by id; copies of a redelivered batch collapse in the view).
func checkRows(ctx context.Context, ch driver.Conn, idPrefix string, want int) error {
	var n uint64
	err := ch.QueryRow(ctx, "SELECT uniqExact(event_id) FROM activities_raw WHERE community = {c:String} AND startsWith(event_id, {p:String})",
		clickhouse.Named("c", Community), clickhouse.Named("p", idPrefix)).Scan(&n)
	if err != nil {
		return fmt.Errorf("bench: count rows: %w", err)
	}
	if int(n) != want {
		return fmt.Errorf("bench: %d events published, %d distinct ids in activities_raw: events were lost", want, n)
	}
	return nil
}
