package alerts

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Point is one value of a metric's series: over [Start, End) for event
// metrics, the period starting at Start for period metrics. Volume is
// what min_volume is compared with (the count itself for event metrics;
// the members, previous actives or opened items behind a period's ratio).
type Point struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Value  float64   `json:"value"`
	Volume float64   `json:"volume"`
}

// Decision is a detector's verdict on one key of a rule: whether the
// condition holds, with the numbers behind it. Skipped (with the reason)
// means no verdict: too little history or volume; the alert's state does
// not change.
type Decision struct {
	Key    string `json:"key"`
	Firing bool   `json:"firing"`
	// Hold keeps an open alert open although Firing is false: the
	// condition half holds (hysteresis, so a noisy metric near the
	// threshold does not fire, resolve and fire again).
	Hold     bool              `json:"hold,omitempty"`
	Skipped  string            `json:"skipped,omitempty"`
	Value    float64           `json:"value"`
	Baseline float64           `json:"baseline"`
	Lower    float64           `json:"lower,omitempty"` // the band, when the detector has one
	Upper    float64           `json:"upper,omitempty"`
	Score    float64           `json:"score,omitempty"` // robust z-score, band distance ...
	Summary  string            `json:"summary"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// madScale makes the median absolute deviation estimate a normal
// distribution's standard deviation.
const madScale = 1.4826

// seasonal compares cur with history (the same weekday and hour of past
// weeks): median, MAD, the relative drop and the robust z-score. The
// spread is at least the Poisson noise of a count of the median's size,
// so a quiet hour's 3 → 1 is not a 10-sigma event.
func seasonal(cur Point, history []Point, d Detector, minVolume float64, what string) Decision {
	vals := values(history)
	dec := Decision{Value: cur.Value}
	if len(vals) < 3 {
		dec.Skipped = fmt.Sprintf("%d weeks of history; the seasonal baseline needs at least 3", len(vals))
		return dec
	}
	m := median(vals)
	dev := make([]float64, len(vals))
	for i, v := range vals {
		dev[i] = math.Abs(v - m)
	}
	sigma := max(madScale*median(dev), math.Sqrt(max(m, 1)))
	dec.Baseline, dec.Lower, dec.Upper = m, slices.Min(vals), slices.Max(vals)
	dec.Score = (cur.Value - m) / sigma
	if m > 0 {
		dec.Hold = (m-cur.Value)/m >= d.MinDrop/2
	}
	if m < minVolume || m == 0 {
		dec.Skipped = fmt.Sprintf("baseline %s is below min_volume %g", num(m), minVolume)
		return dec
	}
	// Three tests, all needed: a drop that matters (relative), that noise
	// does not explain (robust z), and that no week of the baseline had
	// (below its range: a dip like past holidays is seasonal).
	drop := (m - cur.Value) / m
	dec.Firing = drop >= d.MinDrop && dec.Score <= -d.MinZ && cur.Value < dec.Lower
	dec.Summary = fmt.Sprintf("%s %s in the last %s, %.0f%% %s the usual %s for this hour of the week (median of %d weeks, range %s..%s, robust z %.1f)",
		what, num(cur.Value), durationText(cur.End.Sub(cur.Start)), math.Abs(drop)*100, belowAbove(drop), num(m), len(vals),
		num(dec.Lower), num(dec.Upper), dec.Score)
	return dec
}

// bollinger compares the last point with the mean ± K standard deviations
// of the points before it.
func bollinger(series []Point, d Detector, minVolume float64, what string) Decision {
	if len(series) < 6 {
		return Decision{Skipped: fmt.Sprintf("%d points; the band needs at least 5 before the current one", max(len(series)-1, 0))}
	}
	cur, hist := series[len(series)-1], values(series[:len(series)-1])
	mean, sd := meanStd(hist)
	dec := Decision{Value: cur.Value, Baseline: mean, Lower: mean - d.K*sd, Upper: mean + d.K*sd}
	if sd > 0 {
		dec.Score = (cur.Value - mean) / sd
	}
	if math.Abs(mean) < minVolume || meanVolume(series[:len(series)-1]) < minVolume {
		dec.Skipped = fmt.Sprintf("volume below min_volume %g", minVolume)
		return dec
	}
	below, above := cur.Value < dec.Lower, cur.Value > dec.Upper
	switch d.Direction {
	case "below":
		dec.Firing = below
	case "above":
		dec.Firing = above
	default:
		dec.Firing = below || above
	}
	dec.Summary = fmt.Sprintf("%s %s, outside the band %s..%s (mean %s ± %g sd of the %d before)",
		what, num(cur.Value), num(dec.Lower), num(dec.Upper), num(mean), d.K, len(hist))
	if !dec.Firing {
		dec.Summary = fmt.Sprintf("%s %s, inside the band %s..%s", what, num(cur.Value), num(dec.Lower), num(dec.Upper))
	}
	return dec
}

// threshold holds when the last ForPeriods points all compare true.
func threshold(series []Point, d Detector, minVolume float64, what string) Decision {
	if len(series) < d.ForPeriods {
		return Decision{Skipped: fmt.Sprintf("%d points; the rule needs %d in a row", len(series), d.ForPeriods)}
	}
	last := series[len(series)-d.ForPeriods:]
	cur := series[len(series)-1]
	dec := Decision{Value: cur.Value, Baseline: *d.Value, Firing: true}
	for _, p := range last {
		if p.Volume < minVolume {
			dec.Skipped = fmt.Sprintf("volume %s is below min_volume %g", num(p.Volume), minVolume)
			return dec
		}
		dec.Firing = dec.Firing && compare(p.Value, d.Op, *d.Value)
	}
	run := ""
	if d.ForPeriods > 1 {
		run = fmt.Sprintf(" for %d periods in a row", d.ForPeriods)
	}
	dec.Summary = fmt.Sprintf("%s %s %s %s%s", what, num(cur.Value), d.Op, num(*d.Value), run)
	if !dec.Firing {
		dec.Summary = fmt.Sprintf("%s %s (alerts when %s %s%s)", what, num(cur.Value), d.Op, num(*d.Value), run)
	}
	return dec
}

// change holds when the last point moved down from the one before by at
// least -Change (points, or a share of it when Relative).
func change(series []Point, d Detector, minVolume float64, what string) Decision {
	if len(series) < 2 {
		return Decision{Skipped: "the change needs two periods"}
	}
	prev, cur := series[len(series)-2], series[len(series)-1]
	dec := Decision{Value: cur.Value, Baseline: prev.Value}
	if cur.Volume < minVolume || prev.Volume < minVolume {
		dec.Skipped = fmt.Sprintf("volume below min_volume %g", minVolume)
		return dec
	}
	delta, unit := cur.Value-prev.Value, ""
	if d.Relative {
		if prev.Value == 0 {
			dec.Skipped = "the previous period is 0: no relative change"
			return dec
		}
		delta, unit = delta/math.Abs(prev.Value), " (relative)"
	}
	dec.Score = delta
	dec.Firing = delta <= *d.Change
	dec.Summary = fmt.Sprintf("%s %s, was %s the period before: a change of %s%s (alerts at %s)",
		what, num(cur.Value), num(prev.Value), signed(delta), unit, signed(*d.Change))
	return dec
}

// MemberActivity is what member_silence learns a member's cadence from.
type MemberActivity struct {
	Member   string
	Name     string
	Level    uint8
	Roles    []string
	LastSeen time.Time
	// Days are the distinct UTC days the member was active in the
	// lookback, ascending.
	Days []time.Time
}

// memberSilence holds when the member has been silent longer than
// GapFactor times their median gap between active days, and at least
// MinSilence.
func memberSilence(now time.Time, m MemberActivity, d Detector) Decision {
	allowed := d.MinSilence.D()
	gap := time.Duration(0)
	if len(m.Days) >= 3 {
		gaps := make([]float64, 0, len(m.Days)-1)
		for i := 1; i < len(m.Days); i++ {
			gaps = append(gaps, m.Days[i].Sub(m.Days[i-1]).Hours())
		}
		gap = time.Duration(median(gaps) * float64(time.Hour))
		allowed = max(allowed, time.Duration(d.GapFactor*float64(gap)))
	}
	silent := now.Sub(m.LastSeen)
	dec := Decision{Key: m.Member, Value: silent.Hours() / 24, Baseline: allowed.Hours() / 24, Firing: silent > allowed,
		Labels: map[string]string{"member": m.Member, "name": m.Name, "level": fmt.Sprint(m.Level), "roles": strings.Join(m.Roles, ",")}}
	who := m.Member
	if m.Name != "" {
		who = m.Name + " (" + m.Member + ")"
	}
	usual := "too few active days to learn a cadence"
	if gap > 0 {
		usual = "usually active every " + durationText(gap)
	}
	dec.Summary = fmt.Sprintf("%s, %s, silent for %s (last seen %s; %s; alerts after %s)",
		who, levelName(m.Level, m.Roles), durationText(silent), m.LastSeen.UTC().Format("2006-01-02 15:04"), usual, durationText(allowed))
	return dec
}

// RoleHolder is a member holding a role with an expected cadence.
type RoleHolder struct {
	Member  string
	Name    string
	Role    string
	Cadence time.Duration
	// Last is the member's last activity of the role's types (zero: none
	// in the lookback).
	Last time.Time
}

// roleCadence holds when the holder's last activity of the role's types
// is older than the cadence times Grace.
func roleCadence(now time.Time, h RoleHolder, d Detector) Decision {
	allowed := time.Duration(d.Grace * float64(h.Cadence))
	since := now.Sub(h.Last)
	dec := Decision{Key: h.Member + "/" + h.Role, Value: since.Hours() / 24, Baseline: allowed.Hours() / 24, Firing: since > allowed,
		Labels: map[string]string{"member": h.Member, "name": h.Name, "role": h.Role}}
	if h.Last.IsZero() {
		// A holder with no activity of the role's types in the lookback:
		// the role's types changed, or its activities are not in
		// ClickHouse yet. Not a verdict on the member.
		dec.Firing, dec.Value = false, 0
		dec.Skipped = fmt.Sprintf("%s holds %s but has no activity of its types in the lookback", nameOr(h.Name, h.Member), h.Role)
		dec.Summary = dec.Skipped
		return dec
	}
	last := "never in the lookback"
	if !h.Last.IsZero() {
		last = h.Last.UTC().Format("2006-01-02 15:04")
	}
	dec.Summary = fmt.Sprintf("%s holds the role %s, expected every %s; last qualifying activity %s (%s ago)",
		nameOr(h.Name, h.Member), h.Role, durationText(h.Cadence), last, durationText(since))
	return dec
}

// SourceActivity is one source's recent delivery: events per window over
// the lookback (oldest first), the current window's, and the last event.
type SourceActivity struct {
	Source  string
	Windows []float64
	Current float64
	Last    time.Time
}

// sourceAbsence judges every source of a community together: a source
// that usually delivers (events in at least MinActiveShare of the
// lookback's windows) and delivered nothing in the current window fires.
// The summary says whether it looks like a broken connector (the other
// sources still deliver) or a silent community or pipeline (none does).
func sourceAbsence(now time.Time, window time.Duration, srcs []SourceActivity, d Detector) []Decision {
	delivering := []string{}
	for _, s := range srcs {
		if s.Current > 0 {
			delivering = append(delivering, fmt.Sprintf("%s %s", s.Source, num(s.Current)))
		}
	}
	sort.Strings(delivering)
	var out []Decision
	for _, s := range srcs {
		active := 0
		for _, v := range s.Windows {
			if v > 0 {
				active++
			}
		}
		share := 0.0
		if len(s.Windows) > 0 {
			share = float64(active) / float64(len(s.Windows))
		}
		dec := Decision{Key: s.Source, Value: s.Current, Baseline: mean(s.Windows), Score: share,
			Labels: map[string]string{"source": s.Source}}
		if share < d.MinActiveShare {
			dec.Hold = s.Current == 0 // a long outage is still an outage
			dec.Skipped = fmt.Sprintf("%s delivered in %.0f%% of the windows of the last %s; alerts need %.0f%%",
				s.Source, share*100, durationText(d.Lookback.D()), d.MinActiveShare*100)
			out = append(out, dec)
			continue
		}
		dec.Firing = s.Current == 0
		last := "never"
		if !s.Last.IsZero() {
			last = s.Last.UTC().Format("2006-01-02 15:04:05") + " UTC"
		}
		dec.Summary = fmt.Sprintf("%s sent %s events in the last %s (usually %s per %s, in %.0f%% of windows; last event %s)",
			s.Source, num(s.Current), durationText(window), num(dec.Baseline), durationText(window), share*100, last)
		if dec.Firing {
			if len(delivering) > 0 {
				dec.Labels["diagnosis"] = "connector"
				dec.Summary += fmt.Sprintf(": the other sources still deliver (%s), so the %s connector, its webhook or its credentials are likely broken, not the community",
					strings.Join(delivering, ", "), s.Source)
			} else {
				dec.Labels["diagnosis"] = "all_sources"
				dec.Summary += ": no source of the community delivers, so either the community went quiet or the pipeline in front of it stopped; check the gateway and `orbitflow status`"
			}
		}
		out = append(out, dec)
	}
	return out
}

func compare(v float64, op string, x float64) bool {
	switch op {
	case "<":
		return v < x
	case "<=":
		return v <= x
	case ">":
		return v > x
	case ">=":
		return v >= x
	}
	return false
}

func values(ps []Point) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

func meanVolume(ps []Point) float64 {
	s := 0.0
	for _, p := range ps {
		s += p.Volume
	}
	return s / float64(max(len(ps), 1))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func meanStd(xs []float64) (float64, float64) {
	m := mean(xs)
	if len(xs) < 2 {
		return m, 0
	}
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(xs)-1))
}

// num prints a number for people: integers as such, others with 3
// significant decimals.
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func signed(v float64) string {
	if v > 0 {
		return "+" + num(v)
	}
	return num(v)
}

func belowAbove(drop float64) string {
	if drop >= 0 {
		return "below"
	}
	return "above"
}

func durationText(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.0f hours", d.Hours())
	case d >= time.Hour:
		return "1 hour"
	case d >= 2*time.Minute:
		return fmt.Sprintf("%.0f minutes", d.Minutes())
	}
	return d.Round(time.Second).String()
}

func levelName(l uint8, roles []string) string {
	names := map[uint8]string{1: "Leading", 2: "Contributing", 3: "Participating", 4: "Exploring"}
	s := names[l]
	if len(roles) > 0 {
		s += ", roles " + strings.Join(roles, ", ")
	}
	return strings.TrimPrefix(s, ", ")
}

func nameOr(name, id string) string {
	if name == "" {
		return id
	}
	return name + " (" + id + ")"
}
