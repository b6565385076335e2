package graph

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Class is the shape of a community's graph.
type Class string

const (
	// Pool: members tied to the activity but mostly not to each other.
	Pool Class = "pool"
	// Hub: the ties run through one member or a handful.
	Hub Class = "hub"
	// Web: the ties are spread over many members.
	Web Class = "web"
)

// The thresholds of Classify, applied in this order:
//
//   - pool when fewer than PoolMaxConnectedShare of the members have any
//     connection (or there are no members, or no edges);
//   - hub when the degree centralization is at least HubMinCentralization,
//     or the best-connected member touches at least HubMinTop1EdgeShare of
//     the edges, or, with at least HubTop5MinConnected connected members,
//     the top 5 touch at least HubMinTop5EdgeShare of the edges;
//   - web otherwise.
const (
	PoolMaxConnectedShare = 0.5
	HubMinCentralization  = 0.5
	HubMinTop1EdgeShare   = 0.5
	HubMinTop5EdgeShare   = 0.8
	HubTop5MinConnected   = 15
)

// Structure is the shape of an undirected graph of members and the class
// it falls in, with the numbers behind it. Weights do not matter here:
// an edge is a tie whatever its strength (duplicate edges are one tie).
type Structure struct {
	Members        int     // n, every member, with or without ties
	Connected      int     // members with at least one edge
	ConnectedShare float64 // Connected / Members (0 with no members)
	Edges          int     // distinct member pairs with an edge

	// Density is Edges / (n(n-1)/2) over all members (0 below 2 members).
	Density float64
	// Centralization is Freeman's degree centralization over the connected
	// members c: Σ (max degree − degree) / ((c−1)(c−2)), in [0, 1]; a star
	// is 1, a ring or a clique 0 (0 below 3 connected members).
	Centralization float64
	// Top1EdgeShare and Top5EdgeShare are the shares of the edges with at
	// least one end among the 1 and the 5 members of highest degree
	// (Connectors order).
	Top1EdgeShare, Top5EdgeShare float64
	// Clustering is the average local clustering coefficient (the share of
	// the pairs of a member's neighbours that are tied) over the members
	// with at least 2 neighbours; members with fewer have no pairs and are
	// left out of the average (0 when no member has 2 neighbours).
	Clustering float64
	// LargestComponent is the size of the largest connected component (an
	// isolated member is a component of 1); LargestComponentShare is its
	// share of all members.
	LargestComponent      int
	LargestComponentShare float64

	Class  Class
	Reason string // the rule that decided the class, with its numbers
}

// simple returns the adjacency of the distinct pairs of edges (the weights
// of a pair listed twice add up), each node's neighbours in increasing
// order. It panics if the graph breaks the WeightedEdge contract.
func simple(n int, edges []WeightedEdge) adjacency {
	mustBeGraph(n, edges)
	es := make([]WeightedEdge, 0, len(edges))
	for _, e := range edges {
		a, b := min(e.A, e.B), max(e.A, e.B)
		es = append(es, WeightedEdge{A: a, B: b, Weight: e.Weight})
	}
	slices.SortFunc(es, func(x, y WeightedEdge) int { return cmp.Or(cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B)) })
	merged := es[:0]
	for _, e := range es {
		if k := len(merged) - 1; k >= 0 && merged[k].A == e.A && merged[k].B == e.B {
			merged[k].Weight += e.Weight
			continue
		}
		merged = append(merged, e)
	}
	// Sorted by (A, B), node v meets its smaller neighbours (as B, in
	// order of A) before its larger ones (as A, in order of B).
	return newAdjacency(n, merged, math.Inf(-1))
}

// strength is the summed weight of v's edges.
func (g adjacency) strength(v int) float64 {
	s := 0.0
	for k := g.off[v]; k < g.off[v+1]; k++ {
		s += g.w[k]
	}
	return s
}

// edges is the number of edges.
func (g adjacency) edges() int { return int(g.off[g.nodes()]) / 2 }

// Connectors returns the members with at least one edge, best connected
// first: by degree (distinct neighbours), then by strength (summed
// weight), then by index. It panics if the graph breaks the WeightedEdge
// contract.
func Connectors(n int, edges []WeightedEdge) []int {
	return simple(n, edges).connectors()
}

