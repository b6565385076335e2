package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// LagMetric is the gauge every consumer's owner reports its lag in:
// orbitflow_stream_lag{stream,consumer} on a Prometheus scrape.
const LagMetric = "orbitflow.stream.lag"

// ObserveLag registers LagMetric for consumers (label → consumer): on each
// metrics collection it reads each consumer's info and reports the messages
// of its stream it has not processed, pending delivery plus delivered and
// not acknowledged. A consumer whose info cannot be read within 2 s is left
// out of that collection rather than reported wrong. Unregister the
// returned registration when the consumers stop.
func ObserveLag(meter metric.Meter, consumers map[string]jetstream.Consumer) (metric.Registration, error) {
	gauge, err := meter.Int64ObservableGauge(LagMetric,
		metric.WithDescription("Messages of the stream a consumer has not processed: pending delivery plus unacknowledged"))
	if err != nil {
		return nil, fmt.Errorf("bus: lag gauge: %w", err)
	}
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		for label, c := range consumers {
			info, err := c.Info(ctx)
			if err != nil {
				continue
			}
			o.ObserveInt64(gauge, int64(info.NumPending)+int64(info.NumAckPending),
				metric.WithAttributes(attribute.String("consumer", label), attribute.String("stream", info.Stream)))
		}
		return nil
	}, gauge)
	if err != nil {
		return nil, fmt.Errorf("bus: lag gauge: %w", err)
	}
	return reg, nil
}
