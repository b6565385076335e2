package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkSplitProcessors measures how fast 1 and 3 `--target processors`
// processes score a backlog: 12 communities (scoring.shards 12) of
// benchEventsPerCommunity activities, each by its own member, already on
// the stream. The clock runs from the processes' start to the last
// member's row in ClickHouse, so it includes joining the group and the
// first rebalance (lease_ttl 1s: a third of a second per round). All
// processes share this machine's cores with NATS and ClickHouse: the
// figure is what this machine scales to, not what separate machines do.
//
//	go test -run '^$' -bench SplitProcessors -benchtime 1x -count 3 ./services/orbitflow
func BenchmarkSplitProcessors(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				eps := scoreBacklog(b, n)
				b.StartTimer()
				b.ReportMetric(eps, "events/s")
			}
		})
	}
}

const benchEventsPerCommunity = 20000

// scoreBacklog runs one measurement and returns events scored per second.
func scoreBacklog(b *testing.B, instances int) float64 {
	e := newSplitEnv(b, "scoring: {shards: 12}\nops: {lease_ttl: 1s}\n")
	const communities = 12
	for c := range communities {
		name := fmt.Sprintf("b%02d", c)
		file := filepath.Join(e.dir, name+".jsonl")
		// One member per activity, a minute apart.
		activityFile{community: name, to: benchEventsPerCommunity, members: benchEventsPerCommunity, step: time.Minute, idPrefix: name + "-"}.write(b, file)
		require.Contains(b, e.cli("ingest", "--source", "jsonl", "--community", name, file), fmt.Sprintf("published %d,", benchEventsPerCommunity))
	}
	total := communities * benchEventsPerCommunity
	b.Logf("backlog of %d events on the stream", total)
	start := time.Now()
	stages := make([]*stage, instances)
	for i := range stages {
		stages[i] = &stage{t: b, target: "processors", config: e.split, env: []string{"ORBITFLOW_OPS_LISTEN=" + freePort(b)}}
		stages[i].launch()
	}
	progress := time.Now()
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		n, err := strconv.Atoi(e.value("SELECT count() FROM (SELECT DISTINCT community, member_id FROM members_raw)"))
		require.NoError(b, err)
		if n >= total {
			break
		}
		if time.Since(progress) > 5*time.Second {
			b.Logf("%s: %d of %d scored", time.Since(start).Round(time.Second), n, total)
			progress = time.Now()
		}
		require.True(b, time.Now().Before(deadline), "scored %d of %d in 5 minutes; the first instance's log:\n%s", n, total, stages[0].log.String())
	}
	elapsed := time.Since(start)
	for _, s := range stages {
		require.NoError(b, s.stop(syscall.SIGTERM), s.log.String())
	}
	e.stopServers()
	return float64(total) / elapsed.Seconds()
}
