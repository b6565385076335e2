package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets are the goals on a 2-core machine, all in one process.
var Targets = struct {
	Sustained  float64       // events/s end to end, flat out
	P99        time.Duration // publish → queryable
	P99AtRate  int           // events/s
	RatioLower float64       // sustained / lower ceiling
}{100_000, time.Second, 50_000, 0.5}

// Summary is the figures of several runs and their medians.
type Summary struct {
	Runs   []Result `json:"runs"`
	Median Result   `json:"median"`
	// Environment of the measurement.
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	Version   string `json:"version"`
	At        string `json:"at"`
	Config    struct {
		Duration      string `json:"duration"`
		Rates         []int  `json:"rates"`
		CeilingEvents int    `json:"ceiling_events"`
		Members       int    `json:"members"`
	} `json:"config"`
}

// Medians returns, field by field, the median of the runs' figures (the
// runs must have the same phases).
func Medians(runs []Result) Result {
	if len(runs) == 1 {
		return runs[0]
	}
	f := func(get func(Result) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = get(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	d := func(get func(Result) time.Duration) time.Duration {
		return time.Duration(f(func(r Result) float64 { return float64(get(r)) }))
	}
	m := Result{
		Ceilings: Ceilings{
			Events:          runs[0].Ceilings.Events,
			BatchSize:       runs[0].Ceilings.BatchSize,
			JetStream:       f(func(r Result) float64 { return r.Ceilings.JetStream }),
			ClickHouse:      f(func(r Result) float64 { return r.Ceilings.ClickHouse }),
			ClickHousePlain: f(func(r Result) float64 { return r.Ceilings.ClickHousePlain }),
		},
		Members:    int64(f(func(r Result) float64 { return float64(r.Members) })),
		StateBytes: int64(f(func(r Result) float64 { return float64(r.StateBytes) })),
	}
	for i, p := range runs[0].Phases {
		ph := func(r Result) Phase { return r.Phases[i] }
		mp := Phase{
			Rate:          p.Rate,
			Published:     int(f(func(r Result) float64 { return float64(ph(r).Published) })),
			Offered:       f(func(r Result) float64 { return ph(r).Offered }),
			Sustained:     f(func(r Result) float64 { return ph(r).Sustained }),
			P50:           d(func(r Result) time.Duration { return ph(r).P50 }),
			P99:           d(func(r Result) time.Duration { return ph(r).P99 }),
			Max:           d(func(r Result) time.Duration { return ph(r).Max }),
			SinkLagMax:    int64(f(func(r Result) float64 { return float64(ph(r).SinkLagMax) })),
			ScoringLagMax: int64(f(func(r Result) float64 { return float64(ph(r).ScoringLagMax) })),
			ScoredAfter:   d(func(r Result) time.Duration { return ph(r).ScoredAfter }),
			Usage: Usage{
				Wall:         d(func(r Result) time.Duration { return ph(r).Usage.Wall }),
				Total:        f(func(r Result) float64 { return ph(r).Usage.Total }),
				RSSBytes:     uint64(f(func(r Result) float64 { return float64(ph(r).Usage.RSSBytes) })),
				PeakRSSBytes: uint64(f(func(r Result) float64 { return float64(ph(r).Usage.PeakRSSBytes) })),
				GoBytes:      uint64(f(func(r Result) float64 { return float64(ph(r).Usage.GoBytes) })),
				GoLiveBytes:  uint64(f(func(r Result) float64 { return float64(ph(r).Usage.GoLiveBytes) })),
				CPU:          map[string]float64{},
			},
		}
		for _, r := range runs {
			for k := range ph(r).Usage.CPU {
				mp.Usage.CPU[k] = f(func(r Result) float64 { return ph(r).Usage.CPU[k] })
			}
			for k := range ph(r).Engine {
				if mp.Engine == nil {
					mp.Engine = map[string]uint64{}
				}
				mp.Engine[k] = uint64(f(func(r Result) float64 { return float64(ph(r).Engine[k]) }))
			}
		}
		m.Phases = append(m.Phases, mp)
	}
	return m
}

// ratio is the phase's sustained rate over the lower ceiling.
func ratio(r Result, p Phase) float64 {
	lower, _ := r.Ceilings.Lower()
	if lower == 0 {
		return 0
	}
	return p.Sustained / lower
}

// WriteText prints the summary as tables: the ceilings, the phases, where
// the CPU went, and the targets met or not.
func WriteText(w io.Writer, s Summary) {
	m := s.Median
	title := "median of " + fmt.Sprint(len(s.Runs)) + " runs"
	if len(s.Runs) == 1 {
		title = "1 run"
	}
	fmt.Fprintf(w, "orbitflow bench (%s) — %s, %d cores, %s, %s\n", s.Version, title, s.Cores, s.GoVersion, s.At)
	fmt.Fprintf(w, "load: GH Archive type mix, %d members (power law), replies to thread authors; %s per phase\n\n", s.Config.Members, s.Config.Duration)

	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ceiling (same messages, this machine)\tevents\tper second\t")
	fmt.Fprintf(tw, "JetStream publish + consume, no processing\t%d\t%s\t\n", m.Ceilings.Events, num(m.Ceilings.JetStream))
	fmt.Fprintf(tw, "ClickHouse bulk insert, %d-row batches, into activities_raw\t%d\t%s\t\n", m.Ceilings.BatchSize, m.Ceilings.Events, num(m.Ceilings.ClickHouse))
	fmt.Fprintf(tw, "  the same into a copy without its materialized views (not a ceiling)\t%d\t%s\t\n", m.Ceilings.Events, num(m.Ceilings.ClickHousePlain))
	lower, which := m.Ceilings.Lower()
	fmt.Fprintf(tw, "lower ceiling (%s)\t\t%s\t\n", which, num(lower))
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pipeline rate\tevents\toffered/s\tsustained/s\tratio\tp50\tp99\tmax\tsink lag max\tscoring lag max\tscored after\tCPU cores\tRSS MB\t")
	for _, p := range m.Phases {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.2f\t%s\t%s\t%s\t%d\t%d\t%s\t%.2f\t%d\t\n", phaseName(p.Rate), p.Published, num(p.Offered), num(p.Sustained),
			ratio(m, p), ms(p.P50), ms(p.P99), ms(p.Max), p.SinkLagMax, p.ScoringLagMax, p.ScoredAfter.Round(100*time.Millisecond),
			p.Usage.Total, p.Usage.RSSBytes>>20)
	}
	tw.Flush()
	fmt.Fprintln(w, "  latency: publish → row queryable in activities_raw (an upper bound within the poll interval)")
	fmt.Fprintln(w, "  lag: messages in the stream not yet processed (sink: pending + unacknowledged; scoring: behind the stream)")
	fmt.Fprintln(w)

	for _, p := range m.Phases {
		// CPU per event is steadier than throughput on a shared machine.
		perEvent := func(cores float64) float64 { return cores * p.Usage.Wall.Seconds() / float64(p.Published) * 1e6 }
		fmt.Fprintf(w, "CPU at %s events/s: %.2f cores, %.1f µs per event; by component (cores, µs per event):\n", phaseName(p.Rate), p.Usage.Total, perEvent(p.Usage.Total))
		var parts []string
		for _, k := range sortedComponents(p.Usage) {
			if c := p.Usage.CPU[k]; c >= 0.005 {
				parts = append(parts, fmt.Sprintf("%s %.2f (%.1f)", k, c, perEvent(c)))
			}
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(parts, ", "))
		if e := p.Engine; e != nil {
			fmt.Fprintf(w, "  engine: %d queries (%d inserts: %.1f s, %d selects: %.1f s), %d merges: %.1f s; rows inserted %.1f, read %.1f, merged %.1f per event\n",
				e["Query"], e["InsertQuery"], float64(e["InsertQueryTimeMicroseconds"])/1e6, e["SelectQuery"], float64(e["SelectQueryTimeMicroseconds"])/1e6,
				e["Merge"], float64(e["MergesTimeMilliseconds"])/1e3, float64(e["InsertedRows"])/float64(p.Published),
				float64(e["SelectedRows"])/float64(p.Published), float64(e["MergedRows"])/float64(p.Published))
		}
		fmt.Fprintf(w, "  memory: RSS %d MB (peak %d MB), of which Go %d MB (live heap after a collection %d MB), the rest the ClickHouse engine and its library\n",
			p.Usage.RSSBytes>>20, p.Usage.PeakRSSBytes>>20, p.Usage.GoBytes>>20, p.Usage.GoLiveBytes>>20)
	}
	if m.Members > 0 {
		fmt.Fprintf(w, "scoring state: %d members, checkpoint %d bytes = %.0f bytes per member\n", m.Members, m.StateBytes, float64(m.StateBytes)/float64(m.Members))
	}
	fmt.Fprintln(w)
	for _, line := range verdicts(m) {
		fmt.Fprintln(w, line)
	}
}

// verdicts compares the medians with the Targets.
func verdicts(m Result) []string {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	var out []string
	for _, p := range m.Phases {
		if p.Rate == 0 {
			out = append(out, fmt.Sprintf("target: ≥ %s events/s sustained end to end: %s (%s)", num(Targets.Sustained), met(p.Sustained >= Targets.Sustained), num(p.Sustained)))
			out = append(out, fmt.Sprintf("target: ratio to the lower ceiling ≥ %.2f: %s (%.2f)", Targets.RatioLower, met(ratio(m, p) >= Targets.RatioLower), ratio(m, p)))
		}
		if p.Rate == Targets.P99AtRate {
			out = append(out, fmt.Sprintf("target: p99 publish → queryable ≤ %s at %s events/s: %s (%s, sustained %s/s)", Targets.P99, num(float64(p.Rate)),
				met(p.P99 <= Targets.P99 && p.Sustained >= 0.95*float64(p.Rate)), ms(p.P99), num(p.Sustained)))
		}
	}
	return out
}

func num(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}
