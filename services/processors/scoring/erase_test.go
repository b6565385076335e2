package scoring

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// Erase drops a member's scores and edges (its neighbours lose the reach
// of those edges), reports nothing about it afterwards, and leaves no
// trace of its id in a snapshot; a restored scorer goes on without it.
func TestEraseLeavesNoTrace(t *testing.T) {
	for _, parts := range []int{1, 3} {
		s := NewPartitioned(DefaultConfig(), parts)
		day := int64(24 * 3600 * 1000)
		acts := []Activity{
			{Member: "github:zed-erased", At: 20_000 * day, Type: "github.issue.opened", Weight: 5, Thread: "t1", Seq: 1},
			{Member: "github:alice", At: 20_000*day + 1, Type: "github.issue.commented", Weight: 4, Thread: "t1", Seq: 2,
				Targets: []Target{{Member: "github:zed-erased", Kind: "reply"}}},
			{Member: "github:bob", At: 20_000*day + 2, Type: "github.issue.commented", Weight: 4, Thread: "t2", Seq: 3,
				Targets: []Target{{Member: "github:alice", Kind: "reply"}}},
		}
		for _, a := range acts {
			s.Enqueue(a)
		}
		s.Drain()
		require.NotNil(t, s.Edge("github:alice", "github:zed-erased"))
		reachBefore := s.Lookup("github:alice").Reach.Value
		require.Positive(t, reachBefore)

		s.Erase([]string{"github:zed-erased", "github:never-seen"}, acts[2].At, 4)
		changes := s.Drain()
		for _, c := range changes {
			require.NotEqual(t, "github:zed-erased", c.Member)
			require.NotEmpty(t, c.Member)
		}
		for _, c := range s.RoleChanges() {
			require.NotEmpty(t, c.Member)
		}
		touchedAlice := false
		s.Touched(func(id string) {
			require.NotEmpty(t, id, "an erased member is not reported")
			touchedAlice = touchedAlice || id == "github:alice"
		}, func(a, b string) {
			require.NotEmpty(t, a)
			require.NotEmpty(t, b)
		})
		require.True(t, touchedAlice, "the neighbour's reach changed")
		require.Nil(t, s.Lookup("github:zed-erased"))
		require.False(t, s.Known("github:zed-erased"))
		require.Less(t, s.Lookup("github:alice").Reach.Value, reachBefore)
		require.NotNil(t, s.Edge("github:alice", "github:bob"), "other edges stay")

		var buf bytes.Buffer
		require.NoError(t, s.WriteSnapshot(&buf))
		require.False(t, bytes.Contains(buf.Bytes(), []byte("zed-erased")), "the snapshot names the erased member")
		r, err := ReadSnapshot(DefaultConfig(), parts, bytes.NewReader(buf.Bytes()))
		require.NoError(t, err)
		require.False(t, r.Known(""), "an erased slot is no member")
		require.Equal(t, s.Lookup("github:alice").Reach.Value, r.Lookup("github:alice").Reach.Value)
		// The same id seen again later is a new member.
		r.Enqueue(Activity{Member: "github:zed-erased", At: acts[2].At + 1, Type: "github.issue.opened", Weight: 5, Seq: 5})
		r.Drain()
		require.True(t, r.Known("github:zed-erased"))
		require.Equal(t, 5.0, r.Lookup("github:zed-erased").Love.Value)
	}
}

// A snapshot taken before the first weekly reach cut (a young stream, or
// a checkpoint soon after start) was unreadable: "reach cuts do not match
// the role rules".
func TestSnapshotBeforeTheFirstReachCut(t *testing.T) {
	s := NewScorer(DefaultConfig())
	s.Enqueue(Activity{Member: "github:a", At: 20_000 * 24 * 3600 * 1000, Type: "github.issue.opened", Weight: 5, Seq: 1})
	s.Drain()
	require.False(t, s.parts[0].reachCut.ok)
	var buf bytes.Buffer
	require.NoError(t, s.WriteSnapshot(&buf))
	r, err := ReadSnapshot(DefaultConfig(), 1, bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Equal(t, 5.0, r.Lookup("github:a").Love.Value)
}
