package graph

import (
	"cmp"
	"math"
	"slices"
)

// Betweenness is exact (every connected member a source) up to
// ExactBetweennessLimit connected members, as long as that scans at most
// BetweennessBudget adjacency entries (c sources × 2m entries). Above,
// P sources, the pivots, stand for all of them, their sums scaled by c/P:
// P = BetweennessBudget / 2m, at least MinBetweennessPivots and at most
// BetweennessPivots, spread evenly over the connected members in index
// order (the i-th pivot is member ⌊i·c/P⌋ of them). The pivots depend on
// the graph only, so an estimate is deterministic too. (A random graph of
// 20,000 members and 100,000 edges takes about 1 s with 100 pivots on
// one core: BenchmarkStructure.)
const (
	ExactBetweennessLimit = 1000
	BetweennessBudget     = 20_000_000
	BetweennessPivots     = 250
	MinBetweennessPivots  = 16
)

// betweennessSources returns whether c connected members with m edges get
// the exact betweenness, and otherwise the number of pivots.
func betweennessSources(c, m int) (exact bool, pivots int) {
	entries := 2 * max(m, 1)
	if c <= ExactBetweennessLimit && c*entries <= BetweennessBudget {
		return true, c
	}
	return false, min(c, max(MinBetweennessPivots, min(BetweennessPivots, BetweennessBudget/entries)))
}

// Betweenness returns every node's betweenness centrality on the weighted
// graph, a tie of strength w being a distance of 1/w (strong ties are
// short): for each pair of other nodes s, t, the share of the shortest
// s–t paths that pass through the node, summed over the unordered pairs
// (Brandes' algorithm with Dijkstra). Paths of equal length (equal in
// floating point) share the pair. exact is false when the result is the
// pivot estimate described with ExactBetweennessLimit. Duplicate edges
// are one tie of their summed weight. It panics if the graph breaks the
// WeightedEdge contract.
func Betweenness(n int, edges []WeightedEdge) (scores []float64, exact bool) {
	g := simple(n, edges)
	var connected []int
	for v := range n {
		if g.degree(v) > 0 {
			connected = append(connected, v)
		}
	}
	sources, scale := connected, 0.5 // each unordered pair is seen from both ends
	exact, pivots := betweennessSources(len(connected), g.edges())
	if !exact {
		sources = make([]int, pivots)
		for i := range sources {
			sources[i] = connected[i*len(connected)/pivots]
		}
		scale = 0.5 * float64(len(connected)) / float64(pivots)
	}
	scores = make([]float64, n)
	b := newBrandes(g)
	for _, s := range sources {
		b.accumulate(s, scores)
	}
	for v := range scores {
		scores[v] *= scale
	}
	return scores, exact
}

// brandes is the scratch space of single-source dependency accumulation.
type brandes struct {
	g     adjacency
	dist  []float64
	sigma []float64 // shortest paths from the source
	delta []float64
	done  []bool
	preds [][]uint32
	order []uint32 // settled nodes, by distance
	queue distQueue
}

func newBrandes(g adjacency) *brandes {
	n := g.nodes()
	b := &brandes{g: g, dist: make([]float64, n), sigma: make([]float64, n), delta: make([]float64, n),
		done: make([]bool, n), preds: make([][]uint32, n)}
	for v := range b.dist {
		b.dist[v] = math.Inf(1) // not reached
	}
	return b
}

// accumulate adds source s's dependencies to scores (each pair from s's
// end; the caller halves).
func (b *brandes) accumulate(s int, scores []float64) {
	for _, v := range b.order {
		b.dist[v], b.sigma[v], b.delta[v], b.done[v] = math.Inf(1), 0, 0, false
		b.preds[v] = b.preds[v][:0]
	}
	b.order = b.order[:0]
	b.dist[s], b.sigma[s] = 0, 1
	b.queue = append(b.queue[:0], queued{0, uint32(s)})
	for len(b.queue) > 0 {
		q := b.queue.pop()
		v := q.node
		if b.done[v] || q.dist > b.dist[v] {
			continue
		}
		b.done[v] = true
		b.order = append(b.order, v)
		for k := b.g.off[v]; k < b.g.off[v+1]; k++ {
			w := b.g.nbr[k]
			if b.done[w] {
				continue
			}
			switch d := b.dist[v] + 1/b.g.w[k]; {
			case d < b.dist[w]:
				b.dist[w], b.sigma[w] = d, b.sigma[v]
				b.preds[w] = append(b.preds[w][:0], v)
				b.queue.push(queued{d, w})
			case d == b.dist[w]:
				b.sigma[w] += b.sigma[v]
				b.preds[w] = append(b.preds[w], v)
			}
		}
	}
	for i := len(b.order) - 1; i >= 0; i-- {
		w := b.order[i]
		for _, v := range b.preds[w] {
			b.delta[v] += b.sigma[v] / b.sigma[w] * (1 + b.delta[w])
		}
		if int(w) != s {
			scores[w] += b.delta[w]
		}
	}
}

