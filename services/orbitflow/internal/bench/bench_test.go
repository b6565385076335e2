package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
)

func TestGeneratorFollowsTheGHArchiveMix(t *testing.T) {
	reg := events.DefaultRegistry()
	g := NewGenerator("acme", "g-", 5000, 7)
	now := time.Now()
	const n = 50_000
	byType := map[string]int{}
	byActor := map[string]int{}
	replies, bytes := 0, 0
	ids := map[string]bool{}
	for range n {
		ev := g.Next(now)
		require.NoError(t, reg.Validate(&ev), ev.ID)
		require.False(t, ids[ev.ID], "ids are unique")
		ids[ev.ID] = true
		byType[ev.Type]++
		byActor[ev.Actor.Identity()]++
		if len(ev.Targets) > 0 {
			replies++
			require.NotEqual(t, ev.Actor.Identity(), ev.Targets[0].Identity(), "nobody replies to themselves")
		}
		b, err := events.Encode(&ev)
		require.NoError(t, err)
		bytes += len(b)
	}
	total := 0.0
	for _, k := range mix {
		total += k.count
	}
	for _, k := range mix {
		if k.count < 100 {
			continue // too rare to compare at this size
		}
		want := k.count / total
		got := float64(byType[k.typ]) / n
		require.InDelta(t, want, got, 0.1*want+0.002, k.typ)
	}
	// Replies: issue and review comments that answer someone else.
	require.InDelta(t, 0.08, float64(replies)/n, 0.03)
	// Power law: the busiest 1% of the members do a large share.
	counts := make([]int, 0, len(byActor))
	for _, c := range byActor {
		counts = append(counts, c)
	}
	slices.SortFunc(counts, func(a, b int) int { return b - a })
	top := 0
	for i, c := range counts {
		if i >= 50 {
			break
		}
		top += c
	}
	require.Greater(t, float64(top)/n, 0.3, "the 50 busiest of 5000 members do over 30%% of the activity")
	// Sizes like the GH Archive hour's (504 bytes on average).
	require.InDelta(t, 504, float64(bytes)/n, 120)

	// The same seed gives the same events.
	a, b := NewGenerator("acme", "g-", 5000, 7), NewGenerator("acme", "g-", 5000, 7)
	for range 100 {
		ea, eb := a.Next(now), b.Next(now)
		require.Equal(t, ea, eb)
	}
}

func TestLatenciesPairPublishesWithTheFirstPollThatSawThem(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	pubs := []published{{seq: 3, at: at(20)}, {seq: 1, at: at(0)}, {seq: 2, at: at(10)}}
	polls := []poll{{at: at(5), maxSeq: 0}, {at: at(50), maxSeq: 2}, {at: at(70), maxSeq: 2}, {at: at(90), maxSeq: 3}}
	lat, done, err := latencies(pubs, polls)
	require.NoError(t, err)
	require.Equal(t, []time.Duration{40 * time.Millisecond, 50 * time.Millisecond, 70 * time.Millisecond}, lat)
	require.Equal(t, at(90), done)
	require.Equal(t, 50*time.Millisecond, quantile(lat, 0.5))

	_, _, err = latencies([]published{{seq: 4, at: at(0)}}, polls)
	require.ErrorContains(t, err, "sequence 4 was never seen queryable")
}

func TestMediansAndVerdicts(t *testing.T) {
	run := func(js, sustained float64, p99 time.Duration) Result {
		return Result{Ceilings: Ceilings{JetStream: js, ClickHouse: 2 * js},
			Phases: []Phase{{Rate: 0, Sustained: sustained, P99: 5 * time.Second},
				{Rate: 50_000, Sustained: 50_000, P99: p99, Usage: Usage{CPU: map[string]float64{"sink": js / 1e5}},
					Engine: map[string]uint64{"InsertQuery": uint64(js / 1e3)}}}}
	}
	m := Medians([]Result{run(100e3, 40e3, 900*time.Millisecond), run(300e3, 90e3, 2*time.Second), run(200e3, 60e3, time.Second)})
	require.Equal(t, 200e3, m.Ceilings.JetStream)
	require.Equal(t, 60e3, m.Phases[0].Sustained)
	require.Equal(t, time.Second, m.Phases[1].P99)
	require.InDelta(t, 2.0, m.Phases[1].Usage.CPU["sink"], 1e-9)
	require.Equal(t, uint64(200), m.Phases[1].Engine["InsertQuery"])
	lower, which := m.Ceilings.Lower()
	require.Equal(t, 200e3, lower)
	require.Equal(t, "JetStream", which)
	v := verdicts(m)
	require.Len(t, v, 3)
	require.Contains(t, v[0], "NOT MET (60.0k)")
	require.Contains(t, v[1], "NOT MET (0.30)")
	require.Contains(t, v[2], "≤ 1s at 50.0k events/s: met (1s")
}

// TestCPUIsAttributedByLabelAndStack: the app's label wins; the NATS
// server's own labels and the NATS client's frames are the bus; a stack
// with no Go function (an engine thread: unnamed library frames under
// runtime._ExternalCode) is the engine; other Go code is the runtime.
func TestCPUIsAttributedByLabelAndStack(t *testing.T) {
	fn := func(name string) *profile.Location {
		return &profile.Location{Line: []profile.Line{{Function: &profile.Function{Name: name}}}}
	}
	lib := &profile.Location{Mapping: &profile.Mapping{File: "/root/.cache/orbitflow/chdb/libchdb.so"}, Line: []profile.Line{{Function: &profile.Function{}}}}
	sample := func(v int64, labels map[string][]string, locs ...*profile.Location) *profile.Sample {
		return &profile.Sample{Value: []int64{1, v}, Label: labels, Location: locs}
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			sample(40, map[string][]string{LabelKey: {"sink"}}, fn("github.com/orbitflow/orbitflow/services/sink.(*Sink).run")),
			sample(10, map[string][]string{"account": {"$G"}}, fn("github.com/nats-io/nats-server/v2/server.(*client).readLoop")),
			sample(10, nil, fn("github.com/nats-io/nats%2ego.(*Conn).readLoop")),
			sample(30, nil, lib, fn("runtime._ExternalCode")),
			sample(10, nil, fn("runtime.gcBgMarkWorker")),
		},
	}
	got := sharesOf(p)
	require.InDeltaMapValues(t, map[string]float64{"sink": 0.4, "bus": 0.2, Engine: 0.3, Unlabelled: 0.1}, got, 1e-9)
}
