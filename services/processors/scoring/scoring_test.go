package scoring

import (
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/graph"
)

func ms(date string) int64 {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t, err = time.Parse(time.RFC3339, date)
	}
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

const oneMonth = 30 * 24 * time.Hour

func near(t *testing.T, want, got float64, msg ...any) {
	t.Helper()
	require.InDelta(t, want, got, 1e-9*math.Max(1, math.Abs(want)), msg...)
}

// ORBIT-MODEL.md §2: 3.0 this month and 3.0 one month ago → 5.7; 1.0 three
// months ago and 3.0 this month → 3.729.
func TestLoveWorkedExamples(t *testing.T) {
	s := NewScorer(DefaultConfig())
	now := ms("2026-06-01")
	s.Apply(Activity{Member: "a", At: now - oneMonth.Milliseconds(), Weight: 3})
	s.Apply(Activity{Member: "a", At: now, Weight: 3})
	near(t, 5.7, s.LoveAt(s.Lookup("a"), now))

	s.Apply(Activity{Member: "b", At: now - 3*oneMonth.Milliseconds(), Weight: 1})
	s.Apply(Activity{Member: "b", At: now, Weight: 3})
	near(t, 3.729, s.LoveAt(s.Lookup("b"), now))

	// Out of order: the same activities, newest first, give the same love.
	s.Apply(Activity{Member: "c", At: now, Weight: 3})
	s.Apply(Activity{Member: "c", At: now - 3*oneMonth.Milliseconds(), Weight: 1})
	near(t, 3.729, s.LoveAt(s.Lookup("c"), now))

	// Love decays at query time: a month later, 5.7 · 0.9.
	near(t, 5.13, s.LoveAt(s.Lookup("a"), now+oneMonth.Milliseconds()))
}

// §5: a connection of strength 7 whose last interaction was 3 months ago
// is worth 7 · 0.9³ = 5.103; connections 4, 3, 1 and 7 make reach 15.
func TestReachWorkedExamples(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Reach.Direct["reply"] = 7
	s := NewScorer(cfg)
	then := ms("2026-03-01")
	s.Apply(Activity{Member: "a", At: then, Weight: 1, Targets: []Target{{Member: "b", Kind: "reply"}}})
	e := s.Edge("a", "b")
	require.NotNil(t, e)
	near(t, 5.103, s.StrengthAt(e, then+3*oneMonth.Milliseconds()))
	require.EqualValues(t, 1, e.Direct)

	cfg = DefaultConfig()
	cfg.Reach.Direct = map[string]float64{"reply": 4, "mention": 3, "react": 1, "review": 7, "assign": 10, "thank": 10}
	s = NewScorer(cfg)
	at := ms("2026-03-01")
	s.Apply(Activity{Member: "m", At: at, Weight: 1, Targets: []Target{
		{Member: "v1", Kind: "reply"}, {Member: "v2", Kind: "mention"}, {Member: "v3", Kind: "react"}, {Member: "v4", Kind: "review"},
	}})
	near(t, 15, s.ReachAt(s.Lookup("m"), at))
	near(t, 7, s.ReachAt(s.Lookup("v4"), at), "an edge counts for both ends")
	// Reach is the sum of the edges' strengths at any later time too.
	later := at + 50*24*time.Hour.Milliseconds()
	sum := 0.0
	for _, v := range []string{"v1", "v2", "v3", "v4"} {
		sum += s.StrengthAt(s.Edge("m", v), later)
	}
	near(t, sum, s.ReachAt(s.Lookup("m"), later))
}

