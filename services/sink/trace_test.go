package sink_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/sink"
)

// TestSinkSpansFollowEachMessageAndLinkTheFlush: a good event and a
// poison one, each published in its own trace. Each gets a sink.write span
// that is a child of its producer span; the poison one fails with the
// dead letter's reason (and its log line carries its trace id); the flush
// span links both messages' contexts and holds the ClickHouse insert.
func TestSinkSpansFollowEachMessageAndLinkTheFlush(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(ctx)
	var logs kittest.SyncBuffer
	set := telemetry.Settings{TracerProvider: tp,
		Logger: slog.New(telemetry.NewTraceHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}.WithDefaults()
	tr := bus.NewTracer(set, "test")

	publish := func(data []byte, id string) trace.SpanContext {
		m := nats.NewMsg(subjects.Activity("acme", "github"))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, id)
		_, span := tr.StartPublish(ctx, m, false)
		_, err := e.js.PublishMsg(ctx, m)
		require.NoError(t, err)
		span.End()
		return span.SpanContext()
	}
	ev := event(1)
	good, err := events.Encode(&ev)
	require.NoError(t, err)
	goodCtx := publish(good, ev.ID)
	poisonCtx := publish([]byte(`{"id":"bad","schema_version":1}`), "bad")

	s := sink.New(testConfig(), sink.Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt}, set)
	require.NoError(t, s.Start(ctx))
	defer s.Shutdown(ctx)

	find := func(name string) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, sp := range exp.GetSpans() {
			if sp.Name == name {
				out = append(out, sp)
			}
		}
		return out
	}
	// The good event, the poison one, and the poison's dead letter (the
	// sink stores it too, continuing the poison's trace).
	require.Eventually(t, func() bool { return len(find("sink.write")) == 3 }, 30*time.Second, 20*time.Millisecond)

	var flushes []tracetest.SpanStub
	for _, sp := range exp.GetSpans() {
		if strings.HasPrefix(sp.Name, "sink.flush activities_raw") {
			flushes = append(flushes, sp)
		}
	}
	require.Len(t, flushes, 1, "both messages in one batch")
	flush := flushes[0]
	require.False(t, flush.Parent.IsValid(), "a batch of many traces is a trace of its own")
	linked := map[trace.SpanID]bool{}
	for _, l := range flush.Links {
		linked[l.SpanContext.SpanID()] = true
	}
	require.True(t, linked[goodCtx.SpanID()] && linked[poisonCtx.SpanID()], "the flush links each message's producer span")
	inserts := find("INSERT activities_raw")
	require.NotEmpty(t, inserts)
	require.Equal(t, flush.SpanContext.SpanID(), inserts[0].Parent.SpanID())
	require.Equal(t, trace.SpanKindClient, inserts[0].SpanKind)

	var poisonWrite tracetest.SpanStub
	for _, w := range find("sink.write") {
		if w.Parent.SpanID() == poisonCtx.SpanID() {
			poisonWrite = w
		}
	}
	for _, w := range find("sink.write") {
		switch {
		case w.SpanContext.TraceID() == poisonCtx.TraceID() && w.Parent.SpanID() == poisonWrite.SpanContext.SpanID():
			require.Contains(t, w.Attributes, attribute.String("messaging.destination.name", subjects.DeadLetter(subjects.StageSink, "unknown")),
				"the dead letter (of an event naming no source), published by the poison's sink.write span")
			require.Equal(t, codes.Unset, w.Status.Code)
			continue
		case w.SpanContext.TraceID() == goodCtx.TraceID():
			require.Equal(t, goodCtx.SpanID(), w.Parent.SpanID(), "a child of the message's producer span")
			require.Equal(t, codes.Unset, w.Status.Code)
		case w.SpanContext.TraceID() == poisonCtx.TraceID():
			require.Equal(t, poisonCtx.SpanID(), w.Parent.SpanID())
			require.Equal(t, codes.Error, w.Status.Code)
			require.Contains(t, w.Status.Description, "occurred_at", "failed with the dead letter's reason")
		default:
			t.Fatalf("sink.write span in an unknown trace %s", w.SpanContext.TraceID())
		}
		require.Len(t, w.Links, 1)
		require.Equal(t, flush.SpanContext.SpanID(), w.Links[0].SpanContext.SpanID(), "each message links the flush that wrote it")
	}
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), `"msg":"dead-lettered"`)
	}, 10*time.Second, 20*time.Millisecond)
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"dead-lettered"`) {
			require.Contains(t, line, `"trace_id":"`+poisonCtx.TraceID().String()+`"`, "the dead letter's log line leads to its trace")
		}
	}
}

// BenchmarkSinkTracing is BenchmarkSinkThroughput with tracing off (the
// default: no tracer, nothing extracted or started) and on with every
// trace sampled: the events carry a traceparent (published by a traced
// publisher) and the sink records a sink.write span per event and the
// flush and insert spans, batched to an exporter that drops them.
func BenchmarkSinkTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			ctx := context.Background()
			set := telemetry.Nop()
			if mode == "on" {
				tr := telemetry.NewTracesWith(discard{}, 1, "orbitflow", "bench")
				defer tr.Shutdown(ctx)
				set.TracerProvider = tr.Provider()
			}
			p := bus.NewPublisher(e.js, bus.WithTracer(bus.NewTracer(set, "bench")))
			for i := 0; i < b.N; i++ {
				ev := event(i)
				data, err := events.Encode(&ev)
				require.NoError(b, err)
				m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
				m.Data = data
				m.Header.Set(jetstream.MsgIDHeader, ev.ID)
				require.NoError(b, p.Publish(ctx, m, nil))
			}
			require.NoError(b, p.Flush(ctx))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			s := sink.New(sink.DefaultConfig(), sink.Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt}, set)
			require.NoError(b, s.Start(ctx))
			defer s.Shutdown(ctx)
			for e.consumerInfo(subjects.SinkActivities, subjects.ActivityStream).AckFloor.Stream < uint64(b.N) {
				time.Sleep(10 * time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// discard drops the spans it is given: the cost measured is the sink's.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }
