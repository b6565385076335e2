package alerts

import (
	"context"
	"fmt"
	"time"
)

// Source is what an evaluation reads: Reader (ClickHouse) in production,
// in-memory series in the scenario tests.
type Source interface {
	Windows(ctx context.Context, r Rule, windows [][2]time.Time) ([]Point, error)
	FirstActivity(ctx context.Context, community string) (time.Time, error)
	Periods(ctx context.Context, r Rule, n int, now time.Time) ([]Point, error)
	// Members and Sources also return the keys in keep (the open
	// alerts' members and sources) whatever their level or recent
	// activity, so an alert resolves only when its member or source is
	// back, not when it drops out of the candidates.
	Members(ctx context.Context, r Rule, now time.Time, keep []string) ([]MemberActivity, error)
	RoleHolders(ctx context.Context, r Rule, now time.Time) ([]RoleHolder, error)
	Sources(ctx context.Context, r Rule, now time.Time, keep []string) ([]SourceActivity, error)
}

// Env is what an evaluation knows beyond the rule and the data.
type Env struct {
	Live LiveSeen // nil: the stream is not watched
	Open []string // the keys of the rule's open alerts in its community
}

// LiveSeen reports the last time the stream delivered an event of a
// community's source (zero if not since start): fresher than ClickHouse.
type LiveSeen func(community, source string) time.Time

// Evaluation is a rule judged at one instant: what it read (the series,
// history first, current last; the baseline points) and the decisions.
type Evaluation struct {
	Rule      Rule       `json:"rule"`
	At        time.Time  `json:"at"`
	Series    []Point    `json:"series,omitempty"`
	Baseline  []Point    `json:"baseline,omitempty"` // seasonal: the same hour of past weeks
	Decisions []Decision `json:"decisions"`
}

const week = 7 * 24 * time.Hour

// Evaluate judges rule r (defaults applied) at now.
func Evaluate(ctx context.Context, src Source, r Rule, now time.Time, env Env) (Evaluation, error) {
	r = r.withDefaults()
	ev := Evaluation{Rule: r, At: now}
	d := r.Detector
	what := r.Metric
	if r.Segment != nil {
		what += " (" + r.Segment.Dimension + " " + r.Segment.Value + ")"
	}
	var err error
	switch d.Type {
	case MemberSilence:
		var ms []MemberActivity
		if ms, err = src.Members(ctx, r, now, env.Open); err == nil {
			for _, m := range ms {
				ev.Decisions = append(ev.Decisions, memberSilence(now, m, d))
			}
		}
		return ev, err
	case RoleCadence:
		var hs []RoleHolder
		if hs, err = src.RoleHolders(ctx, r, now); err == nil {
			for _, h := range hs {
				ev.Decisions = append(ev.Decisions, roleCadence(now, h, d))
			}
		}
		return ev, err
	case AccountDrop:
		ev.Decisions, err = evaluateAccounts(ctx, src, r, now)
		return ev, err
	case SourceAbsence:
		var ss []SourceActivity
		if ss, err = src.Sources(ctx, r, now, env.Open); err != nil {
			return ev, err
		}
		for i := range ss {
			if env.Live == nil {
				continue
			}
			if t := env.Live(r.Community, ss[i].Source); t.After(now.Add(-r.Window.D())) {
				ss[i].Current = max(ss[i].Current, 1)
				if t.After(ss[i].Last) {
					ss[i].Last = t
				}
			}
		}
		ev.Decisions = sourceAbsence(now, r.Window.D(), ss, d)
		return ev, nil
	}
	if Metrics[r.Metric] == periodMetric {
		n := map[string]int{Bollinger: d.Periods + 1, Threshold: d.ForPeriods, Change: 2}[d.Type]
		if ev.Series, err = src.Periods(ctx, r, n, now); err != nil {
			return ev, err
		}
	} else {
		first, err := src.FirstActivity(ctx, r.Community)
		if err != nil {
			return ev, err
		}
		w := r.Window.D()
		var windows [][2]time.Time
		switch d.Type {
		case Seasonal:
			for k := d.Weeks; k >= 1; k-- {
				if s := now.Add(-w - time.Duration(k)*week); !s.Before(first) {
					windows = append(windows, [2]time.Time{s, now.Add(-time.Duration(k) * week)})
				}
			}
		default:
			n := map[string]int{Bollinger: d.Periods + 1, Threshold: d.ForPeriods, Change: 2}[d.Type]
			for k := n - 1; k >= 1; k-- {
				if s := now.Add(-time.Duration(k+1) * w); !s.Before(first) {
					windows = append(windows, [2]time.Time{s, now.Add(-time.Duration(k) * w)})
				}
			}
		}
		windows = append(windows, [2]time.Time{now.Add(-w), now})
		pts, err := src.Windows(ctx, r, windows)
		if err != nil {
			return ev, err
		}
		if d.Type == Seasonal {
			ev.Baseline, ev.Series = pts[:len(pts)-1], pts[len(pts)-1:]
		} else {
			ev.Series = pts
		}
	}
	var dec Decision
	switch d.Type {
	case Seasonal:
		dec = seasonal(ev.Series[0], ev.Baseline, d, r.MinVolume, what)
	case Bollinger:
		dec = bollinger(ev.Series, d, r.MinVolume, what)
	case Threshold:
		dec = threshold(ev.Series, d, r.MinVolume, what)
	case Change:
		dec = change(ev.Series, d, r.MinVolume, what)
	default:
		return ev, fmt.Errorf("alerts: rule %s: no detector %q", r.Name, d.Type)
	}
	if dec.Summary == "" && dec.Skipped != "" {
		dec.Summary = what + ": " + dec.Skipped
	}
	ev.Decisions = []Decision{dec}
	return ev, nil
}
