// Package kittest holds helpers for integration tests that run against the
// real NATS server and the real ClickHouse engine. Helpers fail the test
// when a dependency is missing; they never skip.
package kittest

import (
	"context"
	"testing"
	"time"

	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// BusConfig returns an embedded, in-process-only bus config for tests.
func BusConfig() bus.Config {
	cfg := bus.DefaultConfig()
	cfg.Embedded.Listen = ""
	return cfg
}

// Bus starts an embedded NATS JetStream server with its own store directory
// and returns the started bus; it is shut down when the test ends.
func Bus(t testing.TB, mutate ...func(*bus.Config)) *bus.Bus {
	t.Helper()
	cfg := BusConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	b := bus.New(cfg, t.TempDir(), telemetry.Nop())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	return b
}
