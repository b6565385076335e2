package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// TestAccountsCommands runs `orbitflow accounts` against a ClickHouse
// database: a bad file is refused with its lines, a good one imported,
// a member mapped, and list, show, reach and dropped answer.
func TestAccountsCommands(t *testing.T) {
	ctx := context.Background()
	addr, db := kittest.ClickHouse(t)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: clickhouse.HTTP, Auth: clickhouse.Auth{Database: db}})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(t, err)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "orbitflow.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf("data_dir: %s\nclickhouse:\n  mode: external\n  database: %s\n  external: {addrs: [%q], protocol: http}\n",
		filepath.Join(dir, "data"), db, addr)), 0o600))
	runCmd := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(append(args, "--config", cfgFile), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("account_id,name,domains\nacme,Acme,gmail.com\n,NoID,\n"), 0o600))
	code, _, stderr := runCmd("accounts", "import", bad)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "line 2: domains: gmail.com is a free-mail provider")
	require.Contains(t, stderr, "line 3: account_id: required")

	good := filepath.Join(dir, "customers.csv")
	require.NoError(t, os.WriteFile(good, []byte("account_id,name,domains,segment,plan\nacme,Acme,acme.com,enterprise,pro\nsolo,Solo,,smb,free\n"), 0o600))
	code, out, stderr := runCmd("accounts", "import", good, "--dry-run")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "2 accounts checked (dry run, nothing written): 2 added, 0 updated, 0 unchanged\n", out)
	code, out, stderr = runCmd("accounts", "import", good)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "2 accounts imported: 2 added, 0 updated, 0 unchanged\n", out)

	// Members of community fx: github:1 at acme.com, slack:2 without a domain.
	require.NoError(t, conn.Exec(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at, email_domain_sha256)
		VALUES ('e1', 'fx', 'github', 'github.issue.opened', now64(3) - INTERVAL 2 DAY, 'github:1', 'github:1', now64(3), '`+events.HashDomain("acme.com")+`'),
		       ('e2', 'fx', 'slack', 'slack.message.posted', now64(3) - INTERVAL 2 DAY, 'slack:2', 'slack:2', now64(3), '')`))

	code, out, stderr = runCmd("accounts", "map", "slack:2", "solo")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "slack:2 in fx is mapped to account solo (an explicit mapping wins over a domain match)\n", out)
	code, _, stderr = runCmd("accounts", "map", "--community", "fx", "slack:99", "solo")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `identity "slack:99" has no activities in community "fx"`)
	code, _, stderr = runCmd("accounts", "map", "slack:2", "nosuch")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `account "nosuch": no such account`)

	code, out, stderr = runCmd("accounts", "list", "--days", "7")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Equal(t, []string{"acme", "Acme", "enterprise", "pro", "1", "1", "1"}, strings.Fields(lines[1]))
	require.Equal(t, []string{"solo", "Solo", "smb", "free", "1", "1", "1"}, strings.Fields(lines[2]))

	code, out, stderr = runCmd("accounts", "show", "solo", "--json")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, `"member_id": "slack:2"`)
	require.Contains(t, out, `"link": "explicit"`)

	code, out, stderr = runCmd("accounts", "reach", "--period", "day", "--json")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, `"share": 1`, "both accounts active on the day of the activities")
	code, out, stderr = runCmd("accounts", "reach", "--period", "week")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "Reach into the customer base, fx, per week")

	code, out, stderr = runCmd("accounts", "dropped")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "(none)")

	code, out, stderr = runCmd("accounts", "unmap", "slack:2")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "slack:2 in fx is no longer mapped explicitly (a domain match applies again)\n", out)

	only := filepath.Join(dir, "only-acme.jsonl")
	require.NoError(t, os.WriteFile(only, []byte(`{"account_id":"acme","name":"Acme","domains":["acme.com"],"segment":"enterprise","plan":"pro"}`+"\n"), 0o600))
	code, out, stderr = runCmd("accounts", "import", "--replace", only)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "1 accounts imported: 0 added, 0 updated, 1 unchanged, 1 deleted (not in the file)\n", out)
	code, out, stderr = runCmd("accounts", "list", "--json")
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, out, `"solo"`)
	code, _, stderr = runCmd("accounts", "reach", "--period", "year")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `--period: want day, week or month, got "year"`)
}
