package graph

import (
	"fmt"
	"math"
	"slices"
)

// PageRank for how central a member is, Pockets for the groups of members
// closely tied to one another.
//
// Both take the graph as a node count and a list of undirected edges and
// build one compressed sparse row adjacency (offsets, neighbours, weights),
// so a million members with a few million edges cost a few arrays, not a
// map per member. Both visit nodes and edges in a fixed order, so the same
// input gives the same output, bit for bit.
//
// A well-formed graph is a precondition: a node count or an edge outside
// the contract documented on WeightedEdge is a programming error, and both
// functions panic with an error describing it rather than skip the edge and
// answer for a different graph.

// WeightedEdge is one undirected edge between members A and B (indexes
// 0..n-1, A != B) with a positive, finite weight. An edge listed twice
// counts twice: its weights add up.
type WeightedEdge struct {
	A, B   uint32
	Weight float64
}

// PageRank returns the weighted PageRank of n nodes over undirected edges:
// each edge counts in both directions, and a node passes its rank to its
// neighbours in proportion to the weights of the edges between them. The
// damping d (e.g. 0.85) is the share of rank that follows edges; the rest is
// spread evenly over all nodes, as is the rank of dangling nodes (nodes with
// no edges). It iterates from the uniform ranking until the L1 change of an
// iteration is below tol or after maxIter iterations (maxIter 0 returns the
// uniform ranking; a NaN tol always runs maxIter), and returns ranks
// indexed by node that sum to 1.
//
// n == 0 returns nil. The result is deterministic: the same input gives the
// same output, bit for bit. It panics if the graph breaks the WeightedEdge
// contract, d is outside [0, 1], or maxIter is negative.
func PageRank(n int, edges []WeightedEdge, d, tol float64, maxIter int) []float64 {
	mustBeGraph(n, edges)
	if !(d >= 0 && d <= 1) {
		panic(fmt.Errorf("graph: PageRank damping %v is outside [0, 1]", d))
	}
	if maxIter < 0 {
		panic(fmt.Errorf("graph: PageRank maxIter %d is negative", maxIter))
	}
	if n == 0 {
		return nil
	}
	g := newAdjacency(n, edges, math.Inf(-1))
	inv := g.inverseStrengths()
	rank := make([]float64, n)
	for v := range rank {
		rank[v] = 1 / float64(n)
	}
	next := make([]float64, n)
	share := make([]float64, n)
	for range maxIter {
		change := g.rankStep(rank, next, share, inv, d)
		rank, next = next, rank
		if change < tol {
			break
		}
	}
	normaliseRanks(rank)
	return rank
}

// maxLabelRounds bounds label propagation, which need not settle.
const maxLabelRounds = 50

// Pockets finds groups of closely connected members and returns, for every
// node, its pocket number: -1 for a node with no strong edge (an edge with
// Weight >= minWeight), otherwise 0.. in order of decreasing pocket size,
// pockets of equal size in order of their smallest member.
//
// Pockets refine the connected components of the strong graph by weighted
// label propagation. Every node starts with its own index as label. In each
// round every node, in index order, takes the label with the largest summed
// weight over its strong edges, ties going to the smallest label, and the
// nodes after it in the round see its new label. Rounds repeat until no
// label changes or 50 rounds.
//
// The first round is the exception: every node reads the starting labels,
// so it takes the label of its strongest neighbour. Updated in place from
// unique labels, the first node of a group past a bridge sees one vote for
// each label, takes the smallest, which may be the one that crossed the
// bridge, and hands it on to the rest of its group in the same round: two
// 4-cliques joined by one edge would become one pocket. Later rounds are in
// place because rounds that all read the round before swap labels across
// an edge forever and rarely settle.
//
// Should the rounds run out before settling, a node left sharing its label
// with none of its neighbours takes the label its neighbours vote for, so
// no node with a strong edge is a pocket of one. A pocket is a set of nodes
// with one label connected by strong edges among themselves, so a pocket
// is always connected and never crosses a component.
//
// The result is deterministic. It panics if the graph breaks the
// WeightedEdge contract; a NaN minWeight makes no edge strong.
func Pockets(n int, edges []WeightedEdge, minWeight float64) []int {
	mustBeGraph(n, edges)
	g := newAdjacency(n, edges, minWeight)
	t := newTally(n)
	labels := g.propagateLabels(t)
	g.joinLoners(labels, t)
	return g.numberPockets(labels)
}

