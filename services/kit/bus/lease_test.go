package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestLeaseIsHeldByOneAtATime: while a holder renews, a second waits;
// a release hands over at once; a holder that stops renewing (died) is
// replaced after the TTL; a holder whose key someone else took learns it
// has lost the lease.
func TestLeaseIsHeldByOneAtATime(t *testing.T) {
	b := kittest.Bus(t)
	js := b.JetStream()
	ctx := context.Background()
	log := telemetry.Nop().Logger
	const ttl = 900 * time.Millisecond

	a, err := bus.AcquireLease(ctx, js, "processors", "a", ttl, log)
	require.NoError(t, err)
	got := make(chan *bus.Lease, 1)
	go func() {
		l, err := bus.AcquireLease(ctx, js, "processors", "b", ttl, log)
		if err == nil {
			got <- l
		}
	}()
	select {
	case <-got:
		t.Fatal("b holds the lease while a renews it")
	case <-time.After(3 * ttl):
	}
	require.NoError(t, a.Err())

	// A release hands over without waiting for the TTL.
	require.NoError(t, a.Release(ctx))
	var bl *bus.Lease
	select {
	case bl = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("b never took the released lease")
	}

	// Someone else takes the key: b learns it lost the lease.
	kv, err := js.KeyValue(ctx, bus.LeaseBucket)
	require.NoError(t, err)
	_, err = kv.Put(ctx, "processors", []byte("intruder"))
	require.NoError(t, err)
	select {
	case <-bl.Lost():
		require.ErrorIs(t, bl.Err(), bus.ErrLeaseLost)
	case <-time.After(10 * time.Second):
		t.Fatal("b did not notice it lost the lease")
	}
	require.NoError(t, bl.Release(ctx), "releasing a lost lease deletes nothing")
	e, err := kv.Get(ctx, "processors")
	require.NoError(t, err)
	require.Equal(t, "intruder", string(e.Value()))

	// The intruder never renews (a holder that died): its key expires and
	// c takes the lease.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := bus.AcquireLease(cctx, js, "processors", "c", ttl, log)
	require.NoError(t, err, "the dead holder's key expires")
	require.NoError(t, c.Release(ctx))

	// A waiter gives up with its context.
	x, err := bus.AcquireLease(ctx, js, "processors", "x", ttl, log)
	require.NoError(t, err)
	defer x.Release(ctx)
	short, cancel2 := context.WithTimeout(ctx, 2*ttl)
	defer cancel2()
	_, err = bus.AcquireLease(short, js, "processors", "y", ttl, log)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
