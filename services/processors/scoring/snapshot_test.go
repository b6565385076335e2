package scoring

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// A scorer restored from a snapshot continues exactly like the original:
// the same members, edges and level changes, bit for bit.
func TestSnapshotRoundTrip(t *testing.T) {
	acts := synthetic(60_000, 3_000)
	for i := range acts {
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

	restored, err := ReadSnapshot(DefaultConfig(), bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	for _, a := range acts[half:] {
		want, got := orig.Apply(a), restored.Apply(a)
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.Equal(t, want[i], got[i])
		}
	}
	require.Equal(t, orig.ids, restored.ids)
	require.Equal(t, orig.members, restored.members)
	require.Equal(t, orig.Edges(), restored.Edges())
	orig.Each(func(id string, m *Member) bool {
		r := restored.Lookup(id)
		require.Equal(t, *m, *r)
		return true
	})
	var a2, b2 bytes.Buffer
	require.NoError(t, orig.WriteSnapshot(&a2))
	require.NoError(t, restored.WriteSnapshot(&b2))
	require.Equal(t, a2.Bytes(), b2.Bytes(), "same state, same bytes")

	cfg := DefaultConfig()
	cfg.Love.Factor = 0.8
	_, err = ReadSnapshot(cfg, bytes.NewReader(buf.Bytes()))
	require.ErrorContains(t, err, "replay the stream from the start")
	_, err = ReadSnapshot(DefaultConfig(), bytes.NewReader([]byte("nonsense")))
	require.Error(t, err)
	_, err = ReadSnapshot(DefaultConfig(), bytes.NewReader(buf.Bytes()[:buf.Len()/2]))
	require.ErrorContains(t, err, "read snapshot")
}
