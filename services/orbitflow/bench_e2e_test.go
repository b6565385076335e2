package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/bench"
)

// TestBenchMeasuresThePipeline runs a short `orbitflow bench --json` (its
// own embedded NATS and ClickHouse on a fresh data dir) and checks that
// every figure was measured: both ceilings, a flat-out and a fixed-rate
// phase whose every event was read back (the bench fails otherwise),
// latencies, lag, CPU by component and the scoring state per member.
func TestBenchMeasuresThePipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "bench", "--data-dir", t.TempDir(), "--duration", "2s", "--rate", "max,2000",
		"--ceiling-events", "5000", "--members", "2000", "--json")
	var stderr kittest.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	require.Contains(t, stderr.String(), "ceiling: JetStream", "progress lines")
	var s bench.Summary
	require.NoError(t, json.Unmarshal(out, &s), string(out))
	require.Len(t, s.Runs, 1)
	m := s.Median
	require.Positive(t, m.Ceilings.JetStream)
	require.Positive(t, m.Ceilings.ClickHouse)
	require.Equal(t, 5000, m.Ceilings.Events)
	require.Len(t, m.Phases, 2)
	for _, p := range m.Phases {
		require.Positive(t, p.Published)
		require.Positive(t, p.Sustained)
		require.LessOrEqual(t, p.Sustained, p.Offered*1.01, "nothing is queryable faster than it was published")
		require.Positive(t, p.P50)
		require.LessOrEqual(t, p.P50, p.P99)
		require.LessOrEqual(t, p.P99, p.Max)
		require.Positive(t, p.ScoredAfter)
		require.Positive(t, p.Usage.Total)
		require.Positive(t, p.Usage.RSSBytes)
		for _, c := range []string{"sink", "scoring", "bus", "clickhouse", "bench-load"} {
			require.Contains(t, p.Usage.CPU, c, "CPU is attributed to %s", c)
		}
		sum := 0.0
		for _, v := range p.Usage.CPU {
			sum += v
		}
		require.InDelta(t, p.Usage.Total, sum, 0.01*p.Usage.Total+1e-9, "the components add up to the process")
	}
	require.Equal(t, 2000, m.Phases[1].Rate)
	require.InDelta(t, 4000, m.Phases[1].Published, 400, "2 s at 2000/s")
	require.Positive(t, m.Members)
	require.Positive(t, m.StateBytes)
}
