package alerts

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
)

// The alert quality suite: synthetic hourly series with weekly and daily
// seasonality and noise, judged by the real detectors and the real state
// machine (Evaluate, Book.Apply) over an in-memory Source.

// series is hourly counts from t0.
type series struct {
	t0     time.Time
	counts []float64
}

// memSource serves a series and a fixed set of members.
type memSource struct {
	s       series
	members func(now time.Time) []MemberActivity
}

func (m memSource) Windows(_ context.Context, _ Rule, ws [][2]time.Time) ([]Point, error) {
	out := make([]Point, len(ws))
	for i, w := range ws {
		v := 0.0
		for h := int(w[0].Sub(m.s.t0).Hours()); h < int(w[1].Sub(m.s.t0).Hours()); h++ {
			if h >= 0 && h < len(m.s.counts) {
				v += m.s.counts[h]
			}
		}
		out[i] = Point{Start: w[0], End: w[1], Value: v, Volume: v}
	}
	return out, nil
}

func (m memSource) FirstActivity(context.Context, string) (time.Time, error) { return m.s.t0, nil }
func (m memSource) Periods(context.Context, Rule, int, time.Time) ([]Point, error) {
	return nil, nil
}
func (m memSource) Members(_ context.Context, _ Rule, now time.Time, _ []string) ([]MemberActivity, error) {
	return m.members(now), nil
}
func (m memSource) RoleHolders(context.Context, Rule, time.Time) ([]RoleHolder, error) {
	return nil, nil
}
func (m memSource) Sources(context.Context, Rule, time.Time, []string) ([]SourceActivity, error) {
	return nil, nil
}

// rate is the expected activity per hour at t: a weekday and hour-of-day
// shape around base (quiet nights and weekends, busy afternoons).
func rate(t time.Time, base float64) float64 {
	day := []float64{0.55, 1, 1.05, 1.05, 1, 0.95, 0.6}[t.Weekday()] // Sunday first
	h := float64(t.Hour())
	hour := 0.35 + 0.65*math.Max(0, math.Sin((h-6)/16*math.Pi))
	return base * day * hour
}

func poisson(rng *rand.Rand, l float64) float64 {
	if l > 50 { // normal approximation
		return math.Max(0, math.Round(l+math.Sqrt(l)*rng.NormFloat64()))
	}
	k, p, e := 0.0, 1.0, math.Exp(-l)
	for {
		p *= rng.Float64()
		if p <= e {
			return k
		}
		k++
	}
}

// genSeries draws days of hourly counts; factor scales the rate at each hour.
func genSeries(rng *rand.Rand, t0 time.Time, days int, base float64, factor func(time.Time) float64) series {
	s := series{t0: t0, counts: make([]float64, days*24)}
	weekNoise := 1.0
	for h := range s.counts {
		t := t0.Add(time.Duration(h) * time.Hour)
		if h%(7*24) == 0 {
			weekNoise = 1 + 0.03*rng.NormFloat64() // a busier or quieter week
		}
		s.counts[h] = poisson(rng, rate(t, base)*weekNoise*factor(t))
	}
	return s
}

// outcome tallies a scenario set: expected detections made in time (tp),
// missed (fn), and alerts that fired without cause (fp).
type outcome struct {
	tp, fp, fn int
	notes      []string
}

func (o *outcome) add(x outcome) {
	o.tp, o.fp, o.fn = o.tp+x.tp, o.fp+x.fp, o.fn+x.fn
	o.notes = append(o.notes, x.notes...)
}

func (o outcome) precision() float64 {
	if o.tp+o.fp == 0 {
		return 1
	}
	return float64(o.tp) / float64(o.tp+o.fp)
}

func (o outcome) recall() float64 {
	if o.tp+o.fn == 0 {
		return 1
	}
	return float64(o.tp) / float64(o.tp+o.fn)
}

var scenarioT0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday

func seasonalRule() Rule {
	return Rule{Name: "activity-drop", Community: "c", Metric: "activities", Window: Duration(3 * time.Hour),
		Detector: Detector{Type: Seasonal}, MinVolume: 100}.withDefaults()
}

// runMetric evaluates the seasonal rule hourly from..to and returns the
// transitions by hour.
func runMetric(t testing.TB, s series, r Rule, from, to time.Time) map[time.Time][]Transition {
	src := memSource{s: s}
	book := NewBook()
	out := map[time.Time][]Transition{}
	for now := from; !now.After(to); now = now.Add(time.Hour) {
		ev, err := Evaluate(context.Background(), src, r, now, Env{})
		require.NoError(t, err)
		if ts := book.Apply(r, r.Community, ev.Decisions, now, false, func(string) bool { return false }); len(ts) > 0 {
			out[now] = ts
		}
	}
	return out
}

