package graph

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cliqueEdges returns the edges of a complete graph on members, all of
// weight w.
func cliqueEdges(w float64, members ...uint32) []WeightedEdge {
	var edges []WeightedEdge
	for i, a := range members {
		for _, b := range members[i+1:] {
			edges = append(edges, WeightedEdge{A: a, B: b, Weight: w})
		}
	}
	return edges
}

// randomWeightedGraph returns m edges between random distinct nodes of n,
// with weights 1..10.
func randomWeightedGraph(n, m int, r *rand.Rand) []WeightedEdge {
	edges := make([]WeightedEdge, m)
	for i := range edges {
		a := r.IntN(n)
		b := r.IntN(n - 1)
		if b >= a {
			b++ // uniform over the other nodes
		}
		edges[i] = WeightedEdge{A: uint32(a), B: uint32(b), Weight: float64(1 + r.IntN(10))}
	}
	return edges
}

// sumRanks adds up x in order.
func sumRanks(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s
}

// A star's centre outranks its leaves, the leaves tie, and the ranks are
// the closed form of the two-state chain: r_c = (1-d)/5 + 4d·r_l and
// r_l = (1-d)/5 + d·r_c/4.
func TestPageRankStarMatchesClosedForm(t *testing.T) {
	const d = 0.85
	edges := []WeightedEdge{{0, 1, 2}, {0, 2, 2}, {0, 3, 2}, {0, 4, 2}}
	r := PageRank(5, edges, d, 1e-15, 1000)

	require.Len(t, r, 5)
	for leaf := 1; leaf <= 4; leaf++ {
		require.Greater(t, r[0], r[leaf])
		require.Equal(t, r[1], r[leaf], "leaf %d", leaf)
	}
	require.InDelta(t, 1, sumRanks(r), 1e-12)

	a := (1 - d) / 5
	leaf := a * (1 + d/4) / (1 - d*d)
	centre := a + 4*d*leaf
	require.InDelta(t, 1, centre+4*leaf, 1e-15, "the closed form itself sums to 1")
	require.InDelta(t, centre, r[0], 1e-9)
	require.InDelta(t, leaf, r[1], 1e-9)
}

func TestPageRankTwoNodesShareEvenly(t *testing.T) {
	r := PageRank(2, []WeightedEdge{{0, 1, 7}}, 0.85, 1e-12, 100)
	require.InDelta(t, 0.5, r[0], 1e-12)
	require.InDelta(t, 0.5, r[1], 1e-12)
}

// On the path 0 -1- 1 -3- 2, node 1 passes three times as much rank to 2
// as to 0.
func TestPageRankFollowsWeights(t *testing.T) {
	r := PageRank(3, []WeightedEdge{{0, 1, 1}, {1, 2, 3}}, 0.85, 1e-12, 100)
	require.Greater(t, r[2], r[0])
	require.InDelta(t, 1, sumRanks(r), 1e-12)
}

// Nodes without edges spread their rank over every node, and get an equal,
// positive share themselves: with a = r0 = r1 and b = r2 = r3, b = a(1-d)
// and 2a + 2b = 1, so b = (1-d) / (2(2-d)).
func TestPageRankDanglingNodes(t *testing.T) {
	const d = 0.85
	r := PageRank(4, []WeightedEdge{{0, 1, 1}}, d, 1e-15, 1000)
	require.InDelta(t, 1, sumRanks(r), 1e-12)
	require.Equal(t, r[2], r[3])
	require.Greater(t, r[2], 0.0)
	require.Greater(t, r[0], r[2], "the connected pair keeps the rank passed along its edge")
	require.InDelta(t, (1-d)/(2*(2-d)), r[2], 1e-9)
}

func TestPageRankIsDeterministic(t *testing.T) {
	edges := randomWeightedGraph(2_000, 10_000, rand.New(rand.NewPCG(3, 4)))
	first := PageRank(2_100, edges, 0.85, 1e-12, 100) // 100 dangling nodes
	second := PageRank(2_100, edges, 0.85, 1e-12, 100)
	require.Len(t, second, len(first))
	for i := range first {
		require.Equal(t, math.Float64bits(first[i]), math.Float64bits(second[i]), "node %d", i)
	}
	require.InDelta(t, 1, sumRanks(first), 1e-12)
}

// maxIter 0 is the uniform ranking; the iteration count is what moves it.
func TestPageRankStopsAtMaxIter(t *testing.T) {
	edges := []WeightedEdge{{0, 1, 1}, {0, 2, 1}}
	require.Equal(t, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, PageRank(3, edges, 0.85, 0, 0))
	require.Greater(t, PageRank(3, edges, 0.85, 0, 1)[0], 1.0/3)
}

