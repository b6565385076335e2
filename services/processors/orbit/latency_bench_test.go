package orbit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

// BenchmarkLatency publishes activities at 20k events/s for 10 s into the
// embedded stream while the processor (default config) scores them, and
// reports the latency from publish to the members row written in
// ClickHouse (the insert returned: the row is queryable): p50, p99 and max.
// The sink is not running here; in `orbitflow run` it shares the cores.
func BenchmarkLatency(b *testing.B) {
	const rate, seconds = 20_000, 10
	for b.Loop() {
		b.StopTimer()
		bs := kittest.Bus(b)
		ch := kittest.ClickHouseConn(b)
		if _, err := store.Migrate(context.Background(), ch, telemetry.Nop().Logger); err != nil {
			b.Fatal(err)
		}
		js := bs.JetStream()
		var mu sync.Mutex
		sent := map[uint64]time.Time{} // stream seq → publish time
		var lat []time.Duration
		done := uint64(0)
		p := New(DefaultConfig(), scoring.DefaultConfig(), Deps{JS: js, CH: ch, Registry: events.DefaultRegistry(), Salt: testSalt}, telemetry.Nop())
		p.flushed = func(seq uint64) {
			now := time.Now()
			mu.Lock()
			for s := done + 1; s <= seq; s++ {
				if t, ok := sent[s]; ok {
					lat = append(lat, now.Sub(t))
					delete(sent, s)
				}
			}
			done = max(done, seq)
			mu.Unlock()
		}
		if err := p.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		tick := time.NewTicker(10 * time.Millisecond)
		perTick := rate / 100
		start := time.Now()
		n := 0
		var futs []jetstream.PubAckFuture
		var times []time.Time
		for range seconds * 100 {
			<-tick.C
			for range perTick {
				ev := benchEvent(n, start)
				data, _ := events.Encode(&ev)
				m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
				m.Data = data
				m.Header.Set(jetstream.MsgIDHeader, ev.ID)
				at := time.Now()
				f, err := js.PublishMsgAsync(m)
				if err != nil {
					b.Fatal(err)
				}
				futs = append(futs, f)
				times = append(times, at)
				n++
			}
			// Record sequences as acks arrive (the ack carries the seq).
			for len(futs) > 0 {
				select {
				case ack := <-futs[0].Ok():
					mu.Lock()
					if ack.Sequence > done {
						sent[ack.Sequence] = times[0]
					}
					mu.Unlock()
					futs, times = futs[1:], times[1:]
					continue
				case err := <-futs[0].Err():
					b.Fatal(err)
				default:
				}
				break
			}
		}
		tick.Stop()
		for i, f := range futs {
			select {
			case ack := <-f.Ok():
				mu.Lock()
				if ack.Sequence > done {
					sent[ack.Sequence] = times[i]
				}
				mu.Unlock()
			case err := <-f.Err():
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			left := len(sent)
			mu.Unlock()
			if left == 0 && done >= uint64(n) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d events never reached ClickHouse", left)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.StopTimer()
		if err := p.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		slices.Sort(lat)
		q := func(f float64) float64 { return lat[int(f*float64(len(lat)-1))].Seconds() * 1000 }
		b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
		b.ReportMetric(q(0.5), "p50-ms")
		b.ReportMetric(q(0.99), "p99-ms")
		b.ReportMetric(q(1), "max-ms")
		b.StartTimer()
	}
}

func benchEvent(i int, start time.Time) events.Event {
	actor := i * 7919 % 20000
	ev := events.Event{
		ID: fmt.Sprintf("lat-%d", i), SchemaVersion: 1, Community: "acme", Source: "github", Type: "github.issue.commented",
		OccurredAt: events.NewTimestamp(start.Add(time.Duration(i) * time.Millisecond)),
		ReceivedAt: events.NewTimestamp(start.Add(time.Hour)),
		Actor:      events.Actor{Source: "github", SourceID: fmt.Sprint(actor), Username: fmt.Sprintf("u%d", actor)},
		ThreadID:   fmt.Sprintf("t%d", i%20000), // ~10 activities per thread: busy, not pathological
		Targets:    []events.Target{{Source: "github", SourceID: fmt.Sprint((actor + 1) % 20000), Kind: "reply"}},
	}
	return ev
}
