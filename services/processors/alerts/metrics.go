package alerts

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are the evaluator's instruments.
type metrics struct {
	evaluations metric.Int64Counter
	duration    metric.Float64Histogram
	transitions metric.Int64Counter
}

func newMetrics(m metric.Meter) metrics {
	var met metrics
	met.evaluations, _ = m.Int64Counter("orbitflow.alerts.evaluations",
		metric.WithDescription("Rule evaluations by detector and outcome: unchanged, changed (an alert opened, resolved or re-notified), error (retried on the next tick)"))
	met.duration, _ = m.Float64Histogram("orbitflow.alerts.evaluation_duration", metric.WithUnit("s"),
		metric.WithDescription("Time to evaluate one rule (its ClickHouse queries and the decision), by detector"))
	met.transitions, _ = m.Int64Counter("orbitflow.alerts.transitions",
		metric.WithDescription("Alert state changes made by evaluations, by rule and the state changed to"))
	return met
}

// evaluated records one rule's evaluation.
func (m metrics) evaluated(detector, outcome string, d time.Duration) {
	ctx := context.Background()
	det := attribute.String("detector", detector)
	m.evaluations.Add(ctx, 1, metric.WithAttributes(det, attribute.String("outcome", outcome)))
	m.duration.Record(ctx, d.Seconds(), metric.WithAttributes(det))
}

// changed records an alert's transition.
func (m metrics) changed(rule, to string) {
	m.transitions.Add(context.Background(), 1, metric.WithAttributes(attribute.String("rule", rule), attribute.String("to", to)))
}