// Two strong triangles joined by a weak edge are two pockets.
func TestPocketsSplitOnAWeakEdge(t *testing.T) {
	edges := append(cliqueEdges(10, 0, 1, 2), cliqueEdges(10, 3, 4, 5)...)
	edges = append(edges, WeightedEdge{2, 3, 1})
	require.Equal(t, []int{0, 0, 0, 1, 1, 1}, Pockets(6, edges, 5))
}

// Two 4-cliques joined by a bridge as strong as their own edges are one
// component but two pockets: label propagation does not cross the bridge.
func TestPocketsSplitBridgedCliques(t *testing.T) {
	edges := append(cliqueEdges(10, 0, 1, 2, 3), cliqueEdges(10, 4, 5, 6, 7)...)
	edges = append(edges, WeightedEdge{3, 4, 10})
	require.Equal(t, []int{0, 0, 0, 0, 1, 1, 1, 1}, Pockets(8, edges, 5))
}

// A node with no edge, or only weak ones, is in no pocket.
func TestPocketsLeaveIsolatedNodesOut(t *testing.T) {
	edges := append(cliqueEdges(10, 0, 1, 2), WeightedEdge{3, 4, 1})
	require.Equal(t, []int{0, 0, 0, -1, -1, -1}, Pockets(6, edges, 5))
}

// Pockets are numbered by decreasing size, equal sizes by smallest member,
// whatever the order of nodes and edges.
func TestPocketsNumberedBySize(t *testing.T) {
	edges := append(cliqueEdges(10, 0, 1, 2), cliqueEdges(10, 3, 4, 5, 6, 7)...)
	require.Equal(t, []int{1, 1, 1, 0, 0, 0, 0, 0}, Pockets(8, edges, 5))

	edges = append(cliqueEdges(10, 3, 4, 5), cliqueEdges(10, 0, 1, 2)...)
	require.Equal(t, []int{0, 0, 0, 1, 1, 1}, Pockets(6, edges, 5))
}

// A leaf hanging off a group joins it even when its index is smaller than
// every member's, and a star or a single edge is one pocket.
func TestPocketsKeepLeavesAndStarsWhole(t *testing.T) {
	edges := append(cliqueEdges(10, 1, 2, 3, 4), WeightedEdge{0, 1, 10})
	require.Equal(t, []int{0, 0, 0, 0, 0}, Pockets(5, edges, 5))

	star := []WeightedEdge{{4, 0, 6}, {4, 1, 6}, {4, 2, 6}, {4, 3, 6}}
	require.Equal(t, []int{0, 0, 0, 0, 0}, Pockets(5, star, 5))
	require.Equal(t, []int{0, 0}, Pockets(2, []WeightedEdge{{0, 1, 5}}, 5))
}

// A tally's winner is the label with the largest summed weight, the
// smallest label on a tie whatever the order of the votes, and a count
// starts from nothing.
func TestTallyWinner(t *testing.T) {
	tl := newTally(10)
	tl.add(5, 3)
	tl.add(7, 1)
	tl.add(2, 1)
	tl.add(2, 2)
	require.Equal(t, uint32(2), tl.winner())
	tl.add(7, 4)
	tl.add(5, 3.5)
	require.Equal(t, uint32(7), tl.winner(), "the last count's votes are gone")
}

// Label propagation settles a star and an edge beside a triangle on one
// label per component, where rounds that all read the round before would
// swap the labels of the two ends of an edge forever.
func TestLabelPropagationSettlesOnBipartiteGraphs(t *testing.T) {
	for _, c := range []struct {
		name  string
		edges []WeightedEdge
		want  []uint32
	}{
		{"star", []WeightedEdge{{0, 1, 6}, {0, 2, 6}, {0, 3, 6}, {0, 4, 6}}, []uint32{0, 0, 0, 0, 0}},
		{"edge beside a triangle", []WeightedEdge{{0, 1, 6}, {2, 3, 6}, {3, 4, 6}, {2, 4, 6}}, []uint32{0, 0, 2, 2, 2}},
	} {
		g := newAdjacency(5, c.edges, 5)
		require.Equal(t, c.want, g.propagateLabels(newTally(5)), c.name)
	}
}

// joinLoners, the fallback for rounds that run out, leaves no node with
// edges alone with its label, and does not move nodes with company.
func TestJoinLonersLeavesNoneAlone(t *testing.T) {
	edges := append(cliqueEdges(10, 0, 1, 2), WeightedEdge{2, 3, 10}, WeightedEdge{3, 4, 7}, WeightedEdge{4, 5, 8})
	g := newAdjacency(7, edges, 5)
	labels := []uint32{0, 0, 0, 3, 4, 5, 6} // 3, 4 and 5 alone; 6 has no edge
	g.joinLoners(labels, newTally(7))
	require.Equal(t, []uint32{0, 0, 0, 0, 5, 5, 6}, labels)
}

