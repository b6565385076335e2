package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// LeaseBucket is the KV bucket that holds the leases.
const LeaseBucket = "orbitflow-leases"

// ErrLeaseLost: the holder could not renew in time, or another holder
// took the key; whatever the lease guarded must stop at once.
var ErrLeaseLost = errors.New("bus: lease lost")

// Lease is an exclusive, expiring hold on a key of LeaseBucket: one
// process at a time runs what it guards (the scoring processor, which must
// see the stream in order, alone). The bucket's TTL is the lease's: a
// holder renews every TTL/3 by a compare-and-set on the key's revision; a
// holder that dies stops renewing, the key expires and a standby takes it.
// A holder that cannot renew (partitioned from NATS) reports ErrLeaseLost
// before the TTL ends, so two holders never run at once as long as clocks
// run at the same rate.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	ttl    time.Duration
	rev    uint64
	lost   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// ErrLeaseHeld: another holder has the key (TryAcquire).
var ErrLeaseHeld = errors.New("bus: lease held by another")

// Leases is the lease bucket.
type Leases struct {
	kv  jetstream.KeyValue
	ttl time.Duration
	log *slog.Logger
}

// OpenLeases opens the lease bucket, creating it with ttl if missing; an
// existing bucket keeps its TTL, which then is the leases'.
func OpenLeases(ctx context.Context, js jetstream.JetStream, ttl time.Duration, log *slog.Logger) (*Leases, error) {
	// As many copies as the activity stream: a lease outlives a node.
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: LeaseBucket, TTL: ttl, History: 1,
		Description: "Orbitflow leases: which process runs what must run once", Replicas: StreamReplicas(ctx, js, subjects.ActivityStream)})
	if err != nil {
		return nil, fmt.Errorf("bus: lease bucket %s: %w", LeaseBucket, err)
	}
	if st, err := kv.Status(ctx); err == nil && st.TTL() > 0 {
		ttl = st.TTL()
	}
	return &Leases{kv: kv, ttl: ttl, log: log}, nil
}

// StreamReplicas is how many copies stream keeps (1 if it cannot say):
// what a bucket serving it should keep too.
func StreamReplicas(ctx context.Context, js jetstream.JetStream, stream string) int {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 1
	}
	return max(st.CachedInfo().Config.Replicas, 1)
}

// TTL is the leases' time to live.
func (ls *Leases) TTL() time.Duration { return ls.ttl }

// TryAcquire takes key for holder if nobody holds it, and renews it in the
// background until Release or ctx ends; ErrLeaseHeld if another holds it.
func (ls *Leases) TryAcquire(ctx context.Context, key, holder string) (*Lease, error) {
	rev, err := ls.kv.Create(ctx, key, []byte(holder))
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil, ErrLeaseHeld
	}
	if err != nil {
		return nil, fmt.Errorf("bus: lease %s: %w", key, err)
	}
	l := &Lease{kv: ls.kv, key: key, holder: holder, ttl: ls.ttl, rev: rev, lost: make(chan struct{}), done: make(chan struct{})}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	go l.renew(rctx, ls.log)
	return l, nil
}

// Holders maps the held keys under prefix (prefix + "." + rest) to their
// holders.
func (ls *Leases) Holders(ctx context.Context, prefix string) (map[string]string, error) {
	w, err := ls.kv.Watch(ctx, prefix+".>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("bus: lease holders %s: %w", prefix, err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e := <-w.Updates():
			if e == nil { // the initial values are all in
				return out, nil
			}
			out[e.Key()] = string(e.Value())
		}
	}
}

// AcquireLease waits until it holds key for holder (a name for logs and
// the standby's messages: host and pid), trying every ttl/3, then renews
// it in the background until Release or ctx ends. It returns early with
// ctx's error. The bucket is created with ttl if missing; an existing
// bucket keeps its TTL, which then is the lease's.
func AcquireLease(ctx context.Context, js jetstream.JetStream, key, holder string, ttl time.Duration, log *slog.Logger) (*Lease, error) {
	ls, err := OpenLeases(ctx, js, ttl, log)
	if err != nil {
		return nil, err
	}
	waiting := false
	for {
		l, err := ls.TryAcquire(ctx, key, holder)
		if err == nil {
			log.Info("lease: acquired", "key", key, "holder", holder, "ttl", ls.ttl)
			return l, nil
		}
		if !errors.Is(err, ErrLeaseHeld) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			log.Warn("lease: cannot reach the lease bucket; retrying", "key", key, "err", err)
		} else if !waiting {
			other := "another process"
			if e, err := ls.kv.Get(ctx, key); err == nil {
				other = string(e.Value())
			}
			log.Info("lease: standby; another process holds it (it expires when its holder stops renewing)", "key", key, "holder", other, "ttl", ls.ttl)
			waiting = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(ls.ttl / 3):
		}
	}
}

// renew keeps the lease until ctx ends; it closes lost when a renewal
// fails past the point where the key may have expired.
func (l *Lease) renew(ctx context.Context, log *slog.Logger) {
	defer close(l.done)
	renewed := time.Now()
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		rev, err := l.kv.Update(rctx, l.key, []byte(l.holder), l.rev)
		cancel()
		if err == nil {
			l.rev, renewed = rev, time.Now()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		// Another holder, or no renewal for two thirds of the TTL: the key
		// may expire before the next try; stop now rather than overlap.
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || time.Since(renewed) >= 2*l.ttl/3 {
			l.err = fmt.Errorf("%w: %s: %v", ErrLeaseLost, l.key, err)
			log.Error("lease: lost; stopping what it guards", "key", l.key, "err", err)
			close(l.lost)
			return
		}
		log.Warn("lease: renewal failed; retrying", "key", l.key, "err", err)
	}
}

// Ended is closed when the lease stops renewing: released, or lost (Err
// says which).
func (l *Lease) Ended() <-chan struct{} { return l.done }

// Lost is closed when the lease is lost; Err then says why.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err is why the lease was lost (nil while held).
func (l *Lease) Err() error {
	select {
	case <-l.lost:
		return l.err
	default:
		return nil
	}
}

// Abandon stops renewing without deleting the key: it expires after the
// TTL, as when the holder dies (tests of a crash).
func (l *Lease) Abandon() {
	if l.cancel != nil {
		l.cancel()
		<-l.done
		l.cancel = nil
	}
}

// Release stops renewing and deletes the key if still held, so a standby
// takes over at once instead of after the TTL. Idempotent.
func (l *Lease) Release(ctx context.Context) error {
	if l.cancel == nil {
		return nil
	}
	l.cancel()
	<-l.done
	l.cancel = nil
	if l.Err() != nil {
		return nil // not ours any more
	}
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// A renewal cut short by the release may have landed after all:
		// the key moved on, still ours. Delete it at its revision.
		if e, gerr := l.kv.Get(ctx, l.key); gerr == nil && string(e.Value()) == l.holder {
			err = l.kv.Delete(ctx, l.key, jetstream.LastRevision(e.Revision()))
		} else {
			err = nil // someone else's now (or gone)
		}
	}
	if err != nil {
		return fmt.Errorf("bus: release lease %s: %w", l.key, err)
	}
	return nil
}
