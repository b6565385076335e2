package orbit

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
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
	scrape := func() string { return kittest.Scrape(m) }
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

// TestIdleProcessorKeepsItsConsumer: the processor reads with one
// server-side consumer for as long as nothing goes wrong; with Fetch an
// ordered consumer is deleted and created again at every fetch (its name's
// serial counted ~4 a second while idle).
func TestIdleProcessorKeepsItsConsumer(t *testing.T) {
	e := newEnv(t)
	e.publish(3000)
	p := e.start(testConfig(2))
	defer p.Shutdown(context.Background())
	e.waitFor(p, 3000)
	names := func() []string {
		st, err := e.js.Stream(context.Background(), "ACTIVITIES")
		require.NoError(t, err)
		var out []string
		for name := range st.ListConsumers(context.Background()).Info() {
			out = append(out, name.Name)
		}
		return out
	}
	before := names()
	require.Len(t, before, 1)
	require.True(t, strings.HasPrefix(before[0], "scoring-"), before[0])
	time.Sleep(2 * time.Second) // idle: eight fetches' worth
	require.Equal(t, before, names(), "the same consumer, not a new one")

	// And it still reads what comes next.
	ctx := context.Background()
	ev := e.evs[0]
	ev.ID = "after-idle"
	data, err := events.Encode(&ev)
	require.NoError(t, err)
	_, err = e.js.Publish(ctx, subjects.Activity(ev.Community, ev.Source), data)
	require.NoError(t, err)
	e.waitFor(p, 3001)
	require.Equal(t, before, names())
}
