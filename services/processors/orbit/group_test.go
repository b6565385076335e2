package orbit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
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
	require.NoError(t, g.Kill(context.Background()))
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
		p, _ := g.Worker()
		p.mu.Lock() // nothing is published meanwhile: the loop does not change the map
		for c := range p.communities {
			require.Contains(t, p.owned, bus.ShardOf(c, p.cfg.Shards), "community %s is not in the instance's shards", c)
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
	require.NotEqual(t, bus.ShardOf("acme", shards), bus.ShardOf("beta", shards))
	e.publish(2000)
	a := e.group("a", shards)
	require.Equal(t, [][]int{{0, 1, 2, 3, 4, 5}}, kittest.SettledShards(t, shards, a), "alone, an instance applies every shard")
	caughtUp(t, 2000, a)

	b, c := e.group("b", shards), e.group("c", shards)
	owned := kittest.SettledShards(t, shards, a, b, c)
	for i, o := range owned {
		require.Len(t, o, 2, "instance %d: the fair share of 6 shards among 3", i)
	}
	e.publish(2000)
	caughtUp(t, 4000, a, b, c)

	// c dies: its shards expire and move to a and b.
	c.crash(t)
	e.publish(2000)
	kittest.SettledShards(t, shards, a, b)
	caughtUp(t, 6000, a, b)

	// b leaves cleanly, d joins.
	require.NoError(t, b.Shutdown(context.Background()))
	d := e.group("d", shards)
	e.publish(2000)
	kittest.SettledShards(t, shards, a, d)
	caughtUp(t, 8000, a, d)
	require.NoError(t, d.Shutdown(context.Background()))
	require.NoError(t, a.Shutdown(context.Background()))
	e.check()
}
