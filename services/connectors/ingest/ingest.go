// Package ingest publishes normalized events from any history source (files,
// archives, backfills) to the activity stream: each record is normalized and
// validated; valid events are published with their id as Nats-Msg-Id (so a
// repeated ingest stores nothing twice), invalid ones go to the dead-letter
// stream with the reason. Nothing read is dropped silently: every record is
// counted as published, duplicate or rejected.
package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Record is one input item: a decoded event, or the error that kept it from
// decoding. Raw holds the original bytes either way (for the dead letter).
type Record struct {
	Event events.Event
	Raw   []byte
	Err   error
	// Pos locates the record for messages, e.g. "events.jsonl:42".
	Pos string
	// Ignored, when set, says why the item carries no activity: it is
	// counted, not published (see source.Result.Ignored).
	Ignored string
	// Checkpoint, when set, makes the record a checkpoint and nothing
	// else: Run waits until the stream has acknowledged every record before
	// it, then calls Checkpoint (a backfill saves its cursor there, so a
	// crash resumes after what is durable, never after what is not).
	Checkpoint func() error
}

// CheckpointRecord returns a checkpoint record calling save.
func CheckpointRecord(save func() error) Record { return Record{Checkpoint: save} }

// FromResult turns one item's normalization into records: one per event,
// one ignored record, one "unmapped type" rejection, or, when err is set,
// one rejection carrying err (bad input). raw is the item's original bytes.
func FromResult(res source.Result, err error, raw []byte, pos string) []Record {
	if raw == nil {
		raw = []byte{} // nil Raw with an error means an I/O error to Run
	}
	switch {
	case err != nil:
		return []Record{{Raw: raw, Err: err, Pos: pos}}
	case res.Unmapped != "":
		return []Record{{Raw: raw, Err: fmt.Errorf("%s: %s", source.ReasonUnmapped, res.Unmapped), Pos: pos}}
	case len(res.Events) == 0:
		return []Record{{Raw: raw, Pos: pos, Ignored: cmp.Or(res.Ignored, "no activity")}}
	}
	recs := make([]Record, len(res.Events))
	for i, ev := range res.Events {
		recs[i] = Record{Event: ev, Raw: raw, Pos: pos}
	}
	return recs
}

// Options configure a run.
type Options struct {
	// Community is applied to events that name none; an event naming
	// another community is rejected.
	Community string
	// Format names the input format in dead letters (e.g. "jsonl").
	Format   string
	Registry *events.Registry
	// Now stamps received_at on events without one; default time.Now.
	Now func() time.Time
	// Window bounds unacknowledged publishes.
	Window int
	// Progress, if set, is called about every ProgressEvery records and at the end.
	Progress      func(Stats)
	ProgressEvery int
	// TracerProvider, if it records (telemetry.Settings.TracerProvider),
	// traces the run: a span for the run ("ingest <format>") and a producer
	// span per published event, each the root of its own trace linked to
	// the run's (a million-event run is a million small traces, not one no
	// backend can show), whose context the event carries to the sink and
	// the scoring processor. nil or the no-op
	// provider: no tracing work at all.
	TracerProvider trace.TracerProvider
}

// Stats summarize a run.
type Stats struct {
	Read       int64
	Published  int64 // new in the stream
	Duplicates int64 // the stream already held the id
	Rejected   int64 // dead-lettered
	Ignored    int64 // items that carry no activity (not an error)
	// Reasons counts rejections by reason; IgnoredReasons ignored items.
	Reasons        map[string]int64
	IgnoredReasons map[string]int64
	// MaxSeq is the highest activity stream sequence this run published or
	// found as a duplicate; DeadMaxSeq the same for the dead-letter stream.
	MaxSeq     uint64
	DeadMaxSeq uint64
}

// Summary renders stats as one line: the counts, then the most frequent
// rejection and ignore reasons.
func (s Stats) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d, published %d, duplicates %d, rejected %d", s.Read, s.Published, s.Duplicates, s.Rejected)
	writeReasons(&b, s.Reasons)
	if s.Ignored > 0 {
		fmt.Fprintf(&b, ", ignored %d", s.Ignored)
		writeReasons(&b, s.IgnoredReasons)
	}
	return b.String()
}