func TestIndirectEdgesSameThreadSameDay(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Reach.MaxThreadParticipants = 3
	s := NewScorer(cfg)
	at := ms("2026-03-01T10:00:00Z")
	for i, m := range []string{"a", "b", "c", "d"} {
		s.Apply(Activity{Member: m, At: at + int64(i)*60000, Weight: 1, Thread: "t1"})
	}
	s.Apply(Activity{Member: "a", At: at + 3600000, Weight: 1, Thread: "t1"}) // again: no new edge
	require.EqualValues(t, 1, s.Edge("a", "b").Indirect)
	require.EqualValues(t, 0, s.Edge("a", "b").Direct)
	require.NotNil(t, s.Edge("b", "c"))
	require.Nil(t, s.Edge("a", "d"), "past max_thread_participants no indirect edges are added")
	s.Apply(Activity{Member: "e", At: ms("2026-03-02T10:00:00Z"), Weight: 1, Thread: "t1"})
	require.Nil(t, s.Edge("a", "e"), "another day is another thread day")
	require.InDelta(t, 2, s.ReachAt(s.Lookup("a"), at+3600000), 1e-3, "two indirect edges of strength 1, an hour old")
}

// §6: 30 members, weighted commitment 441 → 504 → 666: gravity +2.1, +5.4.
func TestGravityWorkedExample(t *testing.T) {
	g := DefaultConfig().Gravity
	periods := []LevelCounts{{0, 1, 4, 8, 17}, {0, 2, 2, 12, 14}, {0, 4, 5, 0, 21}}
	var wc []float64
	for _, c := range periods {
		require.Equal(t, 30, c.Members())
		wc = append(wc, g.WeightedCommitment(c))
	}
	require.Equal(t, []float64{441, 504, 666}, wc)
	near(t, 2.1, Gravity(wc[0], wc[1], 30))
	near(t, 5.4, Gravity(wc[1], wc[2], 30))
	require.Zero(t, Gravity(10, 20, 0))
}

// §4, step by step: a member active every day from 2026-01-01 climbs by
// weight and presence milestones; when they stop, the steps hold until the
// monthly evaluations bring them down, and out of orbit after the lookback.
func TestLevelTableAndHysteresis(t *testing.T) {
	s := NewScorer(DefaultConfig())
	type change struct {
		at       string
		from, to uint8
		reason   Reason
	}
	var got []change
	who := "m"
	record := func(cs []LevelChange) {
		for _, c := range cs {
			if c.Member == who {
				got = append(got, change{time.UnixMilli(c.At).UTC().Format(time.DateOnly), c.From, c.To, c.Reason})
			}
		}
	}
	for d := ms("2026-01-01"); d <= ms("2026-09-30"); d += 24 * time.Hour.Milliseconds() {
		record(s.Apply(Activity{Member: "m", At: d + 12*3600000, Type: "slack.message.posted", Weight: 1}))
	}
	require.Equal(t, []change{
		{"2026-01-01", 0, 1, ReasonActivity},   // Exploring III: a weight-1 activity
		{"2026-01-02", 1, 4, ReasonMilestone},  // Participating III: 2 days in a week
		{"2026-01-06", 4, 5, ReasonMilestone},  // Participating II: 2 weeks in a row
		{"2026-01-07", 5, 7, ReasonMilestone},  // Contributing III: 7 days in a month
		{"2026-01-30", 7, 10, ReasonMilestone}, // Leading III: 30 days in a quarter
		{"2026-04-30", 10, 11, ReasonMilestone},
		{"2026-07-30", 11, 12, ReasonMilestone},
	}, got)
	require.Equal(t, "Leading I", StepName(s.Lookup("m").Step))

	// A heavy activity upgrades at once, by weight.
	got, who = nil, "n"
	record(s.Apply(Activity{Member: "n", At: ms("2026-09-30"), Type: "github.pull_request.opened", Weight: 8}))
	require.Equal(t, []change{{"2026-09-30", 0, 8, ReasonActivity}}, got)
	who = "m"

	// m stops. Another member's activity moves the stream's clock; the
	// evaluation at each month start keeps what the 365 days before hold.
	tick := func(date string) {
		record(s.Apply(Activity{Member: "clock", At: ms(date) + 3600000, Weight: 1}))
	}
	got = nil
	for _, date := range []string{"2026-12-01", "2027-03-01", "2027-07-01"} {
		tick(date)
	}
	require.Empty(t, got, "no downgrade while the milestones are inside the lookback")
	require.EqualValues(t, 12, s.Lookup("m").Step)
	tick("2027-08-01") // Q3's milestone (2026-07-30) left the window; months to September remain
	tick("2027-09-01")
	tick("2027-10-01") // nothing in the window: out of orbit
	require.Equal(t, []change{
		{"2027-08-01", 12, 9, ReasonDowngrade},
		{"2027-10-01", 9, 0, ReasonDowngrade},
	}, got)
	require.EqualValues(t, 0, Level(s.Lookup("m").Step))
}

