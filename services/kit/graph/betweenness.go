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
	b.settle(s)
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

// settle runs Dijkstra from s: the distances, the numbers of shortest
// paths, the predecessors on them, and the nodes reached in order of
// distance (b.order); b.delta is zero on them.
func (b *brandes) settle(s int) {
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
}

// MaxBridgePockets bounds the pockets FindBridges pairs up: the largest
// ones (pockets are numbered by size), so at most 66 pairs.
const MaxBridgePockets = 12

// pairBetweenness returns, for every candidate node, its betweenness
// between each two of the first k pockets: for pockets P and Q, the sum
// over the pairs of members s of P and t of Q (other than the node) of
// the share of the shortest s–t paths through it, at row [P·k+Q] and
// [Q·k+P] alike. Sources are every member of the k pockets while that
// scans at most BetweennessBudget/2 adjacency entries; otherwise an even
// share f of each pocket's members (at least one, spread by index), each
// pocket's sums scaled by its members over its sources. Each pair is seen
// from both ends and the two estimates averaged, exact when every member
// is a source.
func pairBetweenness(g adjacency, pockets []int, k int, candidates []int) (rows map[int][]float64, exact bool) {
	members := make([][]int, k)
	count := 0
	for v, p := range pockets {
		if p >= 0 && p < k {
			members[p] = append(members[p], v)
			count++
		}
	}
	f := 1.0
	if work := float64(count) * float64(2*max(g.edges(), 1)); work > BetweennessBudget/2 {
		f = BetweennessBudget / 2 / work
	}
	exact = f == 1
	rows = make(map[int][]float64, len(candidates))
	for _, v := range candidates {
		rows[v] = make([]float64, k*k)
	}
	b := newBrandes(g)
	toward := make([]float64, g.nodes()*k) // dependency of each node on each pocket's targets
	for p, ms := range members {
		sources := max(1, int(math.Round(f*float64(len(ms)))))
		if exact {
			sources = len(ms)
		}
		scale := float64(len(ms)) / float64(sources)
		for i := range sources {
			s := ms[i*len(ms)/sources]
			b.settle(s)
			for _, w := range b.order {
				clear(toward[int(w)*k : int(w)*k+k])
			}
			for i := len(b.order) - 1; i >= 0; i-- {
				w := b.order[i]
				tw := toward[int(w)*k : int(w)*k+k]
				qw := pockets[w]
				for _, v := range b.preds[w] {
					c := b.sigma[v] / b.sigma[w]
					tv := toward[int(v)*k : int(v)*k+k]
					for q := range tv {
						add := tw[q]
						if q == qw {
							add++
						}
						tv[q] += c * add
					}
				}
			}
			for v, row := range rows {
				if v == s || b.dist[v] == math.Inf(1) {
					continue
				}
				for q := range k {
					if q != p {
						row[p*k+q] += scale * toward[v*k+q]
					}
				}
			}
		}
	}
	for _, row := range rows {
		for p := range k {
			for q := p + 1; q < k; q++ {
				avg := (row[p*k+q] + row[q*k+p]) / 2
				row[p*k+q], row[q*k+p] = avg, avg
			}
		}
	}
	return rows, exact
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
	// PairBetweenness is its betweenness between the two pockets: over
	// the pairs of a member of PocketA and a member of PocketB (itself
	// left out), the share of their shortest paths through it, summed;
	// PairShare is the same over the number of those pairs (1: every
	// shortest path between the pockets runs through it).
	PairBetweenness, PairShare float64
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
	// PairsExact is false when the pair betweenness is an estimate (see
	// pairBetweenness).
	PairsExact bool
	// Bridges holds, for every pair of the MaxBridgePockets largest
	// pockets, the members with edges (of any strength) to members of
	// both (its own pocket counting as one side) and a pair betweenness
	// above 0, ordered by pocket pair, then by decreasing pair
	// betweenness, then by decreasing betweenness, then by member.
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
	k, size := 0, map[int]int{}
	for _, p := range pockets {
		if p >= 0 {
			k = max(k, min(p+1, MaxBridgePockets))
			size[p]++
		}
	}
	sides := map[int][]int{} // candidate → the pockets (< k) it is tied to, in order
	toPocket := map[int]map[int]float64{}
	var candidates []int
	for v := range n {
		if between[v] <= 0 {
			continue // on no shortest path at all
		}
		ties := map[int]float64{}
		for j := g.off[v]; j < g.off[v+1]; j++ {
			if p := pockets[g.nbr[j]]; p >= 0 && p < k {
				ties[p] += g.w[j]
			}
		}
		// A member of a pocket has a strong edge into it, so its own
		// pocket is among the sides.
		if len(ties) < 2 {
			continue
		}
		for p := range ties {
			sides[v] = append(sides[v], p)
		}
		slices.Sort(sides[v])
		toPocket[v] = ties
		candidates = append(candidates, v)
	}
	rows, pairsExact := pairBetweenness(g, pockets, k, candidates)
	out.PairsExact = pairsExact
	for _, v := range candidates {
		for i, a := range sides[v] {
			for _, b := range sides[v][i+1:] {
				pb := rows[v][a*k+b]
				if pb <= 0 {
					continue
				}
				others := func(p int) float64 {
					if pockets[v] == p {
						return float64(size[p] - 1)
					}
					return float64(size[p])
				}
				out.Bridges = append(out.Bridges, Bridge{Member: v, Pocket: pockets[v], PocketA: a, PocketB: b,
					Betweenness: between[v], BetweennessShare: share(between[v], norm),
					PairBetweenness: pb, PairShare: share(pb, others(a)*others(b)),
					StrengthA: toPocket[v][a], StrengthB: toPocket[v][b]})
			}
		}
	}
	slices.SortStableFunc(out.Bridges, func(x, y Bridge) int {
		return cmp.Or(cmp.Compare(x.PocketA, y.PocketA), cmp.Compare(x.PocketB, y.PocketB),
			cmp.Compare(y.PairBetweenness, x.PairBetweenness), cmp.Compare(y.Betweenness, x.Betweenness), cmp.Compare(x.Member, y.Member))
	})
	return out
}

func share(x, of float64) float64 {
	if of == 0 {
		return 0
	}
	return x / of
}