// writeReasons appends the five most frequent reasons: " (3× why; 1× other)".
func writeReasons(b *strings.Builder, reasons map[string]int64) {
	if len(reasons) == 0 {
		return
	}
	type kv struct {
		k string
		v int64
	}
	var rs []kv
	for k, v := range reasons {
		rs = append(rs, kv{k, v})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].v > rs[j].v || rs[i].v == rs[j].v && rs[i].k < rs[j].k })
	b.WriteString(" (")
	for i, r := range rs {
		if i == 5 {
			fmt.Fprintf(b, "; %d more reasons", len(rs)-5)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(b, "%d× %s", r.v, r.k)
	}
	b.WriteString(")")
}

// tag travels with each publish so a message the stream refuses can be
// dead-lettered with its position and original bytes.
type tag struct {
	pos     string
	payload []byte
}

// Run publishes every record of src. It returns when all publishes are
// acknowledged, or with the error that stopped it; stats count what was
// settled before that.
func Run(ctx context.Context, js jetstream.JetStream, src iter.Seq[Record], opts Options) (_ Stats, err error) {
	if opts.Registry == nil {
		return Stats{}, errors.New("ingest: no registry")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Window <= 0 {
		opts.Window = 4096
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 10000
	}
	st := Stats{Reasons: map[string]int64{}, IgnoredReasons: map[string]int64{}}
	tracer := bus.NewTracer(telemetry.Settings{TracerProvider: opts.TracerProvider}, "github.com/orbitflow/orbitflow/services/connectors/ingest")
	if tracer != nil {
		var span trace.Span
		ctx, span = tracer.Start(ctx, "ingest "+opts.Format, trace.WithAttributes(
			attribute.String("orbitflow.community", opts.Community), attribute.String("orbitflow.format", opts.Format)))
		defer func() { endRun(span, st, err) }()
	}
	var refused []bus.Result // refused for good by the stream, not yet dead-lettered
	pub := bus.NewPublisher(js, bus.WithWindow(opts.Window), bus.WithTracer(tracer), bus.WithRootSpans(), bus.WithOnResult(func(r bus.Result) {
		switch {
		case r.Err != nil:
			// The stream refused this one message for good (e.g. too
			// large); it is dead-lettered by deadLetterRefused.
			refused = append(refused, r)
		case r.Duplicate:
			st.Duplicates++
		default:
			st.Published++
		}
		st.MaxSeq = max(st.MaxSeq, r.Seq)
	}))
	// deadLetterRefused runs on this goroutine after each Publish and Flush,
	// which is where OnResult reports.
	deadLetterRefused := func() error {
		for _, r := range refused {
			t := r.Tag.(tag)
			if err := reject(ctx, js, &st, Record{Pos: t.pos, Raw: t.payload}, opts, "publish: the stream refused the event: "+r.Err.Error()); err != nil {
				return err
			}
		}
		refused = refused[:0]
		return nil
	}
	var runErr error
	for rec := range prefetch(src, 256) {
		if err := ctx.Err(); err != nil {
			runErr = err
			break
		}
		if rec.Checkpoint != nil {
			if err := pub.Flush(ctx); err != nil {
				runErr = err
				break
			}
			if err := deadLetterRefused(); err != nil {
				runErr = err
				break
			}
			if err := rec.Checkpoint(); err != nil {
				runErr = fmt.Errorf("ingest: checkpoint: %w", err)
				break
			}
			continue
		}
		if rec.Err != nil && rec.Raw == nil {
			runErr = fmt.Errorf("ingest: %s: %w", rec.Pos, rec.Err) // an I/O error, not bad input
			break
		}
		st.Read++
		if rec.Ignored != "" && rec.Err == nil {
			st.Ignored++
			st.IgnoredReasons[shorten(rec.Ignored)]++
		} else if ev, reason := check(rec, opts); reason != "" {
			if err := reject(ctx, js, &st, rec, opts, reason); err != nil {
				runErr = err
				break
			}
		} else {
			m, err := message(&ev)
			if err != nil {
				if err := reject(ctx, js, &st, rec, opts, "encode: "+err.Error()); err != nil {
					runErr = err
					break
				}
			} else {
				payload := rec.Raw
				if payload == nil {
					payload = m.Data
				}
				if err := pub.Publish(ctx, m, tag{pos: rec.Pos, payload: payload}); err != nil {
					runErr = err
					break
				}
				if err := deadLetterRefused(); err != nil {
					runErr = err
					break
				}
			}
		}
		if opts.Progress != nil && st.Read%int64(opts.ProgressEvery) == 0 {
			opts.Progress(st)
		}
	}
	if err := pub.Flush(ctx); err != nil && runErr == nil {
		runErr = err
	}
	if err := deadLetterRefused(); err != nil && runErr == nil {
		runErr = err
	}
	if opts.Progress != nil {
		opts.Progress(st)
	}
	return st, runErr
}

// check normalizes and validates; it returns the reason for a rejection.
func check(rec Record, opts Options) (events.Event, string) {
	if rec.Err != nil {
		return events.Event{}, rec.Err.Error()
	}
	ev := rec.Event
	if ev.Community == "" {
		ev.Community = opts.Community
	} else if opts.Community != "" && ev.Community != opts.Community {
		return ev, fmt.Sprintf("community: event names %q but this ingest is for %q", ev.Community, opts.Community)
	}
	ev.Normalize(opts.Now())
	if err := opts.Registry.Validate(&ev); err != nil {
		return ev, err.Error()
	}
	return ev, ""
}

func message(ev *events.Event) (*nats.Msg, error) {
	data, err := events.Encode(ev)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, ev.ID)
	return m, nil
}

