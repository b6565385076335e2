package orbit

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

func (e *env) group(name string, shards int) *Group {
	cfg := testConfig(2)
	cfg.Shards = shards
	g := NewGroup(cfg, scoring.DefaultConfig(), Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt},
		telemetry.Nop(), name, 1500*time.Millisecond)
	require.NoError(e.t, g.Start(context.Background()))
	return g
}

// crash stops g like SIGKILL: its processor without a final write or
// checkpoint, its leases left to expire.
func (g *Group) crash(t *testing.T) {
	g.mu.Lock()
	cancel, done := g.cancel, g.done
	g.mu.Unlock()
	cancel()
	<-done
	close(g.quit)
	if g.proc != nil {
		require.NoError(t, g.proc.Abort(context.Background()))
	}
	for _, l := range g.shards {
		l.Abandon()
	}
	g.member.Abandon()
}

// settled waits until the groups' owned shards are disjoint, cover all n,
// and each group holds its fair share; it returns them.
func settled(t *testing.T, n int, gs ...*Group) [][]int {
	deadline := time.Now().Add(time.Minute)
	for {
		var all []int
		var owned [][]int
		fair := true
		for _, g := range gs {
			o := g.Owned()
			owned = append(owned, o)
			all = append(all, o...)
			fair = fair && len(o) <= (n+len(gs)-1)/len(gs)
		}
		slices.Sort(all)
		if len(all) == n && len(slices.Compact(all)) == n && fair {
			return owned
		}
		require.True(t, time.Now().Before(deadline), "the shards never settled: %v", owned)
		time.Sleep(50 * time.Millisecond)
	}
}

// caughtUp waits until every group's processor applied seq, and checks
// that each holds the state of its own shards' communities alone.
func caughtUp(t *testing.T, seq uint64, gs ...*Group) {
	deadline := time.Now().Add(time.Minute)
	for _, g := range gs {
		for g.Seq() < seq {
			require.True(t, time.Now().Before(deadline), "a group is stuck at %d, want %d (shards %v)", g.Seq(), seq, g.Owned())
			time.Sleep(10 * time.Millisecond)
		}
		g.mu.Lock()
		p := g.proc
		g.mu.Unlock()
		p.mu.Lock() // nothing is published meanwhile: the loop does not change the map
		for c := range p.communities {
			require.Contains(t, p.owned, Shard(c, p.cfg.Shards), "community %s is not in the instance's shards", c)
		}
		p.mu.Unlock()
	}
}

// Three instances share the shards, one crashes, one leaves, one joins:
// the shards move, each to one instance at a time, and the tables hold
// exactly the scores of one processor that read the stream once.
func TestGroupSharesShardsAndScoresExactlyOnce(t *testing.T) {
	e := newEnv(t)
	const shards = 6 // acme is shard 1, beta shard 5
	require.NotEqual(t, Shard("acme", shards), Shard("beta", shards))
	e.publish(2000)
	a := e.group("a", shards)
	require.Equal(t, [][]int{{0, 1, 2, 3, 4, 5}}, settled(t, shards, a), "alone, an instance applies every shard")
	caughtUp(t, 2000, a)

	b, c := e.group("b", shards), e.group("c", shards)
	owned := settled(t, shards, a, b, c)
	for i, o := range owned {
		require.Len(t, o, 2, "instance %d: the fair share of 6 shards among 3", i)
	}
	e.publish(2000)
	caughtUp(t, 4000, a, b, c)

	// c dies: its shards expire and move to a and b.
	c.crash(t)
	e.publish(2000)
	settled(t, shards, a, b)
	caughtUp(t, 6000, a, b)

	// b leaves cleanly, d joins.
	require.NoError(t, b.Shutdown(context.Background()))
	d := e.group("d", shards)
	e.publish(2000)
	settled(t, shards, a, d)
	caughtUp(t, 8000, a, d)
	require.NoError(t, d.Shutdown(context.Background()))
	require.NoError(t, a.Shutdown(context.Background()))
	e.check()
}
