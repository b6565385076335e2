package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// historySQL generates a slice [offset, offset+count) of a synthetic
// community history inside ClickHouse: n activities over three years (2024–2026) in 8 communities (the first
// holds half), members drawn from a power law (a few do most), fewer on
// weekends, a GH Archive-like mix of types, and threads: an item opened,
// then replies in its thread; organizations for three members in four. Deterministic: hashes of the row number.
const historySQL = `
INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, channel, thread_id,
	target_member_ids, target_kinds, weight, is_bot, attributes, received_at, stream_seq)
SELECT
	concat('g', toString(number)) AS event_id,
	concat('c', toString(if(h1 % 2 = 0, 0, 1 + h1 % 7))) AS community,
	source, type,
	-- 3 years; a weekend activity moves to Friday 6 times in 10: weekly seasonality
	toDateTime64(1704067200 + intDiv(number * 94608000, {n:UInt64}), 3, 'UTC') AS t0,
	concat(source, ':', toString(member)) AS mid, mid,
	concat('ch', toString(h2 % 12)) AS channel,
	if(type IN ('github.issue.opened', 'github.pull_request.opened', 'discourse.topic.created'), concat('t', toString(number)),
		if(type IN ('github.issue.commented', 'github.pull_request.reviewed', 'discourse.post.created'),
			concat('t', toString(greatest(number, 50) - 1 - h3 % 50)), '')) AS thread,
	if(h4 % 3 = 0, [concat(source, ':', toString(toUInt64(pow(members, pow((h3 % 1000000) / 1e6, 3)))))], []) AS targets,
	if(length(targets) > 0, ['reply'], []) AS kinds,
	toFloat32(4) AS weight, cityHash64(mid) % 50 = 0 AS bot,
	-- three members in four name one of 300 organizations
	if(cityHash64(mid, 'org') % 4 = 0, map(), map('organization', concat('org', toString(cityHash64(mid) % 300)))), t0, number + 1
FROM (
	SELECT number,
		cityHash64(number, 1) AS h1, cityHash64(number, 2) AS h2, cityHash64(number, 3) AS h3,
		cityHash64(number, 4) AS h4, cityHash64(number, 5) AS h5,
		{members:UInt64} AS members,
		toUInt64(pow(members, pow((h2 % 1000000) / 1e6, 3))) AS member,
		multiIf(h3 % 100 < 55, 'github', h3 % 100 < 80, 'discourse', 'slack') AS source,
		multiIf(source = 'github', arrayElement(['github.issue.opened', 'github.issue.commented', 'github.issue.commented',
				'github.pull_request.opened', 'github.pull_request.reviewed', 'github.star.created', 'github.commit.pushed'], 1 + h4 % 7),
			source = 'discourse', arrayElement(['discourse.topic.created', 'discourse.post.created', 'discourse.post.created',
				'discourse.post.liked'], 1 + h4 % 4),
			arrayElement(['slack.message.posted', 'slack.message.posted', 'slack.thread.replied', 'slack.reaction.added'], 1 + h4 % 4)) AS type
	FROM numbers({offset:UInt64}, {count:UInt64})
)
SETTINGS max_insert_threads = 2`

func benchActivities() uint64 {
	if v, err := strconv.ParseUint(os.Getenv("ORBITFLOW_BENCH_ACTIVITIES"), 10, 64); err == nil && v > 0 {
		return v
	}
	return 10_000_000
}

