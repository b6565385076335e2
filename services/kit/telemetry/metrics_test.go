package telemetry

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

func TestMetricsAreScrapedInThePrometheusFormat(t *testing.T) {
	m, err := NewMetrics()
	require.NoError(t, err)
	defer m.Shutdown(context.Background())
	rows, err := m.Provider().Meter("test").Int64Counter("orbitflow.sink.rows", metric.WithDescription("Rows written"))
	require.NoError(t, err)
	rows.Add(context.Background(), 42, metric.WithAttributes(attribute.String("table", "activities_raw")))
	dur, err := m.Provider().Meter("test").Float64Histogram("orbitflow.sink.flush_duration", metric.WithUnit("s"))
	require.NoError(t, err)
	dur.Record(context.Background(), 0.25)

	// Two providers in one process do not collide (no global registry).
	other, err := NewMetrics()
	require.NoError(t, err)
	defer other.Shutdown(context.Background())

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	require.Contains(t, string(body), `orbitflow_sink_rows_total{table="activities_raw"} 42`)
	require.Contains(t, string(body), `orbitflow_sink_flush_duration_seconds_count 1`)
	require.Contains(t, string(body), "go_goroutines")
	require.Contains(t, string(body), "process_resident_memory_bytes")

	rec = httptest.NewRecorder()
	other.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.NotContains(t, rec.Body.String(), "orbitflow_sink_rows_total")
}
