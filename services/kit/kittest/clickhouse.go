package kittest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/goleak"

	"github.com/orbitflow/orbitflow/services/kit/store/chdb"
	"github.com/orbitflow/orbitflow/services/kit/store/chhttp"
)

// The process-wide embedded ClickHouse: one engine per process (one
// storage path per process), started on first use, isolated per test by
// database.
var (
	chMu     sync.Mutex
	chStart  sync.Once
	chDir    string
	chEngine *chdb.Engine
	chServer *chhttp.Server
	chErr    error
	dbSeq    atomic.Int64
)

func startClickHouse() {
	chDir, chErr = os.MkdirTemp("", "orbitflow-kittest-ch-")
	if chErr != nil {
		return
	}
	chEngine, chErr = chdb.Open(chDir, chdb.WithSessions(8))
	if chErr != nil {
		return
	}
	chServer = chhttp.New(chEngine, chhttp.Config{Addr: "127.0.0.1:0"}, nil)
	if chErr = chServer.Start(context.Background()); chErr != nil {
		_ = chEngine.Close()
		chEngine = nil
	}
}

// embedded returns the process-wide engine and server, starting them on
// first use. A missing library fails the test with the fetch command.
func embedded(t testing.TB) (*chdb.Engine, *chhttp.Server) {
	t.Helper()
	chMu.Lock()
	defer chMu.Unlock()
	chStart.Do(startClickHouse)
	if chErr != nil {
		t.Fatalf("kittest: the embedded ClickHouse engine is required by this test (never skipped; fetch it with `make chdb` or `scripts/fetch-chdb.sh`): %v", chErr)
	}
	if chEngine == nil {
		t.Fatalf("kittest: the embedded ClickHouse engine was shut down (ShutdownClickHouse) and cannot start again in this process")
	}
	return chEngine, chServer
}

// Engine returns the process-wide embedded engine, started on first use.
func Engine(t testing.TB) *chdb.Engine {
	t.Helper()
	e, _ := embedded(t)
	return e
}

// ClickHouse returns the HTTP address (host:port) of the process-wide
// embedded engine's ClickHouse interface and a fresh database for this
// test, dropped when the test ends. Safe for parallel tests.
func ClickHouse(t testing.TB) (addr, database string) {
	t.Helper()
	e, srv := embedded(t)
	database = fmt.Sprintf("t%d_%s_%d", os.Getpid(), sanitize(t.Name(), 40), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec(ctx, e, "CREATE DATABASE "+chdb.QuoteIdent(database)); err != nil {
		t.Fatalf("kittest: create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec(ctx, e, "DROP DATABASE IF EXISTS "+chdb.QuoteIdent(database)+" SYNC"); err != nil {
			t.Errorf("kittest: drop test database %s: %v", database, err)
		}
	})
	return srv.Addr(), database
}

// ClickHouseConn returns a clickhouse-go connection (Protocol HTTP) to a
// fresh database on the embedded engine (see ClickHouse); it is closed
// when the test ends.
func ClickHouseConn(t testing.TB) driver.Conn {
	t.Helper()
	addr, db := ClickHouse(t)
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.HTTP,
		Auth:        clickhouse.Auth{Database: db},
		DialTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("kittest: open clickhouse-go: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("kittest: ping the embedded engine at %s: %v", addr, err)
	}
	return conn
}

// ShutdownClickHouse stops the process-wide server and engine, if started,
// so TestMain can check for leaked goroutines. Call it once, after m.Run:
// the engine cannot start again in the same process.
func ShutdownClickHouse() error {
	chMu.Lock()
	defer chMu.Unlock()
	chStart.Do(func() { chErr = fmt.Errorf("kittest: ClickHouse was shut down before first use") })
	if chEngine == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := chServer.Shutdown(ctx)
	if cerr := chEngine.Close(); cerr != nil && err == nil {
		err = cerr
	}
	chEngine = nil
	_ = os.RemoveAll(chDir)
	return err
}

func exec(ctx context.Context, e *chdb.Engine, sql string) error {
	s, err := e.Acquire(ctx)
	if err != nil {
		return err
	}
	defer e.Release(s)
	return s.Exec(ctx, sql)
}

// sanitize keeps [A-Za-z0-9_] of name, at most n bytes.
func sanitize(name string, n int) string {
	out := strings.Map(func(r rune) rune {
		if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, name)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Main runs a package's tests, then stops the process-wide ClickHouse
// engine and checks for leaked goroutines (only when the tests passed, so a
// failure is not buried under leak reports). Call it from TestMain; it exits.
func Main(m *testing.M) {
	code := m.Run()
	if err := ShutdownClickHouse(); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown ClickHouse:", err)
		code = 1
	}
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		// nats.go's async publisher starts a goroutine that reads its
		// status channel after taking its lock; a publisher cleaned up
		// first leaves it a nil channel to wait on for ever (nats.go
		// v1.55.0, jetstream/publish.go). Not ours to fix; one per
		// occurrence, under load.
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
