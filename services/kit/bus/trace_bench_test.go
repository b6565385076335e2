package bus_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// discard is an exporter that drops what it is given: the cost measured is
// the pipeline's, not a collector's.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkPublishTracing is BenchmarkPublishCeiling with tracing off (the
// default: the no-op provider, so no tracer), and on with every trace
// sampled (a producer span per message, its context injected as a
// traceparent header, batched to an exporter that drops them). Compare
// off with BenchmarkPublishCeiling: the same allocations per message.
func BenchmarkPublishTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			set := telemetry.Nop()
			if mode == "on" {
				tr := telemetry.NewTracesWith(discard{}, 1, "orbitflow", "bench")
				defer tr.Shutdown(context.Background())
				set.TracerProvider = tr.Provider()
			}
			bs := kittest.Bus(b)
			ctx := context.Background()
			payload := make([]byte, 600)
			p := bus.NewPublisher(bs.JetStream(), bus.WithTracer(bus.NewTracer(set, "bench")))
			subject := subjects.Activity("bench", "github")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				m := nats.NewMsg(subject)
				m.Data = payload
				m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("bench:%d", i))
				if err := p.Publish(ctx, m, nil); err != nil {
					b.Fatal(err)
				}
			}
			if err := p.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
