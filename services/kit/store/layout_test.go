package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	chschema "github.com/orbitflow/orbitflow/schemas/clickhouse"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/store/chdb"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestClusterLayoutEveryStatementParses renders every migration statement,
// and schema_migrations, for a cluster and has the real engine parse each
// (formatQuery parses without executing: the embedded engine has no Keeper
// and refuses distributed DDL). The engine's own formatting of the result
// must still say ON CLUSTER and name the Replicated engine with the Keeper
// path, so neither was parsed as something else.
func TestClusterLayoutEveryStatementParses(t *testing.T) {
	conn := kittest.ClickHouseConn(t)
	ctx := context.Background()
	var database string
	require.NoError(t, conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&database))
	migs, err := chschema.Migrations()
	require.NoError(t, err)
	stmts := []string{store.MigrationsTable}
	for _, m := range migs {
		stmts = append(stmts, m.Statements...)
	}
	layout := chschema.Layout{Cluster: "orbitflow"}
	tables := 0
	for i, s := range stmts {
		r, err := chschema.Render(s, layout)
		require.NoError(t, err, "statement %d", i)
		r = strings.ReplaceAll(r, "{{database}}", database)
		var formatted string
		require.NoError(t, conn.QueryRow(ctx, "SELECT formatQuery("+chdb.QuoteString(r)+")").Scan(&formatted), "statement %d does not parse:\n%s", i, r)
		if strings.HasPrefix(s, "INSERT") {
			require.NotContains(t, formatted, "ON CLUSTER")
			continue
		}
		require.Contains(t, formatted, " ON CLUSTER orbitflow", "statement %d:\n%s", i, formatted)
		if strings.HasPrefix(s, "CREATE TABLE") {
			tables++
			require.Regexp(t, `ENGINE = Replicated[A-Za-z]*MergeTree\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', '\{replica\}'`, formatted, "statement %d", i)
		}
	}
	require.Greater(t, tables, 30, "every table of the migrations, and schema_migrations")
}

// The embedded engine is one server: a cluster layout pointed at it fails
// at the first statement, naming what to change, and applies nothing.
func TestMigrateWithAClusterTheServerLacksSaysSo(t *testing.T) {
	conn := kittest.ClickHouseConn(t)
	_, err := store.Migrate(context.Background(), conn, telemetry.Nop().Logger, store.WithLayout(chschema.Layout{Cluster: "orbitflow"}))
	require.ErrorContains(t, err, `schema_migrations for clickhouse.cluster "orbitflow"`)
	var n uint64
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = currentDatabase()").Scan(&n))
	require.Zero(t, n)
}

// One server (the zero layout) migrates exactly as before: the same
// statements, so the same tables with the same engines.
func TestMigrateOneServerLayoutIsTheDefault(t *testing.T) {
	ctx := context.Background()
	plain, layered := kittest.ClickHouseConn(t), kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, plain, telemetry.Nop().Logger)
	require.NoError(t, err)
	_, err = store.Migrate(ctx, layered, telemetry.Nop().Logger, store.WithLayout(store.DefaultConfig().Layout()))
	require.NoError(t, err)
	schema := func(conn driver.Conn) string {
		var out string
		require.NoError(t, conn.QueryRow(ctx, `SELECT arrayStringConcat(groupArray(name || ' ' || replaceAll(create_table_query, currentDatabase(), 'DB')), '\n')
			FROM (SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() ORDER BY name)`).Scan(&out))
		return out
	}
	want := schema(plain)
	require.Contains(t, want, "ENGINE = ReplacingMergeTree")
	require.NotContains(t, want, "Replicated")
	require.Equal(t, want, schema(layered))
}

func TestConfigValidateCluster(t *testing.T) {
	cfg := store.DefaultConfig()
	cfg.Cluster.Name = "orbitflow"
	require.ErrorContains(t, cfg.Validate("clickhouse"), "clickhouse.cluster.name: a cluster layout needs mode: external")
	cfg.Mode = store.ModeExternal
	cfg.External.Addrs = []string{"clickhouse:8123"}
	require.NoError(t, cfg.Validate("clickhouse"))
	require.Equal(t, chschema.Layout{Cluster: "orbitflow"}, cfg.Layout())
	cfg.Cluster.Name = "my-cluster"
	require.ErrorContains(t, cfg.Validate("clickhouse"), `clickhouse.cluster.name: want the cluster's name from remote_servers`)
}