// queued is a node waiting in Dijkstra's queue at a tentative distance.
type queued struct {
	dist float64
	node uint32
}

// distQueue is a binary min-heap by distance, then node (a fixed order
// for ties, so the sums run in the same order every time), typed to
// avoid container/heap's boxing.
type distQueue []queued

func (q distQueue) less(i, j int) bool {
	return q[i].dist < q[j].dist || (q[i].dist == q[j].dist && q[i].node < q[j].node)
}

func (q *distQueue) push(x queued) {
	*q = append(*q, x)
	h := *q
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (q *distQueue) pop() queued {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h.less(l, small) {
			small = l
		}
		if r < len(h) && h.less(r, small) {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	*q = h
	return top
}

// Bridge is a member tied to two pockets, with the shortest paths between
// the pockets' members running through it.
type Bridge struct {
	Member int
	Pocket int // the member's own pocket (−1: it has no strong edge)
	// PocketA < PocketB are the pockets it connects.
	PocketA, PocketB int
	// Betweenness is the member's betweenness (see Betweenness), and
	// BetweennessShare the same as a share of the pairs of the other
	// connected members: Betweenness / ((c−1)(c−2)/2).
	Betweenness, BetweennessShare float64
	// StrengthA and StrengthB are the summed strengths of its edges to
	// members of PocketA and of PocketB.
	StrengthA, StrengthB float64
}

// Bridges are the members connecting pockets, with what they came from.
type Bridges struct {
	Pockets     []int     // every member's pocket (Pockets with minStrength)
	Betweenness []float64 // every member's betweenness
	Exact       bool      // false: the pivot estimate
	Sources     int       // the sources of the betweenness: every connected member, or the pivots
	// Bridges holds, for every pair of pockets, the members with
	// betweenness above 0 and edges (of any strength) to members of both
	// (its own pocket counting as one side), ordered by pocket pair, then
	// by decreasing betweenness, then by member.
	Bridges []Bridge
}

// FindBridges finds pockets (Pockets over the edges of at least
// minStrength), betweenness over every edge, and the bridges between the
// pockets. It panics if the graph breaks the WeightedEdge contract.
func FindBridges(n int, edges []WeightedEdge, minStrength float64) Bridges {
	pockets := Pockets(n, edges, minStrength)
	between, exact := Betweenness(n, edges)
	g := simple(n, edges)
	connected := 0
	for v := range n {
		if g.degree(v) > 0 {
			connected++
		}
	}
	norm := 0.0
	if connected >= 3 {
		norm = float64(connected-1) * float64(connected-2) / 2
	}
	_, sources := betweennessSources(connected, g.edges())
	out := Bridges{Pockets: pockets, Betweenness: between, Exact: exact, Sources: sources}
	toPocket := map[int]float64{}
	for v := range n {
		if between[v] <= 0 {
			continue
		}
		clear(toPocket)
		for k := g.off[v]; k < g.off[v+1]; k++ {
			if p := pockets[g.nbr[k]]; p >= 0 {
				toPocket[p] += g.w[k]
			}
		}
		// A member of a pocket has a strong edge into it, so its own
		// pocket is among the sides.
		sides := make([]int, 0, len(toPocket))
		for p := range toPocket {
			sides = append(sides, p)
		}
		slices.Sort(sides)
		for i, a := range sides {
			for _, b := range sides[i+1:] {
				out.Bridges = append(out.Bridges, Bridge{Member: v, Pocket: pockets[v], PocketA: a, PocketB: b,
					Betweenness: between[v], BetweennessShare: share(between[v], norm),
					StrengthA: toPocket[a], StrengthB: toPocket[b]})
			}
		}
	}
	slices.SortStableFunc(out.Bridges, func(x, y Bridge) int {
		return cmp.Or(cmp.Compare(x.PocketA, y.PocketA), cmp.Compare(x.PocketB, y.PocketB),
			cmp.Compare(y.Betweenness, x.Betweenness), cmp.Compare(x.Member, y.Member))
	})
	return out
}

func share(x, of float64) float64 {
	if of == 0 {
		return 0
	}
	return x / of
}
