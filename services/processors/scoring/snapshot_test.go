package scoring

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// A scorer restored from a snapshot continues exactly like the original:
// the same members, edges and level changes, bit for bit.
func TestSnapshotRoundTrip(t *testing.T) {
	acts := synthetic(60_000, 3_000)
	for i := range acts {
		acts[i].Type = []string{"github.pull_request.opened", "support.ticket.opened", "x"}[i%3]
		acts[i].Bot = i%101 == 0
		acts[i].Teammate = i%53 == 0
	}
	orig := NewScorer(DefaultConfig())
	half := len(acts) / 2
	for _, a := range acts[:half] {
		orig.Apply(a)
	}
	var buf bytes.Buffer
	require.NoError(t, orig.WriteSnapshot(&buf))
	var again bytes.Buffer
	require.NoError(t, orig.WriteSnapshot(&again))
	require.Equal(t, buf.Bytes(), again.Bytes(), "deterministic encoding")

	restored, err := ReadSnapshot(DefaultConfig(), 1, bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	// A snapshot restores into any partition count.
	repartitioned, err := ReadSnapshot(DefaultConfig(), 3, bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	for _, a := range acts[half:] {
		want, got := orig.Apply(a), restored.Apply(a)
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.Equal(t, want[i], got[i])
		}
		require.ElementsMatch(t, want, repartitioned.Apply(a))
	}
	require.Equal(t, orig.ids, restored.ids)
	require.Equal(t, orig.parts[0].members, restored.parts[0].members)
	require.Equal(t, orig.Edges(), restored.Edges())
	sameState(t, orig, restored)
	sameState(t, orig, repartitioned)
	var a2, b2 bytes.Buffer
	require.NoError(t, orig.WriteSnapshot(&a2))
	require.NoError(t, restored.WriteSnapshot(&b2))
	require.Equal(t, a2.Bytes(), b2.Bytes(), "same state, same bytes")

	cfg := DefaultConfig()
	cfg.Love.Factor = 0.8
	_, err = ReadSnapshot(cfg, 1, bytes.NewReader(buf.Bytes()))
	require.ErrorContains(t, err, "replay the stream from the start")
	_, err = ReadSnapshot(DefaultConfig(), 1, bytes.NewReader([]byte("nonsense")))
	require.Error(t, err)
	_, err = ReadSnapshot(DefaultConfig(), 1, bytes.NewReader(buf.Bytes()[:buf.Len()/2]))
	require.ErrorContains(t, err, "read snapshot")
}

// sameState requires two scorers to hold the same members and edges, bit
// for bit.
func sameState(t *testing.T, want, got *Scorer) {
	t.Helper()
	require.Equal(t, want.Len(), got.Len())
	require.Equal(t, want.Edges(), got.Edges())
	want.Each(func(id string, m *Member) bool {
		require.Equal(t, *m, *got.Lookup(id), id)
		require.Equal(t, want.Roles(id), got.Roles(id), id)
		return true
	})
	for _, p := range want.parts {
		for i, k := range p.edges.keys {
			if k == 0 {
				continue
			}
			idx := p.edges.slots[i]
			e := p.edges.chunks[idx/edgeChunk][idx%edgeChunk]
			a, b := want.ids[k>>32], want.ids[uint32(k)]
			require.Equal(t, e, *got.Edge(a, b), "%s–%s", a, b)
		}
	}
}

// The partition count changes who applies what, never the numbers: the
// same activities, enqueued in batches of any size and drained with 1 to
// 8 partitions, give the same members, edges and level changes.
func TestPartitionCountDoesNotChangeTheNumbers(t *testing.T) {
	acts := synthetic(80_000, 4_000)
	types := []string{"github.pull_request.opened", "support.ticket.opened", "github.discussion.answered", "x", "x"}
	for i := range acts {
		acts[i].Bot = i%97 == 0
		acts[i].Teammate = i%41 == 0
		acts[i].Seq = uint64(i + 1)
		acts[i].Type = types[i%len(types)]
	}
	cfg := DefaultConfig()
	cfg.Roles.Appointed = map[string][]string{"maintainer": {"github:3", "github:17"}}
	run := func(n int, batch func() int) (*Scorer, []LevelChange, []RoleChange) {
		s := NewPartitioned(cfg, n)
		var changes []LevelChange
		var roles []RoleChange
		for i := 0; i < len(acts); {
			for k := batch(); k > 0 && i < len(acts); k-- {
				s.Enqueue(acts[i])
				i++
			}
			changes = append(changes, s.Drain()...)
			roles = append(roles, s.RoleChanges()...)
		}
		return s, changes, roles
	}
	one, want, wantRoles := run(1, func() int { return 1 })
	require.NotEmpty(t, want)
	gained := map[string]int{}
	for _, c := range wantRoles {
		if c.Gained {
			gained[c.Role]++
		}
	}
	for _, role := range []string{"advocate", "educator", "high-touch-support", "code-contributor", "maintainer"} {
		require.Positive(t, gained[role], "the synthetic stream exercises role %s", role)
	}
	r := rand.New(rand.NewPCG(7, 9))
	for _, n := range []int{1, 2, 3, 8} {
		s, got, gotRoles := run(n, func() int { return 1 + r.IntN(10_000) })
		require.Equal(t, n, s.Partitions())
		sameState(t, one, s)
		require.ElementsMatch(t, want, got, "%d partitions", n)
		require.ElementsMatch(t, wantRoles, gotRoles, "%d partitions", n)
		one.Each(func(id string, _ *Member) bool {
			k := s.PartitionOf(id)
			require.True(t, k >= 0 && k < n)
			require.Same(t, s.Lookup(id), s.parts[k].member(s.index[id]), "the owner holds the member")
			return true
		})
	}
}
