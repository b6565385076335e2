package orbit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nuid"

	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

// Lease keys of a Group in bus.LeaseBucket: every instance holds a member
// key while it runs, and one shard key per shard it applies.
const (
	MemberLeases = "scoring.member"
	ShardLeases  = "scoring.shard"
)

// Group is one instance of a scoring processor spread over processes: the
// instances share Config.Shards out through leases (bus.Leases), each
// applying its shards with a Processor.
//
// Each instance holds a member lease, so every instance can count them,
// and wants its fair share, ceil(shards / instances). Every third of the
// lease TTL it compares: past its share it writes and checkpoints, then
// gives the extra shards back; under it, it takes free shards. A shard's
// lease is released only after its checkpoint is saved, and taken before
// the checkpoint is read, so a shard moves with its state and no message
// is applied twice to it. An instance that dies stops renewing: its
// leases expire within the TTL and the others take its shards, resuming
// from their checkpoints (what it wrote after them is written again with
// the same values, and ReplacingMergeTree keeps one copy).
//
// Any change of the owned set restarts the Processor: the retained shards
// are checkpointed and read back. Rebalancing is rare; a processor that
// kept state across changes would be faster at it and harder to prove.
type Group struct {
	cfg    Config
	sc     scoring.Config
	deps   Deps
	set    telemetry.Settings
	log    *slog.Logger
	ttl    time.Duration
	holder string
	id     string

	leases *bus.Leases
	member *bus.Lease
	shards map[int]*bus.Lease
	lost   chan lostLease
	quit   chan struct{} // closed by Shutdown: the watchers stop

	mu     sync.Mutex
	proc   *Processor
	cancel context.CancelFunc
	done   chan struct{}
}

// NewGroup returns a group instance; holder names it in the leases (host
// and pid), ttl is the leases' time to live (an existing bucket's wins).
func NewGroup(cfg Config, sc scoring.Config, deps Deps, set telemetry.Settings, holder string, ttl time.Duration) *Group {
	cfg.Shards = max(cfg.Shards, 1)
	return &Group{cfg: cfg, sc: sc, deps: deps, set: set, log: set.Named("scoring").Logger, ttl: ttl, holder: holder,
		id: nuid.Next(), shards: map[int]*bus.Lease{}, lost: make(chan lostLease), quit: make(chan struct{})}
}

// Start joins the group and takes a first share; the rest comes from the
// loop.
func (g *Group) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done != nil {
		return errors.New("scoring group: already started")
	}
	leases, err := bus.OpenLeases(ctx, g.deps.JS, g.ttl, g.log)
	if err != nil {
		return fmt.Errorf("scoring group: %w", err)
	}
	g.leases, g.ttl = leases, leases.TTL()
	if err := g.join(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	g.cancel, g.done = cancel, make(chan struct{})
	g.rebalance(ctx)
	go func() {
		defer close(g.done)
		g.loop(runCtx)
	}()
	g.log.Info("scoring group joined", "instance", g.id, "shards", g.cfg.Shards, "lease_ttl", g.ttl)
	return nil
}

// join takes this instance's member lease.
func (g *Group) join(ctx context.Context) error {
	l, err := g.leases.TryAcquire(ctx, MemberLeases+"."+g.id, g.holder)
	if err != nil {
		return fmt.Errorf("scoring group: member lease: %w", err)
	}
	g.member = l
	g.watch(l, -1)
	return nil
}

// lostLease is a lease lost: shard k's, or the member lease (k -1).
type lostLease struct {
	k int
	l *bus.Lease
}

// watch reports on lost when l is lost (not when released).
func (g *Group) watch(l *bus.Lease, k int) {
	go func() {
		<-l.Ended()
		if l.Err() == nil {
			return
		}
		select {
		case g.lost <- lostLease{k, l}:
		case <-g.quit:
		}
	}()
}

func (g *Group) loop(ctx context.Context) {
	tick := time.NewTicker(g.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case lost := <-g.lost:
			g.mu.Lock()
			g.onLost(ctx, lost)
			g.mu.Unlock()
		case <-tick.C:
			g.mu.Lock()
			g.rebalance(ctx)
			g.mu.Unlock()
		}
	}
}

// onLost stops at once what a lost lease guarded: another instance may
// apply the shard already. The processor stops without a checkpoint (the
// shards it keeps replay from their last ones).
func (g *Group) onLost(ctx context.Context, lost lostLease) {
	k := lost.k
	if k == -1 {
		g.member = nil // joined again by the next rebalance
		g.log.Warn("scoring group: member lease lost; joining again")
		return
	}
	if g.shards[k] != lost.l {
		return
	}
	g.log.Error("scoring group: shard lease lost; stopping its processor without a checkpoint", "shard", k)
	g.stop(ctx, true)
	delete(g.shards, k)
	g.startProc(ctx)
}

