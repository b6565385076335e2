package graph

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// starEdges is a star: centre 0 and leaves 1..leaves, each edge of weight 1.
func starEdges(leaves int) []WeightedEdge {
	var edges []WeightedEdge
	for v := 1; v <= leaves; v++ {
		edges = append(edges, WeightedEdge{A: 0, B: uint32(v), Weight: 1})
	}
	return edges
}

// ringOfCliques is 4 cliques of 4 (members 4i..4i+3, weight 1) in a ring:
// the last member of each clique tied to the first of the next.
func ringOfCliques() []WeightedEdge {
	var edges []WeightedEdge
	for i := uint32(0); i < 4; i++ {
		edges = append(edges, cliqueEdges(1, 4*i, 4*i+1, 4*i+2, 4*i+3)...)
		edges = append(edges, WeightedEdge{A: 4*i + 3, B: (4*i + 4) % 16, Weight: 1})
	}
	return edges
}

// A star of 5 is a hub. Degrees 4,1,1,1,1: centralization Σ(4−d) = 12
// over (5−1)(5−2) = 12; the centre touches all 4 edges; density 4/10; no
// leaf's neighbours (it has 1) count for clustering and the centre's
// leaves are not tied: 0.
func TestStarIsAHub(t *testing.T) {
	s := Measure(5, starEdges(4))
	require.Equal(t, Structure{
		Members: 5, Connected: 5, ConnectedShare: 1, Edges: 4, Density: 0.4,
		Centralization: 1, Top1EdgeShare: 1, Top5EdgeShare: 1, Clustering: 0,
		LargestComponent: 5, LargestComponentShare: 1,
		Class: Hub, Reason: "degree centralization 1.00 (hub from 0.50)",
	}, s)
}

// A ring of four 4-cliques is a web. 28 edges among 16 members: density
// 28/120. Degrees: the 8 ring ends 4, the other 8 members 3, so
// centralization 8/(15·14) = 4/105. Member 0 (degree 4, lowest index)
// touches 4/28 edges; the top 5 (0, 3, 4, 7, 8) touch 5 + 5 + 3 edges in
// their cliques and 3 ring edges: 16/28. Clustering: the degree-3 members
// 1, their neighbours all tied; the ring ends 3 ties of 6 pairs: (8·1 +
// 8·0.5)/16 = 0.75.
func TestRingOfCliquesIsAWeb(t *testing.T) {
	s := Measure(16, ringOfCliques())
	require.Equal(t, 16, s.Connected)
	require.Equal(t, 28, s.Edges)
	require.InDelta(t, 28.0/120, s.Density, 1e-15)
	require.InDelta(t, 4.0/105, s.Centralization, 1e-15)
	require.InDelta(t, 4.0/28, s.Top1EdgeShare, 1e-15)
	require.InDelta(t, 16.0/28, s.Top5EdgeShare, 1e-15)
	require.InDelta(t, 0.75, s.Clustering, 1e-15)
	require.Equal(t, 16, s.LargestComponent)
	require.Equal(t, 1.0, s.LargestComponentShare)
	require.Equal(t, Web, s.Class)
	require.Equal(t, "100% of members connected, centralization 0.04, the top member touches 14% of the edges, clustering 0.75", s.Reason)
	require.Equal(t, []int{0, 3, 4, 7, 8, 11, 12, 15, 1, 2, 5, 6, 9, 10, 13, 14}, Connectors(16, ringOfCliques()))
}

// Members without ties are a pool; so are 10 members of whom 2 share one
// edge (20% connected), whatever the shape of that edge.
func TestIsolatedMembersArePool(t *testing.T) {
	require.Equal(t, Structure{Members: 5, LargestComponent: 1, LargestComponentShare: 0.2,
		Class: Pool, Reason: "no member is connected to another"}, Measure(5, nil))

	s := Measure(10, []WeightedEdge{{A: 3, B: 7, Weight: 2}})
	require.Equal(t, Structure{
		Members: 10, Connected: 2, ConnectedShare: 0.2, Edges: 1, Density: 1.0 / 45,
		Top1EdgeShare: 1, Top5EdgeShare: 1, LargestComponent: 2, LargestComponentShare: 0.2,
		Class: Pool, Reason: "20% of members have any connection (pool below 50%)",
	}, s)
	require.Equal(t, Structure{Class: Pool, Reason: "no members"}, Measure(0, nil))
}

// A triangle with a tail, the tail's edge listed twice: one tie. Degrees
// 2,2,3,1 (members 0..3; 3 hangs off 2): centralization (1+1+0+2)/(3·2)
// = 2/3, clustering (1 + 1 + 1/3)/3 (member 3 has one neighbour, left out).
func TestMeasureCountsDuplicateEdgesOnce(t *testing.T) {
	edges := append(cliqueEdges(1, 0, 1, 2), WeightedEdge{2, 3, 1}, WeightedEdge{3, 2, 4})
	s := Measure(4, edges)
	require.Equal(t, 4, s.Edges)
	require.InDelta(t, 4.0/6, s.Density, 1e-15)
	require.InDelta(t, 2.0/3, s.Centralization, 1e-15)
	require.InDelta(t, (2+1.0/3)/3, s.Clustering, 1e-15)
	require.Equal(t, 0.75, s.Top1EdgeShare)
	require.Equal(t, Hub, s.Class)
	require.Equal(t, []int{2, 0, 1, 3}, Connectors(4, edges), "by degree first: 3's tie of 5 does not put it before 0 and 1")
}

