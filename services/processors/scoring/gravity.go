package scoring

import (
	"cmp"
	"slices"

	"github.com/orbitflow/orbitflow/services/kit/graph"
)

// LevelCounts is the number of members per level: index 1 Leading, 2
// Contributing, 3 Participating, 4 Exploring (0: out of orbit, not counted).
type LevelCounts [5]int

// Members is the number of members in orbit.
func (c LevelCounts) Members() int { return c[1] + c[2] + c[3] + c[4] }

// WeightedCommitment is Σ over levels weight(level)² · members in it.
func (g GravityConfig) WeightedCommitment(c LevelCounts) float64 {
	w := [5]float64{0, g.Leading, g.Contributing, g.Participating, g.Exploring}
	sum := 0.0
	for l := 1; l <= 4; l++ {
		sum += w[l] * w[l] * float64(c[l])
	}
	return sum
}

// Gravity is the rate at which involvement changes between two periods:
// (weighted commitment now − before) / members now. Zero members: 0.
func Gravity(before, now float64, members int) float64 {
	if members == 0 {
		return 0
	}
	return (now - before) / float64(members)
}

// Counts returns the members per level, leaving out bots (unless scored)
// and, when withTeammates is false, teammates (community figures exclude
// them).
func (s *Scorer) Counts(withTeammates bool) LevelCounts {
	var c LevelCounts
	for _, p := range s.parts {
		for i := range p.members {
			m := &p.members[i]
			if (m.Bot && !s.cfg.Members.ScoreBots) || (m.Teammate && !withTeammates) {
				continue
			}
			c[Level(m.Step)]++
		}
	}
	c[0] = 0
	return c
}

// LevelMovement is the bottleneck table of one period: for each level a
// member held at the period's start (index 0: out of orbit), how many
// were there, and how many moved up, held, or moved down by its end.
type LevelMovement [5]struct{ Members, Up, Held, Down int }

// Movement returns the movement since the last call (or since each
// member was first seen) and starts the next period: call it with every
// change drained, at the period's end. Bots (unless scored) and, when
// withTeammates is false, teammates are left out.
func (s *Scorer) Movement(withTeammates bool) LevelMovement {
	var mv LevelMovement
	for _, p := range s.parts {
		for i := range p.members {
			m := &p.members[i]
			from, to := Level(m.periodStep), Level(m.Step)
			m.periodStep = m.Step
			if m.gone || (m.Bot && !s.cfg.Members.ScoreBots) || (m.Teammate && !withTeammates) {
				continue
			}
			r := &mv[from]
			r.Members++
			// Level 1 is the highest: a smaller number is a move up, and
			// anything in orbit is above out of orbit (0).
			switch {
			case from == to:
				r.Held++
			case from == 0 || (to != 0 && to < from):
				r.Up++
			default:
				r.Down++
			}
		}
	}
	return mv
}

// GraphMeasure is one connected member's place in the reach graph.
type GraphMeasure struct {
	Member         string
	Degree         int
	WeightedDegree float64 // the sum of its edges' strengths: reach
	PageRank       float64
	Pocket         int // −1: no strong edge
}

// GraphMeasures computes, with every change drained, the graph measures
// as of at over the strengths decayed to at: PageRank (over every member)
// and pockets (label propagation on the edges at least
// Reach.PocketMinStrength). It returns the members with any edge, in
// member order; the partition count does not change the result (edges
// are taken in key order).
func (s *Scorer) GraphMeasures(at int64) []GraphMeasure {
	edges := s.decayedEdges(at)
	n := len(s.ids)
	rank := graph.PageRank(n, edges, s.cfg.Reach.PageRankDamping, 1e-9, 100)
	pockets := graph.Pockets(n, edges, s.cfg.Reach.PocketMinStrength)
	degree := make([]int, n)
	weighted := make([]float64, n)
	for _, e := range edges {
		degree[e.A]++
		degree[e.B]++
		weighted[e.A] += e.Weight
		weighted[e.B] += e.Weight
	}
	var out []GraphMeasure
	for i, d := range degree {
		if d > 0 {
			out = append(out, GraphMeasure{Member: s.ids[i], Degree: d, WeightedDegree: weighted[i], PageRank: rank[i], Pocket: pockets[i]})
		}
	}
	return out
}

// decayedEdges returns every edge with its strength decayed to at (edges
// decayed to nothing left out), in key order: the same list whatever the
// partition count.
func (s *Scorer) decayedEdges(at int64) []graph.WeightedEdge {
	edges := make([]graph.WeightedEdge, 0, s.Edges())
	for _, p := range s.parts {
		for i, k := range p.edges.keys {
			if k == 0 {
				continue
			}
			idx := p.edges.slots[i]
			e := &p.edges.chunks[idx/edgeChunk][idx%edgeChunk]
			if w := e.Strength.at(s.reach, at); w > 0 {
				edges = append(edges, graph.WeightedEdge{A: uint32(k >> 32), B: uint32(k), Weight: w})
			}
		}
	}
	slices.SortFunc(edges, func(x, y graph.WeightedEdge) int { return cmp.Or(cmp.Compare(x.A, y.A), cmp.Compare(x.B, y.B)) })
	return edges
}

// StructureBusRiskK are the k of the bus risk Structure reports.
var StructureBusRiskK = []int{1, 3, 5}

// Structure returns, with every change drained, the community's structure
// (graph.Measure) and its bus risk for k = 1, 3 and 5 (graph.BusRisks) as
// of at, over the strengths decayed to at. The members are the
// community-level ones: in orbit (level 1..4), not bots (unless scored),
// not teammates; edges with an end outside them are left out. Members
// are taken in the order first seen and edges in key order, so a replay
// computes the same numbers.
func (s *Scorer) Structure(at int64) (graph.Structure, []graph.BusRisk) {
	node := make([]int32, len(s.ids)) // member index → node, −1: not a node
	n := 0
	for i := range s.ids {
		m := s.at(uint32(i))
		if Level(m.Step) == 0 || (m.Bot && !s.cfg.Members.ScoreBots) || m.Teammate {
			node[i] = -1
			continue
		}
		node[i] = int32(n)
		n++
	}
	var edges []graph.WeightedEdge
	for _, e := range s.decayedEdges(at) {
		if a, b := node[e.A], node[e.B]; a >= 0 && b >= 0 {
			edges = append(edges, graph.WeightedEdge{A: uint32(a), B: uint32(b), Weight: e.Weight})
		}
	}
	return graph.Analyze(n, edges, StructureBusRiskK...)
}
