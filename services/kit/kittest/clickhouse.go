package kittest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/store/chdb"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

var (
	chOnce sync.Once
	chEmb  *store.Embedded
	chErr  error
	dbSeq  atomic.Int64
)

// embedded starts one engine per test process (one storage path per
// process) in a temp dir, with its HTTP interface on a free loopback port.
func embedded(t testing.TB) *store.Embedded {
	t.Helper()
	chOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orbitflow-kittest-ch-")
		if err != nil {
			chErr = err
			return
		}
		cfg := store.DefaultConfig().Embedded
		cfg.Listen = "127.0.0.1:0"
		chEmb, chErr = store.StartEmbedded(context.Background(), cfg, dir, telemetry.Nop())
	})
	if chErr != nil {
		t.Fatalf("the embedded ClickHouse engine is required for this test (never skipped): %v", chErr)
	}
	return chEmb
}

// ClickHouse returns the HTTP address of the process-wide embedded engine
// and a fresh database for this test, dropped when the test ends.
func ClickHouse(t testing.TB) (addr, database string) {
	t.Helper()
	e := embedded(t)
	name := strings.NewReplacer("/", "_", " ", "_", "-", "_", "#", "_").Replace(t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	database = fmt.Sprintf("t%d_%s_%d", os.Getpid(), name, dbSeq.Add(1))
	conn := open(t, e, "default")
	defer conn.Close()
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE DATABASE `"+database+"`"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c := open(t, e, "default")
		defer c.Close()
		_ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS `"+database+"`")
	})
	return e.Addr(), database
}

// ClickHouseConn returns a clickhouse-go connection (HTTP) to a fresh
// database on the embedded engine; closed when the test ends.
func ClickHouseConn(t testing.TB) driver.Conn {
	t.Helper()
	_, db := ClickHouse(t)
	conn := open(t, embedded(t), db)
	t.Cleanup(func() { conn.Close() })
	return conn
}

func open(t testing.TB, e *store.Embedded, database string) driver.Conn {
	t.Helper()
	cfg := store.DefaultConfig()
	cfg.DialTimeout = 30 * time.Second
	conn, err := store.Open(context.Background(), e.Endpoint(database), cfg)
	if err != nil {
		t.Fatalf("connect to the embedded engine: %v", err)
	}
	return conn
}

// Engine returns the process-wide embedded engine.
func Engine(t testing.TB) *chdb.Engine {
	t.Helper()
	return embedded(t).Engine()
}