// The top 5 rule needs 15 connected members: 5 stars of 3 leaves whose
// centres form a clique have centralization and top-1 share below the
// hub thresholds but the centres touch every edge.
func TestTopFiveHub(t *testing.T) {
	var edges []WeightedEdge
	centres := []uint32{0, 1, 2, 3, 4}
	edges = append(edges, cliqueEdges(1, centres...)...)
	leaf := uint32(5)
	for _, c := range centres {
		for range 3 {
			edges = append(edges, WeightedEdge{A: c, B: leaf, Weight: 1})
			leaf++
		}
	}
	s := Measure(20, edges)
	require.Equal(t, 20, s.Connected)
	require.Equal(t, 25, s.Edges)
	// Degrees: centres 4+3 = 7, leaves 1: Σ(7−d) = 15·6 = 90 over 19·18.
	require.InDelta(t, 90.0/342, s.Centralization, 1e-15)
	require.InDelta(t, 7.0/25, s.Top1EdgeShare, 1e-15)
	require.Equal(t, 1.0, s.Top5EdgeShare)
	require.Equal(t, Hub, s.Class)
	require.Equal(t, "the top 5 members touch 100% of the edges (hub from 80% with 15+ connected members)", s.Reason)
}

// A star collapses when its centre leaves: every connected pair is lost.
func TestBusRiskOfAStar(t *testing.T) {
	risks := BusRisks(5, starEdges(4), 1, 3, 5)
	require.Equal(t, []BusRisk{
		{K: 1, Removed: []int{0}, PairsBefore: 10, PairsAfter: 0, PairShareLost: 1, EdgeShareLost: 1,
			LargestComponentAfter: 1, LargestComponentShareAfter: 0.25},
		{K: 3, Removed: []int{0, 1, 2}, PairsBefore: 10, PairsAfter: 0, PairShareLost: 1, EdgeShareLost: 1,
			LargestComponentAfter: 1, LargestComponentShareAfter: 0.5},
		{K: 5, Removed: []int{0, 1, 2, 3, 4}, PairsBefore: 10, PairsAfter: 0, PairShareLost: 1, EdgeShareLost: 1},
	}, risks)
}

// A ring of cliques holds: without member 0 the other 15 stay one
// component (105 of 120 pairs); without 0, 3 and 4 the pieces are {1, 2}
// and 11 members (1 + 55 pairs); without 0, 3, 4, 7 and 8: {1, 2}, {5, 6}
// and 7 members (1 + 1 + 21).
func TestBusRiskOfARingOfCliques(t *testing.T) {
	risks := BusRisks(16, ringOfCliques(), 1, 3, 5)
	want := []struct {
		removed       []int
		after         int64
		edgesLost     int
		largest, left int
	}{
		{[]int{0}, 105, 4, 15, 15},
		{[]int{0, 3, 4}, 56, 4 + 3 + 3, 11, 13},
		{[]int{0, 3, 4, 7, 8}, 23, 16, 7, 11},
	}
	for i, w := range want {
		r := risks[i]
		require.Equal(t, w.removed, r.Removed, "k=%d", r.K)
		require.Equal(t, int64(120), r.PairsBefore)
		require.Equal(t, w.after, r.PairsAfter, "k=%d", r.K)
		require.InDelta(t, float64(120-w.after)/120, r.PairShareLost, 1e-15, "k=%d", r.K)
		require.InDelta(t, float64(w.edgesLost)/28, r.EdgeShareLost, 1e-15, "k=%d", r.K)
		require.Equal(t, w.largest, r.LargestComponentAfter, "k=%d", r.K)
		require.InDelta(t, float64(w.largest)/float64(w.left), r.LargestComponentShareAfter, 1e-15, "k=%d", r.K)
	}
}

// Analyze is Measure and BusRisks at once.
func TestAnalyzeIsMeasureAndBusRisks(t *testing.T) {
	s, risks := Analyze(16, ringOfCliques(), 1, 3, 5)
	require.Equal(t, Measure(16, ringOfCliques()), s)
	require.Equal(t, BusRisks(16, ringOfCliques(), 1, 3, 5), risks)
}

func TestBusRiskWithoutEdges(t *testing.T) {
	require.Equal(t, []BusRisk{{K: 1, Removed: []int{}, LargestComponentAfter: 1, LargestComponentShareAfter: 1.0 / 3}}, BusRisks(3, nil, 1))
	require.PanicsWithError(t, "graph: bus risk k -1 is negative", func() { BusRisks(3, nil, -1) })
}