// mustBeGraph panics unless n fits the uint32 node indexes and every edge
// joins two different nodes below n with a positive, finite weight.
func mustBeGraph(n int, edges []WeightedEdge) {
	if n < 0 || uint64(n) > math.MaxUint32 {
		panic(fmt.Errorf("graph: node count %d is outside [0, %d]", n, uint64(math.MaxUint32)))
	}
	if uint64(len(edges)) > math.MaxUint32/2 {
		panic(fmt.Errorf("graph: %d edges do not fit a uint32 adjacency", len(edges)))
	}
	for i, e := range edges {
		switch {
		case uint64(e.A) >= uint64(n) || uint64(e.B) >= uint64(n):
			panic(fmt.Errorf("graph: edge %d (%d-%d) names a node outside 0..%d", i, e.A, e.B, n-1))
		case e.A == e.B:
			panic(fmt.Errorf("graph: edge %d joins node %d to itself", i, e.A))
		case !(e.Weight > 0) || math.IsInf(e.Weight, 1):
			panic(fmt.Errorf("graph: edge %d (%d-%d) has weight %v, not positive and finite", i, e.A, e.B, e.Weight))
		}
	}
}

// adjacency is an undirected graph in compressed sparse row form: the
// neighbours of node v are nbr[off[v]:off[v+1]], and w holds the weights of
// those edges at the same positions. Each edge appears once from each end,
// in the order of the input edges.
type adjacency struct {
	off []uint32
	nbr []uint32
	w   []float64
}

// newAdjacency builds the adjacency of n nodes over the edges whose weight
// is at least minWeight; the edges must have passed mustBeGraph.
func newAdjacency(n int, edges []WeightedEdge, minWeight float64) adjacency {
	keep := func(e WeightedEdge) bool { return e.Weight >= minWeight }
	off := make([]uint32, n+1)
	for _, e := range edges {
		if keep(e) {
			off[e.A+1]++
			off[e.B+1]++
		}
	}
	for v := range n {
		off[v+1] += off[v]
	}
	g := adjacency{off: off, nbr: make([]uint32, off[n]), w: make([]float64, off[n])}
	fill := slices.Clone(off[:n]) // next free position of each node
	for _, e := range edges {
		if keep(e) {
			g.place(fill, e.A, e.B, e.Weight)
			g.place(fill, e.B, e.A, e.Weight)
		}
	}
	return g
}

// place records the edge from u to v at u's next free position.
func (g adjacency) place(fill []uint32, u, v uint32, w float64) {
	k := fill[u]
	g.nbr[k], g.w[k] = v, w
	fill[u]++
}

// nodes is the number of nodes.
func (g adjacency) nodes() int { return len(g.off) - 1 }

// degree is the number of edge ends at v.
func (g adjacency) degree(v int) int { return int(g.off[v+1] - g.off[v]) }

// inverseStrengths returns 1 / (summed edge weight) of every node, and 0 for
// a node with no edges.
func (g adjacency) inverseStrengths() []float64 {
	inv := make([]float64, g.nodes())
	for v := range inv {
		s := 0.0
		for k := g.off[v]; k < g.off[v+1]; k++ {
			s += g.w[k]
		}
		if s > 0 {
			inv[v] = 1 / s
		}
	}
	return inv
}

// rankStep is one PageRank iteration from rank into next, with share as
// scratch space; it returns the L1 distance between rank and next. Each
// node pulls from its neighbours, so the sums run in adjacency order.
func (g adjacency) rankStep(rank, next, share, inv []float64, d float64) float64 {
	n := float64(len(rank))
	dangling := 0.0
	for v, r := range rank {
		if g.degree(v) == 0 {
			dangling += r
		}
		share[v] = r * inv[v]
	}
	base := (1-d)/n + d*dangling/n
	change := 0.0
	for v := range next {
		pulled := 0.0
		for k := g.off[v]; k < g.off[v+1]; k++ {
			pulled += g.w[k] * share[g.nbr[k]]
		}
		next[v] = base + d*pulled
		change += math.Abs(next[v] - rank[v])
	}
	return change
}

// normaliseRanks scales x to sum to 1, removing the rounding drift of the
// iterations.
func normaliseRanks(x []float64) {
	sum := 0.0
	for _, v := range x {
		sum += v
	}
	for i := range x {
		x[i] /= sum
	}
}

// tally sums votes by label without a map: weight is indexed by label and
// seen lists the labels voted for since the last count, so a count costs
// the votes cast, not the number of labels.
type tally struct {
	weight []float64
	seen   []uint32
}

// newTally returns a tally for labels 0..n-1.
func newTally(n int) *tally { return &tally{weight: make([]float64, n)} }

// add casts a vote of weight w > 0 for label.
func (t *tally) add(label uint32, w float64) {
	if t.weight[label] == 0 {
		t.seen = append(t.seen, label)
	}
	t.weight[label] += w
}

