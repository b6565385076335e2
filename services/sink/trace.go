package sink

import (
	"context"
	"log/slog"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/services/kit/bus"
)

// Tracing (only when the tracer provider records; with tracing off none of
// this runs). A batch holds events of many traces, so, following the
// OpenTelemetry messaging conventions:
//
//   - each message gets a "sink.write" span, a child of the context it
//     carries (its producer span), from its receipt until its batch is
//     written and it is acknowledged (or dead-lettered: failed with the
//     reason): one event is followable end to end;
//   - each flush is a "sink.flush <table>" span of its own trace, linked to
//     the messages' contexts (the first maxLinks), with a client span per
//     insert attempt ("INSERT <table>", db.system.name clickhouse); each
//     sink.write span links back to the flush that wrote it.

// maxLinks bounds the links of one flush span (the SDK's default limit;
// a 20k-row batch would otherwise build 20k links to drop).
const maxLinks = 128

// batchTrace is what a batch holds for tracing.
type batchTrace struct {
	spans []trace.Span // the sink.write span of each held message, in order
	links []trace.Link // the messages' own contexts, at most maxLinks
}

// addTraced is the run loop's add of one message when tracing: decode it
// into cur's writer inside the message's sink.write span.
func (s *Sink) addTraced(ctx context.Context, log *slog.Logger, cur *batch, msg jetstream.Msg) {
	if cur.traces == nil {
		cur.traces = &batchTrace{}
	}
	group := ""
	var attrs []attribute.KeyValue
	if md, err := msg.Metadata(); err == nil {
		group = md.Consumer
		attrs = append(attrs, attribute.Int64("messaging.nats.stream.sequence", int64(md.Sequence.Stream)))
	}
	mctx, span := s.tracer.StartProcess(ctx, "sink.write", group, msg.Subject(), msg.Headers(), attrs...)
	t := cur.traces
	t.spans = append(t.spans, span)
	if parent := trace.SpanContextFromContext(bus.Extract(context.Background(), msg.Headers())); parent.IsValid() && len(t.links) < maxLinks {
		t.links = append(t.links, trace.Link{SpanContext: parent})
	}
	if dl := cur.w.add(msg); dl != nil {
		bus.Fail(span, dl.Reason)
		s.deadLetter(mctx, log, *dl)
	}
}

// flushTraced is flush inside a "sink.flush <table>" span; then it ends the
// batch's sink.write spans, linked to it.
func (s *Sink) flushTraced(b *batch, log *slog.Logger) {
	t := b.traces
	table := b.w.table()
	ctx, span := s.tracer.Start(b.ctx, "sink.flush "+table, trace.WithNewRoot(), trace.WithLinks(t.links...),
		trace.WithAttributes(semconv.MessagingBatchMessageCount(len(b.held)), attribute.String("orbitflow.table", table),
			attribute.Int("orbitflow.sink.rows", b.w.len())))
	written := s.flush(ctx, log, b.w, b.held)
	if !written {
		span.SetStatus(codes.Error, "not written: shutdown ended the retries; the messages are delivered again after a restart")
	}
	span.End()
	flush := trace.Link{SpanContext: span.SpanContext()}
	for _, ms := range t.spans {
		ms.AddLink(flush)
		if !written {
			ms.SetStatus(codes.Error, "not written at shutdown; delivered again after a restart")
		}
		ms.End()
	}
	clear(t.spans)
	t.spans, t.links = t.spans[:0], t.links[:0]
}

// send is one insert attempt; with tracing on, inside a ClickHouse client
// span that fails with the insert's error.
func (s *Sink) send(ctx context.Context, w tableWriter, conn driver.Conn, attempt int) error {
	if s.tracer == nil {
		return w.send(ctx, conn)
	}
	ctx, span := s.tracer.Start(ctx, "INSERT "+w.table(), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		semconv.DBSystemNameClickHouse,
		semconv.DBOperationName("INSERT"),
		semconv.DBCollectionName(w.table()),
		attribute.Int("orbitflow.sink.rows", w.len()),
		attribute.Int("orbitflow.sink.attempt", attempt),
	))
	defer span.End()
	err := w.send(ctx, conn)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
