package orbit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

type memberKey struct{ community, member string }

type edgeKey struct{ community, a, b string }

type levelRow struct {
	community string
	change    scoring.LevelChange
}

// outputs are the rows waiting for the next flush: the members and edges
// changed since the last one (written with their state at flush time) and
// the level changes.
type outputs struct {
	members map[memberKey]struct{}
	edges   map[edgeKey]struct{}
	levels  []levelRow
	roles   []roleRow
	gravity []gravityRow
	graph   []graphRow
	moves   []moveRow
	// structure are community_structure rows (written with graph).
	structure []structureRow
	// identities are identity_changes rows, suggestions merge_suggestions.
	identities  []identityRow
	suggestions []suggestionRow
	segments    []segmentRow
	signals     []signalRow
	// idents are identities whose member_identities row is due.
	idents map[memberKey]struct{}
	// seq is the stream sequence the pending state reflects.
	seq uint64
}

func newOutputs() outputs {
	return outputs{members: map[memberKey]struct{}{}, edges: map[edgeKey]struct{}{}, idents: map[memberKey]struct{}{}}
}

func (o *outputs) member(c, id string) { o.members[memberKey{c, id}] = struct{}{} }

func (o *outputs) edge(c, a, b string) {
	if a > b {
		a, b = b, a
	}
	o.edges[edgeKey{c, a, b}] = struct{}{}
}

func (o *outputs) level(c string, ch scoring.LevelChange) {
	o.levels = append(o.levels, levelRow{c, ch})
}

type roleRow struct {
	community string
	change    scoring.RoleChange
}

func (o *outputs) role(c string, ch scoring.RoleChange) {
	o.roles = append(o.roles, roleRow{c, ch})
}

func (o *outputs) empty() bool {
	return len(o.members) == 0 && len(o.edges) == 0 && len(o.levels) == 0 && len(o.roles) == 0 &&
		len(o.gravity) == 0 && len(o.graph) == 0 && len(o.moves) == 0 && len(o.identities) == 0 && len(o.suggestions) == 0 &&
		len(o.segments) == 0 && len(o.idents) == 0 && len(o.signals) == 0 && len(o.structure) == 0
}

// flush writes the pending rows, one batch per table; on error they stay
// pending (a retry writes them again: the tables collapse copies).
func (p *Processor) flush(ctx context.Context) error {
	o := &p.out
	if o.empty() {
		p.met.oldest = time.Time{} // nothing of what was applied needed writing
		return nil
	}
	start := time.Now()
	// The flushX functions build their rows from the state (on this
	// goroutine); the inserts then run side by side.
	p.collect = []pendingInsert{}
	defer func() { p.collect = nil }()
	for _, f := range []func(context.Context) error{p.flushMembers, p.flushEdges, p.flushLevels, p.flushRoles,
		p.flushGravity, p.flushSegments, p.flushGraph, p.flushStructure, p.flushMoves, p.flushIdentities, p.flushMemberIdentities, p.flushSignals} {
		if err := f(ctx); err != nil {
			return err
		}
	}
	if err := p.insertAll(ctx, p.collect); err != nil {
		return err
	}
	clear(o.members)
	clear(o.edges)
	clear(o.idents)
	o.levels, o.roles, o.gravity, o.graph, o.moves = o.levels[:0], o.roles[:0], o.gravity[:0], o.graph[:0], o.moves[:0]
	o.identities, o.suggestions, o.segments = o.identities[:0], o.suggestions[:0], o.segments[:0]
	o.signals = o.signals[:0]
	o.structure = o.structure[:0]
	p.met.wrote(time.Since(start), time.Now())
	if p.flushed != nil {
		p.flushed(o.seq)
	}
	return nil
}

func ms(t int64) time.Time { return time.UnixMilli(t).UTC() }