// endRun ends a run's span with its counts and, if it stopped, the error.
func endRun(span trace.Span, st Stats, err error) {
	span.SetAttributes(attribute.Int64("orbitflow.ingest.read", st.Read), attribute.Int64("orbitflow.ingest.published", st.Published),
		attribute.Int64("orbitflow.ingest.duplicates", st.Duplicates), attribute.Int64("orbitflow.ingest.rejected", st.Rejected),
		attribute.Int64("orbitflow.ingest.ignored", st.Ignored))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func reject(ctx context.Context, js jetstream.JetStream, st *Stats, rec Record, opts Options, reason string) error {
	// The run's span (a no-op span when tracing is off) notes each
	// dead letter; the SDK keeps the first 128 per span.
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent("dead_letter", trace.WithAttributes(attribute.String("position", rec.Pos), attribute.String("reason", reason)))
	}
	st.Rejected++
	st.Reasons[shorten(reason)]++
	d := bus.DeadLetter{Stage: subjects.StageIngest, Source: opts.Format, Reason: rec.Pos + ": " + reason, Payload: rec.Raw}
	ack, err := bus.PublishDeadLetter(ctx, js, d)
	if err != nil {
		return fmt.Errorf("ingest: dead-letter %s: %w", rec.Pos, err)
	}
	st.DeadMaxSeq = max(st.DeadMaxSeq, ack.Sequence)
	return nil
}

// shorten keeps reason groups readable: the first problem, without values.
func shorten(reason string) string {
	if i := strings.Index(reason, "; "); i > 0 {
		reason = reason[:i]
	}
	if len(reason) > 120 {
		reason = reason[:120] + "…"
	}
	return reason
}

// prefetch runs src on its own goroutine, handing records over in batches
// of up to batch, so reading and normalizing overlap with publishing
// (BenchmarkArchiveReplay: 50k → 71k events/s). Order is kept, and src
// waits at each checkpoint until it has run. When the consumer stops
// early, src's yield returns false and the goroutine ends; prefetch waits
// for it before returning, so src never runs past its consumer's life.
func prefetch(src iter.Seq[Record], batch int) iter.Seq[Record] {
	return func(yield func(Record) bool) {
		ch := make(chan []Record, 4)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer close(ch)
			buf := make([]Record, 0, batch)
			send := func() bool {
				select {
				case ch <- buf:
					buf = make([]Record, 0, batch)
					return true
				case <-stop:
					return false
				}
			}
			for rec := range src {
				if save := rec.Checkpoint; save != nil {
					// The checkpoint runs on the consumer's goroutine, and
					// the source waits for it: a source's cursor is never
					// touched by both at once, and it is handed over at
					// once rather than behind a batch still filling.
					ran := make(chan struct{})
					rec.Checkpoint = func() error { defer close(ran); return save() }
					buf = append(buf, rec)
					if !send() {
						return
					}
					select {
					case <-ran:
					case <-stop:
						return
					}
					continue
				}
				buf = append(buf, rec)
				if len(buf) == batch && !send() {
					return
				}
			}
			if len(buf) > 0 {
				send()
			}
		}()
		defer func() {
			close(stop)
			for range ch { // let the producer finish
			}
			<-done
		}()
		for recs := range ch {
			for _, rec := range recs {
				if !yield(rec) {
					return
				}
			}
		}
	}
}
