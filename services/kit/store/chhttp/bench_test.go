package chhttp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

// activityDDL is a 14-column row shaped like schemas' activities_raw.
const activityDDL = `CREATE TABLE activity (
	event_id String, community LowCardinality(String), source LowCardinality(String),
	type LowCardinality(String), occurred_at DateTime64(3, 'UTC'), member_id String,
	channel String, target_member_ids Array(String), weight Float32, is_bot Bool,
	url String, attributes Map(String, String), schema_version UInt8, stream_seq UInt64
) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(occurred_at) ORDER BY (community, event_id)`

// BenchmarkBatchInsert measures clickhouse-go batches (PrepareBatch, Append,
// Send) through the HTTP interface into the embedded engine, end to end.
//
//	go test -run '^$' -bench BatchInsert -benchtime 5x ./store/chhttp/
func BenchmarkBatchInsert(b *testing.B) {
	for _, size := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			addr, db := kittest.ClickHouse(b)
			c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
			require.NoError(b, err)
			defer c.Close()
			ctx := context.Background()
			require.NoError(b, c.Exec(ctx, activityDDL))
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			sources := []string{"github", "discourse", "slack"}
			types := []string{"issue_opened", "comment", "message", "star"}
			attrs := map[string]string{"repo": "orbitflow/orbitflow", "lang": "go"}
			seq := uint64(0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch, err := c.PrepareBatch(ctx, "INSERT INTO activity")
				require.NoError(b, err)
				for r := 0; r < size; r++ {
					seq++
					require.NoError(b, batch.Append(
						fmt.Sprintf("evt-%d", seq), "orbitflow", sources[r%3], types[r%4],
						t0.Add(time.Duration(seq)*time.Millisecond), fmt.Sprintf("m-%d", r%5000),
						"#general", []string{"m-1", "m-2"}, float32(1.5), r%50 == 0,
						"https://example.com/x", attrs, uint8(1), seq,
					))
				}
				require.NoError(b, batch.Send())
				_ = batch.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "rows/s")
			var n uint64
			require.NoError(b, c.QueryRow(ctx, "SELECT count() FROM activity").Scan(&n))
			require.EqualValues(b, size*b.N, n)
		})
	}
}
