package app

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/services/connectors/gateway"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestWebhookEventIsOneTraceEndToEnd is the "done when" of tracing: one
// event POSTed to the running gateway, as curl would, shows up as one
// trace: the delivery's server span, the publish, the scoring processor's
// process span and the sink's write span, each the child of the one before
// it crossed NATS; the sink's flush (its own trace, a batch holds many)
// links the event and holds the ClickHouse insert; and the gateway's log
// line for the delivery carries the trace id. The stack is the real one:
// embedded NATS, the embedded ClickHouse engine, the tracer provider of
// orbitflow run (batched) with an in-memory exporter.
func TestWebhookEventIsOneTraceEndToEnd(t *testing.T) {
	chAddr, db := kittest.ClickHouse(t)
	cfg := faultConfig(t, t.TempDir(), "", chAddr, db)
	cfg.Gateway.Listen = "127.0.0.1:0"
	cfg.Gateway.Hooks = []gateway.HookConfig{{Source: "generic", Community: "acme", Secrets: []string{"trace-test-api-key-0123456789"}}}
	require.NoError(t, cfg.Validate())

	exp := tracetest.NewInMemoryExporter()
	traces := telemetry.NewTracesWith(exp, 1, "orbitflow", "test")
	defer traces.Shutdown(context.Background())
	var logs kittest.SyncBuffer
	log := slog.New(telemetry.NewTraceHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	set := telemetry.Settings{Logger: log, TracerProvider: traces.Provider()}.WithDefaults()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := Start(ctx, cfg, Parts{ClickHouse: true, Bus: true, Sink: true, Scoring: true, Gateway: true}, set)
	require.NoError(t, err)
	defer func() { _ = stack.Shutdown(context.Background()) }()
	require.NotEmpty(t, stack.Gateway.Addr())

	body := `{"id":"trace-e2e-1","schema_version":1,"community":"acme","source":"github","type":"github.issue.opened",` +
		`"occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"github","source_id":"42","username":"ada"}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+stack.Gateway.Addr()+"/hooks/generic", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer trace-test-api-key-0123456789")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	byName := func() map[string][]tracetest.SpanStub {
		require.NoError(t, traces.ForceFlush(ctx))
		out := map[string][]tracetest.SpanStub{}
		for _, s := range exp.GetSpans() {
			out[s.Name] = append(out[s.Name], s)
		}
		return out
	}
	want := []string{"POST /hooks/generic", "publish ACTIVITIES", "process ACTIVITIES", "sink.write", "sink.flush activities_raw", "INSERT activities_raw"}
	var spans map[string][]tracetest.SpanStub
	require.Eventually(t, func() bool {
		spans = byName()
		for _, name := range want {
			if len(spans[name]) == 0 {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "every span of the event's way")
	for _, name := range want {
		require.Len(t, spans[name], 1, "one %q span for one event", name)
	}
	delivery, publish := spans["POST /hooks/generic"][0], spans["publish ACTIVITIES"][0]
	process, write := spans["process ACTIVITIES"][0], spans["sink.write"][0]
	flush, insert := spans["sink.flush activities_raw"][0], spans["INSERT activities_raw"][0]

	id := delivery.SpanContext.TraceID()
	for _, s := range []tracetest.SpanStub{publish, process, write} {
		require.Equal(t, id, s.SpanContext.TraceID(), "%s is in the delivery's trace", s.Name)
	}
	require.False(t, delivery.Parent.IsValid(), "the delivery starts the trace")
	require.Equal(t, trace.SpanKindServer, delivery.SpanKind)
	require.Equal(t, delivery.SpanContext.SpanID(), publish.Parent.SpanID(), "the publish is the delivery's child")
	require.Equal(t, trace.SpanKindProducer, publish.SpanKind)
	require.Equal(t, publish.SpanContext.SpanID(), process.Parent.SpanID(), "scoring continues from the message's context")
	require.True(t, process.Parent.IsRemote(), "received over NATS")
	require.Equal(t, trace.SpanKindConsumer, process.SpanKind)
	require.Equal(t, publish.SpanContext.SpanID(), write.Parent.SpanID(), "the sink continues from the message's context")
	require.True(t, write.Parent.IsRemote())

	require.NotEqual(t, id, flush.SpanContext.TraceID(), "a flush is a trace of its own")
	require.Len(t, flush.Links, 1)
	require.Equal(t, publish.SpanContext.SpanID(), flush.Links[0].SpanContext.SpanID(), "the flush links the event's message")
	require.Equal(t, flush.SpanContext.SpanID(), insert.Parent.SpanID(), "the insert is the flush's child")
	require.Len(t, write.Links, 1)
	require.Equal(t, flush.SpanContext.SpanID(), write.Links[0].SpanContext.SpanID(), "the event's write links the flush that wrote it")

	attrs := map[string]string{}
	for _, a := range insert.Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	require.Equal(t, "clickhouse", attrs["db.system.name"])
	require.Equal(t, "activities_raw", attrs["db.collection.name"])
	attrs = map[string]string{}
	for _, a := range publish.Attributes {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	require.Equal(t, "nats", attrs["messaging.system"])
	require.Equal(t, "activities.acme.github", attrs["messaging.destination.name"])
	require.Equal(t, "trace-e2e-1", attrs["messaging.message.id"])
	for _, s := range []tracetest.SpanStub{delivery, publish, process, write, flush, insert} {
		require.NotEqual(t, "Error", s.Status.Code.String(), "%s: %s", s.Name, s.Status.Description)
		require.Equal(t, "orbitflow", resourceService(s), "%s carries service.name", s.Name)
	}

	// The gateway's line for this delivery leads to the trace.
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"msg":"delivery stored"`) {
			line = l
		}
	}
	require.NotEmpty(t, line, "the gateway logs the stored delivery at debug level")
	require.Contains(t, line, `"trace_id":"`+id.String()+`"`)
	require.Contains(t, line, `"span_id":"`+delivery.SpanContext.SpanID().String()+`"`)
}

func resourceService(s tracetest.SpanStub) string {
	if s.Resource == nil {
		return ""
	}
	for _, a := range s.Resource.Attributes() {
		if a.Key == "service.name" {
			return a.Value.AsString()
		}
	}
	return ""
}

// TestTelemetryConfigIsValidatedWithTheTree: the trace settings come from
// the file or ORBITFLOW_TELEMETRY_TRACES_* and a bad one is reported with
// its path among the tree's problems.
func TestTelemetryConfigIsValidatedWithTheTree(t *testing.T) {
	env := map[string]string{"ORBITFLOW_TELEMETRY_TRACES_OTLP_ENDPOINT": "http://collector:4318", "ORBITFLOW_TELEMETRY_TRACES_SAMPLE_RATIO": "0.1"}
	cfg, err := Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	require.True(t, cfg.Telemetry.Traces.Enabled())
	require.Equal(t, 0.1, cfg.Telemetry.Traces.SampleRatio)

	cfg.Telemetry.Traces.OTLPEndpoint = "collector:4318"
	cfg.Telemetry.Traces.SampleRatio = 10
	cfg.Sink.BatchSize = -1
	err = cfg.Validate()
	require.ErrorContains(t, err, `telemetry.traces.otlp_endpoint: want an http:// or https:// URL such as http://collector:4318, got "collector:4318"`)
	require.ErrorContains(t, err, "telemetry.traces.sample_ratio: want a fraction from 0 to 1")
	require.ErrorContains(t, err, "sink.batch_size", "reported with the rest of the tree")
}