// winner returns the label with the largest summed weight, the smallest
// such label on a tie, and clears the tally for the next count.
func (t *tally) winner() uint32 {
	var best uint32
	top := math.Inf(-1)
	for _, l := range t.seen {
		if w := t.weight[l]; w > top || (w == top && l < best) {
			best, top = l, w
		}
		t.weight[l] = 0
	}
	t.seen = t.seen[:0]
	return best
}

// vote returns the label v's neighbours vote for, each with the weight of
// its edge to v. A node with no edges keeps its label.
func (g adjacency) vote(v int, labels []uint32, t *tally) uint32 {
	if g.degree(v) == 0 {
		return labels[v]
	}
	for k := g.off[v]; k < g.off[v+1]; k++ {
		t.add(labels[g.nbr[k]], g.w[k])
	}
	return t.winner()
}

// propagateLabels runs label propagation and returns the labels: a first
// round that reads the starting labels (every node its own index), then
// rounds in place until no label changes or maxLabelRounds in all.
func (g adjacency) propagateLabels(t *tally) []uint32 {
	labels := g.firstRound(t)
	for round := 1; round < maxLabelRounds; round++ {
		if !g.roundInPlace(labels, t) {
			break
		}
	}
	return labels
}

// firstRound returns the label each node takes from its neighbours labelled
// with their own indexes: that of its strongest neighbour, the smallest on
// a tie.
func (g adjacency) firstRound(t *tally) []uint32 {
	start := make([]uint32, g.nodes())
	for v := range start {
		start[v] = uint32(v)
	}
	labels := make([]uint32, len(start))
	for v := range labels {
		labels[v] = g.vote(v, start, t)
	}
	return labels
}

// roundInPlace gives every node in index order the label its neighbours
// vote for, as they stand, and reports whether any label changed.
func (g adjacency) roundInPlace(labels []uint32, t *tally) bool {
	changed := false
	for v := range labels {
		l := g.vote(v, labels, t)
		changed = changed || l != labels[v]
		labels[v] = l
	}
	return changed
}

// joinLoners gives every node, in index order, that has edges but shares
// its label with none of its neighbours the label its neighbours vote for.
// A loner has no neighbour to strand by leaving, and shares its new label
// with the neighbour it took it from, so one pass leaves no loner.
func (g adjacency) joinLoners(labels []uint32, t *tally) {
	for v := range labels {
		if g.loner(v, labels) {
			labels[v] = g.vote(v, labels, t)
		}
	}
}

// loner reports whether v has edges and no neighbour with its label.
func (g adjacency) loner(v int, labels []uint32) bool {
	for k := g.off[v]; k < g.off[v+1]; k++ {
		if labels[g.nbr[k]] == labels[v] {
			return false
		}
	}
	return g.degree(v) > 0
}

// numberPockets returns the pocket of every node: the pieces of the graph
// connected by edges between nodes of the same label, numbered by
// decreasing size and then by smallest member, and -1 for nodes with no
// edges.
func (g adjacency) numberPockets(labels []uint32) []int {
	pocket := make([]int, g.nodes())
	for v := range pocket {
		pocket[v] = -1
	}
	var sizes []int // by discovery, which is by smallest member
	var stack []uint32
	for v := range pocket {
		if pocket[v] == -1 && g.degree(v) > 0 {
			sizes = append(sizes, g.flood(uint32(v), len(sizes), labels, pocket, &stack))
		}
	}
	number := bySize(sizes)
	for v, id := range pocket {
		if id >= 0 {
			pocket[v] = number[id]
		}
	}
	return pocket
}

// bySize returns the final number of each pocket, given the pockets' sizes
// in order of their smallest member: larger pockets first, and pockets of
// equal size in the order given.
func bySize(sizes []int) []int {
	order := make([]int, len(sizes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return sizes[b] - sizes[a] })
	number := make([]int, len(sizes))
	for rank, id := range order {
		number[id] = rank
	}
	return number
}

// flood marks with id every node reachable from start over edges between
// nodes of start's label, and returns how many it marked; stack is scratch
// space kept across calls.
func (g adjacency) flood(start uint32, id int, labels []uint32, pocket []int, stack *[]uint32) int {
	label := labels[start]
	pocket[start] = id
	s := append((*stack)[:0], start)
	size := 0
	for len(s) > 0 {
		u := s[len(s)-1]
		s = s[:len(s)-1]
		size++
		for k := g.off[u]; k < g.off[u+1]; k++ {
			if v := g.nbr[k]; pocket[v] == -1 && labels[v] == label {
				pocket[v] = id
				s = append(s, v)
			}
		}
	}
	*stack = s
	return size
}
