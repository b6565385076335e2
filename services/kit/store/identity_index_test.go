package store_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestOneMembersActivitiesSkipMostGranules: a filter on one identity reads
// through the activities view (FINAL) only the granules its bloom filter
// lets through, not the community's all.
func TestOneMembersActivitiesSkipMostGranules(t *testing.T) {
	conn := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(t, err)
	// 200k activities of 20k identities: ~25 granules of 8192 rows.
	require.NoError(t, conn.Exec(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at)
		SELECT toString(number), 'big', 'github', 'github.issue.commented', toDateTime64('2026-11-01 00:00:00', 3, 'UTC') + toIntervalSecond(number),
			concat('github:', toString(number % 20000)), concat('github:', toString(number % 20000)), now64(3)
		FROM numbers(200000)`))
	var n uint64
	require.NoError(t, conn.QueryRow(ctx, "SELECT count() FROM activities WHERE community = 'big' AND identity IN ('github:7')").Scan(&n))
	require.EqualValues(t, 10, n)

	rows, err := conn.Query(ctx, "EXPLAIN indexes = 1 SELECT count() FROM activities WHERE community = 'big' AND identity IN ('github:7')")
	require.NoError(t, err)
	defer rows.Close()
	var plan string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan += line + "\n"
	}
	require.NoError(t, rows.Err())
	m := regexp.MustCompile(`Name: identity_bf\s+Description: bloom_filter GRANULARITY 1\s+Parts: \d+/\d+\s+Granules: (\d+)/(\d+)`).FindStringSubmatch(plan)
	require.NotNil(t, m, "the plan uses identity_bf:\n%s", plan)
	kept, _ := strconv.Atoi(m[1])
	all, _ := strconv.Atoi(m[2])
	require.Greater(t, all, 20, plan)
	require.Less(t, kept, all/2, "the index skips most granules:\n%s", plan)
}
