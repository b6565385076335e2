package orbit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"

	"github.com/orbitflow/orbitflow/services/kit/graph"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

// periodKinds are the periods community gravity is computed for.
var periodKinds = []string{"day", "week", "month"}

// periodStart is the start (Unix ms, UTC) of the period of kind containing t.
func periodStart(kind string, t int64) int64 {
	tt := time.UnixMilli(t).UTC()
	d := time.Date(tt.Year(), tt.Month(), tt.Day(), 0, 0, 0, 0, time.UTC)
	switch kind {
	case "week": // ISO weeks start on Monday
		d = d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case "month":
		d = time.Date(tt.Year(), tt.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return d.UnixMilli()
}

// gravityRow is one community_gravity row.
type gravityRow struct {
	community, period string
	start             int64
	counts            scoring.LevelCounts
	wc, gravity       float64
	seq               uint64
}

// closePeriods writes the gravity of every period an activity at time t
// ends, from the levels held before the activity is applied (the end of
// the period). Stream time drives it, so a replay writes the same rows.
func (p *Processor) closePeriods(name string, c *community, t int64, seq uint64) {
	for _, kind := range periodKinds {
		ps := c.periods[kind]
		start := periodStart(kind, t)
		if ps.Start == 0 {
			ps.Start = start
			c.periods[kind] = ps
			continue
		}
		if start <= ps.Start {
			continue // the same period, or a late activity
		}
		if c.pending {
			p.drain(name, c) // the levels at the period's end
		}
		counts := c.scorer.Counts(false)
		wc := p.sc.Gravity.WeightedCommitment(counts)
		g := 0.0
		if ps.HasPrev {
			g = scoring.Gravity(ps.PrevWC, wc, counts.Members())
		}
		p.out.gravity = append(p.out.gravity, gravityRow{name, kind, ps.Start, counts, wc, g, seq})
		c.periods[kind] = periodState{Start: start, PrevWC: wc, HasPrev: true}
		p.closeSegments(name, c, kind, ps.Start, seq)
		switch kind {
		case "week":
			p.out.graph = append(p.out.graph, graphRow{name, start, c.scorer.GraphMeasures(start), seq})
			st, risk := c.scorer.Structure(start)
			p.out.structure = append(p.out.structure, structureRow{name, start, st, risk, seq})
		case "month":
			p.out.moves = append(p.out.moves, moveRow{name, ps.Start, c.scorer.Movement(false), seq})
		}
	}
}

func (p *Processor) flushGravity(ctx context.Context) error {
	rows := make([][]any, 0, len(p.out.gravity))
	for _, r := range p.out.gravity {
		rows = append(rows, append([]any{r.community, r.period}, p.gravityValues(r)...))
	}
	return p.insert(ctx, "community_gravity", `community, period, period_start, members, leading,
		contributing, participating, exploring, weighted_commitment, gravity, model_version, config_hash, stream_seq`, rows)
}

// gravityValues are a gravity row's values from period_start on.
func (p *Processor) gravityValues(r gravityRow) []any {
	return []any{time.UnixMilli(r.start).UTC(), uint32(r.counts.Members()),
		uint32(r.counts[1]), uint32(r.counts[2]), uint32(r.counts[3]), uint32(r.counts[4]),
		r.wc, r.gravity, scoring.ModelVersion, p.hash, r.seq}
}

// segmentState is one segment's gravity bookkeeping for one period kind.
type segmentState struct {
	Members map[string]bool // active in the segment in the current period
	PrevWC  float64
	HasPrev bool
	PrevN   int // members in the previous period
}

// segmentRow is one segment_gravity row.
type segmentRow struct {
	gravityRow
	segment string
}

// markSegments records the member as active in the activity's segments in
// the current period of every kind.
func (p *Processor) markSegments(c *community, member string, ev *events.Event) {
	for _, kind := range p.cfg.Segments {
		var value string
		switch {
		case kind == "source":
			value = ev.Source
		case kind == "channel":
			value = ev.Channel
		default:
			value = ev.Attributes[strings.TrimPrefix(kind, "attribute:")]
		}
		if value == "" {
			continue
		}
		seg := kind + ":" + value
		for _, period := range periodKinds {
			segs := c.segments[period]
			if segs == nil {
				segs = map[string]*segmentState{}
				c.segments[period] = segs
			}
			st := segs[seg]
			if st == nil {
				if len(segs) >= p.cfg.MaxSegments {
					seg = kind + ":(other)"
					st = segs[seg]
				}
				if st == nil {
					st = &segmentState{Members: map[string]bool{}}
					segs[seg] = st
				}
			}
			st.Members[member] = true
		}
	}
}

// closeSegments writes the gravity of each segment for the period of kind
// that starts at start, from the levels at its end (bots and teammates
// left out), for segments with members in it or in the one before.
func (p *Processor) closeSegments(name string, c *community, kind string, start int64, seq uint64) {
	segs := c.segments[kind]
	for _, seg := range slices.Sorted(maps.Keys(segs)) {
		st := segs[seg]
		var counts scoring.LevelCounts
		now := map[string]bool{} // a merge in the period: count the member once
		for id := range st.Members {
			now[resolveKey(c.ids, id)] = true
		}
		for id := range now {
			if m := c.scorer.Lookup(id); m != nil && !(m.Bot && !p.sc.Members.ScoreBots) && !m.Teammate {
				counts[scoring.Level(m.Step)]++
			}
		}
		counts[0] = 0
		n := counts.Members()
		wc := p.sc.Gravity.WeightedCommitment(counts)
		if n > 0 || st.PrevN > 0 {
			g := 0.0
			if st.HasPrev {
				g = scoring.Gravity(st.PrevWC, wc, n)
			}
			p.out.segments = append(p.out.segments, segmentRow{gravityRow{name, kind, start, counts, wc, g, seq}, seg})
		}
		st.PrevWC, st.HasPrev, st.PrevN = wc, true, n
		clear(st.Members)
	}
}

func (p *Processor) flushSegments(ctx context.Context) error {
	rows := make([][]any, 0, len(p.out.segments))
	for _, r := range p.out.segments {
		rows = append(rows, append([]any{r.community, r.segment, r.period}, p.gravityValues(r.gravityRow)...))
	}
	return p.insert(ctx, "segment_gravity", `community, segment, period, period_start, members, leading,
		contributing, participating, exploring, weighted_commitment, gravity, model_version, config_hash, stream_seq`, rows)
}

// graphRow is one week's graph measures of a community, as of its end.
type graphRow struct {
	community string
	at        int64
	measures  []scoring.GraphMeasure
	seq       uint64
}

// structureRow is one week's community structure, as of its end.
type structureRow struct {
	community string
	at        int64
	measures  graph.Structure
	risk      []graph.BusRisk // k = scoring.StructureBusRiskK
	seq       uint64
}

func (p *Processor) flushStructure(ctx context.Context) error {
	rows := make([][]any, 0, len(p.out.structure))
	for _, r := range p.out.structure {
		m := r.measures
		row := []any{r.community, ms(r.at), uint32(m.Members), uint32(m.Connected), m.ConnectedShare, uint64(m.Edges), m.Density,
			m.Centralization, m.Top1EdgeShare, m.Top5EdgeShare, m.Clustering, uint32(m.LargestComponent), m.LargestComponentShare,
			string(m.Class), m.Reason}
		for _, b := range r.risk {
			row = append(row, b.PairShareLost)
		}
		for _, b := range r.risk {
			row = append(row, b.LargestComponentShareAfter)
		}
		rows = append(rows, append(row, scoring.ModelVersion, p.hash, r.seq))
	}
	return p.insert(ctx, "community_structure", `community, computed_at, members, connected, connected_share, edges, density,
		centralization, top1_edge_share, top5_edge_share, clustering, largest_component, largest_component_share, class, reason,
		bus_pairs_lost_k1, bus_pairs_lost_k3, bus_pairs_lost_k5, bus_largest_share_k1, bus_largest_share_k3, bus_largest_share_k5,
		model_version, config_hash, stream_seq`, rows)
}

// moveRow is one month's level movement of a community.
type moveRow struct {
	community string
	start     int64
	movement  scoring.LevelMovement
	seq       uint64
}

func (p *Processor) flushGraph(ctx context.Context) error {
	var rows [][]any
	for _, r := range p.out.graph {
		for _, g := range r.measures {
			rows = append(rows, []any{r.community, ms(r.at), g.Member, uint32(g.Degree), g.WeightedDegree, g.PageRank, int32(g.Pocket),
				scoring.ModelVersion, p.hash, r.seq})
		}
	}
	return p.insert(ctx, "member_graph", `community, computed_at, member_id, degree, weighted_degree,
		pagerank, pocket, model_version, config_hash, stream_seq`, rows)
}

func (p *Processor) flushMoves(ctx context.Context) error {
	var rows [][]any
	for _, r := range p.out.moves {
		for level, m := range r.movement {
			rows = append(rows, []any{r.community, time.UnixMilli(r.start).UTC(), uint8(level), uint32(m.Members), uint32(m.Up),
				uint32(m.Held), uint32(m.Down), scoring.ModelVersion, p.hash, r.seq})
		}
	}
	return p.insert(ctx, "level_movement", `community, period_start, level, members, moved_up, held,
		moved_down, model_version, config_hash, stream_seq`, rows)
}

// writeRoles records the roles under this model and config, with the
// cadence alerts hold holders to.
func (p *Processor) writeRoles(ctx context.Context) error {
	var rows [][]any
	for _, r := range p.sc.Roles.Rules {
		var types []string
		if r.Activities != nil {
			types = r.Activities.Types
		}
		rows = append(rows, []any{r.Name, r.Description, false, uint32(r.Cadence.Seconds()), append([]string{}, types...), scoring.ModelVersion, p.hash})
	}
	for name, ids := range p.sc.Roles.Appointed {
		rows = append(rows, []any{name, fmt.Sprintf("appointed: %d members", len(ids)), true, uint32(0), []string{}, scoring.ModelVersion, p.hash})
	}
	if err := p.insert(ctx, "role_rules", "role, description, appointed, cadence_seconds, activity_types, model_version, config_hash", rows); err != nil {
		return fmt.Errorf("scoring: %w", err)
	}
	return nil
}

// writeWeights records the activity types' weights under this model and
// config, so SQL can explain scores.
func (p *Processor) writeWeights(ctx context.Context) error {
	var rows [][]any
	for _, t := range p.deps.Registry.Types() {
		rows = append(rows, []any{t.Name, t.Weight, t.Contribution, t.Description, scoring.ModelVersion, p.hash})
	}
	if err := p.insert(ctx, "activity_weights", "type, weight, contribution, description, model_version, config_hash", rows); err != nil {
		return fmt.Errorf("scoring: %w", err)
	}
	return nil
}
