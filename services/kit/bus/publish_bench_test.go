package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

// BenchmarkPublishCeiling is the ceiling of any ingest on this machine:
// pre-encoded 600-byte messages published through the Publisher to the
// embedded file-backed activity stream, every one acknowledged; nothing
// decoded, normalized or encoded.
func BenchmarkPublishCeiling(b *testing.B) {
	bs := kittest.Bus(b)
	ctx := context.Background()
	payload := make([]byte, 600)
	for i := range payload {
		payload[i] = 'x'
	}
	var published int64
	p := bus.NewPublisher(bs.JetStream(), bus.WithOnResult(func(r bus.Result) {
		if r.Err == nil && !r.Duplicate {
			published++
		}
	}))
	subject := subjects.Activity("bench", "github")
	b.ResetTimer()
	start := time.Now()
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
	b.ReportMetric(float64(published)/time.Since(start).Seconds(), "events/s")
}
