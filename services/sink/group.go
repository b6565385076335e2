package sink

import (
	"context"
	"time"

	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// GroupLeases prefixes the lease keys of a Group in bus.LeaseBucket:
// sink.member.<instance> while an instance runs, sink.shard.<k> for each
// shard it writes.
const GroupLeases = "sink"

// Group is one instance of a sink spread over processes: the instances
// share Config.Shards out through leases (bus.ShardGroup), each writing
// its shards with a Sink (NewShards). The owner of shard 0 also writes
// the dead letters and runs the health refresher, so one instance does.
//
// A shard moves with its durable consumer: a Sink giving it back flushes
// and acks what it holds first; one that died leaves its messages
// unacknowledged, and the next owner gets them again once their ack wait
// ends (rows written twice collapse in ClickHouse). A forget command
// redelivered late erases every row of the identity, those written
// meanwhile included.
type Group struct {
	*bus.ShardGroup[*Sink]
}

// NewGroup returns a group instance; holder names it in the leases (host
// and pid), ttl is the leases' time to live (an existing bucket's wins).
func NewGroup(cfg Config, deps Deps, set telemetry.Settings, holder string, ttl time.Duration) *Group {
	cfg.Shards = max(cfg.Shards, 1)
	start := func(ctx context.Context, owned []int) (*Sink, error) {
		s := NewShards(cfg, deps, set, owned)
		if err := s.Start(ctx); err != nil {
			_ = s.Shutdown(ctx)
			return nil, err
		}
		return s, nil
	}
	return &Group{bus.NewShardGroup(bus.ShardGroupConfig[*Sink]{Name: "sink group", Leases: GroupLeases,
		Shards: cfg.Shards, Holder: holder, TTL: ttl, Start: start}, deps.JS, set.Named("sink").Logger)}
}
