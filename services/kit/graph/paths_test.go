package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Two triangles {0,1,2} and {4,5,6}, and member 3 tied to all six: every
// path between the triangles is one of the 3·3 pairs' unique shortest
// paths, and runs through 3. Betweenness 9, of the 6·5/2 = 15 pairs of
// other members: 0.6.
func twoCliquesThroughOne() []WeightedEdge {
	edges := append(cliqueEdges(10, 0, 1, 2), cliqueEdges(10, 4, 5, 6)...)
	for _, v := range []uint32{0, 1, 2, 4, 5, 6} {
		edges = append(edges, WeightedEdge{A: 3, B: v, Weight: 10})
	}
	return edges
}

func TestBetweennessOfTheMemberJoiningTwoCliques(t *testing.T) {
	b, exact := Betweenness(7, twoCliquesThroughOne())
	require.True(t, exact)
	require.Equal(t, []float64{0, 0, 0, 9, 0, 0, 0}, b)
}

// Strong ties are short: in the triangle 0–1 (strength 1), 0–2 and 2–1
// (strength 4), the way from 0 to 1 through 2 is 1/4 + 1/4 = 0.5 < 1, so
// 2 lies on it. On the path 0–1–2–3 the inner members each carry 2 pairs.
// Two equal shortest ways share the pair: in the square 0–1–2–3–0 each
// member carries half of the pair of its two neighbours.
func TestBetweennessFollowsStrengths(t *testing.T) {
	b, _ := Betweenness(3, []WeightedEdge{{0, 1, 1}, {0, 2, 4}, {2, 1, 4}})
	require.Equal(t, []float64{0, 0, 1}, b)

	b, _ = Betweenness(5, []WeightedEdge{{0, 1, 1}, {1, 2, 1}, {2, 3, 1}})
	require.Equal(t, []float64{0, 2, 2, 0, 0}, b)

	b, _ = Betweenness(4, []WeightedEdge{{0, 1, 2}, {1, 2, 2}, {2, 3, 2}, {3, 0, 2}})
	require.Equal(t, []float64{0.5, 0.5, 0.5, 0.5}, b)
}

// Above ExactBetweennessLimit connected members the betweenness is the
// pivot estimate: on a star of 1500 leaves the pivots are members
// ⌊i·1501/250⌋, the centre (pivot 0, no dependency on itself) and 249
// leaves, each of which reaches the other 1499 leaves through the centre:
// 249·1499 · (1501/250) / 2. The exact value is 1500·1499/2.
func TestBetweennessSamplesLargeGraphsDeterministically(t *testing.T) {
	edges := starEdges(1500)
	b, exact := Betweenness(1501, edges)
	require.False(t, exact)
	require.InDelta(t, 249*1499*(1501.0/250)/2, b[0], 1e-6)
	require.InDelta(t, 1500*1499/2, b[0], 0.01*1500*1499/2, "within 1% of the exact value")
	for v := 1; v <= 1500; v++ {
		require.Zero(t, b[v], "leaf %d", v)
	}
	again, _ := Betweenness(1501, edges)
	require.Equal(t, b, again)
}

// Exact up to 1000 connected members within the budget; above, pivots
// by the budget between 16 and 250, never more than the members.
func TestBetweennessSources(t *testing.T) {
	for _, c := range []struct {
		c, m   int
		exact  bool
		pivots int
	}{
		{7, 12, true, 7},
		{1000, 10_000, true, 1000},      // 1000 × 20,000 entries = the budget
		{1000, 10_001, false, 250},      // over the budget: 20M / 20,002 entries, at most 250
		{1001, 1000, false, 250},        // too many members; the budget allows 10,000 pivots
		{20_000, 100_000, false, 100},   // 20M / 200,000
		{100_000, 1_000_000, false, 16}, // 20M / 2M = 10, at least 16
		{1001, 0, false, 250},
	} {
		exact, pivots := betweennessSources(c.c, c.m)
		require.Equal(t, c.exact, exact, "%d members, %d edges", c.c, c.m)
		require.Equal(t, c.pivots, pivots, "%d members, %d edges", c.c, c.m)
	}
}