func TestLevelNames(t *testing.T) {
	for step, want := range map[uint8]string{0: "out of orbit", 1: "Exploring III", 3: "Exploring I", 4: "Participating III",
		8: "Contributing II", 10: "Leading III", 12: "Leading I"} {
		require.Equal(t, want, StepName(step))
	}
	require.Equal(t, []uint8{0, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1}, func() []uint8 {
		var l []uint8
		for s := uint8(0); s <= 12; s++ {
			l = append(l, Level(s))
		}
		return l
	}())
}

func TestPresence(t *testing.T) {
	s := NewScorer(DefaultConfig())
	for _, d := range []string{"2026-01-01", "2026-02-01", "2026-03-01", "2026-03-20", "2026-03-25", "2026-03-25"} {
		s.Apply(Activity{Member: "m", At: ms(d), Weight: 1})
	}
	p := s.Lookup("m").PresenceAt(ms("2026-03-26"))
	require.Equal(t, Presence{Days7: 2, Days30: 3, Days90: 5, DaysSinceLast: 1, WeeklyBaseline: 5 / (90.0 / 7)}, p)
	require.Equal(t, Presence{DaysSinceLast: -1}, (&Member{}).PresenceAt(ms("2026-03-26")))
}

func TestBotsAreNotScored(t *testing.T) {
	s := NewScorer(DefaultConfig())
	s.Apply(Activity{Member: "dependabot[bot]", At: ms("2026-03-01"), Weight: 8, Bot: true,
		Targets: []Target{{Member: "a", Kind: "review"}}})
	s.Apply(Activity{Member: "a", At: ms("2026-03-01"), Weight: 1, Targets: []Target{{Member: "dependabot[bot]", Kind: "reply"}}})
	bot := s.Lookup("dependabot[bot]")
	require.Zero(t, bot.Step)
	require.Zero(t, s.LoveAt(bot, ms("2026-03-01")))
	require.Zero(t, s.Edges(), "no edges to or from bots")
	require.Equal(t, LevelCounts{0, 0, 0, 0, 1}, s.Counts(false))
}

func TestConfig(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	c, err := LoadConfig([]byte("love: {factor: 0.8, period: 720h}\n"))
	require.NoError(t, err)
	require.Equal(t, 0.8, c.Love.Factor)
	require.Equal(t, DefaultConfig().Reach.Direct, c.Reach.Direct)
	require.NotEqual(t, DefaultConfig().Hash(), c.Hash(), "a constant changes the hash")
	require.Equal(t, DefaultConfig().Hash(), DefaultConfig().Hash())

	_, err = LoadConfig([]byte("love: {factr: 0.8}\n"))
	require.ErrorContains(t, err, "factr")
	_, err = LoadConfig([]byte("love: {factor: 1.5}\nlevels: {lookback: 1000h}\nreach: {direct: {reply: 10, poke: 1}}\nschedule: {downgrades: hourly}\n"))
	for _, want := range []string{"love.factor: must be in (0, 1]", "levels.lookback: must be whole days", "reach.direct.poke: unknown kind",
		"reach.direct.mention: required", "schedule.downgrades: want monthly"} {
		require.ErrorContains(t, err, want)
	}
}

