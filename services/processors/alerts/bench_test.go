package alerts

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// BenchmarkEvaluate times one evaluation of each kind of rule on the real
// engine over ORBITFLOW_ALERT_BENCH_ACTIVITIES activities (default 2M)
// spread over the last 70 days, 3 sources, 20k members.
func BenchmarkEvaluate(b *testing.B) {
	n := 2_000_000
	if v := os.Getenv("ORBITFLOW_ALERT_BENCH_ACTIVITIES"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	ctx := context.Background()
	ch := kittest.ClickHouseConn(b)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(b, err)
	now := time.Now().UTC()
	step := int64(70 * 24 * time.Hour / time.Millisecond / time.Duration(n))
	require.NoError(b, ch.Exec(ctx, fmt.Sprintf(`INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at)
		SELECT toString(number), 'c', ['github', 'slack', 'discourse'][number %% 3 + 1], 'custom.x', t, concat('m', toString(number %% 20000)),
			concat('m', toString(number %% 20000)), t
		FROM (SELECT number, toDateTime64(%d, 3, 'UTC') - toIntervalMillisecond(number * %d) AS t FROM numbers(%d))`,
		now.Unix(), step, n)))
	rd := Reader{CH: ch}
	rules := []Rule{
		{Name: "seasonal-1h", Community: "c", Metric: "active_members", Window: Duration(time.Hour), Detector: Detector{Type: Seasonal}},
		{Name: "bollinger-1d", Community: "c", Metric: "activities", Window: Duration(24 * time.Hour), Detector: Detector{Type: Bollinger}},
		{Name: "absence-15m", Community: "c", Window: Duration(15 * time.Minute), Detector: Detector{Type: SourceAbsence}},
	}
	for _, r := range rules {
		b.Run(r.Name, func(b *testing.B) {
			for range b.N {
				ev, err := Evaluate(ctx, rd, r, now, Env{})
				require.NoError(b, err)
				require.NotEmpty(b, ev.Decisions)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/evaluation")
		})
	}
}