// BenchmarkHealthAPI loads a synthetic history (ORBITFLOW_BENCH_ACTIVITIES,
// default 10M; the figure is 100M) and times every metric of the
// query API for a 90-day range of the largest community, and a
// cross-community scan; it prints the table of latencies.
func BenchmarkHealthAPI(b *testing.B) {
	n := benchActivities()
	conn := kittest.ClickHouseConn(b)
	ctx := context.Background()
	_, err := store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(b, err)
	loadTypes(b, conn)
	start := time.Now()
	// In slices of 10M: one statement stays well inside the client's timeout.
	const slice = 10_000_000
	for off := uint64(0); off < n; off += slice {
		gctx := clickhouseParams(ctx, map[string]string{"n": strconv.FormatUint(n, 10), "members": strconv.FormatUint(n/50, 10),
			"offset": strconv.FormatUint(off, 10), "count": strconv.FormatUint(min(slice, n-off), 10)})
		require.NoError(b, conn.Exec(gctx, historySQL))
		fmt.Printf("  %d of %d activities\n", off+min(slice, n-off), n)
	}
	fmt.Printf("generated %d activities in %s (%.0f/s)\n", n, time.Since(start).Round(time.Second), float64(n)/time.Since(start).Seconds())
	start = time.Now()
	require.NoError(b, store.Settle(ctx, conn, telemetry.Nop().Logger))
	fmt.Printf("first build of the dashboard rollups: %s\n", time.Since(start).Round(time.Second))
	// The first refresh after it redoes what arrived just before (the
	// overlap); then the steady state.
	rr := store.NewRollups(conn, telemetry.Nop().Logger)
	start = time.Now()
	_, err = rr.Refresh(ctx)
	require.NoError(b, err)
	fmt.Printf("catch-up refresh: %s\n", time.Since(start).Round(time.Millisecond))
	time.Sleep(rr.Overlap)
	// Steady state: 100k more activities on the last days, then one refresh.
	gctx := clickhouseParams(ctx, map[string]string{"n": strconv.FormatUint(n, 10), "members": strconv.FormatUint(n/50, 10),
		"offset": strconv.FormatUint(n-100_000, 10), "count": "100000"})
	require.NoError(b, conn.Exec(gctx, strings.Replace(historySQL, "concat('g', toString(number))", "concat('late', toString(number))", 1)))
	start = time.Now()
	st, err := rr.Refresh(ctx)
	require.NoError(b, err)
	fmt.Printf("refresh after 100k new activities: %s (%d community days, %d threads)\n", time.Since(start).Round(time.Millisecond), st.Days, st.Threads)

	bb := kittest.Bus(b)
	s := api.New(api.Config{APIKeys: []string{key}}, api.Deps{JS: bb.JetStream(), CH: conn}, telemetry.Nop())
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	rng := "from=2026-09-01&to=2026-11-29"
	paths := []string{}
	for _, m := range []string{"health", "health?period=day", "health?period=month", "health_by", "health_by?dimension=type",
		"active_members", "contributor_absence", "elephant_factor", "time_to_first_response", "retention", "retention_cohorts",
		"inactive_contributors", "burstiness", "new_contributors", "recurring_connections", "gravity", "level_movement", "levels", "network",
		"health?include=bots,teammates"} {
		sep := "?"
		if strings.Contains(m, "?") {
			sep = "&"
		}
		paths = append(paths, "/api/v1/communities/c0/metrics/"+m+sep+rng)
	}
	const runs = 40
	fmt.Printf("%-60s %8s %8s %8s\n", "query (community c0, 90 days)", "p50 ms", "p95 ms", "max ms")
	for b.Loop() {
		for _, p := range paths {
			var ms []float64
			for range runs {
				t0 := time.Now()
				resp, body := get(b, ts.URL+p, key)
				require.Equal(b, 200, resp.StatusCode, body)
				ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
			}
			slices.Sort(ms)
			fmt.Printf("%-60s %8.1f %8.1f %8.1f\n", p[len("/api/v1/communities/c0/metrics/"):], ms[runs/2], ms[runs*95/100], ms[runs-1])
		}
		t0 := time.Now()
		var rows uint64
		require.NoError(b, conn.QueryRow(ctx, `SELECT count() FROM (SELECT community, uniqExact(member_id), sum(activities)
			FROM member_daily WHERE day BETWEEN '2026-09-01' AND '2026-11-29' GROUP BY community)`).Scan(&rows))
		fmt.Printf("%-60s %8.1f\n", "cross-community: members and activities of every community", float64(time.Since(t0).Microseconds())/1000)
		t0 = time.Now()
		require.NoError(b, conn.QueryRow(ctx, `SELECT count() FROM (SELECT community, period_start, active_members, activities
			FROM community_periods FINAL WHERE unit = 'week' AND dimension = '' AND period_start BETWEEN '2026-08-31' AND '2026-11-29')`).Scan(&rows))
		fmt.Printf("%-60s %8.1f\n", "cross-community, dashboard rollup: weekly members, activities", float64(time.Since(t0).Microseconds())/1000)
	}
}

func loadTypes(tb testing.TB, conn driver.Conn) {
	types, err := conn.PrepareBatch(context.Background(), "INSERT INTO activity_types (type, weight, contribution, item, description)")
	require.NoError(tb, err)
	for _, ty := range events.DefaultRegistry().Types() {
		require.NoError(tb, types.Append(ty.Name, ty.Weight, ty.Contribution, ty.Item, ty.Description))
	}
	require.NoError(tb, types.Send())
}

func clickhouseParams(ctx context.Context, p map[string]string) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(p)))
}