// rebalance takes or gives shards towards the fair share.
func (g *Group) rebalance(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, g.ttl/3)
	defer cancel()
	if g.member == nil {
		if err := g.join(rctx); err != nil {
			g.log.Warn("scoring group: cannot join; retrying", "err", err)
			return
		}
	}
	members, err := g.leases.Holders(rctx, MemberLeases)
	if err != nil {
		g.log.Warn("scoring group: cannot list the instances; keeping the shards held", "err", err)
		return
	}
	n := max(len(members), 1)
	fair := (g.cfg.Shards + n - 1) / n
	held := slices.Sorted(maps.Keys(g.shards))
	switch {
	case len(held) > fair:
		give := held[fair:]
		g.stop(ctx, false) // checkpoint first: the next owner resumes from it
		for _, k := range give {
			if err := g.shards[k].Release(ctx); err != nil {
				g.log.Warn("scoring group: shard not released; it moves when its lease expires", "shard", k, "err", err)
			}
			delete(g.shards, k)
		}
		g.log.Info("scoring group: gave shards back", "shards", give, "instances", n, "fair_share", fair)
		g.startProc(ctx)
	case len(held) < fair:
		var took []int
		// Start at a place of this instance's own, so that instances
		// joining together try different shards first.
		off := Shard(g.id, g.cfg.Shards)
		for i := 0; i < g.cfg.Shards && len(g.shards) < fair; i++ {
			k := (off + i) % g.cfg.Shards
			if g.shards[k] != nil {
				continue
			}
			l, err := g.leases.TryAcquire(ctx, ShardLeases+"."+strconv.Itoa(k), g.holder)
			if err != nil {
				if !errors.Is(err, bus.ErrLeaseHeld) {
					g.log.Warn("scoring group: cannot take a shard; retrying later", "shard", k, "err", err)
				}
				continue
			}
			g.shards[k] = l
			g.watch(l, k)
			took = append(took, k)
		}
		if len(took) > 0 || g.proc == nil {
			if len(took) > 0 {
				g.log.Info("scoring group: took shards", "shards", took, "instances", n, "fair_share", fair)
			}
			g.stop(ctx, false)
			g.startProc(ctx)
		}
	case g.proc == nil:
		g.startProc(ctx) // a start that failed: again
	}
}

// stop stops the processor: with a final write and checkpoint, or (abort)
// without.
func (g *Group) stop(ctx context.Context, abort bool) {
	if g.proc == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var err error
	if abort {
		err = g.proc.Abort(sctx)
	} else {
		err = g.proc.Shutdown(sctx)
	}
	if err != nil {
		g.log.Warn("scoring group: processor stop", "err", err)
	}
	g.proc = nil
}

// startProc starts a processor for the shards held, if any.
func (g *Group) startProc(ctx context.Context) {
	if len(g.shards) == 0 {
		return
	}
	p := NewShards(g.cfg, g.sc, g.deps, g.set, slices.Collect(maps.Keys(g.shards)))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := p.Start(sctx); err != nil {
		g.log.Warn("scoring group: processor start failed; retrying", "err", err)
		return
	}
	g.proc = p
}

// Owned is the shards this instance applies now.
func (g *Group) Owned() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.proc == nil {
		return nil
	}
	return slices.Clone(g.proc.owned)
}

// Seq is the last stream sequence the instance's processor applied (0:
// none running).
func (g *Group) Seq() uint64 {
	g.mu.Lock()
	p := g.proc
	g.mu.Unlock()
	if p == nil {
		return 0
	}
	return p.Seq()
}

// Shutdown writes and checkpoints the shards held, then gives them and the
// member lease back, so the others take them at once. Idempotent.
func (g *Group) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	cancel, done := g.cancel, g.done
	g.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("scoring group: shutdown: %w", ctx.Err())
	}
	close(g.quit)
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	if g.proc != nil {
		errs = append(errs, g.proc.Shutdown(ctx))
		g.proc = nil
	}
	for k, l := range g.shards {
		errs = append(errs, l.Release(ctx))
		delete(g.shards, k)
	}
	if g.member != nil {
		errs = append(errs, g.member.Release(ctx))
		g.member = nil
	}
	g.done = nil
	return errors.Join(errs...)
}
