package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// ShardOf is the shard of key (a community) among n: FNV-1a of it.
func ShardOf(key string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % uint32(n))
}

// ShardOfSubject is the shard among n of the community an activity or
// identity subject names (activities.<community>.<source>,
// identity.<community>); a subject naming none (one token) is shard 0.
func ShardOfSubject(subject string, n int) int {
	if n == 1 {
		return 0
	}
	_, rest, ok := strings.Cut(subject, ".")
	if !ok {
		return 0
	}
	c, _, _ := strings.Cut(rest, ".")
	return ShardOf(c, n)
}

// AllShards is every shard of n: 0..n-1.
func AllShards(n int) []int {
	all := make([]int, max(n, 1))
	for k := range all {
		all[k] = k
	}
	return all
}

// ShardList is a log's view of the owned shards among n.
func ShardList(owned []int, n int) string {
	if len(owned) == n {
		return fmt.Sprintf("all %d", n)
	}
	return fmt.Sprintf("%v of %d", owned, n)
}

// ShardWorker applies the shards a ShardGroup instance owns.
type ShardWorker interface {
	// Shutdown stops it after saving what the shards' next owner
	// resumes from.
	Shutdown(ctx context.Context) error
}

// aborter is a ShardWorker that can also stop without saving: a shard
// lease was lost and another instance may apply the shard already.
type aborter interface {
	Abort(ctx context.Context) error
}

// ShardGroupConfig describes a ShardGroup.
type ShardGroupConfig[W ShardWorker] struct {
	// Name is the group's in logs and errors ("scoring group").
	Name string
	// Leases prefixes the lease keys: Leases.member.<instance> while an
	// instance runs, Leases.shard.<k> for each shard it owns.
	Leases string
	// Shards is how many shards there are (at least 1).
	Shards int
	// Holder names the instance in the leases (host and pid); TTL is the
	// leases' time to live (an existing bucket's wins).
	Holder string
	TTL    time.Duration
	// Start starts a worker for the owned shards (sorted, never empty).
	Start func(ctx context.Context, owned []int) (W, error)
}

// ShardGroup is one instance of a stage spread over processes: the
// instances share Shards out through leases (Leases), each running one
// worker for the shards it owns.
//
// Each instance holds a member lease, so every instance can count them,
// and wants its fair share, ceil(shards / instances). Every third of the
// lease TTL it compares: past its share it stops its worker (which saves
// its progress), then gives the extra shards back; under it, it takes free
// shards. A shard's lease is released only after the worker stopped, and
// taken before a worker starts on it, so a shard moves with its state. An
// instance that dies stops renewing: its leases expire within the TTL and
// the others take its shards, resuming from what was saved.
//
// Any change of the owned set restarts the worker. Rebalancing is rare; a
// worker that kept state across changes would be faster at it and harder
// to prove.
type ShardGroup[W ShardWorker] struct {
	cfg ShardGroupConfig[W]
	js  jetstream.JetStream
	log *slog.Logger
	ttl time.Duration
	id  string

	leases *Leases
	member *Lease
	shards map[int]*Lease
	lost   chan lostLease
	quit   chan struct{} // closed by Shutdown: the watchers stop

	mu      sync.Mutex
	worker  W
	running bool
	owned   []int // the running worker's shards
	cancel  context.CancelFunc
	done    chan struct{}
}

// lostLease is a lease lost: shard k's, or the member lease (k -1).
type lostLease struct {
	k int
	l *Lease
}

// NewShardGroup returns a group instance; Start joins.
func NewShardGroup[W ShardWorker](cfg ShardGroupConfig[W], js jetstream.JetStream, log *slog.Logger) *ShardGroup[W] {
	cfg.Shards = max(cfg.Shards, 1)
	return &ShardGroup[W]{cfg: cfg, js: js, log: log, ttl: cfg.TTL, id: nuid.Next(),
		shards: map[int]*Lease{}, lost: make(chan lostLease), quit: make(chan struct{})}
}

// MemberLeases and ShardLeases are the lease key prefixes of a group.
func (g *ShardGroup[W]) MemberLeases() string { return g.cfg.Leases + ".member" }
func (g *ShardGroup[W]) ShardLeases() string  { return g.cfg.Leases + ".shard" }

// Start joins the group and takes a first share; the rest comes from the
// loop.
func (g *ShardGroup[W]) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done != nil {
		return fmt.Errorf("%s: already started", g.cfg.Name)
	}
	leases, err := OpenLeases(ctx, g.js, g.ttl, g.log)
	if err != nil {
		return fmt.Errorf("%s: %w", g.cfg.Name, err)
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
	g.log.Info(g.cfg.Name+" joined", "instance", g.id, "shards", g.cfg.Shards, "lease_ttl", g.ttl)
	return nil
}

// join takes this instance's member lease.
func (g *ShardGroup[W]) join(ctx context.Context) error {
	l, err := g.leases.TryAcquire(ctx, g.MemberLeases()+"."+g.id, g.cfg.Holder)
	if err != nil {
		return fmt.Errorf("%s: member lease: %w", g.cfg.Name, err)
	}
	g.member = l
	g.watch(l, -1)
	return nil
}

