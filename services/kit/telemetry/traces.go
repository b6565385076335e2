package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/orbitflow/orbitflow/services/kit/config"
)

// Config is the telemetry section of the config file (telemetry:).
type Config struct {
	Traces TracesConfig `yaml:"traces"`
}

// TracesConfig exports traces over OTLP/HTTP. With no endpoint nothing is
// traced: the components get a no-op tracer provider and skip every
// tracing step on their hot paths.
type TracesConfig struct {
	// OTLPEndpoint is the collector's OTLP/HTTP URL, e.g.
	// http://collector:4318 (plain HTTP) or https://collector:4318 (TLS,
	// verified against the system roots). A URL without a path sends to
	// /v1/traces. "" turns tracing off.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the fraction (0..1) of new traces recorded: a webhook
	// delivery, an ingest run or a sink flush starts one. Spans whose parent
	// came with a message follow the parent's decision, so a trace is kept
	// or dropped whole.
	SampleRatio float64 `yaml:"sample_ratio"`
	// Headers are sent with every export (e.g. an authorization header for
	// a hosted backend). Values may be "env:NAME" or "file:PATH", like
	// every secret of the config; they are never logged or printed.
	Headers map[string]string `yaml:"headers"`
	// ExportTimeout bounds one export request.
	ExportTimeout time.Duration `yaml:"export_timeout"`
}

// DefaultConfig returns tracing off; with an endpoint set, every trace is
// recorded (sample_ratio 1) and an export may take 10s.
func DefaultConfig() Config {
	return Config{Traces: TracesConfig{SampleRatio: 1, ExportTimeout: 10 * time.Second}}
}

// Enabled reports whether traces are exported.
func (c TracesConfig) Enabled() bool { return c.OTLPEndpoint != "" }

// Validate reports every problem, each prefixed with its path under prefix
// (e.g. "telemetry"). Secrets named by headers are resolved, so a missing
// environment variable is reported at start, not at the first export.
func (c Config) Validate(prefix string) error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.traces.%s: %s", prefix, path, fmt.Sprintf(format, a...)))
	}
	t := c.Traces
	if t.SampleRatio < 0 || t.SampleRatio > 1 || t.SampleRatio != t.SampleRatio {
		add("sample_ratio", "want a fraction from 0 to 1 (1 records every trace), got %g", t.SampleRatio)
	}
	if t.ExportTimeout < 100*time.Millisecond {
		add("export_timeout", "want at least 100ms, got %s", t.ExportTimeout)
	}
	if t.OTLPEndpoint != "" {
		if _, _, _, err := parseEndpoint(t.OTLPEndpoint); err != nil {
			add("otlp_endpoint", "%v", err)
		}
	} else if len(t.Headers) > 0 {
		add("headers", "set, but otlp_endpoint is empty (tracing is off): set otlp_endpoint or remove headers")
	}
	for _, k := range sortedKeys(t.Headers) {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			add("headers", "want an HTTP header name, got %q", k)
			continue
		}
		v, err := config.ResolveSecret(t.Headers[k])
		if err != nil {
			add("headers."+k, "%v", err) // never the value: it may be a secret
			continue
		}
		if strings.ContainsAny(v, "\r\n") {
			add("headers."+k, "the value must be one line")
		}
	}
	return errors.Join(errs...)
}

// parseEndpoint splits an OTLP/HTTP URL into host:port, path and whether
// it is plain HTTP.
func parseEndpoint(s string) (host, path string, insecure bool, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", false, fmt.Errorf("want an http:// or https:// URL such as http://collector:4318, got %q", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", false, fmt.Errorf("want a URL without user, query or fragment (credentials go in headers), got %s://%s%s", u.Scheme, u.Host, u.Path)
	}
	path = u.Path
	if path == "" || path == "/" {
		path = "/v1/traces"
	}
	return u.Host, path, u.Scheme == "http", nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Traces is the process's tracer provider: an SDK provider exporting over
// OTLP/HTTP in batches when configured, the no-op provider otherwise.
type Traces struct {
	sdk      *sdktrace.TracerProvider // nil when tracing is off
	provider trace.TracerProvider
}

// NewTraces builds the tracer provider cfg describes for the service and
// version (the resource's service.name and service.version). cfg must be
// valid (Config.Validate). It does not connect: a collector that is down
// loses spans (the batch processor drops what it cannot send), never
// blocks the pipeline.
func NewTraces(cfg TracesConfig, service, version string) (*Traces, error) {
	if !cfg.Enabled() {
		return &Traces{provider: tracenoop.NewTracerProvider()}, nil
	}
	host, path, insecure, err := parseEndpoint(cfg.OTLPEndpoint)
	if err != nil {
		return nil, fmt.Errorf("telemetry.traces.otlp_endpoint: %w", err)
	}
	headers := make(map[string]string, len(cfg.Headers))
	for k, v := range cfg.Headers {
		if headers[k], err = config.ResolveSecret(v); err != nil {
			return nil, fmt.Errorf("telemetry.traces.headers.%s: %w", k, err)
		}
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(host), otlptracehttp.WithURLPath(path),
		otlptracehttp.WithHeaders(headers), otlptracehttp.WithTimeout(cfg.ExportTimeout)}
	if insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP trace exporter for %s: %w (check telemetry.traces)", host, err)
	}
	return NewTracesWith(exp, cfg.SampleRatio, service, version), nil
}

// NewTracesWith is NewTraces with another exporter (tests: tracetest's
// in-memory exporter), batched the same way.
func NewTracesWith(exp sdktrace.SpanExporter, ratio float64, service, version string) *Traces {
	res := resource.NewSchemaless(semconv.ServiceName(service), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(res),
	)
	return &Traces{sdk: tp, provider: tp}
}

// Provider is the tracer provider to put in Settings.
func (t *Traces) Provider() trace.TracerProvider { return t.provider }

// Shutdown exports what is buffered, waiting at most until ctx ends, and
// stops the provider; later spans are dropped. Safe when tracing is off.
func (t *Traces) Shutdown(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: flushing traces at exit: %w (the spans still buffered are lost; is the collector reachable?)", err)
	}
	return nil
}

// ForceFlush exports what is buffered, waiting at most until ctx ends.
func (t *Traces) ForceFlush(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	return t.sdk.ForceFlush(ctx)
}

// Tracer returns tp's tracer for the instrumentation scope name, or nil when
// tp records nothing (nil or the no-op provider). Components keep the nil
// and test it on their hot paths, so with tracing off they do no tracing
// work at all: no header injection or extraction, no span, no allocation.
func Tracer(tp trace.TracerProvider, name string) trace.Tracer {
	switch tp.(type) {
	case nil, tracenoop.TracerProvider, *tracenoop.TracerProvider:
		return nil
	}
	return tp.Tracer(name)
}
