package telemetry

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

func TestTracesConfigIsValidatedWithPaths(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate("telemetry"), "the default (tracing off) is valid")
	require.False(t, DefaultConfig().Traces.Enabled())

	t.Setenv("OF_TEST_OTLP_TOKEN", "Bearer s3cr3t-token")
	ok := DefaultConfig()
	ok.Traces.OTLPEndpoint = "https://collector.example:4318"
	ok.Traces.SampleRatio = 0.25
	ok.Traces.Headers = map[string]string{"Authorization": "env:OF_TEST_OTLP_TOKEN"}
	require.NoError(t, ok.Validate("telemetry"))

	for _, tc := range []struct {
		name   string
		mutate func(*TracesConfig)
		want   string
	}{
		{"no scheme", func(c *TracesConfig) { c.OTLPEndpoint = "collector:4318" }, `telemetry.traces.otlp_endpoint: want an http:// or https:// URL such as http://collector:4318, got "collector:4318"`},
		{"grpc scheme", func(c *TracesConfig) { c.OTLPEndpoint = "grpc://collector:4317" }, "telemetry.traces.otlp_endpoint: want an http:// or https:// URL"},
		{"no host", func(c *TracesConfig) { c.OTLPEndpoint = "http://" }, "telemetry.traces.otlp_endpoint: want an http:// or https:// URL"},
		{"credentials in the URL", func(c *TracesConfig) { c.OTLPEndpoint = "https://user:hunter2@collector:4318" }, "telemetry.traces.otlp_endpoint: want a URL without user, query or fragment (credentials go in headers)"},
		{"ratio above 1", func(c *TracesConfig) { c.SampleRatio = 1.5 }, "telemetry.traces.sample_ratio: want a fraction from 0 to 1 (1 records every trace), got 1.5"},
		{"negative ratio", func(c *TracesConfig) { c.SampleRatio = -0.1 }, "telemetry.traces.sample_ratio: want a fraction from 0 to 1"},
		{"timeout", func(c *TracesConfig) { c.ExportTimeout = time.Millisecond }, "telemetry.traces.export_timeout: want at least 100ms, got 1ms"},
		{"unset variable", func(c *TracesConfig) { c.Headers = map[string]string{"X-Key": "env:OF_TEST_UNSET_VAR"} }, "telemetry.traces.headers.X-Key: environment variable OF_TEST_UNSET_VAR is not set"},
		{"bad header name", func(c *TracesConfig) { c.Headers = map[string]string{"X Key": "v"} }, `telemetry.traces.headers: want an HTTP header name, got "X Key"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Traces.Headers = map[string]string{"Authorization": "env:OF_TEST_OTLP_TOKEN"}
			tc.mutate(&c.Traces)
			err := c.Validate("telemetry")
			require.ErrorContains(t, err, tc.want)
		})
	}

	// Headers without an endpoint are a mistake worth naming.
	off := DefaultConfig()
	off.Traces.Headers = map[string]string{"Authorization": "Bearer x"}
	require.ErrorContains(t, off.Validate("telemetry"), "telemetry.traces.headers: set, but otlp_endpoint is empty")

	// Every problem at once, and never a header's value.
	bad := ok
	bad.Traces.OTLPEndpoint = "ftp://x"
	bad.Traces.SampleRatio = 2
	bad.Traces.Headers = map[string]string{"Authorization": "Bearer s3cr3t\nInjected: 1"}
	err := bad.Validate("telemetry")
	require.ErrorContains(t, err, "telemetry.traces.otlp_endpoint")
	require.ErrorContains(t, err, "telemetry.traces.sample_ratio")
	require.ErrorContains(t, err, "telemetry.traces.headers.Authorization: the value must be one line")
	require.NotContains(t, err.Error(), "s3cr3t")
}

func TestTracerIsNilWhenTracingIsOff(t *testing.T) {
	require.Nil(t, Tracer(nil, "x"))
	require.Nil(t, Tracer(tracenoop.NewTracerProvider(), "x"))
	require.Nil(t, Tracer(Nop().TracerProvider, "x"), "Nop settings trace nothing")
	off, err := NewTraces(DefaultConfig().Traces, "orbitflow", "test")
	require.NoError(t, err)
	require.Nil(t, Tracer(off.Provider(), "x"), "no endpoint: the no-op provider")
	require.NoError(t, off.Shutdown(context.Background()))

	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	require.NotNil(t, Tracer(tp, "x"))
}

// TestTracesAreExportedOverOTLPWithHeaders runs the real exporter against
// an HTTP server standing in for a collector: a span reaches /v1/traces
// (the default path) with the configured header, resolved from the
// environment, when the provider shuts down (the flush at exit).
func TestTracesAreExportedOverOTLPWithHeaders(t *testing.T) {
	var mu sync.Mutex
	var paths, auths []string
	var bodies int
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths = append(paths, r.URL.Path)
		auths = append(auths, r.Header.Get("Authorization"))
		if len(b) > 0 {
			bodies++
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	t.Setenv("OF_TEST_OTLP_TOKEN", "Bearer s3cr3t-token")
	cfg := DefaultConfig()
	cfg.Traces.OTLPEndpoint = collector.URL
	cfg.Traces.Headers = map[string]string{"Authorization": "env:OF_TEST_OTLP_TOKEN"}
	require.NoError(t, cfg.Validate("telemetry"))
	tr, err := NewTraces(cfg.Traces, "orbitflow", "test")
	require.NoError(t, err)
	_, span := tr.Provider().Tracer("test").Start(context.Background(), "work")
	require.True(t, span.SpanContext().IsSampled(), "sample_ratio 1 records every new trace")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tr.Shutdown(ctx))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"/v1/traces"}, paths)
	require.Equal(t, []string{"Bearer s3cr3t-token"}, auths)
	require.Equal(t, 1, bodies)
}

func TestSampleRatioZeroRecordsNoNewTraceButFollowsParents(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := NewTracesWith(exp, 0, "orbitflow", "test")
	tracer := tr.Provider().Tracer("test")
	_, root := tracer.Start(context.Background(), "root")
	require.False(t, root.SpanContext().IsSampled())
	root.End()
	// A sampled parent from upstream (a message's traceparent) is followed.
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true})
	_, child := tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "child")
	require.True(t, child.SpanContext().IsSampled())
	child.End()
	require.NoError(t, tr.ForceFlush(context.Background())) // Shutdown would empty the in-memory exporter
	defer tr.Shutdown(context.Background())
	spans := exp.GetSpans()
	require.Len(t, spans, 1)
	require.Equal(t, "child", spans[0].Name)
	require.Equal(t, trace.TraceID{1}, spans[0].SpanContext.TraceID())
}

func TestTraceHandlerAddsTheSpanIDsToLogLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewTraceHandler(slog.NewJSONHandler(&buf, nil))).With("component", "sink")
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "work")
	defer span.End()

	log.InfoContext(ctx, "inside", "k", "v")
	line := buf.String()
	require.Contains(t, line, `"trace_id":"`+span.SpanContext().TraceID().String()+`"`)
	require.Contains(t, line, `"span_id":"`+span.SpanContext().SpanID().String()+`"`)
	require.Contains(t, line, `"component":"sink"`, "attributes from With are kept")
	require.Contains(t, line, `"k":"v"`)

	buf.Reset()
	log.InfoContext(context.Background(), "outside")
	log.Info("no context")
	require.NotContains(t, buf.String(), "trace_id", "no span, no ids")

	// An unsampled span's ids would lead nowhere.
	buf.Reset()
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), unsampled), "dropped trace")
	require.NotContains(t, buf.String(), "trace_id")

	// Levels are the wrapped handler's.
	buf.Reset()
	quiet := slog.New(NewTraceHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	quiet.InfoContext(ctx, "below the level")
	require.Empty(t, buf.String())
	quiet.WithGroup("g").WarnContext(ctx, "grouped")
	require.True(t, strings.Contains(buf.String(), "g.trace_id="+span.SpanContext().TraceID().String()), buf.String())
}
