package scoring

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Removing edges keeps every other edge findable with its values, through
// growth and wrap-around, like a map would.
func TestEdgeTableRemove(t *testing.T) {
	var tab edgeTable
	want := map[EdgeKey]float64{}
	r := rand.New(rand.NewPCG(3, 4))
	for step := range 60_000 {
		k := EdgeKey{uint32(r.IntN(300)), 0}
		k.B = k.A + 1 + uint32(r.IntN(300))
		if r.IntN(3) == 0 {
			_, ok := want[k]
			require.Equal(t, ok, tab.remove(k), "step %d", step)
			delete(want, k)
		} else {
			e, _ := tab.upsert(k)
			e.Strength.Value = float64(step)
			want[k] = float64(step)
		}
		require.Equal(t, len(want), tab.n)
	}
	for k, v := range want {
		e := tab.get(k)
		require.NotNil(t, e, "%v", k)
		require.Equal(t, v, e.Strength.Value)
	}
	seen := 0
	for i, key := range tab.keys {
		if key != 0 {
			seen++
			require.Less(t, int(tab.slots[i]), tab.n, "storage stays dense")
		}
	}
	require.Equal(t, tab.n, seen)
}
