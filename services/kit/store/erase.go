package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Erasure runs the mutations that erase a person's rows (services that
// forget a member). The keys to erase are held in a table of their own for
// the erasure's duration, and the mutations name that table, never the
// keys: ClickHouse keeps the text of finished mutations
// (system.mutations), and it must not keep the keys it erased.
type Erasure struct {
	conn driver.Conn
	// Keys is the table holding (community, key) rows: use it as
	// "(SELECT key FROM <Keys>)" and "(SELECT groupArray(key) FROM <Keys>)".
	Keys string
}

// NewErasure creates the key table (engine Memory, a random name) and
// fills it; Close drops it.
func NewErasure(ctx context.Context, conn driver.Conn, community string, keys []string) (*Erasure, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	e := &Erasure{conn: conn, Keys: "erase_keys_" + hex.EncodeToString(b[:])}
	if err := conn.Exec(ctx, "CREATE TABLE "+e.Keys+" (community LowCardinality(String), key String) ENGINE = Memory"); err != nil {
		return nil, fmt.Errorf("erase: create the key table: %w", err)
	}
	rows := make([][]any, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []any{community, k})
	}
	if err := Insert(ctx, conn, e.Keys, "community, key", rows); err != nil {
		_ = e.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("erase: %w", err)
	}
	return e, nil
}

// Mutate runs an ALTER TABLE … DELETE or UPDATE (every "{keys}" in it
// replaced by the key table's name) and returns once it is done: it waits
// for the mutation on every replica (mutations_sync = 2), so the rows are
// gone from queries, and from disk, when it returns. Parameters in ctx
// (clickhouse.WithParameters) apply.
func (e *Erasure) Mutate(ctx context.Context, sql string) error {
	sql = strings.ReplaceAll(sql, "{keys}", e.Keys)
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"mutations_sync": 2,
		// IN (SELECT … FROM the key table) reads another table.
		"allow_nondeterministic_mutations": 1,
	}))
	if err := e.conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("erase: %s: %w", firstLine(sql), err)
	}
	return nil
}

// Close drops the key table. Idempotent.
func (e *Erasure) Close(ctx context.Context) error {
	if e == nil || e.Keys == "" {
		return nil
	}
	err := e.conn.Exec(ctx, "DROP TABLE IF EXISTS "+e.Keys)
	if err == nil {
		e.Keys = ""
	}
	return err
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
