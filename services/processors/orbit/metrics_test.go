package orbit

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

// TestProcessorMetrics: after the processor caught up with 2000 events, a
// scrape counts each one once, shows writes with their latency, and the
// scoring consumer's lag at 0; the lag gauge goes with the processor.
func TestProcessorMetrics(t *testing.T) {
	e := newEnv(t)
	e.publish(2000)
	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	defer m.Shutdown(context.Background())
	set := telemetry.Nop()
	set.MeterProvider = m.Provider()
	p := New(testConfig(2), scoring.DefaultConfig(), Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt}, set)
	require.NoError(t, p.Start(context.Background()))
	e.waitFor(p, 2000)
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	value := func(body, series string) float64 {
		got := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
		if got == nil {
			return -1
		}
		v, err := strconv.ParseFloat(got[1], 64)
		require.NoError(t, err)
		return v
	}
	// A write follows the last batch within the flush interval.
	require.Eventually(t, func() bool {
		body := scrape()
		return value(body, "orbitflow_scoring_latency_seconds_count") >= 1 &&
			value(body, `orbitflow_stream_lag{consumer="scoring",stream="ACTIVITIES"}`) == 0
	}, 10*time.Second, 20*time.Millisecond, scrape())
	body := scrape()
	require.Equal(t, 2000.0, value(body, "orbitflow_scoring_events_total"))
	require.GreaterOrEqual(t, value(body, "orbitflow_scoring_process_duration_seconds_count"), 2.0, "at most 1000 messages per fetch")
	require.GreaterOrEqual(t, value(body, "orbitflow_scoring_flush_duration_seconds_count"), 1.0)
	require.Greater(t, value(body, "orbitflow_scoring_latency_seconds_sum"), 0.0)

	require.NoError(t, p.Shutdown(context.Background()))
	require.NotContains(t, scrape(), "orbitflow_stream_lag")
}