// watch reports on lost when l is lost (not when released).
func (g *ShardGroup[W]) watch(l *Lease, k int) {
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

func (g *ShardGroup[W]) loop(ctx context.Context) {
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
// apply the shard already. The worker stops without saving, if it can
// (the shards it keeps resume from what was saved before).
func (g *ShardGroup[W]) onLost(ctx context.Context, lost lostLease) {
	k := lost.k
	if k == -1 {
		g.member = nil // joined again by the next rebalance
		g.log.Warn(g.cfg.Name + ": member lease lost; joining again")
		return
	}
	if g.shards[k] != lost.l {
		return
	}
	g.log.Error(g.cfg.Name+": shard lease lost; stopping its worker without saving", "shard", k)
	g.stop(ctx, true)
	delete(g.shards, k)
	g.startWorker(ctx)
}

// rebalance takes or gives shards towards the fair share.
func (g *ShardGroup[W]) rebalance(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, g.ttl/3)
	defer cancel()
	if g.member == nil {
		if err := g.join(rctx); err != nil {
			g.log.Warn(g.cfg.Name+": cannot join; retrying", "err", err)
			return
		}
	}
	members, err := g.leases.Holders(rctx, g.MemberLeases())
	if err != nil {
		g.log.Warn(g.cfg.Name+": cannot list the instances; keeping the shards held", "err", err)
		return
	}
	n := max(len(members), 1)
	fair := (g.cfg.Shards + n - 1) / n
	held := slices.Sorted(maps.Keys(g.shards))
	switch {
	case len(held) > fair:
		give := held[fair:]
		g.stop(ctx, false) // saved first: the next owner resumes from it
		for _, k := range give {
			if err := g.shards[k].Release(ctx); err != nil {
				g.log.Warn(g.cfg.Name+": shard not released; it moves when its lease expires", "shard", k, "err", err)
			}
			delete(g.shards, k)
		}
		g.log.Info(g.cfg.Name+": gave shards back", "shards", give, "instances", n, "fair_share", fair)
		g.startWorker(ctx)
	case len(held) < fair:
		var took []int
		// Start at a place of this instance's own, so that instances
		// joining together try different shards first.
		off := ShardOf(g.id, g.cfg.Shards)
		for i := 0; i < g.cfg.Shards && len(g.shards) < fair; i++ {
			k := (off + i) % g.cfg.Shards
			if g.shards[k] != nil {
				continue
			}
			l, err := g.leases.TryAcquire(ctx, g.ShardLeases()+"."+strconv.Itoa(k), g.cfg.Holder)
			if err != nil {
				if !errors.Is(err, ErrLeaseHeld) {
					g.log.Warn(g.cfg.Name+": cannot take a shard; retrying later", "shard", k, "err", err)
				}
				continue
			}
			g.shards[k] = l
			g.watch(l, k)
			took = append(took, k)
		}
		if len(took) > 0 || !g.running {
			if len(took) > 0 {
				g.log.Info(g.cfg.Name+": took shards", "shards", took, "instances", n, "fair_share", fair)
			}
			g.stop(ctx, false)
			g.startWorker(ctx)
		}
	case !g.running:
		g.startWorker(ctx) // a start that failed: again
	}
}

// stop stops the worker within a minute (rebalancing and lost leases),
// logging what went wrong.
func (g *ShardGroup[W]) stop(ctx context.Context, abort bool) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := g.stopWorker(sctx, abort); err != nil {
		g.log.Warn(g.cfg.Name+": worker stop", "err", err)
	}
}

// stopWorker stops the running worker, if any: saving its progress, or
// (abort) without if it can.
func (g *ShardGroup[W]) stopWorker(ctx context.Context, abort bool) error {
	if !g.running {
		return nil
	}
	var err error
	if a, ok := any(g.worker).(aborter); ok && abort {
		err = a.Abort(ctx)
	} else {
		err = g.worker.Shutdown(ctx)
	}
	var zero W
	g.worker, g.running = zero, false
	return err
}

// startWorker starts a worker for the shards held, if any.
func (g *ShardGroup[W]) startWorker(ctx context.Context) {
	if len(g.shards) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	w, err := g.cfg.Start(sctx, slices.Sorted(maps.Keys(g.shards)))
	if err != nil {
		g.log.Warn(g.cfg.Name+": worker start failed; retrying", "err", err)
		return
	}
	g.worker, g.running, g.owned = w, true, slices.Sorted(maps.Keys(g.shards))
}

// Owned is the shards this instance's worker applies now (sorted).
func (g *ShardGroup[W]) Owned() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		return nil
	}
	return slices.Clone(g.owned)
}

// Worker is the running worker, if any.
func (g *ShardGroup[W]) Worker() (W, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.worker, g.running
}

// Shutdown stops the worker (saving its progress), then gives the shards
// and the member lease back, so the others take them at once. Idempotent.
func (g *ShardGroup[W]) Shutdown(ctx context.Context) error {
	return g.leave(ctx, false)
}

// Kill stops the instance like a crash (SIGKILL), for tests of failover:
// the worker aborted if it can, the leases abandoned to expire.
func (g *ShardGroup[W]) Kill(ctx context.Context) error {
	return g.leave(ctx, true)
}

func (g *ShardGroup[W]) leave(ctx context.Context, crash bool) error {
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
		return fmt.Errorf("%s: shutdown: %w", g.cfg.Name, ctx.Err())
	}
	close(g.quit)
	g.mu.Lock()
	defer g.mu.Unlock()
	errs := []error{g.stopWorker(ctx, crash)}
	for k, l := range g.shards {
		if crash {
			l.Abandon()
		} else {
			errs = append(errs, l.Release(ctx))
		}
		delete(g.shards, k)
	}
	if g.member != nil {
		if crash {
			g.member.Abandon()
		} else {
			errs = append(errs, g.member.Release(ctx))
		}
		g.member = nil
	}
	g.done = nil
	return errors.Join(errs...)
}
