// Package telemetry carries the logger, tracer provider and meter provider
// that every component receives at construction. Nothing here is global: two
// pipelines in one test process must not share or overwrite each other's
// telemetry.
package telemetry

import (
	"io"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Settings is handed to every component's constructor.
type Settings struct {
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// MetricsHandler, if set, serves what MeterProvider measured to a
	// scrape (Metrics.Handler); the API serves it at GET /metrics.
	MetricsHandler http.Handler
}

// Nop returns settings that discard everything; for tests and tools.
func Nop() Settings {
	return Settings{
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		TracerProvider: tracenoop.NewTracerProvider(),
		MeterProvider:  metricnoop.NewMeterProvider(),
	}
}

// WithDefaults fills unset fields with no-op implementations.
func (s Settings) WithDefaults() Settings {
	n := Nop()
	if s.Logger == nil {
		s.Logger = n.Logger
	}
	if s.TracerProvider == nil {
		s.TracerProvider = n.TracerProvider
	}
	if s.MeterProvider == nil {
		s.MeterProvider = n.MeterProvider
	}
	return s
}

// Named returns a copy whose logger carries component=name.
func (s Settings) Named(name string) Settings {
	s = s.WithDefaults()
	s.Logger = s.Logger.With("component", name)
	return s
}