// The member joining two cliques is the one bridge between their pockets:
// pockets {0,1,2,3} (3 takes the lower label on a tie) and {4,5,6}; its
// ties to each side sum to 3·10. Members of a pocket tied to the other
// pocket's member 3 carry no shortest path and are no bridge.
func TestBridgesBetweenPockets(t *testing.T) {
	got := FindBridges(7, twoCliquesThroughOne(), 5)
	require.Equal(t, []int{0, 0, 0, 0, 1, 1, 1}, got.Pockets)
	require.True(t, got.Exact)
	require.Equal(t, 7, got.Sources)
	require.Equal(t, []Bridge{{Member: 3, Pocket: 0, PocketA: 0, PocketB: 1, Betweenness: 9, BetweennessShare: 0.6,
		PairBetweenness: 9, PairShare: 1, StrengthA: 30, StrengthB: 30}}, got.Bridges)
	require.True(t, got.PairsExact)
}

// A chain of pockets A – 3 – B – 7 – C (triangles A = {0,1,2}, B =
// {4,5,6}, C = {8,9,10}; 3 tied to all of A and B, 7 to all of B and C;
// every tie 10). Pockets: {0,1,2,3}, {4,5,6,7}, {8,9,10}. Between the
// first two, 3 carries every path from 0, 1, 2 to 4, 5, 6, 7: 12 pairs of
// 12 (its global betweenness, 21, counts the paths to C too); 4 carries a
// third of the paths from 0..3 to 7 (three equal ways through 4, 5, 6):
// 4/3 of the 4·3 pairs without it (globally also a third of the 4·3
// paths from 0..3 to C: 16/3), and so do 5 and 6. Between B and C, 7
// carries 9 of 9. No one is tied to both A and C.
func TestBridgesArePerPocketPair(t *testing.T) {
	edges := append(cliqueEdges(10, 0, 1, 2), cliqueEdges(10, 4, 5, 6)...)
	edges = append(edges, cliqueEdges(10, 8, 9, 10)...)
	for _, v := range []uint32{0, 1, 2, 4, 5, 6} {
		edges = append(edges, WeightedEdge{A: 3, B: v, Weight: 10})
	}
	for _, v := range []uint32{4, 5, 6, 8, 9, 10} {
		edges = append(edges, WeightedEdge{A: 7, B: v, Weight: 10})
	}
	got := FindBridges(11, edges, 5)
	require.Equal(t, []int{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2}, got.Pockets)
	var lines []string
	for _, b := range got.Bridges {
		lines = append(lines, fmt.Sprintf("%d-%d %d pair %.6f share %.6f global %.6f", b.PocketA, b.PocketB, b.Member,
			b.PairBetweenness, b.PairShare, b.Betweenness))
	}
	require.Equal(t, []string{
		"0-1 3 pair 12.000000 share 1.000000 global 21.000000",
		"0-1 4 pair 1.333333 share 0.111111 global 5.333333",
		"0-1 5 pair 1.333333 share 0.111111 global 5.333333",
		"0-1 6 pair 1.333333 share 0.111111 global 5.333333",
		"1-2 7 pair 9.000000 share 1.000000 global 21.000000",
	}, lines)
}

// A member with weak ties only (no pocket) between three pockets bridges
// each pair of them.
func TestBridgeWithoutAPocketJoinsEveryPair(t *testing.T) {
	edges := append(cliqueEdges(10, 0, 1, 2), cliqueEdges(10, 3, 4, 5)...)
	edges = append(edges, cliqueEdges(10, 6, 7, 8)...)
	edges = append(edges, WeightedEdge{9, 0, 1}, WeightedEdge{9, 3, 2}, WeightedEdge{9, 6, 3})
	got := FindBridges(10, edges, 5)
	require.Equal(t, []int{0, 0, 0, 1, 1, 1, 2, 2, 2, -1}, got.Pockets)
	// 9 carries the 3·3 pairs between each two triangles: 27 of the 9·8/2.
	require.Equal(t, []Bridge{
		{Member: 9, Pocket: -1, PocketA: 0, PocketB: 1, Betweenness: 27, BetweennessShare: 0.75, PairBetweenness: 9, PairShare: 1, StrengthA: 1, StrengthB: 2},
		{Member: 9, Pocket: -1, PocketA: 0, PocketB: 2, Betweenness: 27, BetweennessShare: 0.75, PairBetweenness: 9, PairShare: 1, StrengthA: 1, StrengthB: 3},
		{Member: 9, Pocket: -1, PocketA: 1, PocketB: 2, Betweenness: 27, BetweennessShare: 0.75, PairBetweenness: 9, PairShare: 1, StrengthA: 2, StrengthB: 3},
	}, got.Bridges, "0, 3 and 6 carry paths too, but are tied to one pocket only")
}

