package scoring

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// rebuildStream is members github:0..29 and slack:U1 replying to each
// other over 120 days (no threads: indirect ties come from the caller).
func rebuildStream() []Activity {
	r := rand.New(rand.NewPCG(5, 6))
	start := ms("2026-01-05")
	var acts []Activity
	for k := range 3000 {
		actor := fmt.Sprintf("github:%d", r.IntN(30))
		if r.IntN(6) == 0 {
			actor = "slack:U1"
		}
		a := Activity{Member: actor, At: start + int64(k)*(120*msPerDay/3000), Type: "x", Weight: float64(1 + r.IntN(8)), Seq: uint64(k + 1)}
		if r.IntN(2) == 0 {
			target := fmt.Sprintf("github:%d", r.IntN(30))
			if r.IntN(5) == 0 {
				target = "slack:U1"
			}
			a.Targets = []Target{{Member: target, Kind: "reply"}}
		}
		acts = append(acts, a)
	}
	return acts
}

// mapped applies an identity mapping to activities (actor and targets).
func mapped(acts []Activity, to map[string]string) []Activity {
	out := make([]Activity, len(acts))
	for i, a := range acts {
		if m, ok := to[a.Member]; ok {
			a.Member = m
		}
		a.Targets = append([]Target(nil), a.Targets...)
		for j, t := range a.Targets {
			if m, ok := to[t.Member]; ok {
				a.Targets[j].Member = m
			}
		}
		out[i] = a
	}
	return out
}

// involving returns the activities by or at any of ids.
func involving(acts []Activity, ids ...string) []Activity {
	var out []Activity
	for _, a := range acts {
		hit := false
		for _, id := range ids {
			hit = hit || a.Member == id
			for _, t := range a.Targets {
				hit = hit || t.Member == id
			}
		}
		if hit {
			out = append(out, a)
		}
	}
	return out
}

// sameScores requires the scores of want's members to match got's: love,
// reach and edges within 1e-9, presence exactly.
func sameScores(t *testing.T, want, got *Scorer, now int64) {
	t.Helper()
	want.Each(func(id string, m *Member) bool {
		if m.gone {
			return true
		}
		g := got.Lookup(id)
		require.NotNil(t, g, id)
		require.False(t, g.gone, id)
		require.InDelta(t, want.LoveAt(m, now), got.LoveAt(g, now), 1e-9*math.Max(1, want.LoveAt(m, now)), "love of %s", id)
		require.InDelta(t, want.ReachAt(m, now), got.ReachAt(g, now), 1e-9*math.Max(1, want.ReachAt(m, now)), "reach of %s", id)
		require.Equal(t, m.days, g.days, id)
		require.Equal(t, m.First, g.First, id)
		require.Equal(t, m.Last, g.Last, id)
		return true
	})
	n := 0
	want.Each(func(a string, _ *Member) bool {
		want.Each(func(b string, _ *Member) bool {
			if a < b {
				we, ge := want.Edge(a, b), got.Edge(a, b)
				require.Equal(t, we == nil, ge == nil, "%s–%s", a, b)
				if we != nil {
					n++
					require.InDelta(t, want.StrengthAt(we, now), got.StrengthAt(ge, now), 1e-9*want.StrengthAt(we, now))
					require.Equal(t, we.Direct, ge.Direct)
				}
			}
			return true
		})
		return true
	})
	require.Positive(t, n)
}

// A merge rebuilds the member from both identities' activities: the
// scores equal those of a stream where they were one member from the
// start. The unmerge after it leaves no trace: the scores equal the
// never-merged stream's.
func TestMergeAndUnmergeLeaveNoTrace(t *testing.T) {
	acts := rebuildStream()
	now := acts[len(acts)-1].At
	for _, n := range []int{1, 3} {
		separate := NewPartitioned(DefaultConfig(), n)
		for _, a := range acts {
			separate.Enqueue(a)
		}
		separate.Drain()

		merge := map[string]string{"slack:U1": "github:7"}
		together := NewScorer(DefaultConfig())
		for _, a := range mapped(acts, merge) {
			together.Apply(a)
		}

		s := NewPartitioned(DefaultConfig(), n)
		for _, a := range acts {
			s.Enqueue(a)
		}
		s.Drain()
		stepBefore := s.Lookup("github:7").Step
		s.Rebuild(Rebuild{Forget: []string{"github:7", "slack:U1"}, Members: []string{"github:7"},
			Activities: involving(mapped(acts, merge), "github:7"), Now: now, Detail: "merged slack:U1 into github:7", Seq: 9999})
		changes := s.Drain()
		require.True(t, s.Gone("slack:U1"))
		require.Zero(t, s.Lookup("slack:U1").Step)
		require.Nil(t, s.Edge("slack:U1", "github:3"), "the merged-away member has no edges")
		sameScores(t, together, s, now)
		until := dayOf(now)
		want, _ := together.stepWithin(together.Lookup("github:7"), until-together.lookback+1, until)
		require.Equal(t, want, s.Lookup("github:7").Step, "the step the activities in the lookback support")
		var sawGone bool
		for _, c := range changes {
			require.Equal(t, ReasonRebuild, c.Reason)
			require.Equal(t, uint64(9999), c.Seq)
			if c.Member == "slack:U1" {
				sawGone = c.To == 0
			}
			if c.Member == "github:7" {
				require.Equal(t, stepBefore, c.From)
			}
		}
		require.True(t, sawGone, "the merged-away member leaves orbit")

		// Unmerge: both identities rebuilt from their own activities.
		s.Rebuild(Rebuild{Forget: []string{"github:7"}, Members: []string{"github:7", "slack:U1"},
			Activities: involving(acts, "github:7", "slack:U1"), Now: now, Detail: "unmerged slack:U1", Seq: 10000})
		s.Drain()
		require.False(t, s.Gone("slack:U1"))
		sameScores(t, separate, s, now)
		require.Equal(t, separate.Edges(), s.Edges())
	}
}
