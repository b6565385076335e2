package orbit

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/orbitflow/orbitflow/services/kit/bus"
)

// metrics are the scoring processor's instruments. Everything is recorded
// on the processor's goroutine, once per fetched batch or flush, not per
// event.
type metrics struct {
	meter   metric.Meter
	events  metric.Int64Counter
	process metric.Float64Histogram
	flush   metric.Float64Histogram
	latency metric.Float64Histogram
	lag     metric.Registration // the consumer's lag gauge, while started
	// signalsDelivered counts signals queued for delivery; signalsOptedOut
	// activities that matched a signal rule's activity conditions but
	// whose member opted out.
	signalsDelivered metric.Int64Counter
	signalsOptedOut  metric.Int64Counter
	// oldest is the stream time of the oldest message applied since the
	// last write: a write's latency is how long that message waited.
	oldest time.Time
}

func newMetrics(m metric.Meter) metrics {
	met := metrics{meter: m}
	met.events, _ = m.Int64Counter("orbitflow.scoring.events", metric.WithDescription("Stream messages the scoring processor applied"))
	met.process, _ = m.Float64Histogram("orbitflow.scoring.process_duration", metric.WithUnit("s"),
		metric.WithDescription("Time to apply one fetched batch of up to 1000 messages to the model (decode, identities, scores)"))
	met.flush, _ = m.Float64Histogram("orbitflow.scoring.flush_duration", metric.WithUnit("s"),
		metric.WithDescription("Time to write the changed scores, edges, levels and gravity to ClickHouse"))
	met.latency, _ = m.Float64Histogram("orbitflow.scoring.latency", metric.WithUnit("s"),
		metric.WithDescription("From an activity's arrival in the stream to the write of the scores that reflect it (the oldest one of each write)"),
		metric.WithExplicitBucketBoundaries(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600))
	met.signalsDelivered, _ = m.Int64Counter("orbitflow.signals.delivered", metric.WithDescription("Signals queued for delivery to their targets"))
	met.signalsOptedOut, _ = m.Int64Counter("orbitflow.signals.opted_out", metric.WithDescription("Signals not produced because the member opted out"))
	return met
}

// observeLag reports the ordered consumer's lag as consumer="scoring".
func (m *metrics) observeLag(cons jetstream.Consumer) error {
	reg, err := bus.ObserveLag(m.meter, map[string]jetstream.Consumer{"scoring": cons})
	if err != nil {
		return err
	}
	m.lag = reg
	return nil
}

func (m *metrics) stopLag() {
	if m.lag != nil {
		_ = m.lag.Unregister()
		m.lag = nil
	}
}

// applied records one fetched batch: n messages in d, the oldest of which
// reached the stream at first.
func (m *metrics) applied(n int, d time.Duration, first time.Time) {
	if n == 0 {
		return
	}
	ctx := context.Background()
	m.events.Add(ctx, int64(n))
	m.process.Record(ctx, d.Seconds())
	if m.oldest.IsZero() && !first.IsZero() {
		m.oldest = first
	}
}

// wrote records a successful write that took d.
func (m *metrics) wrote(d time.Duration, now time.Time) {
	ctx := context.Background()
	m.flush.Record(ctx, d.Seconds())
	if !m.oldest.IsZero() {
		m.latency.Record(ctx, max(now.Sub(m.oldest), 0).Seconds())
		m.oldest = time.Time{}
	}
}
