package orbit

import (
	"context"
	"fmt"
	"time"

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
	}
}

func (p *Processor) flushGravity(ctx context.Context) error {
	if len(p.out.gravity) == 0 {
		return nil
	}
	b, err := p.deps.CH.PrepareBatch(ctx, `INSERT INTO community_gravity (community, period, period_start, members, leading,
		contributing, participating, exploring, weighted_commitment, gravity, model_version, config_hash, stream_seq)`)
	if err != nil {
		return fmt.Errorf("community_gravity: %w", err)
	}
	defer b.Close()
	for _, r := range p.out.gravity {
		if err := b.Append(r.community, r.period, time.UnixMilli(r.start).UTC(), uint32(r.counts.Members()),
			uint32(r.counts[1]), uint32(r.counts[2]), uint32(r.counts[3]), uint32(r.counts[4]),
			r.wc, r.gravity, scoring.ModelVersion, p.hash, r.seq); err != nil {
			return fmt.Errorf("community_gravity: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert into community_gravity: %w", err)
	}
	return nil
}

// writeWeights records the activity types' weights under this model and
// config, so SQL can explain scores.
func (p *Processor) writeWeights(ctx context.Context) error {
	b, err := p.deps.CH.PrepareBatch(ctx, "INSERT INTO activity_weights (type, weight, contribution, description, model_version, config_hash)")
	if err != nil {
		return fmt.Errorf("scoring: activity_weights: %w", err)
	}
	defer b.Close()
	for _, t := range p.deps.Registry.Types() {
		if err := b.Append(t.Name, t.Weight, t.Contribution, t.Description, scoring.ModelVersion, p.hash); err != nil {
			return fmt.Errorf("scoring: activity_weights: %w", err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("scoring: insert into activity_weights: %w", err)
	}
	return nil
}