func firings(ts map[time.Time][]Transition, before time.Time) []time.Time {
	var out []time.Time
	for at, list := range ts {
		for _, tr := range list {
			if tr.Change.To == alerts.StateFiring && tr.Notify && at.Before(before) {
				out = append(out, at)
			}
		}
	}
	return out
}

// scenarioDrop: 70 days as usual, then the rate falls by 40% at a random
// hour. The alert must fire within one window (3 h) of the drop, not
// before it; the metric then recovers after 12 h and the alert must
// resolve within one window of the recovery.
func scenarioDrop(t testing.TB, seed uint64) outcome {
	rng := rand.New(rand.NewPCG(seed, 1))
	dropAt := scenarioT0.Add(70*24*time.Hour + time.Duration(rng.IntN(7*24))*time.Hour)
	recoverAt := dropAt.Add(12 * time.Hour)
	s := genSeries(rng, scenarioT0, 80, 400, func(t time.Time) float64 {
		if !t.Before(dropAt) && t.Before(recoverAt) {
			return 0.6
		}
		return 1
	})
	r := seasonalRule()
	ts := runMetric(t, s, r, dropAt.Add(-7*24*time.Hour), recoverAt.Add(6*time.Hour))
	var o outcome
	o.fp = len(firings(ts, dropAt))
	fired, resolved := false, false
	for at, list := range ts {
		for _, tr := range list {
			switch {
			case tr.Change.To == alerts.StateFiring && !at.Before(dropAt) && !at.After(dropAt.Add(r.Window.D())):
				fired = true
			case tr.Change.To == alerts.StateFiring && tr.Notify && at.After(dropAt.Add(r.Window.D())):
				o.fp++ // a second notification for the same drop
			case tr.Change.To == alerts.StateResolved && at.After(recoverAt) && !at.After(recoverAt.Add(r.Window.D())):
				resolved = true
			}
		}
	}
	for _, ok := range []bool{fired, resolved} {
		if ok {
			o.tp++
		} else {
			o.fn++
		}
	}
	if !fired || !resolved {
		o.notes = append(o.notes, fmt.Sprintf("drop seed %d at %s: fired %v resolved %v", seed, dropAt, fired, resolved))
	}
	return o
}

// scenarioStable: 90 days as usual, judged hourly over the last 30: no alert.
func scenarioStable(t testing.TB, seed uint64) outcome {
	rng := rand.New(rand.NewPCG(seed, 2))
	s := genSeries(rng, scenarioT0, 90, 400, func(time.Time) float64 { return 1 })
	ts := runMetric(t, s, seasonalRule(), scenarioT0.Add(60*24*time.Hour), scenarioT0.Add(90*24*time.Hour-time.Hour))
	o := outcome{fp: len(firings(ts, scenarioT0.Add(100*24*time.Hour)))}
	if o.fp > 0 {
		o.notes = append(o.notes, fmt.Sprintf("stable seed %d: %d false alerts", seed, o.fp))
	}
	return o
}

// scenarioHoliday: a holiday 20% quieter than usual, when the same
// weekday of a recent week had one 30% quieter (the seasonal range holds
// such days): no alert.
func scenarioHoliday(t testing.TB, seed uint64) outcome {
	rng := rand.New(rand.NewPCG(seed, 3))
	day := scenarioT0.Add(time.Duration(75+rng.IntN(7)) * 24 * time.Hour)
	past := day.Add(-time.Duration(2+rng.IntN(4)) * week)
	s := genSeries(rng, scenarioT0, 90, 400, func(t time.Time) float64 {
		switch {
		case !t.Before(day) && t.Before(day.Add(24*time.Hour)):
			return 0.8
		case !t.Before(past) && t.Before(past.Add(24*time.Hour)):
			return 0.7
		}
		return 1
	})
	ts := runMetric(t, s, seasonalRule(), day.Add(-24*time.Hour), day.Add(48*time.Hour))
	o := outcome{fp: len(firings(ts, day.Add(72*time.Hour)))}
	if o.fp > 0 {
		o.notes = append(o.notes, fmt.Sprintf("holiday seed %d: %d false alerts", seed, o.fp))
	}
	return o
}

