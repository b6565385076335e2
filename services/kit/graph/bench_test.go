package graph

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkStructure times the structure measures, the bus risk and the
// betweenness (pivots) on a random graph of 20,000 members and 100,000
// edges of weights 1..10, the size of a large community.
func BenchmarkStructure(b *testing.B) {
	const n = 20_000
	edges := randomWeightedGraph(n, 100_000, rand.New(rand.NewPCG(1, 2)))
	var measuring, risking, between time.Duration
	runs := 0
	for b.Loop() {
		start := time.Now()
		Measure(n, edges)
		measured := time.Now()
		BusRisks(n, edges, 1, 3, 5)
		risked := time.Now()
		Betweenness(n, edges)
		measuring += measured.Sub(start)
		risking += risked.Sub(measured)
		between += time.Since(risked)
		runs++
	}
	b.ReportMetric(float64(measuring.Microseconds())/1e3/float64(runs), "measure-ms")
	b.ReportMetric(float64(risking.Microseconds())/1e3/float64(runs), "busrisk-ms")
	b.ReportMetric(float64(between.Microseconds())/1e3/float64(runs), "betweenness-ms")
}
