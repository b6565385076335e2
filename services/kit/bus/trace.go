package bus

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// The trace context travels in each message's headers as W3C Trace Context
// (traceparent, tracestate). The propagator is this package's own, never
// the process-global one: two pipelines in one process must not share it,
// and what a message carries must not depend on what some library
// registered globally.
var propagator = propagation.TraceContext{}

// HeaderCarrier adapts nats.Header to propagation.TextMapCarrier. NATS
// header keys are case-sensitive; the W3C keys are written and read in
// lower case, as the specification spells them.
type HeaderCarrier nats.Header

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces key's values with value.
func (c HeaderCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the keys present.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the span context of ctx into msg's headers. It writes
// nothing when ctx holds no valid span context.
func Inject(ctx context.Context, msg *nats.Msg) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	propagator.Inject(ctx, HeaderCarrier(msg.Header))
}

// Extract returns ctx with the remote span context h carries, if any (a
// message published without tracing carries none: ctx is returned as is).
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil || h.Get("traceparent") == "" {
		return ctx
	}
	return propagator.Extract(ctx, HeaderCarrier(h))
}

// Tracer makes the messaging spans of publishers and consumers, with the
// OpenTelemetry messaging conventions (messaging.system nats, the subject
// as messaging.destination.name). A nil *Tracer is tracing off: callers
// keep the nil and skip every tracing step (NewTracer returns nil for the
// no-op provider), so the hot paths cost nothing when tracing is off.
type Tracer struct {
	tr trace.Tracer
}

// NewTracer returns the tracer of set's provider for the instrumentation
// scope, or nil when set records no traces.
func NewTracer(set telemetry.Settings, scope string) *Tracer {
	tr := telemetry.Tracer(set.TracerProvider, scope)
	if tr == nil {
		return nil
	}
	return &Tracer{tr: tr}
}

// Stream returns the stream a subject is stored in, the low-cardinality
// destination that names messaging spans ("publish ACTIVITIES").
func Stream(subject string) string {
	switch {
	case strings.HasPrefix(subject, subjects.DeadLetterPrefix+"."):
		return subjects.DeadLetterStream
	case strings.HasPrefix(subject, "alerts."):
		return subjects.AlertStream
	}
	return subjects.ActivityStream
}

// StartPublish starts the producer span of one message, a child of ctx's
// span, and injects its context into msg's headers: whoever consumes the
// message continues this trace. End the span when the stream has
// acknowledged (or refused) the message; EndPublish does both.
//
// With root, the span starts a trace of its own, linked to ctx's span: a
// bulk run's millions of messages make millions of small traces, each
// followable end to end, instead of one trace no backend can show.
func (t *Tracer) StartPublish(ctx context.Context, msg *nats.Msg, root bool) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	if root {
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.LinkFromContext(ctx)))
	}
	ctx, span := t.tr.Start(ctx, "publish "+Stream(msg.Subject), append(opts,
		trace.WithAttributes(
			semconv.MessagingSystemKey.String("nats"),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("publish"),
			semconv.MessagingDestinationName(msg.Subject),
			semconv.MessagingMessageBodySize(len(msg.Data)),
		))...)
	if id := msg.Header.Get("Nats-Msg-Id"); id != "" {
		span.SetAttributes(semconv.MessagingMessageID(id))
	}
	Inject(ctx, msg)
	return ctx, span
}

// EndPublish ends a producer span with the stream's answer: the sequence,
// whether it was a duplicate, or the error.
func EndPublish(span trace.Span, seq uint64, duplicate bool, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(attribute.Int64("messaging.nats.stream.sequence", int64(seq)),
			attribute.Bool("messaging.nats.duplicate", duplicate))
	}
	span.End()
}

// StartProcess starts the consumer span of one received message, a child of
// the context the message carries (or a new trace when it carries none).
// consumer names the consumer group (messaging.consumer.group.name).
// name is the span's name; "" means "process <stream>".
func (t *Tracer) StartProcess(ctx context.Context, name, consumer, subject string, h nats.Header, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if name == "" {
		name = "process " + Stream(subject)
	}
	ctx = Extract(ctx, h)
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		semconv.MessagingSystemKey.String("nats"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(subject),
		semconv.MessagingConsumerGroupName(consumer),
	), trace.WithAttributes(attrs...)}
	if id := h.Get("Nats-Msg-Id"); id != "" {
		opts = append(opts, trace.WithAttributes(semconv.MessagingMessageID(id)))
	}
	return t.tr.Start(ctx, name, opts...)
}

// Start starts any other span (an ingest run, a batch flush).
func (t *Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return t.tr.Start(ctx, name, opts...)
}

// Fail marks span as failed with reason (a dead-lettered message: the
// reason names the field and what was expected).
func Fail(span trace.Span, reason string) {
	span.SetStatus(codes.Error, reason)
	span.SetAttributes(attribute.String("orbitflow.dead_letter.reason", reason))
}
