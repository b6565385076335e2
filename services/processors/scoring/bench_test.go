package scoring

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// synthetic returns n activities over members ids in time order (90 days),
// a third of them replies to another member, half in threads.
func synthetic(n, members int) []Activity {
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, members)
	for i := range ids {
		ids[i] = fmt.Sprintf("github:%d", i)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	step := (90 * 24 * time.Hour).Milliseconds() / int64(n)
	weights := []float64{1, 3, 4, 5, 8}
	acts := make([]Activity, n)
	for i := range acts {
		// Skewed: a few members do most.
		m := int(float64(members) * r.Float64() * r.Float64())
		a := Activity{Member: ids[m], At: start + int64(i)*step, Type: "x", Weight: weights[r.IntN(len(weights))]}
		if r.IntN(3) == 0 {
			a.Targets = []Target{{Member: ids[r.IntN(members)], Kind: "reply"}}
		}
		if r.IntN(2) == 0 {
			a.Thread = fmt.Sprintf("t%d", r.IntN(n/20+1))
		}
		acts[i] = a
	}
	return acts
}

// BenchmarkScoring is scoring alone: in memory, no bus, one core.
func BenchmarkScoring(b *testing.B) {
	acts := synthetic(1_000_000, 100_000)
	b.ResetTimer()
	var total time.Duration
	applied := 0
	for b.Loop() {
		s := NewScorer(DefaultConfig())
		start := time.Now()
		for _, a := range acts {
			s.Apply(a)
		}
		total += time.Since(start)
		applied += len(acts)
	}
	b.ReportMetric(float64(applied)/total.Seconds(), "activities/s")
}

// BenchmarkScoringBatched is scoring as the processor runs it: activities
// enqueued a fetched batch (1000) at a time, then drained, with 1 and 2
// partitions (2 apply in parallel on the 2 cores), and with no role rules
// (what roles cost).
func BenchmarkScoringBatched(b *testing.B) {
	acts := synthetic(1_000_000, 100_000)
	noRoles := DefaultConfig()
	noRoles.Roles.Rules = nil
	for _, c := range []struct {
		name string
		n    int
		cfg  Config
	}{{"partitions=1", 1, DefaultConfig()}, {"partitions=2", 2, DefaultConfig()}, {"partitions=1/no-roles", 1, noRoles}} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			applied := 0
			for b.Loop() {
				s := NewPartitioned(c.cfg, c.n)
				start := time.Now()
				for i, a := range acts {
					s.Enqueue(a)
					if i%1000 == 999 {
						s.Drain()
					}
				}
				s.Drain()
				total += time.Since(start)
				applied += len(acts)
			}
			b.ReportMetric(float64(applied)/total.Seconds(), "activities/s")
		})
	}
}

// BenchmarkState measures the memory of 1M members and their edges and
// prints bytes per member and per edge.
func BenchmarkState(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		s := NewScorer(DefaultConfig())
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
		for i := range 1_000_000 {
			s.Apply(Activity{Member: fmt.Sprintf("github:%d", i), At: at + int64(i), Weight: 3})
		}
		runtime.GC()
		var mid runtime.MemStats
		runtime.ReadMemStats(&mid)
		for i := range 1_000_000 {
			s.Apply(Activity{Member: fmt.Sprintf("github:%d", i), At: at + 1_000_000 + int64(i), Weight: 1,
				Targets: []Target{{Member: fmt.Sprintf("github:%d", (i*7919+1)%1_000_000), Kind: "reply"}}})
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		perMember := float64(mid.HeapAlloc-before.HeapAlloc) / float64(s.Len())
		perEdge := float64(after.HeapAlloc-mid.HeapAlloc) / float64(s.Edges())
		b.ReportMetric(float64(unsafe.Sizeof(Member{})), "B/member-scores")
		b.ReportMetric(perMember, "B/member-total")
		b.ReportMetric(perEdge, "B/edge")
		runtime.KeepAlive(s)
	}
}