func (g adjacency) connectors() []int {
	var out []int
	strength := make([]float64, g.nodes())
	for v := range g.nodes() {
		if g.degree(v) > 0 {
			out = append(out, v)
			strength[v] = g.strength(v)
		}
	}
	slices.SortStableFunc(out, func(a, b int) int {
		return cmp.Or(cmp.Compare(g.degree(b), g.degree(a)), cmp.Compare(strength[b], strength[a]))
	})
	return out
}

// Measure returns the structure of a graph of n members and its class. It
// panics if the graph breaks the WeightedEdge contract.
func Measure(n int, edges []WeightedEdge) Structure {
	return simple(n, edges).measure()
}

// Analyze returns Measure and BusRisks of the same graph, building its
// adjacency once.
func Analyze(n int, edges []WeightedEdge, ks ...int) (Structure, []BusRisk) {
	g := simple(n, edges)
	return g.measure(), g.busRisks(ks)
}

func (g adjacency) measure() Structure {
	n := g.nodes()
	s := Structure{Members: n, Edges: g.edges()}
	top := g.connectors()
	s.Connected = len(top)
	if n > 0 {
		s.ConnectedShare = float64(s.Connected) / float64(n)
	}
	if n > 1 {
		s.Density = float64(s.Edges) / (float64(n) * float64(n-1) / 2)
	}
	if c := s.Connected; c >= 3 {
		maxDeg := g.degree(top[0])
		sum := 0
		for _, v := range top {
			sum += maxDeg - g.degree(v)
		}
		s.Centralization = float64(sum) / (float64(c-1) * float64(c-2))
	}
	if s.Edges > 0 {
		s.Top1EdgeShare = float64(g.edgesTouching(top[:min(1, len(top))])) / float64(s.Edges)
		s.Top5EdgeShare = float64(g.edgesTouching(top[:min(5, len(top))])) / float64(s.Edges)
	}
	s.Clustering = g.clustering()
	sizes := g.components(nil)
	for _, size := range sizes {
		s.LargestComponent = max(s.LargestComponent, size)
	}
	if n > 0 {
		s.LargestComponentShare = float64(s.LargestComponent) / float64(n)
	}
	s.Class, s.Reason = classify(s)
	return s
}

// classify applies the thresholds documented with PoolMaxConnectedShare.
func classify(s Structure) (Class, string) {
	pct := func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
	switch {
	case s.Members == 0:
		return Pool, "no members"
	case s.Edges == 0:
		return Pool, "no member is connected to another"
	case s.ConnectedShare < PoolMaxConnectedShare:
		return Pool, fmt.Sprintf("%s of members have any connection (pool below %s)", pct(s.ConnectedShare), pct(PoolMaxConnectedShare))
	case s.Centralization >= HubMinCentralization:
		return Hub, fmt.Sprintf("degree centralization %.2f (hub from %.2f)", s.Centralization, HubMinCentralization)
	case s.Top1EdgeShare >= HubMinTop1EdgeShare:
		return Hub, fmt.Sprintf("the best-connected member touches %s of the edges (hub from %s)", pct(s.Top1EdgeShare), pct(HubMinTop1EdgeShare))
	case s.Connected >= HubTop5MinConnected && s.Top5EdgeShare >= HubMinTop5EdgeShare:
		return Hub, fmt.Sprintf("the top 5 members touch %s of the edges (hub from %s with %d+ connected members)",
			pct(s.Top5EdgeShare), pct(HubMinTop5EdgeShare), HubTop5MinConnected)
	default:
		return Web, fmt.Sprintf("%s of members connected, centralization %.2f, the top member touches %s of the edges, clustering %.2f",
			pct(s.ConnectedShare), s.Centralization, pct(s.Top1EdgeShare), s.Clustering)
	}
}

// edgesTouching counts the edges with at least one end in set.
func (g adjacency) edgesTouching(set []int) int {
	in := make(map[uint32]bool, len(set))
	for _, v := range set {
		in[uint32(v)] = true
	}
	count := 0
	for _, v := range set {
		for k := g.off[v]; k < g.off[v+1]; k++ {
			if u := g.nbr[k]; !in[u] || u > uint32(v) { // an edge inside set once
				count++
			}
		}
	}
	return count
}