// The bridged 4-cliques stay two pockets however the members are numbered
// and whether the bridge is weaker, as strong or stronger than the cliques.
func TestPocketsSplitBridgedCliquesUnderAnyNumbering(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 300 {
		p := r.Perm(8)
		ids := make([]uint32, 8)
		for i, v := range p {
			ids[i] = uint32(v)
		}
		for _, bridge := range []float64{5, 10, 15} {
			edges := append(cliqueEdges(10, ids[:4]...), cliqueEdges(10, ids[4:]...)...)
			edges = append(edges, WeightedEdge{ids[3], ids[4], bridge})
			got := Pockets(8, edges, 5)
			for i, v := range ids {
				require.Equal(t, i < 4, got[v] == got[ids[0]], "numbering %v, bridge %v: %v", ids, bridge, got)
			}
		}
	}
}

// On a random graph every pocket is connected by strong edges among its
// members and has at least two members, and a second run agrees.
func TestPocketsAreConnectedAndDeterministic(t *testing.T) {
	const n = 3_000
	edges := randomWeightedGraph(n, 6_000, rand.New(rand.NewPCG(5, 6)))
	pockets := Pockets(n, edges, 5)
	require.Equal(t, pockets, Pockets(n, edges, 5))

	// Union the strong edges inside each pocket; each pocket must be one set.
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	strong := make([]bool, n)
	for _, e := range edges {
		a, b := int(e.A), int(e.B)
		if e.Weight >= 5 {
			strong[a], strong[b] = true, true
			if pockets[a] == pockets[b] {
				parent[find(a)] = find(b)
			}
		}
	}
	root := map[int]int{} // pocket → its set
	size := map[int]int{} // pocket → members
	for v, p := range pockets {
		require.Equal(t, strong[v], p >= 0, "node %d", v)
		if p < 0 {
			continue
		}
		size[p]++
		if r, ok := root[p]; ok {
			require.Equal(t, r, find(v), "pocket %d is not connected", p)
		} else {
			root[p] = find(v)
		}
	}
	require.Greater(t, len(size), 1)
	for p := range len(size) {
		require.GreaterOrEqual(t, size[p], 2, "pocket %d", p)
		if p > 0 {
			require.GreaterOrEqual(t, size[p-1], size[p], "pocket %d", p)
		}
	}
}

func TestGraphMeasuresOnEmptyInputs(t *testing.T) {
	require.Nil(t, PageRank(0, nil, 0.85, 1e-9, 100))
	require.Empty(t, Pockets(0, nil, 5))
	require.Equal(t, []int{-1, -1, -1}, Pockets(3, nil, 5))
	require.Equal(t, []float64{0.25, 0.25, 0.25, 0.25}, PageRank(4, nil, 0.85, 1e-9, 100))
}

// A malformed graph or parameter is a panic naming the problem, not an
// edge quietly skipped.
func TestGraphMeasuresRejectMalformedInput(t *testing.T) {
	require.PanicsWithError(t, "graph: edge 1 (0-3) names a node outside 0..2", func() {
		Pockets(3, []WeightedEdge{{0, 1, 1}, {0, 3, 1}}, 5)
	})
	require.PanicsWithError(t, "graph: edge 0 joins node 2 to itself", func() {
		PageRank(3, []WeightedEdge{{2, 2, 1}}, 0.85, 1e-9, 100)
	})
	for _, w := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		require.Panics(t, func() { PageRank(2, []WeightedEdge{{0, 1, w}}, 0.85, 1e-9, 100) }, "weight %v", w)
	}
	require.PanicsWithError(t, "graph: node count -1 is outside [0, 4294967295]", func() {
		Pockets(-1, nil, 5)
	})
	require.PanicsWithError(t, "graph: PageRank damping 1.5 is outside [0, 1]", func() {
		PageRank(2, nil, 1.5, 1e-9, 100)
	})
	require.PanicsWithError(t, "graph: PageRank maxIter -1 is negative", func() {
		PageRank(2, nil, 0.85, 1e-9, -1)
	})
}

// BenchmarkGraphMeasures times PageRank and Pockets on a random graph of
// 200,000 nodes and 1,000,000 edges of weights 1..10 (about 60% strong at
// minWeight 5).
func BenchmarkGraphMeasures(b *testing.B) {
	const n = 200_000
	edges := randomWeightedGraph(n, 1_000_000, rand.New(rand.NewPCG(1, 2)))
	var ranking, pocketing time.Duration
	runs := 0
	for b.Loop() {
		start := time.Now()
		PageRank(n, edges, 0.85, 1e-9, 100)
		ranked := time.Now()
		Pockets(n, edges, 5)
		ranking += ranked.Sub(start)
		pocketing += time.Since(ranked)
		runs++
	}
	b.ReportMetric(float64(ranking.Microseconds())/1e3/float64(runs), "pagerank-ms")
	b.ReportMetric(float64(pocketing.Microseconds())/1e3/float64(runs), "pockets-ms")
}
