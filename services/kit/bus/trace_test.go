package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// recorder is a tracer provider exporting synchronously to memory (no
// goroutine for goleak to find).
func recorder(t testing.TB) (telemetry.Settings, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return telemetry.Settings{TracerProvider: tp}.WithDefaults(), exp
}

func TestCarrierRoundTripsW3CTraceContext(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled,
	})
	m := nats.NewMsg("activities.acme.github")
	bus.Inject(trace.ContextWithSpanContext(context.Background(), sc), m)
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", m.Header.Get("traceparent"),
		"the W3C header, lower case as the specification spells it")
	got := trace.SpanContextFromContext(bus.Extract(context.Background(), m.Header))
	require.True(t, got.IsRemote())
	require.Equal(t, sc.TraceID(), got.TraceID())
	require.Equal(t, sc.SpanID(), got.SpanID())
	require.True(t, got.IsSampled())

	// Nothing to carry: nothing written, nothing read.
	plain := &nats.Msg{Subject: "activities.acme.github"}
	bus.Inject(context.Background(), plain)
	require.Nil(t, plain.Header, "no span context: the message is left alone")
	ctx := context.Background()
	require.Equal(t, ctx, bus.Extract(ctx, nil))
	require.Equal(t, ctx, bus.Extract(ctx, nats.Header{"Nats-Msg-Id": {"x"}}))
	// A malformed traceparent is ignored, not an error.
	require.False(t, trace.SpanContextFromContext(bus.Extract(ctx, nats.Header{"traceparent": {"00-zz-yy-01"}})).IsValid())
}

func TestNewTracerIsNilWhenTracingIsOff(t *testing.T) {
	require.Nil(t, bus.NewTracer(telemetry.Nop(), "x"))
	require.Nil(t, bus.NewTracer(telemetry.Settings{}, "x"))
	set, _ := recorder(t)
	require.NotNil(t, bus.NewTracer(set, "x"))
}

// TestPublisherSpansFollowTheMessage publishes with a tracer: each message
// gets a producer span, child of the caller's span, ended with the stream's
// answer, and carries its context; a consumer continues the trace.
func TestPublisherSpansFollowTheMessage(t *testing.T) {
	bs := kittest.Bus(t)
	js := bs.JetStream()
	ctx := context.Background()
	set, exp := recorder(t)
	tr := bus.NewTracer(set, "test")
	runCtx, run := tr.Start(ctx, "ingest run")
	p := bus.NewPublisher(js, bus.WithTracer(tr))
	require.NoError(t, p.Publish(runCtx, msg(subjects.Activity("acme", "github"), "trace-1", `{"a":1}`), nil))
	require.NoError(t, p.Publish(runCtx, msg(subjects.Activity("acme", "github"), "trace-1", `{"a":1}`), nil)) // a duplicate
	require.NoError(t, p.Flush(ctx))
	run.End()

	spans := exp.GetSpans()
	require.Len(t, spans, 3)
	pub := spans[0]
	require.Equal(t, "publish "+subjects.ActivityStream, pub.Name)
	require.Equal(t, trace.SpanKindProducer, pub.SpanKind)
	require.Equal(t, run.SpanContext().SpanID(), pub.Parent.SpanID(), "a child of the run")
	attrs := map[string]any{}
	for _, a := range pub.Attributes {
		attrs[string(a.Key)] = a.Value.AsInterface()
	}
	require.Equal(t, "nats", attrs["messaging.system"])
	require.Equal(t, "activities.acme.github", attrs["messaging.destination.name"])
	require.Equal(t, "trace-1", attrs["messaging.message.id"])
	require.Equal(t, int64(1), attrs["messaging.nats.stream.sequence"])
	require.Equal(t, false, attrs["messaging.nats.duplicate"])
	require.Equal(t, true, spans[1].Attributes[len(spans[1].Attributes)-1].Value.AsBool(), "the second is the duplicate")

	cons, err := js.OrderedConsumer(ctx, subjects.ActivityStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	_, span := tr.StartProcess(ctx, "", "scoring", m.Subject(), m.Headers())
	bus.Fail(span, "actor.source_id: required")
	span.End()
	proc := exp.GetSpans()[3]
	require.Equal(t, "process "+subjects.ActivityStream, proc.Name)
	require.Equal(t, pub.SpanContext.TraceID(), proc.SpanContext.TraceID(), "the consumer continues the publisher's trace")
	require.Equal(t, pub.SpanContext.SpanID(), proc.Parent.SpanID())
	require.True(t, proc.Parent.IsRemote())
	require.Equal(t, codes.Error, proc.Status.Code)
	require.Equal(t, "actor.source_id: required", proc.Status.Description)
}

func TestPublisherWithoutTracerSendsNoTraceHeaders(t *testing.T) {
	bs := kittest.Bus(t)
	js := bs.JetStream()
	ctx := context.Background()
	set, exp := recorder(t)
	// A traced caller, an untraced publisher (tracing off for the bus).
	ctx, span := set.TracerProvider.Tracer("x").Start(ctx, "caller")
	defer span.End()
	p := bus.NewPublisher(js, bus.WithTracer(bus.NewTracer(telemetry.Nop(), "x")))
	require.NoError(t, p.Publish(ctx, msg(subjects.Activity("acme", "github"), "plain-1", `{}`), nil))
	require.NoError(t, p.Flush(ctx))
	cons, err := js.OrderedConsumer(ctx, subjects.ActivityStream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	require.Empty(t, m.Headers().Get("traceparent"))
	require.Empty(t, exp.GetSpans())
}

// TestTracingOffAllocatesNothing: what runs on the hot paths with tracing
// off (a nil *Tracer is never called; dead letters and log lines still
// look for a span in ctx) allocates nothing.
func TestTracingOffAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	m := msg(subjects.Activity("acme", "github"), "id-1", "{}")
	allocs := testing.AllocsPerRun(1000, func() {
		bus.Inject(ctx, m)
		_ = bus.Extract(ctx, m.Header)
	})
	require.Zero(t, allocs)
	require.Empty(t, m.Header.Get("traceparent"))
}