func (p *Processor) flushMembers(ctx context.Context) error {
	lp, rp := float64(p.sc.Love.Period.Milliseconds()), float64(p.sc.Reach.Decay.Period.Milliseconds())
	var rows [][]any
	for k := range p.out.members {
		c := p.communities[k.community]
		m := c.scorer.Lookup(k.member)
		if m == nil {
			continue
		}
		at := c.scorer.Newest()
		pr := m.PresenceAt(at)
		rows = append(rows, []any{k.community, k.member, c.names[k.member], ms(m.First), ms(m.Last),
			m.Love.Value, ms(m.Love.At), p.sc.Love.Factor, lp, uint16(pr.Days7), uint16(pr.Days30), uint16(pr.Days90), ms(at),
			scoring.Level(m.Step), m.Step, m.Reach.Value, ms(m.Reach.At), p.sc.Reach.Decay.Factor, rp,
			c.scorer.Roles(k.member), m.Bot, m.Teammate, mergedInto(c, k.member), scoring.ModelVersion, p.hash, p.out.seq})
	}
	return p.insert(ctx, "members_raw", `community, member_id, display_name, first_seen, last_seen,
		love, love_at, love_factor, love_period_ms, presence_7d, presence_30d, presence_90d, presence_at, orbit_level, orbit_step,
		reach, reach_at, reach_factor, reach_period_ms, roles, is_bot, is_teammate, merged_into, model_version, config_hash, stream_seq`, rows)
}

func (p *Processor) flushEdges(ctx context.Context) error {
	rp := float64(p.sc.Reach.Decay.Period.Milliseconds())
	var rows [][]any
	for k := range p.out.edges {
		e := p.communities[k.community].scorer.Edge(k.a, k.b)
		if e == nil {
			e = &scoring.Edge{} // rebuilt away: no interactions, and the view leaves it out
		}
		rows = append(rows, []any{k.community, k.a, k.b, e.Direct, e.Indirect, e.Strength.Value, ms(e.Strength.At),
			p.sc.Reach.Decay.Factor, rp, time.Unix(int64(e.First), 0).UTC(), time.Unix(int64(e.Last), 0).UTC(),
			scoring.ModelVersion, p.hash, p.out.seq})
	}
	return p.insert(ctx, "member_edges_raw", `community, member_a, member_b, direct_interactions,
		indirect_interactions, strength, strength_at, reach_factor, reach_period_ms, first_interaction_at, last_interaction_at,
		model_version, config_hash, stream_seq`, rows)
}

func (p *Processor) flushLevels(ctx context.Context) error {
	rows := make([][]any, 0, len(p.out.levels))
	for _, r := range p.out.levels {
		ch := r.change
		rows = append(rows, []any{r.community, ch.Member, ms(ch.At), ch.From, ch.To, scoring.Level(ch.From), scoring.Level(ch.To),
			string(ch.Reason), ch.Detail, scoring.ModelVersion, p.hash, ch.Seq})
	}
	return p.insert(ctx, "level_changes", `community, member_id, changed_at, from_step, to_step,
		from_level, to_level, reason, detail, model_version, config_hash, stream_seq`, rows)
}

func (p *Processor) flushRoles(ctx context.Context) error {
	rows := make([][]any, 0, len(p.out.roles))
	for _, r := range p.out.roles {
		ch := r.change
		change := "lost"
		if ch.Gained {
			change = "gained"
		}
		rows = append(rows, []any{r.community, ch.Member, ch.Role, ms(ch.At), change, ch.Reason, scoring.ModelVersion, p.hash, ch.Seq})
	}
	return p.insert(ctx, "role_changes", "community, member_id, role, changed_at, change, reason, model_version, config_hash, stream_seq", rows)
}

// insert writes rows (values in the order of columns) into table, in one
// batch; nothing for no rows. During a flush it only collects them.
func (p *Processor) insert(ctx context.Context, table, columns string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if p.collect != nil {
		p.collect = append(p.collect, pendingInsert{table, columns, rows})
		return nil
	}
	return store.Insert(ctx, p.deps.CH, table, columns, rows)
}

// pendingInsert is one table's batch of a flush.
type pendingInsert struct {
	table, columns string
	rows           [][]any
}

// flushParallel bounds the inserts of one flush in flight at once.
const flushParallel = 4

// insertAll writes the batches, flushParallel at a time: a flush takes
// about as long as its slowest table, not the sum of all ten (each insert
// waits on the engine: its parts, its materialized views). It returns the
// first error once all have ended.
func (p *Processor) insertAll(ctx context.Context, ins []pendingInsert) error {
	errs := make([]error, len(ins))
	sem := make(chan struct{}, flushParallel)
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = store.Insert(ctx, p.deps.CH, in.table, in.columns, in.rows)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// mergedInto is the member a merged-away member is part of now ("" for
// a member in its own right).
func mergedInto(c *community, member string) string {
	if !c.scorer.Gone(member) {
		return ""
	}
	if into := c.ids.MemberOf(member); into != "" && into != member {
		return into
	}
	return "(merged)"
}