// From member 0 into the segment {3, 5, 6, 7}: 5 directly (strength 3);
// 3 through 1 and 2 (bottleneck 2, 3 hops) rather than through 4
// (bottleneck 1, 2 hops); 6 only in 3 hops through 4 and 3 (the stronger
// way to 3 would make it 4 hops); 7 has no tie at all.
func TestIntroductionsTakeTheStrongestShortPaths(t *testing.T) {
	edges := []WeightedEdge{{0, 1, 5}, {1, 2, 2}, {2, 3, 6}, {0, 4, 1}, {4, 3, 9}, {0, 5, 3}, {3, 6, 10}}
	seg := []bool{false, false, false, true, false, true, true, true}
	require.Equal(t, []Path{
		{Target: 5, Members: []int{0, 5}, Hops: 1, Strength: 3},
		{Target: 3, Members: []int{0, 1, 2, 3}, Hops: 3, Strength: 2},
		{Target: 6, Members: []int{0, 4, 3, 6}, Hops: 3, Strength: 1},
	}, Introductions(8, edges, 0, seg, 0))
	require.Len(t, Introductions(8, edges, 0, seg, 2), 2)
	require.Empty(t, Introductions(8, edges, 7, seg, 0), "a member without ties has no path")

	// Equal bottlenecks: the fewer hops win.
	require.Equal(t, []Path{{Target: 2, Members: []int{0, 2}, Hops: 1, Strength: 4}},
		Introductions(3, []WeightedEdge{{0, 1, 4}, {1, 2, 4}, {0, 2, 4}}, 0, []bool{false, false, true}, 0))
	require.PanicsWithError(t, "graph: introduction source 8 is outside 0..7", func() { Introductions(8, edges, 8, seg, 0) })
	require.PanicsWithError(t, "graph: segment has 2 entries for 8 nodes", func() { Introductions(8, edges, 0, seg[:2], 0) })
}

// Segment {0,1,2,3}: 0 reaches 11 (5 + 5 + 1) though only 1 of its
// neighbours is in the segment; 1, 2 and 3 reach 7, 1 with 3 neighbours in
// the segment, 2 and 3 with 2. Member 6 reaches 50 but is not in it.
func TestAmplifiersOfASegment(t *testing.T) {
	edges := []WeightedEdge{{0, 4, 5}, {0, 5, 5}, {0, 1, 1}, {1, 2, 3}, {1, 3, 3}, {2, 3, 4}, {6, 4, 50}}
	seg := []bool{true, true, true, true, false, false, false}
	require.Equal(t, []Amplifier{
		{Member: 0, Reach: 11, Degree: 3, SegmentNeighbours: 1, SegmentReach: 1},
		{Member: 1, Reach: 7, Degree: 3, SegmentNeighbours: 3, SegmentReach: 7},
		{Member: 2, Reach: 7, Degree: 2, SegmentNeighbours: 2, SegmentReach: 7},
	}, Amplifiers(7, edges, seg, 3))
	var order []int
	for _, a := range Amplifiers(7, edges, nil, 0) {
		order = append(order, a.Member)
	}
	require.Equal(t, []int{4, 6, 0, 1, 2, 3, 5}, order)
}

// Above the budget the pair betweenness is estimated from an even share
// of each pocket's members; the estimate is deterministic, and every
// bridge listed has ties to both of its pockets.
func TestBridgesEstimatedOnALargeGraph(t *testing.T) {
	const n = 3_000
	edges := randomWeightedGraph(n, 20_000, rand.New(rand.NewPCG(5, 6)))
	got := FindBridges(n, edges, 9)
	require.False(t, got.Exact)
	require.False(t, got.PairsExact)
	require.NotEmpty(t, got.Bridges)
	require.Equal(t, got, FindBridges(n, edges, 9))
	for _, b := range got.Bridges {
		require.Less(t, b.PocketA, b.PocketB)
		require.Less(t, b.PocketB, MaxBridgePockets)
		require.Positive(t, b.PairBetweenness)
		require.Positive(t, b.StrengthA)
		require.Positive(t, b.StrengthB)
	}
}
