package store

import (
	"context"
	"errors"
	"log/slog"

	"github.com/orbitflow/orbitflow/services/kit/store/chdb"
	"github.com/orbitflow/orbitflow/services/kit/store/chhttp"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Embedded is the embedded ClickHouse engine with its HTTP interface.
type Embedded struct {
	cfg    EmbeddedConfig
	engine *chdb.Engine
	http   *chhttp.Server
	log    *slog.Logger
}

// StartEmbedded boots the engine on path and serves its HTTP interface on
// cfg.Listen. Only one may run per process.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig, path string, set telemetry.Settings) (*Embedded, error) {
	set = set.Named("clickhouse")
	e := &Embedded{cfg: cfg, log: set.Logger}
	engine, err := chdb.Open(path, chdb.WithLibrary(cfg.Library))
	if err != nil {
		return nil, err
	}
	e.engine = engine
	hc := chhttp.DefaultConfig()
	hc.Addr = cfg.Listen
	hc.User = cfg.User
	hc.Password = cfg.Password
	e.http = chhttp.New(engine, hc, set.Logger)
	if err := e.http.Start(ctx); err != nil {
		engine.Close()
		return nil, err
	}
	set.Logger.Info("embedded ClickHouse engine started", "path", engine.Path(), "version", chdb.LibraryVersion(), "http", e.http.Addr())
	return e, nil
}

// Addr is the HTTP interface's bound address.
func (e *Embedded) Addr() string { return e.http.Addr() }

// Endpoint returns how clients reach the HTTP interface.
func (e *Embedded) Endpoint(database string) Endpoint {
	return Endpoint{Addrs: []string{e.Addr()}, Protocol: "http", Database: database, Username: e.cfg.User, Password: e.cfg.Password, Embedded: true}
}

// Shutdown stops the HTTP interface, then the engine. Idempotent.
func (e *Embedded) Shutdown(ctx context.Context) error {
	if e == nil || e.engine == nil {
		return nil
	}
	err := e.http.Shutdown(ctx)
	err = errors.Join(err, e.engine.Close())
	e.engine = nil
	return err
}

// Engine returns the engine, for tests and tools in this process.
func (e *Embedded) Engine() *chdb.Engine { return e.engine }