// scenarioAdvocate: a Leading member active every ~2 days goes silent;
// judged daily for 60 days after, the alert fires exactly once, about 14
// days after the last activity (3 × the 2-day gap is less than the
// 14-day floor). The other, still active members never fire.
func scenarioAdvocate(t testing.TB, seed uint64) outcome {
	rng := rand.New(rand.NewPCG(seed, 4))
	start := scenarioT0
	stop := start.Add(time.Duration(100+rng.IntN(20)) * 24 * time.Hour)
	days := func(gap float64, until time.Time) []time.Time {
		var out []time.Time
		for d := start; d.Before(until); d = d.Add(time.Duration(math.Max(1, math.Round(gap+rng.NormFloat64()*0.5))) * 24 * time.Hour) {
			out = append(out, d)
		}
		return out
	}
	silent := days(2, stop)
	others := [][]time.Time{days(1, stop.Add(90*24*time.Hour)), days(3, stop.Add(90*24*time.Hour))}
	upTo := func(ds []time.Time, now time.Time) []time.Time {
		var out []time.Time
		for _, d := range ds {
			if d.Before(now) {
				out = append(out, d)
			}
		}
		return out
	}
	src := memSource{members: func(now time.Time) []MemberActivity {
		var out []MemberActivity
		for i, ds := range append([][]time.Time{silent}, others...) {
			seen := upTo(ds, now)
			if len(seen) == 0 {
				continue
			}
			out = append(out, MemberActivity{Member: fmt.Sprintf("github:%d", i), Level: 1, LastSeen: seen[len(seen)-1].Add(15 * time.Hour), Days: seen})
		}
		return out
	}}
	r := Rule{Name: "advocate-silent", Community: "c", Detector: Detector{Type: MemberSilence}}.withDefaults()
	book := NewBook()
	var o outcome
	fired := 0
	last := silent[len(silent)-1].Add(15 * time.Hour)
	for now := stop.Add(-30 * 24 * time.Hour); now.Before(stop.Add(60 * 24 * time.Hour)); now = now.Add(24 * time.Hour) {
		ev, err := Evaluate(context.Background(), src, r, now, Env{})
		require.NoError(t, err)
		for _, tr := range book.Apply(r, "c", ev.Decisions, now, false, func(string) bool { return false }) {
			if tr.Change.To != alerts.StateFiring {
				continue
			}
			if tr.Alert.Key == "github:0" && now.Sub(last) >= 14*24*time.Hour && now.Sub(last) < 15*24*time.Hour+time.Hour {
				fired++
			} else {
				o.fp++
				o.notes = append(o.notes, fmt.Sprintf("advocate seed %d: %s fired at %s", seed, tr.Alert.Key, now))
			}
		}
	}
	switch fired {
	case 1:
		o.tp++
	case 0:
		o.fn++
		o.notes = append(o.notes, fmt.Sprintf("advocate seed %d: never fired", seed))
	default:
		o.tp++
		o.fp += fired - 1
	}
	return o
}

// runScenarios runs every scenario for n seeds.
func runScenarios(t testing.TB, n int) (outcome, map[string]outcome) {
	kinds := map[string]func(testing.TB, uint64) outcome{
		"drop_40pct_and_recover": scenarioDrop, "stable_90d": scenarioStable, "holiday_dip": scenarioHoliday, "advocate_silent": scenarioAdvocate,
	}
	var all outcome
	by := map[string]outcome{}
	for name, f := range kinds {
		var o outcome
		for seed := range uint64(n) {
			o.add(f(t, seed+1))
		}
		by[name] = o
		all.add(o)
	}
	return all, by
}

func TestAlertScenarios(t *testing.T) {
	all, by := runScenarios(t, 10)
	for name, o := range by {
		t.Logf("%-24s tp %3d fp %3d fn %3d", name, o.tp, o.fp, o.fn)
	}
	for _, n := range all.notes {
		t.Log(n)
	}
	require.Equal(t, 1.0, all.recall(), "every 40%% drop fires within a window, every recovery resolves, every silent advocate fires")
	require.GreaterOrEqual(t, all.precision(), 0.95)
}

// BenchmarkAlertScenarios prints the suite's precision and recall over 30
// seeds of each scenario (targets: recall 1, precision ≥ 0.95).
func BenchmarkAlertScenarios(b *testing.B) {
	var all outcome
	var by map[string]outcome
	for range b.N {
		all, by = runScenarios(b, 30)
	}
	for name, o := range by {
		b.Logf("%-24s tp %3d fp %3d fn %3d", name, o.tp, o.fp, o.fn)
	}
	for _, n := range all.notes {
		b.Log(n)
	}
	b.ReportMetric(all.precision(), "precision")
	b.ReportMetric(all.recall(), "recall")
	b.ReportMetric(float64(all.tp+all.fn), "expected_alerts")
	fmt.Printf("alert scenarios: precision %.3f recall %.3f (tp %d, fp %d, fn %d over %d expected; targets: recall 1, precision ≥ 0.95)\n",
		all.precision(), all.recall(), all.tp, all.fp, all.fn, all.tp+all.fn)
}
