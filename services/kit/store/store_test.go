package store_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestMigrateIsIdempotentAndRecorded(t *testing.T) {
	conn := kittest.ClickHouseConn(t)
	ctx := context.Background()
	applied, err := store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(t, err)
	require.Equal(t, []string{"0001_activities", "0002_dead_letters", "0003_scores", "0004_weights_gravity",
		"0005_roles_graph_movement", "0006_identity", "0007_segment_gravity", "0008_member_identities", "0009_health", "0010_health_views", "0011_health_more", "0012_health_dictionaries", "0013_elephant_factor", "0014_interactions", "0015_health_daily", "0016_new_contributors", "0017_health_rollups", "0018_health_fast_views", "0019_members_at", "0020_health_period_rollups", "0021_alerts", "0022_forget", "0023_identity_index", "0024_structure", "0025_signals", "0026_accounts", "0027_report_deliveries"}, applied)
	again, err := store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(t, err)
	require.Empty(t, again, "a second run applies nothing")
	var n uint64
	require.NoError(t, conn.QueryRow(ctx, "SELECT count() FROM schema_migrations FINAL").Scan(&n))
	require.EqualValues(t, len(applied), n)
	for _, table := range []string{"activities", "activities_raw", "dead_letters", "dead_letters_raw",
		"members", "members_raw", "level_changes", "member_edges", "member_edges_raw", "activity_weights", "community_gravity",
		"role_changes", "role_rules", "member_graph", "member_graph_latest", "level_movement", "identity_changes", "merge_suggestions", "segment_gravity", "member_identities", "activity_types", "identity_daily", "identity_firsts", "thread_activity"} {
		require.NoError(t, conn.QueryRow(ctx, "SELECT count() FROM "+table).Scan(&n), table)
	}
}

func TestOpenCreatesTheDatabase(t *testing.T) {
	addr, _ := kittest.ClickHouse(t)
	cfg := store.DefaultConfig()
	ep := store.Endpoint{Addrs: []string{addr}, Protocol: "http", Database: "orbitflow_open_test", Embedded: true}
	conn, err := store.Open(context.Background(), ep, cfg)
	require.NoError(t, err)
	defer conn.Close()
	var db string
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT currentDatabase()").Scan(&db))
	require.Equal(t, "orbitflow_open_test", db)
	require.NoError(t, conn.Exec(context.Background(), "DROP DATABASE orbitflow_open_test"))

	ep.Addrs = []string{"127.0.0.1:1"}
	cfg.DialTimeout = 2e9
	_, err = store.Open(context.Background(), ep, cfg)
	require.ErrorContains(t, err, "does not answer")
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, store.DefaultConfig().Validate("clickhouse"))
	cfg := store.DefaultConfig()
	cfg.Mode = "external"
	cfg.Database = "bad-name"
	cfg.External.Protocol = "grpc"
	err := cfg.Validate("clickhouse")
	for _, want := range []string{"clickhouse.database", "clickhouse.external.addrs", "clickhouse.external.protocol"} {
		require.ErrorContains(t, err, want)
	}
}

// Every SQL example in schemas/clickhouse/README.md runs against the
// migrated schema (on empty tables): the documented names and columns
// exist. Queries with {name:Type} parameters get typical values.
func TestReadmeExamplesRun(t *testing.T) {
	data, err := os.ReadFile("../../../schemas/clickhouse/README.md")
	require.NoError(t, err)
	conn := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err = store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(t, err)
	params := clickhouse.Parameters{"factor": "0.9", "as_of": "2026-03-01 00:00:00.000", "period_ms": "2592000000", "community": "acme"}
	pctx := clickhouse.Context(ctx, clickhouse.WithParameters(params))
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	require.Greater(t, len(blocks), 8)
	n := 0
	for _, b := range blocks {
		for _, stmt := range strings.Split(stripComments(b[1]), ";") {
			if q := strings.TrimSpace(stmt); q != "" {
				rows, err := conn.Query(pctx, q)
				require.NoError(t, err, "README example:\n%s", q)
				rows.Close()
				n++
			}
		}
	}
	t.Logf("%d README queries ran", n)
}

func stripComments(sql string) string {
	var out []string
	for _, l := range strings.Split(sql, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Retention drops old raw activities (at merges) and keeps the rollups;
// 0 keeps everything again.
func TestActivitiesRetention(t *testing.T) {
	conn := kittest.ClickHouseConn(t)
	ctx := context.Background()
	log := telemetry.Nop().Logger
	_, err := store.Migrate(ctx, conn, log)
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, conn.Exec(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at)
		VALUES ('old', 'r', 'github', 'github.issue.opened', ?, 'github:1', 'github:1', ?),
		       ('new', 'r', 'github', 'github.issue.opened', ?, 'github:1', 'github:1', ?)`,
		now.AddDate(0, 0, -400), now, now.AddDate(0, 0, -1), now))
	require.NoError(t, store.ApplyRetention(ctx, conn, 365*24*time.Hour, log))
	require.NoError(t, store.ApplyRetention(ctx, conn, 365*24*time.Hour, log), "idempotent")
	require.NoError(t, conn.Exec(ctx, "OPTIMIZE TABLE activities_raw FINAL"))
	var raw, days uint64
	require.NoError(t, conn.QueryRow(ctx, "SELECT count() FROM activities_raw").Scan(&raw))
	require.EqualValues(t, 1, raw, "the activity older than a year is gone")
	require.NoError(t, conn.QueryRow(ctx, "SELECT uniqExact(day) FROM identity_daily WHERE community = 'r'").Scan(&days))
	require.EqualValues(t, 2, days, "the rollup keeps both days")

	require.NoError(t, store.ApplyRetention(ctx, conn, 0, log))
	var create string
	require.NoError(t, conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'activities_raw'").Scan(&create))
	require.NotContains(t, create, " TTL ")

	c := store.DefaultConfig()
	c.ActivitiesRetention = 36 * time.Hour
	require.ErrorContains(t, c.Validate("clickhouse"), "clickhouse.activities_retention: want whole days")
}
