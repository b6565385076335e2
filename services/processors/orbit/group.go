package orbit

import (
	"context"
	"time"

	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

// Lease keys of a Group in bus.LeaseBucket: every instance holds a member
// key while it runs, and one shard key per shard it applies.
const (
	GroupLeases  = "scoring"
	MemberLeases = GroupLeases + ".member"
	ShardLeases  = GroupLeases + ".shard"
)

// Group is one instance of a scoring processor spread over processes: the
// instances share Config.Shards out through leases (bus.ShardGroup), each
// applying its shards with a Processor.
//
// A shard's lease is released only after its checkpoint is saved (the
// Processor's Shutdown), and taken before the checkpoint is read, so no
// message is applied twice to a shard. An instance that dies stops
// renewing; the others take its shards and resume from their checkpoints
// (what it wrote after them is written again with the same values, and
// ReplacingMergeTree keeps one copy). A lost lease aborts the Processor
// without a checkpoint.
type Group struct {
	*bus.ShardGroup[*Processor]
}

// NewGroup returns a group instance; holder names it in the leases (host
// and pid), ttl is the leases' time to live (an existing bucket's wins).
func NewGroup(cfg Config, sc scoring.Config, deps Deps, set telemetry.Settings, holder string, ttl time.Duration) *Group {
	cfg.Shards = max(cfg.Shards, 1)
	start := func(ctx context.Context, owned []int) (*Processor, error) {
		p := NewShards(cfg, sc, deps, set, owned)
		if err := p.Start(ctx); err != nil {
			return nil, err
		}
		return p, nil
	}
	return &Group{bus.NewShardGroup(bus.ShardGroupConfig[*Processor]{Name: "scoring group", Leases: GroupLeases,
		Shards: cfg.Shards, Holder: holder, TTL: ttl, Start: start}, deps.JS, set.Named("scoring").Logger)}
}

// Seq is the last stream sequence the instance's processor applied (0:
// none running).
func (g *Group) Seq() uint64 {
	p, ok := g.Worker()
	if !ok {
		return 0
	}
	return p.Seq()
}