// clustering is the average local clustering coefficient over the nodes
// with at least two neighbours. g must be simple (no duplicate pairs).
func (g adjacency) clustering() float64 {
	mark := make([]bool, g.nodes())
	sum, counted := 0.0, 0
	for v := range g.nodes() {
		d := g.degree(v)
		if d < 2 {
			continue
		}
		for k := g.off[v]; k < g.off[v+1]; k++ {
			mark[g.nbr[k]] = true
		}
		links := 0 // each tie between two neighbours, seen from both ends
		for k := g.off[v]; k < g.off[v+1]; k++ {
			u := g.nbr[k]
			for j := g.off[u]; j < g.off[u+1]; j++ {
				if mark[g.nbr[j]] {
					links++
				}
			}
		}
		for k := g.off[v]; k < g.off[v+1]; k++ {
			mark[g.nbr[k]] = false
		}
		sum += float64(links) / float64(d*(d-1))
		counted++
	}
	if counted == 0 {
		return 0
	}
	return sum / float64(counted)
}

// components returns the sizes of the connected components of the nodes
// not removed (removed may be nil), isolated nodes included.
func (g adjacency) components(removed []bool) []int {
	seen := make([]bool, g.nodes())
	var sizes []int
	var stack []uint32
	for v := range g.nodes() {
		if seen[v] || (removed != nil && removed[v]) {
			continue
		}
		seen[v] = true
		stack = append(stack[:0], uint32(v))
		size := 0
		for len(stack) > 0 {
			u := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			for k := g.off[u]; k < g.off[u+1]; k++ {
				if w := g.nbr[k]; !seen[w] && (removed == nil || !removed[w]) {
					seen[w] = true
					stack = append(stack, w)
				}
			}
		}
		sizes = append(sizes, size)
	}
	return sizes
}

// BusRisk is what the graph loses if its top K connectors leave: the
// members first in Connectors order (at most the connected members),
// removed together with their edges.
//
// Connectivity is counted in connected pairs: two members are a connected
// pair when some path joins them, so a component of s members holds
// s(s−1)/2 pairs. PairShareLost is 1 − PairsAfter / PairsBefore, where
// PairsBefore counts the whole graph (pairs with a leaver are lost too):
// a star loses 1 when its centre leaves, a clique of c loses only the
// leaver's c−1 pairs.
type BusRisk struct {
	K             int   // the k asked for
	Removed       []int // the members removed, best connected first
	PairsBefore   int64
	PairsAfter    int64
	PairShareLost float64 // 0 when there were no connected pairs
	// EdgeShareLost is the share of the edges with an end among Removed.
	EdgeShareLost float64
	// LargestComponentAfter is the largest component of the members left;
	// LargestComponentShareAfter its share of them (0 when none are left).
	LargestComponentAfter      int
	LargestComponentShareAfter float64
}

// BusRisks returns the bus risk of the graph for each k (k ≥ 0). It panics
// if the graph breaks the WeightedEdge contract or a k is negative.
func BusRisks(n int, edges []WeightedEdge, ks ...int) []BusRisk {
	return simple(n, edges).busRisks(ks)
}

func (g adjacency) busRisks(ks []int) []BusRisk {
	n := g.nodes()
	top := g.connectors()
	before := pairs(g.components(nil))
	out := make([]BusRisk, 0, len(ks))
	for _, k := range ks {
		if k < 0 {
			panic(fmt.Errorf("graph: bus risk k %d is negative", k))
		}
		removed := make([]bool, n)
		r := BusRisk{K: k, Removed: append([]int{}, top[:min(k, len(top))]...), PairsBefore: before}
		for _, v := range r.Removed {
			removed[v] = true
		}
		sizes := g.components(removed)
		r.PairsAfter = pairs(sizes)
		if before > 0 {
			r.PairShareLost = float64(before-r.PairsAfter) / float64(before)
		}
		if e := g.edges(); e > 0 {
			r.EdgeShareLost = float64(g.edgesTouching(r.Removed)) / float64(e)
		}
		for _, s := range sizes {
			r.LargestComponentAfter = max(r.LargestComponentAfter, s)
		}
		if left := n - len(r.Removed); left > 0 {
			r.LargestComponentShareAfter = float64(r.LargestComponentAfter) / float64(left)
		}
		out = append(out, r)
	}
	return out
}

// pairs is the number of connected pairs in components of these sizes.
func pairs(sizes []int) int64 {
	var p int64
	for _, s := range sizes {
		p += int64(s) * int64(s-1) / 2
	}
	return p
}