func TestCalendarArithmetic(t *testing.T) {
	for d := int32(-800); d < 80000; d += 13 {
		tm := time.Unix(int64(d)*86400, 0).UTC()
		y, m, dd := civil(d)
		require.Equal(t, [3]int32{int32(tm.Year()), int32(tm.Month()), int32(tm.Day())}, [3]int32{y, m, dd}, "day %d", d)
		require.Equal(t, d, days(y, m, dd))
		from, to := week.bounds(d)
		require.Equal(t, time.Monday, time.Unix(int64(from)*86400, 0).UTC().Weekday())
		require.Equal(t, int32(6), to-from)
		require.True(t, from <= d && d <= to)
		qf, qt := quarter.bounds(d)
		fq := time.Unix(int64(qf)*86400, 0).UTC()
		require.Equal(t, 1, fq.Day())
		require.Equal(t, time.Month((int(tm.Month())-1)/3*3+1), fq.Month())
		require.Equal(t, fq.AddDate(0, 3, -1), time.Unix(int64(qt)*86400, 0).UTC())
	}
}

func TestEdgeTable(t *testing.T) {
	var tab edgeTable
	want := map[EdgeKey]uint32{}
	for i := uint32(0); i < 20000; i++ {
		k := EdgeKey{i % 997, i%997 + 1 + i%13}
		e, added := tab.upsert(k)
		_, had := want[k]
		require.Equal(t, !had, added, "key %v", k)
		e.Direct++
		want[k]++
	}
	require.Equal(t, len(want), tab.n)
	for k, n := range want {
		e := tab.get(k)
		require.NotNil(t, e)
		require.Equal(t, n, e.Direct, "key %v", k)
	}
	require.Nil(t, tab.get(EdgeKey{5000, 5001}))
	require.Nil(t, (&edgeTable{}).get(EdgeKey{1, 2}))
}

// The shipped deploy/config/scoring.yaml is the defaults, written out.
func TestShippedConfigIsTheDefaults(t *testing.T) {
	data, err := os.ReadFile("../../../deploy/config/scoring.yaml")
	require.NoError(t, err)
	c, err := LoadConfig(data)
	require.NoError(t, err)
	require.Equal(t, DefaultConfig(), c)
	require.Equal(t, DefaultConfig().Hash(), c.Hash())
}

func TestExplainLoveAddsUpToTheStreamedLove(t *testing.T) {
	acts := synthetic(20_000, 50)
	sources := []string{"github", "slack", "discourse"}
	for i := range acts {
		acts[i].Source = sources[i%3]
		acts[i].Channel = fmt.Sprintf("c%d", i%5)
	}
	s := NewScorer(DefaultConfig())
	byMember := map[string][]Activity{}
	for _, a := range acts {
		s.Apply(a)
		byMember[a.Member] = append(byMember[a.Member], a)
	}
	asOf := acts[len(acts)-1].At + 3*24*3600*1000
	for id, list := range byMember {
		e := ExplainLove(DefaultConfig(), list, asOf)
		near(t, s.LoveAt(s.Lookup(id), asOf), e.Love, id)
		sum := 0.0
		for _, v := range e.BySource {
			sum += v
		}
		near(t, e.Love, sum, "per source adds up")
		sum = 0
		for _, v := range e.ByChannel {
			sum += v
		}
		near(t, e.Love, sum, "per channel adds up")
		require.Len(t, e.Contributions, len(list))
		for i := 1; i < len(e.Contributions); i++ {
			require.GreaterOrEqual(t, e.Contributions[i-1].Value, e.Contributions[i].Value, "largest first")
		}
	}
	// The worked example, explained: 3.0 now and 3.0 a month ago.
	now := ms("2026-06-01")
	e := ExplainLove(DefaultConfig(), []Activity{
		{At: now - oneMonth.Milliseconds(), Weight: 3, Source: "github", Type: "github.issue.opened"},
		{At: now, Weight: 3, Source: "slack", Type: "slack.message.posted"},
		{At: now + 1, Weight: 100, Source: "slack"}, // after asOf: not counted
	}, now)
	near(t, 5.7, e.Love)
	near(t, 3, e.BySource["slack"])
	near(t, 2.7, e.BySource["github"])
	require.Equal(t, "slack.message.posted", e.Contributions[0].Type)
}

