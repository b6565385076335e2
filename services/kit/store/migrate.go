package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	chschema "github.com/orbitflow/orbitflow/schemas/clickhouse"
)

const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version`

// MigrateOption configures Migrate.
type MigrateOption func(*migrateOptions)

type migrateOptions struct {
	layout chschema.Layout
}

// WithLayout renders every statement for layout (Config.Layout): on a
// cluster the DDL runs ON CLUSTER and the tables, schema_migrations too,
// are replicated. Without it, one server.
func WithLayout(layout chschema.Layout) MigrateOption {
	return func(o *migrateOptions) { o.layout = layout }
}

// Migrate applies, in order, every migration of schemas/clickhouse that the
// schema_migrations table does not record, and records each after all its
// statements succeeded. Statements are idempotent, so a migration cut off
// halfway runs again whole; two processes migrating at once are harmless
// (each may apply a migration the other is applying; both record it, and
// the rows collapse by version). On a cluster, schema_migrations is
// replicated: a migrator that reads it from a replica that has not yet
// fetched another's record applies that migration again, harmlessly, and
// each ON CLUSTER statement returns once every replica ran it (a replica
// that is down makes it fail after the server's distributed_ddl_task_timeout;
// start again when the replica is back). It returns the names of the
// migrations it applied.
func Migrate(ctx context.Context, conn driver.Conn, log *slog.Logger, opts ...MigrateOption) ([]string, error) {
	migs, err := chschema.Migrations()
	if err != nil {
		return nil, err
	}
	var o migrateOptions
	for _, f := range opts {
		f(&o)
	}
	return migrate(ctx, conn, migs, o.layout, log)
}

func migrate(ctx context.Context, conn driver.Conn, migs []chschema.Migration, layout chschema.Layout, log *slog.Logger) ([]string, error) {
	table, err := chschema.Render(migrationsTable, layout)
	if err != nil {
		return nil, fmt.Errorf("store: schema_migrations for clickhouse.cluster %q: %w", layout.Cluster, err)
	}
	if err := conn.Exec(ctx, table); err != nil {
		if layout.Cluster != "" {
			return nil, fmt.Errorf("store: create schema_migrations for clickhouse.cluster %q: %w (the servers need that cluster in remote_servers, the macros {shard} and {replica}, and Keeper: deploy/clickhouse/config.d/cluster.xml)", layout.Cluster, err)
		}
		return nil, fmt.Errorf("store: create schema_migrations: %w", err)
	}
	applied := map[uint32]string{}
	rows, err := conn.Query(ctx, "SELECT version, argMax(checksum, applied_at) FROM schema_migrations GROUP BY version")
	if err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return nil, err
		}
		applied[v] = sum
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// {{database}} in a statement is the database migrated (dictionary
	// sources name their tables with it; it is a checked identifier).
	var database string
	if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&database); err != nil {
		return nil, fmt.Errorf("store: current database: %w", err)
	}
	var done []string
	for _, m := range migs {
		name := fmt.Sprintf("%04d_%s", m.Version, m.Name)
		if sum, ok := applied[uint32(m.Version)]; ok {
			if sum != m.Checksum {
				log.Warn("applied migration file has changed since; not re-applied (add a new migration instead)", "migration", name)
			}
			continue
		}
		for i, stmt := range m.Statements {
			// Rendered before "{{database}}" is substituted: the Keeper
			// path's {database} is the server's macro, not ours.
			stmt, err := chschema.Render(stmt, layout)
			if err != nil {
				return done, fmt.Errorf("store: migration %s, statement %d, for clickhouse.cluster %q: %w", name, i+1, layout.Cluster, err)
			}
			stmt = strings.ReplaceAll(stmt, "{{database}}", database)
			if err := conn.Exec(ctx, stmt); err != nil {
				return done, fmt.Errorf("store: migration %s, statement %d: %w", name, i+1, err)
			}
		}
		if err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
			uint32(m.Version), m.Name, m.Checksum, time.Now().UTC()); err != nil {
			return done, fmt.Errorf("store: record migration %s: %w", name, err)
		}
		log.Info("applied migration", "migration", name)
		done = append(done, name)
	}
	return done, nil
}

// ApplyRetention sets how long raw activities are kept: a TTL on
// activities_raw of days (0 removes it: keep all). Idempotent; the rollups
// built from activities are not affected.
func ApplyRetention(ctx context.Context, conn driver.Conn, retention time.Duration, log *slog.Logger) error {
	days := int(retention / (24 * time.Hour))
	var create string
	if err := conn.QueryRow(ctx, "SELECT create_table_query FROM system.tables WHERE database = currentDatabase() AND name = 'activities_raw'").
		Scan(&create); err != nil {
		return fmt.Errorf("retention: read activities_raw: %w", err)
	}
	has := strings.Contains(create, " TTL ")
	switch {
	case days == 0 && has:
		if err := conn.Exec(ctx, "ALTER TABLE activities_raw REMOVE TTL"); err != nil {
			return fmt.Errorf("retention: remove the TTL of activities_raw: %w", err)
		}
		log.Info("raw activities are kept without limit (clickhouse.activities_retention is 0)")
	case days > 0:
		if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE activities_raw MODIFY TTL toDateTime(occurred_at) + toIntervalDay(%d)", days)); err != nil {
			return fmt.Errorf("retention: set the TTL of activities_raw: %w", err)
		}
		log.Info("raw activities are kept for a limited time", "days", days)
	}
	return nil
}
