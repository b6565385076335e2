package graph

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// MaxIntroductionHops bounds an introduction path: the source, at most
// two members in between, and the target.
const MaxIntroductionHops = 3

// Path is the strongest short path from a member to one target.
type Path struct {
	Target int
	// Members runs from the source to the target, both included.
	Members []int
	Hops    int // edges on the path: len(Members) − 1
	// Strength is the path's bottleneck: the strength of its weakest tie.
	// An introduction is as good as the weakest link in the chain, and a
	// product of strengths would have no unit (strengths are not
	// probabilities).
	Strength float64
}

// Introductions returns, for every member of the segment other than the
// source that the source reaches in at most MaxIntroductionHops hops, the
// strongest such path: the largest bottleneck strength, and among those
// the fewest hops, then the path through the lowest-numbered members
// (found first). The targets are ordered by decreasing strength, then by
// hops, then by member, and at most limit are returned (limit ≤ 0: all).
// A source without edges has no path: the result is empty.
//
// The paths are simple (no member twice): a walk that comes back to a
// member has a bottleneck no better than the shorter path that skips the
// loop, which is found first and kept on a tie. Duplicate edges are one
// tie of their summed weight. It panics if the graph breaks the
// WeightedEdge contract, source is not a node, or inSegment does not
// have n entries.
func Introductions(n int, edges []WeightedEdge, source int, inSegment []bool, limit int) []Path {
	g := simple(n, edges)
	if source < 0 || source >= n {
		panic(fmt.Errorf("graph: introduction source %d is outside 0..%d", source, n-1))
	}
	if len(inSegment) != n {
		panic(fmt.Errorf("graph: segment has %d entries for %d nodes", len(inSegment), n))
	}
	// best[h][v] is the best bottleneck from source to v in at most h
	// hops (0: none), and pred[h][v] the member before v when hop h
	// improved it (−1: it did not).
	var best [MaxIntroductionHops + 1][]float64
	var pred [MaxIntroductionHops + 1][]int32
	best[0] = make([]float64, n)
	best[0][source] = math.Inf(1)
	for h := 1; h <= MaxIntroductionHops; h++ {
		best[h] = slices.Clone(best[h-1])
		pred[h] = make([]int32, n)
		for v := range n {
			pred[h][v] = -1
			for k := g.off[v]; k < g.off[v+1]; k++ {
				u := g.nbr[k]
				if c := min(best[h-1][u], g.w[k]); c > best[h][v] {
					best[h][v], pred[h][v] = c, int32(u)
				}
			}
		}
	}
	var out []Path
	for t, in := range inSegment {
		if !in || t == source || best[MaxIntroductionHops][t] == 0 {
			continue
		}
		members := []int{t}
		for h, v := MaxIntroductionHops, t; v != source; h-- {
			if u := pred[h][v]; u >= 0 {
				v = int(u)
				members = append(members, v)
			}
		}
		slices.Reverse(members)
		out = append(out, Path{Target: t, Members: members, Hops: len(members) - 1, Strength: best[MaxIntroductionHops][t]})
	}
	slices.SortStableFunc(out, func(x, y Path) int {
		return cmp.Or(cmp.Compare(y.Strength, x.Strength), cmp.Compare(x.Hops, y.Hops), cmp.Compare(x.Target, y.Target))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Amplifier is a member of a segment and how far it reaches.
type Amplifier struct {
	Member int
	Reach  float64 // summed strength of all its ties (weighted degree)
	Degree int     // distinct neighbours
	// SegmentNeighbours and SegmentReach are the same within the segment.
	SegmentNeighbours int
	SegmentReach      float64
}

// Amplifiers returns the segment's members with at least one tie, ranked
// for spreading a message: by decreasing reach, then by decreasing
// neighbours within the segment, then by member; at most limit (limit ≤
// 0: all). A nil inSegment is every member. Duplicate edges are one tie of
// their summed weight. It panics if the graph breaks the WeightedEdge
// contract or a non-nil inSegment does not have n entries.
func Amplifiers(n int, edges []WeightedEdge, inSegment []bool, limit int) []Amplifier {
	g := simple(n, edges)
	if inSegment != nil && len(inSegment) != n {
		panic(fmt.Errorf("graph: segment has %d entries for %d nodes", len(inSegment), n))
	}
	in := func(v uint32) bool { return inSegment == nil || inSegment[v] }
	var out []Amplifier
	for v := range n {
		if !in(uint32(v)) || g.degree(v) == 0 {
			continue
		}
		a := Amplifier{Member: v, Degree: g.degree(v)}
		for k := g.off[v]; k < g.off[v+1]; k++ {
			a.Reach += g.w[k]
			if in(g.nbr[k]) {
				a.SegmentNeighbours++
				a.SegmentReach += g.w[k]
			}
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(x, y Amplifier) int {
		return cmp.Or(cmp.Compare(y.Reach, x.Reach), cmp.Compare(y.SegmentNeighbours, x.SegmentNeighbours))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}