// The bottleneck table: per level at the period's start, who moved up,
// held or moved down by its end.
func TestMovement(t *testing.T) {
	type row = struct{ Members, Up, Held, Down int }
	s := NewScorer(DefaultConfig())
	at := ms("2026-03-02")
	s.Apply(Activity{Member: "riser", At: at, Weight: 1})  // Exploring III
	s.Apply(Activity{Member: "keeper", At: at, Weight: 4}) // Participating III
	s.Apply(Activity{Member: "leaver", At: at, Weight: 8}) // Contributing II
	s.Apply(Activity{Member: "bot", At: at, Weight: 8, Bot: true})
	s.Apply(Activity{Member: "mate", At: at, Weight: 8, Teammate: true})
	mv := s.Movement(false)
	require.Equal(t, row{3, 3, 0, 0}, mv[0], "everyone starts out of orbit; bots and teammates left out")

	s.Apply(Activity{Member: "riser", At: at + 1, Weight: 8})  // Exploring → Contributing
	s.Apply(Activity{Member: "keeper", At: at + 1, Weight: 5}) // still Participating
	s.Apply(Activity{Member: "newbie", At: at + 1, Weight: 1}) // joins: up from out of orbit
	mv = s.Movement(false)
	require.Equal(t, row{1, 1, 0, 0}, mv[0])
	require.Equal(t, row{1, 1, 0, 0}, mv[4], "riser")
	require.Equal(t, row{1, 0, 1, 0}, mv[3], "keeper")
	require.Equal(t, row{1, 0, 1, 0}, mv[2], "leaver, not yet evaluated")
	require.Equal(t, 4, mv[0].Members+mv[1].Members+mv[2].Members+mv[3].Members+mv[4].Members)

	s.Downgrade(ms("2027-06-01")) // everything is outside the lookback: all out of orbit
	s.Apply(Activity{Member: "keeper", At: ms("2027-06-02"), Weight: 4})
	mv = s.Movement(true)
	require.Equal(t, row{3, 0, 0, 3}, mv[2], "riser, leaver and (teammates counted) mate dropped out of orbit")
	require.Equal(t, row{1, 0, 1, 0}, mv[3], "keeper came back within the period")
	require.Equal(t, row{1, 0, 0, 1}, mv[4], "newbie")
}

// Weekly graph measures: the same whatever the partition count; a star's
// centre ranks first; two groups tied only weakly are two pockets.
func TestGraphMeasures(t *testing.T) {
	at := ms("2026-03-02")
	var acts []Activity
	for _, group := range [][]string{{"a", "b", "c", "d"}, {"w", "x", "y", "z"}} {
		for i, m := range group {
			for _, o := range group[i+1:] {
				acts = append(acts, Activity{Member: m, At: at, Weight: 1, Targets: []Target{{Member: o, Kind: "reply"}}})
			}
		}
	}
	acts = append(acts, Activity{Member: "d", At: at, Weight: 1, Targets: []Target{{Member: "w", Kind: "react"}}}) // weak tie
	for _, leaf := range []string{"l1", "l2", "l3"} {
		acts = append(acts, Activity{Member: leaf, At: at, Weight: 1, Targets: []Target{{Member: "a", Kind: "reply"}}})
	}
	acts = append(acts, Activity{Member: "alone", At: at, Weight: 1})
	measure := func(n int) map[string]GraphMeasure {
		s := NewPartitioned(DefaultConfig(), n)
		for _, a := range acts {
			s.Enqueue(a)
		}
		s.Drain()
		out := map[string]GraphMeasure{}
		for _, g := range s.GraphMeasures(at + 7*msPerDay) {
			out[g.Member] = g
		}
		return out
	}
	g := measure(1)
	require.NotContains(t, g, "alone", "members without edges have no row")
	require.Len(t, g, 11)
	require.Equal(t, 6, g["a"].Degree)
	near(t, 10*6*math.Pow(0.9, 7.0/30), g["a"].WeightedDegree, "reach as of the week's end")
	for m, x := range g {
		if m != "a" {
			require.Greater(t, g["a"].PageRank, x.PageRank, m)
		}
	}
	require.Equal(t, g["a"].Pocket, g["l1"].Pocket)
	require.Equal(t, g["b"].Pocket, g["c"].Pocket)
	require.NotEqual(t, g["a"].Pocket, g["w"].Pocket, "a react is not a strong tie")
	require.Equal(t, g["w"].Pocket, g["z"].Pocket)
	require.Equal(t, 0, g["a"].Pocket, "the largest pocket is numbered 0")
	for _, n := range []int{2, 3} {
		require.Equal(t, g, measure(n), "%d partitions", n)
	}
}

