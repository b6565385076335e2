package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStatusReportsWhatClickHouseAndNATSHold ingests a known file into a
// running orbitflow and checks every figure of `status --json` against
// the same figure read independently: counts from ClickHouse through
// `orbitflow sql`, stream depths from what the file holds.
func TestStatusReportsWhatClickHouseAndNATSHold(t *testing.T) {
	in := newInstance(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Not running: a clear error saying what to do.
	_, errOut, err := in.cli(ctx, "status")
	require.Error(t, err)
	require.Contains(t, errOut, "orbitflow is not running on data dir")
	require.Contains(t, errOut, "start it with `orbitflow run`")

	in.start()
	file := filepath.Join(in.dir, "events.jsonl")
	writeEvents(t, file, 300,
		`{"id":"bad-1","schema_version":1,"community":"acme","source":"github","type":"github.nonsense","occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"github","source_id":"1"}}`,
		`{not json`,
	)
	out, errOut, err := in.cli(ctx, "ingest", "--source", "jsonl", "--community", "acme", "--wait", file)
	require.NoError(t, err, "ingest: %s\n%s", out, errOut)
	require.Contains(t, out, "read 302, published 300, duplicates 0, rejected 2")
	require.NotContains(t, errOut, "\r", "stderr is not a terminal: no bar redrawn in place")

	// The scoring processor writes members within about a second: wait
	// until all 300 identities are members, so that both reads agree.
	for deadline := time.Now().Add(30 * time.Second); in.sqlValue("SELECT count() FROM members WHERE NOT is_bot") != "300"; time.Sleep(200 * time.Millisecond) {
		require.False(t, time.Now().After(deadline), "the scoring processor never wrote the 300 members")
	}

	// Without a key the API parts are problems, and the exit status says so.
	_, errOut, err = in.cli(ctx, "status", "--json")
	require.Error(t, err)
	require.Contains(t, errOut, "problem(s)")

	out, errOut, err = in.cli(ctx, "status", "--json", "--api-key", apiKey)
	require.NoError(t, err, "status: %s\n%s", out, errOut)
	var rep statusReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Empty(t, rep.Problems)

	// Health.
	require.NotNil(t, rep.Ready)
	require.True(t, rep.Ready.Ready)
	checks := map[string]bool{}
	for _, c := range rep.Ready.Checks {
		checks[c.Name] = c.OK
	}
	require.True(t, checks["nats"], "%+v", rep.Ready.Checks)
	require.True(t, checks["clickhouse"], "%+v", rep.Ready.Checks)

	// Throughput: everything was written within the last 15 minutes.
	got := map[string]uint64{}
	for _, r := range rep.Throughput {
		require.Equal(t, "acme", r.Community)
		got[r.Source] = r.Events15m
		require.InDelta(t, float64(r.Events15m)/900, r.Rate15m, 1e-9)
		require.LessOrEqual(t, r.Events1m, r.Events15m)
	}
	want := map[string]uint64{}
	for _, src := range []string{"github", "discourse", "slack"} {
		n, err := strconv.ParseUint(in.sqlValue("SELECT count() FROM activities WHERE source = '"+src+"' AND received_at >= now64(3) - INTERVAL 15 MINUTE"), 10, 64)
		require.NoError(t, err)
		want[src] = n
	}
	require.Equal(t, map[string]uint64{"github": 100, "discourse": 100, "slack": 100}, want)
	require.Equal(t, want, got)

	// Streams and consumers: the stream holds what was published, the
	// sink is caught up (ingest --wait returned).
	streams := map[string]uint64{}
	for _, s := range rep.Streams {
		streams[s.Name] = s.Messages
	}
	require.Equal(t, map[string]uint64{"ACTIVITIES": 300, "DEADLETTER": 2}, streams)
	sinks := 0
	for _, c := range rep.Consumers {
		if strings.HasPrefix(c.Name, "sink-") {
			sinks++
			require.True(t, c.CaughtUp, "%+v", c)
			require.Zero(t, c.Lag)
		}
		require.Equal(t, c.Pending+uint64(c.AckPending), c.Lag)
	}
	require.Equal(t, 2, sinks, "%+v", rep.Consumers)

	// Dead letters: the count, and the newest reasons as ClickHouse has them.
	require.NotNil(t, rep.Dead)
	require.Equal(t, in.sqlValue("SELECT count() FROM dead_letters"), strconv.FormatUint(rep.Dead.Total, 10))
	require.EqualValues(t, 2, rep.Dead.Total)
	require.Len(t, rep.Dead.Newest, 2)
	reasons := rep.Dead.Newest[0].Reason + "\n" + rep.Dead.Newest[1].Reason
	require.Contains(t, reasons, "unknown type")

	// Members, by level, as the members view has them.
	require.Len(t, rep.Members, 1)
	m := rep.Members[0]
	require.Equal(t, "acme", m.Community)
	require.EqualValues(t, 300, m.Total)
	require.Equal(t, in.sqlValue("SELECT countIf(last_seen >= now64(3) - INTERVAL 30 DAY) FROM members WHERE NOT is_bot"), strconv.FormatUint(m.Active30d, 10))
	require.Equal(t, in.sqlValue("SELECT countIf(orbit_level = 4) FROM members WHERE NOT is_bot"), strconv.FormatUint(m.Exploring, 10))
	require.Equal(t, m.Total, m.Leading+m.Contributing+m.Participating+m.Exploring+m.OutOfOrbit)

	// Alerts: none open (this instance has no rules), as the table says.
	require.NotNil(t, rep.Alerts)
	require.Equal(t, in.sqlValue("SELECT count() FROM alerts FINAL WHERE state IN ('pending', 'firing')"), strconv.Itoa(rep.Alerts.Open))

	// The table for people: the same figures, aligned.
	out, errOut, err = in.cli(ctx, "status", "--api-key", apiKey)
	require.NoError(t, err, "status: %s\n%s", out, errOut)
	for _, want := range []string{"HEALTH", "THROUGHPUT", "ACTIVITIES", "sink-activities", "caught up", "2 in all", "MEMBERS", "none open"} {
		require.Contains(t, out, want)
	}
}
