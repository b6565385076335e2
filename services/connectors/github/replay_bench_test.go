package github

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

// BenchmarkArchiveReplay is the whole replay of the GH Archive hour: parse,
// normalize, validate and publish to the embedded JetStream (file storage),
// every publish acknowledged. Each iteration replays into a fresh stream.
func BenchmarkArchiveReplay(b *testing.B) {
	data := archiveBytes(b)
	env := testEnv()
	reg := events.DefaultRegistry()
	var total time.Duration
	var published int64
	for b.Loop() {
		b.StopTimer()
		bus := kittest.Bus(b)
		b.StartTimer()
		start := time.Now()
		st, err := ingest.Run(context.Background(), bus.JetStream(), ReadArchive(bytes.NewReader(data), "archive", env),
			ingest.Options{Community: env.Community, Format: "gharchive", Registry: reg})
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if st.Rejected != 0 {
			b.Fatalf("rejected %d: %v", st.Rejected, st.Reasons)
		}
		published += st.Published
	}
	b.ReportMetric(float64(published)/total.Seconds(), "events/s")
}
