package ingest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/jsonl"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

// TestRunIsTracedWhenAProviderIsGiven: one span for the run with its
// counts, a producer span per published event as the root of its own
// trace linked to the run's (duplicates included), each event carrying
// its span's context, and the dead letters noted on the run's span.
func TestRunIsTracedWhenAProviderIsGiven(t *testing.T) {
	b := kittest.Bus(t)
	js := b.JetStream()
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(ctx)
	st, err := ingest.Run(ctx, js, jsonl.Read(strings.NewReader(input), "in.jsonl"), ingest.Options{
		Community: "acme", Format: "jsonl", Registry: events.DefaultRegistry(), TracerProvider: tp,
		Now: func() time.Time { return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) },
	})
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Published)

	spans := exp.GetSpans()
	var run tracetest.SpanStub
	var pubs []tracetest.SpanStub
	for _, s := range spans {
		switch s.Name {
		case "ingest jsonl":
			run = s
		case "publish " + subjects.ActivityStream:
			pubs = append(pubs, s)
		}
	}
	require.Equal(t, "ingest jsonl", run.Name, "the run's span")
	require.Len(t, pubs, 3, "two events and one duplicate published")
	traces := map[trace.TraceID]bool{}
	for _, p := range pubs {
		require.NotEqual(t, run.SpanContext.TraceID(), p.SpanContext.TraceID(), "each event is a trace of its own")
		require.False(t, p.Parent.IsValid(), "each publish is a root")
		require.Len(t, p.Links, 1)
		require.Equal(t, run.SpanContext.SpanID(), p.Links[0].SpanContext.SpanID(), "linked to the run")
		traces[p.SpanContext.TraceID()] = true
		require.Equal(t, trace.SpanKindProducer, p.SpanKind)
		require.Equal(t, codes.Unset, p.Status.Code)
	}
	require.Len(t, traces, 3)
	attrs := map[string]int64{}
	for _, a := range run.Attributes {
		attrs[string(a.Key)] = a.Value.AsInt64()
	}
	require.Equal(t, int64(6), attrs["orbitflow.ingest.read"])
	require.Equal(t, int64(3), attrs["orbitflow.ingest.rejected"])
	var dead []string
	for _, e := range run.Events {
		if e.Name == "dead_letter" {
			dead = append(dead, e.Attributes[1].Value.AsString())
		}
	}
	require.Len(t, dead, 3)
	require.Contains(t, strings.Join(dead, "\n"), "unknown type")

	// The stored event carries its producer span's context.
	acts, err := js.Stream(ctx, subjects.ActivityStream)
	require.NoError(t, err)
	raw, err := acts.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "00-"+pubs[0].SpanContext.TraceID().String()+"-"+pubs[0].SpanContext.SpanID().String()+"-01", raw.Header.Get("traceparent"))
}

func TestRunWithoutProviderSendsNoTraceHeaders(t *testing.T) {
	b := kittest.Bus(t)
	js := b.JetStream()
	ctx := context.Background()
	_, err := ingest.Run(ctx, js, jsonl.Read(strings.NewReader(input), "in.jsonl"), ingest.Options{
		Community: "acme", Format: "jsonl", Registry: events.DefaultRegistry()})
	require.NoError(t, err)
	acts, err := js.Stream(ctx, subjects.ActivityStream)
	require.NoError(t, err)
	raw, err := acts.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Empty(t, raw.Header.Get("traceparent"))
}