// Reads apply what is queued first: a member only enqueued is there.
func TestReadsSeeQueuedChanges(t *testing.T) {
	s := NewPartitioned(DefaultConfig(), 3)
	at := ms("2026-03-02")
	s.Enqueue(Activity{Member: "a", At: at, Weight: 5, Targets: []Target{{Member: "b", Kind: "reply"}}})
	require.True(t, s.Known("b"))
	require.False(t, s.Known("c"))
	m := s.Lookup("b")
	require.NotNil(t, m)
	require.NotNil(t, s.Edge("a", "b"))
	require.Equal(t, []string{}, s.Roles("a"))
	near(t, 5, s.LoveAt(s.Lookup("a"), at))
	changes := s.Drain()
	require.Len(t, changes, 1, "the level change is still reported by Drain")
	require.Equal(t, "a", changes[0].Member)
}

// The weekly structure counts the community-level members (in orbit, no
// bots, no teammates): four leaves replying to h are a star, a hub; the
// teammate's tie to h and the bot's are left out; "alone" counts as a
// member without ties. Bus risk: h leaving loses every connected pair.
func TestStructure(t *testing.T) {
	at := ms("2026-03-02")
	var acts []Activity
	for _, leaf := range []string{"l1", "l2", "l3", "l4"} {
		acts = append(acts, Activity{Member: leaf, At: at, Weight: 1, Targets: []Target{{Member: "h", Kind: "reply"}}})
	}
	acts = append(acts,
		Activity{Member: "t", At: at, Weight: 1, Teammate: true, Targets: []Target{{Member: "h", Kind: "reply"}}},
		Activity{Member: "bot", At: at, Weight: 1, Bot: true, Targets: []Target{{Member: "l1", Kind: "reply"}}},
		Activity{Member: "alone", At: at, Weight: 1},
		Activity{Member: "h", At: at, Weight: 1}) // in orbit by its own activity
	for _, parts := range []int{1, 3} {
		s := NewPartitioned(DefaultConfig(), parts)
		for _, a := range acts {
			s.Enqueue(a)
		}
		s.Drain()
		require.Equal(t, 6, s.Counts(false).Members(), "h, four leaves and alone are in orbit")
		st, risk := s.Structure(at + 7*msPerDay)
		require.Equal(t, graph.Structure{Members: 6, Connected: 5, ConnectedShare: 5.0 / 6, Edges: 4, Density: 4.0 / 15,
			Centralization: 1, Top1EdgeShare: 1, Top5EdgeShare: 1, LargestComponent: 5, LargestComponentShare: 5.0 / 6,
			Class: graph.Hub, Reason: "degree centralization 1.00 (hub from 0.50)"}, st, "partitions %d", parts)
		require.Len(t, risk, 3)
		require.Equal(t, 1.0, risk[0].PairShareLost)
		require.Equal(t, int64(10), risk[0].PairsBefore)
		require.Equal(t, 0.2, risk[0].LargestComponentShareAfter, "five members left, each alone")
	}
}
