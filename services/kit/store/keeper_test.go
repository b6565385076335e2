package store_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	chschema "github.com/orbitflow/orbitflow/schemas/clickhouse"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/store/chdb"
)

// keeperConfig gives the engine an in-memory test Keeper and the macros of
// replica r1 of shard 01.
const keeperConfig = `<clickhouse>
    <zookeeper><implementation>testkeeper</implementation></zookeeper>
    <macros><shard>01</shard><replica>r1</replica></macros>
</clickhouse>
`

// TestReplicatedTablesCreateOnAKeeper creates every table of the cluster
// layout, schema_migrations first, in the real engine with a test Keeper,
// so the engine checks each Replicated engine's arguments (the version and
// is_deleted columns after the path and replica), expands the macros and
// registers every table at its own Keeper path. ON CLUSTER is cut: the
// embedded engine refuses distributed DDL ("Replicated DDL queries are
// disabled"), and its replicated tables stay read-only (no ALTER, no
// INSERT), so only the CREATE TABLE statements run. The engine is booted
// with that config once per process, so this runs in a child process.
func TestReplicatedTablesCreateOnAKeeper(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReplicatedTablesCreateOnAKeeperChild$", "-test.v")
	cmd.Env = append(os.Environ(), "ORBITFLOW_KEEPER_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child:\n%s", out)
	require.Contains(t, string(out), childDone, "the child ran to its end:\n%s", out)
}

// TestReplicatedTablesCreateOnAKeeperChild is the child process of
// TestReplicatedTablesCreateOnAKeeper; run alone it has nothing to do.
func TestReplicatedTablesCreateOnAKeeperChild(t *testing.T) {
	dir := os.Getenv("ORBITFLOW_KEEPER_CHILD")
	if dir == "" {
		return // only as TestReplicatedTablesCreateOnAKeeper's child
	}
	cfg := filepath.Join(dir, "keeper.xml")
	require.NoError(t, os.WriteFile(cfg, []byte(keeperConfig), 0o600))
	e, err := chdb.Open(filepath.Join(dir, "data"), chdb.WithConfigFile(cfg), chdb.WithSessions(1))
	require.NoError(t, err)
	// Not closed: see the end.
	ctx := context.Background()
	s, err := e.Acquire(ctx)
	require.NoError(t, err)
	defer e.Release(s)
	const db = "orbitflow"
	require.NoError(t, s.Exec(ctx, "CREATE DATABASE "+db))
	require.NoError(t, s.Use(ctx, db))

	migs, err := chschema.Migrations()
	require.NoError(t, err)
	stmts := []string{store.MigrationsTable}
	for _, m := range migs {
		stmts = append(stmts, m.Statements...)
	}
	var tables []string
	for _, st := range stmts {
		if !strings.HasPrefix(st, "CREATE TABLE") {
			continue
		}
		r, err := chschema.Render(st, chschema.Layout{Cluster: "orbitflow"})
		require.NoError(t, err)
		r = strings.Replace(r, " ON CLUSTER orbitflow", "", 1)
		r = strings.ReplaceAll(r, "{{database}}", db)
		require.NoError(t, s.Exec(ctx, r), "the engine refuses:\n%s", r)
		name := strings.Fields(strings.TrimPrefix(r, "CREATE TABLE IF NOT EXISTS "))[0]
		tables = append(tables, name)
	}
	require.Greater(t, len(tables), 30)
	got, err := s.Query(ctx, "SELECT table, zookeeper_path, replica_name FROM system.replicas WHERE database = '"+db+"' ORDER BY table", "TSV", nil)
	require.NoError(t, err)
	rows := strings.Split(strings.TrimSpace(string(got)), "\n")
	require.Len(t, rows, len(tables), "every table is a replica:\n%s", got)
	for _, row := range rows {
		f := strings.Split(row, "\t")
		require.Equal(t, []string{f[0], fmt.Sprintf("/clickhouse/tables/01/%s/%s", db, f[0]), "r1"}, f, "Keeper path and replica of %s", f[0])
	}
	fmt.Printf("%d replicated tables created on the test Keeper\n%s\n", len(rows), childDone)
	// Exit now, the engine open: its teardown crashes with replicated
	// tables on the test Keeper (SIGSEGV in chdb_close_conn, or in the race
	// detector's exit hook under -race). Everything is checked and printed.
	syscall.Exit(0)
}

// childDone is the child's last line when every check passed.
const childDone = "keeper child: done"
