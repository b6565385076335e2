package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/connectors/discord"
	"github.com/orbitflow/orbitflow/services/connectors/discourse"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
	"github.com/orbitflow/orbitflow/services/connectors/generic"
	"github.com/orbitflow/orbitflow/services/connectors/github"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/slack"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/config"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/alerts"
	"github.com/orbitflow/orbitflow/services/processors/orbit"
	"github.com/orbitflow/orbitflow/services/processors/signals"
	"github.com/orbitflow/orbitflow/services/sink"
)

// Parts selects what a Stack starts.
type Parts struct {
	ClickHouse bool // the client (and the embedded engine in embedded mode), migrated
	Bus        bool // NATS JetStream (embedded or external), streams declared
	Sink       bool // needs ClickHouse and Bus
	// SinkGroup is the sink as one instance of a group that shares
	// sink.shards out (split mode's sink target).
	SinkGroup bool
	Scoring   bool // the scoring processor; needs ClickHouse and Bus
	// ScoringGroup is the scoring processor as one instance of a group
	// that shares scoring.shards out (split mode's processors target).
	ScoringGroup bool
	Alerts       bool // the alert evaluator and notifier; needs ClickHouse and Bus
	API          bool // needs ClickHouse and Bus
	Gateway      bool // the webhook gateway; needs Bus
	// Ops serves /healthz, /readyz and /metrics on ops.listen (split-mode
	// targets without the API); OpsConsumers are the consumers its
	// readiness judges (api.Deps.Consumers).
	Ops          bool
	OpsConsumers []string
}

// All is every part: what `orbitflow run` starts.
var All = Parts{ClickHouse: true, Bus: true, Sink: true, Scoring: true, Alerts: true, API: true, Gateway: true}

// Stack is a started set of parts, in start order: ClickHouse, bus, sink
// (consumers before producers). Shutdown stops them in reverse.
type Stack struct {
	cfg Config
	set telemetry.Settings
	log *slog.Logger

	lock   *DirLock
	engine *store.Embedded
	CH     driver.Conn
	Bus    *bus.Bus
	Sink   *sink.Sink
	// SinkGroup is set instead of Sink by Parts.SinkGroup.
	SinkGroup *sink.Group
	Scoring   *orbit.Processor
	// ScoringGroup is set instead of Scoring by Parts.ScoringGroup.
	ScoringGroup *orbit.Group
	// Signals feeds the scoring processor the signal rules and opt-outs;
	// it runs with Scoring or ScoringGroup.
	Signals *signals.Watcher
	Alerts  *alerts.Evaluator
	// Reports e-mails the weekly reports; it runs with Alerts.
	Reports  *Reporter
	API      *api.Server
	Ops      *api.Server
	Gateway  *gateway.Server
	Discord  *discord.Client
	Registry *events.Registry
	// ClickHouseAddr is the HTTP address of the embedded engine ("" if external).
	ClickHouseAddr string
}

// Telemetry is the settings the parts were started with.
func (s *Stack) Telemetry() telemetry.Settings { return s.set }

// needsDataDir reports whether the parts open files under the data dir.
func (c Config) needsDataDir(p Parts) bool {
	return p.ClickHouse && c.ClickHouse.Mode == store.ModeEmbedded || p.Bus && c.NATS.Mode == bus.ModeEmbedded
}

// Start starts the parts. On error, what started is stopped again.
func Start(ctx context.Context, cfg Config, p Parts, set telemetry.Settings) (*Stack, error) {
	set = set.WithDefaults()
	s := &Stack{cfg: cfg, set: set, log: set.Logger}
	reg, err := cfg.Registry()
	if err != nil {
		return nil, err
	}
	s.Registry = reg
	if cfg.needsDataDir(p) {
		if s.lock, err = LockDataDir(cfg.DataDir); err != nil {
			if errors.Is(err, ErrBusy) {
				return nil, fmt.Errorf("%w: %s (is `orbitflow run` already running on it?)", err, cfg.DataDir)
			}
			return nil, err
		}
		// A run.json left by a killed run would send clients to a server
		// that is not there (yet); withdraw it while this process starts.
		RemoveState(cfg.DataDir)
	}
	if err := s.start(ctx, p); err != nil {
		_ = s.Shutdown(context.Background())
		return nil, err
	}
	return s, nil
}

// StartMore starts parts on a started stack (what waited for a lease).
// On error the stack is as it was, plus what started; Shutdown stops all.
func (s *Stack) StartMore(ctx context.Context, p Parts) error {
	if p.ClickHouse || p.Bus {
		return errors.New("app: StartMore: ClickHouse and the bus start with the stack")
	}
	return s.start(ctx, p)
}

func (s *Stack) start(ctx context.Context, p Parts) error {
	cfg := s.cfg
	// What each part needs, checked before anything starts: ClickHouse
	// and the bus of this call or of the started stack (StartMore).
	hasCH, hasBus := p.ClickHouse || s.CH != nil, p.Bus || s.Bus != nil
	if (p.Sink || p.SinkGroup || p.API || p.Scoring || p.ScoringGroup || p.Alerts) && !(hasCH && hasBus) {
		return errors.New("app: the sink, the API and the processors need ClickHouse and the bus")
	}
	if (p.Gateway || p.Ops) && !hasBus {
		return errors.New("app: the gateway and the ops endpoints need the bus")
	}
	if p.ClickHouse {
		var ep store.Endpoint
		if cfg.ClickHouse.Mode == store.ModeEmbedded {
			var e *store.Embedded
			err := labelled(ctx, "clickhouse", func(ctx context.Context) (err error) {
				e, err = store.StartEmbedded(ctx, cfg.ClickHouse.Embedded, cfg.ClickHousePath(), s.set)
				return err
			})
			if err != nil {
				return err
			}
			s.engine = e
			s.ClickHouseAddr = e.Addr()
			ep = e.Endpoint(cfg.ClickHouse.Database)
		} else {
			var err error
			if ep, err = store.EndpointFor(cfg.ClickHouse); err != nil {
				return err
			}
		}
		conn, err := store.Open(ctx, ep, cfg.ClickHouse)
		if err != nil {
			return err
		}
		s.CH = conn
		if _, err := store.Migrate(ctx, conn, s.log.With("component", "migrate"), store.WithLayout(cfg.ClickHouse.Layout())); err != nil {
			return err
		}
		if err := store.ApplyRetention(ctx, conn, cfg.ClickHouse.ActivitiesRetention, s.log.With("component", "migrate")); err != nil {
			return err
		}
	}
	if p.Bus {
		s.Bus = bus.New(cfg.NATS, cfg.DataDir, s.set)
		if err := labelled(ctx, "bus", s.Bus.Start); err != nil {
			return err
		}
	}
	if p.Scoring || p.ScoringGroup {
		sc, err := cfg.Scoring.Scoring()
		if err != nil {
			return fmt.Errorf("scoring.scoring_file: %w", err)
		}
		salt, err := cfg.Salt()
		if err != nil {
			return err
		}
		s.Signals = signals.NewWatcher(cfg.AlertRulesFile(), LoadSignalRules, cfg.Signals, s.Bus.JetStream(), s.log.With("component", "signals"))
		if err := labelled(ctx, "signals", s.Signals.Start); err != nil {
			return err
		}
		deps := orbit.Deps{JS: s.Bus.JetStream(), CH: s.CH, Registry: s.Registry, Salt: salt, Signals: s.Signals}
		if p.ScoringGroup {
			host, _ := os.Hostname()
			s.ScoringGroup = orbit.NewGroup(cfg.Scoring, sc, deps, s.set, fmt.Sprintf("%s pid %d", host, os.Getpid()), cfg.Ops.LeaseTTL)
			if err := labelled(ctx, "scoring", s.ScoringGroup.Start); err != nil {
				return err
			}
		} else {
			s.Scoring = orbit.New(cfg.Scoring, sc, deps, s.set)
			if err := labelled(ctx, "scoring", s.Scoring.Start); err != nil {
				return err
			}
		}
	}
	if p.Alerts {
		ac := cfg.Alerts
		ac.RulesFile = cfg.AlertRulesFile()
		s.Alerts = alerts.New(ac, alerts.Deps{JS: s.Bus.JetStream(), CH: s.CH}, s.set)
		if err := labelled(ctx, "alerts", s.Alerts.Start); err != nil {
			return err
		}
		s.Reports = NewReporter(ac.RulesFile, s.CH, s.log)
		if err := labelled(ctx, "reports", s.Reports.Start); err != nil {
			return err
		}
	}
	if p.Sink || p.SinkGroup {
		salt, err := cfg.Salt()
		if err != nil {
			return err
		}
		deps := sink.Deps{JS: s.Bus.JetStream(), CH: s.CH, Registry: s.Registry, Salt: salt}
		if p.SinkGroup {
			host, _ := os.Hostname()
			s.SinkGroup = sink.NewGroup(cfg.Sink, deps, s.set, fmt.Sprintf("%s pid %d", host, os.Getpid()), cfg.Ops.LeaseTTL)
			if err := labelled(ctx, "sink", s.SinkGroup.Start); err != nil {
				return err
			}
		} else {
			s.Sink = sink.New(cfg.Sink, deps, s.set)
			if err := labelled(ctx, "sink", s.Sink.Start); err != nil {
				return err
			}
		}
	}
	if p.API && cfg.API.Listen != "" {
		ac, err := s.apiKeys()
		if err != nil {
			return err
		}
		s.API = api.New(ac, api.Deps{JS: s.Bus.JetStream(), CH: s.CH, SignalOptOuts: cfg.Signals.OptOut}, s.set)
		if err := labelled(ctx, "api", s.API.Start); err != nil {
			return err
		}
	}
	if p.Ops && cfg.Ops.Listen != "" {
		ac, err := s.apiKeys()
		if err != nil {
			return err
		}
		ac.Listen = cfg.Ops.Listen
		s.Ops = api.NewOps(ac, api.Deps{JS: s.Bus.JetStream(), CH: s.CH, Consumers: p.OpsConsumers}, s.set)
		if err := labelled(ctx, "ops", s.Ops.Start); err != nil {
			return err
		}
	}
	if p.Gateway && cfg.Gateway.Listen != "" && len(cfg.Gateway.Hooks) > 0 {
		s.Gateway = gateway.New(cfg.Gateway, gateway.Deps{JS: s.Bus.JetStream(), Registry: s.Registry, Webhooks: webhooks, People: &cfg.People}, s.set)
		if err := labelled(ctx, "gateway", s.Gateway.Start); err != nil {
			return err
		}
	}
	if p.Gateway && cfg.Discord.Enabled() {
		if err := labelled(ctx, "gateway", s.startDiscord); err != nil {
			return err
		}
	}
	return nil
}

// apiKeys is the API config with its keys resolved; with none configured,
// the key of <data_dir>/api-key (generated on first use).
func (s *Stack) apiKeys() (api.Config, error) {
	ac, err := resolveAPIKeys(s.cfg.API)
	if err != nil {
		return ac, err
	}
	if len(ac.APIKeys) == 0 {
		key, err := LoadOrCreateAPIKey(s.cfg.DataDir)
		if err != nil {
			return ac, err
		}
		ac.APIKeys = []string{key}
	}
	return ac, nil
}

// startDiscord connects the bot: each dispatch is published (and
// acknowledged by the stream) before the client moves on, so a crash or a
// stream outage replays it on resume instead of losing it.
func (s *Stack) startDiscord(ctx context.Context) error {
	dc, err := s.cfg.Discord.Client()
	if err != nil {
		return fmt.Errorf("discord.token: %w", err)
	}
	live := ingest.NewLive(s.Bus.JetStream(), s.Registry, subjects.StageDiscord, 10*time.Second, s.set)
	env := source.Env{Community: s.cfg.Discord.Community, People: &s.cfg.People}
	handle := func(ctx context.Context, res source.Result, raw []byte) error {
		_, err := live.Publish(ctx, discord.Source, res, raw, nil)
		return err
	}
	reject := func(ctx context.Context, raw []byte, err error) error {
		return live.DeadLetter(ctx, discord.Source, raw, nil, "malformed: "+err.Error())
	}
	s.Discord = discord.New(dc, s.set, env, handle, discord.WithReject(reject))
	return s.Discord.Start(ctx)
}

// labelled runs start with the pprof label component=name: every goroutine
// the part starts inherits it, so a CPU profile of the process tells the
// parts apart (`orbitflow bench` reports CPU per component from it).
func labelled(ctx context.Context, name string, start func(context.Context) error) error {
	var err error
	pprof.Do(ctx, pprof.Labels("component", name), func(ctx context.Context) { err = start(ctx) })
	return err
}

// webhooks are the platforms the gateway serves, by HookConfig.Source.
var webhooks = map[string]source.Webhook{
	discourse.Source: discourse.Webhook{},
	generic.Source:   generic.Webhook{},
	github.Source:    github.Webhook{},
	slack.Source:     slack.Webhook{},
}

// WebhookSources lists the gateway's sources, sorted.
func WebhookSources() []string {
	return slices.Sorted(maps.Keys(webhooks))
}

// Shutdown stops the producers first (the gateway answers what is in
// flight), then the consumers: the sink flushes and acks what
// it holds, then the bus drains, then ClickHouse closes. Idempotent.
func (s *Stack) Shutdown(ctx context.Context) error {
	var errs []error
	if s.Gateway != nil {
		errs = append(errs, s.Gateway.Shutdown(ctx))
		s.Gateway = nil
	}
	if s.Discord != nil {
		errs = append(errs, s.Discord.Shutdown(ctx))
		s.Discord = nil
	}
	if s.API != nil {
		errs = append(errs, s.API.Shutdown(ctx))
		s.API = nil
	}
	if s.Ops != nil {
		errs = append(errs, s.Ops.Shutdown(ctx))
		s.Ops = nil
	}
	if s.Reports != nil {
		errs = append(errs, s.Reports.Shutdown(ctx))
		s.Reports = nil
	}
	if s.Alerts != nil {
		errs = append(errs, s.Alerts.Shutdown(ctx))
		s.Alerts = nil
	}
	if s.Sink != nil {
		errs = append(errs, s.Sink.Shutdown(ctx))
		s.Sink = nil
	}
	if s.SinkGroup != nil {
		errs = append(errs, s.SinkGroup.Shutdown(ctx))
		s.SinkGroup = nil
	}
	if s.Scoring != nil {
		errs = append(errs, s.Scoring.Shutdown(ctx))
		s.Scoring = nil
	}
	if s.ScoringGroup != nil {
		errs = append(errs, s.ScoringGroup.Shutdown(ctx))
		s.ScoringGroup = nil
	}
	if s.Signals != nil {
		errs = append(errs, s.Signals.Shutdown(ctx))
		s.Signals = nil
	}
	if s.Bus != nil {
		errs = append(errs, s.Bus.Shutdown(ctx))
		s.Bus = nil
	}
	if s.CH != nil {
		errs = append(errs, s.CH.Close())
		s.CH = nil
	}
	if s.engine != nil {
		errs = append(errs, s.engine.Shutdown(ctx))
		s.engine = nil
	}
	s.lock.Release()
	s.lock = nil
	return errors.Join(errs...)
}

// resolveAPIKeys reads the keys written as "file:PATH" or "env:NAME"
// (config.ResolveSecret), so that a key shared with a scraper (Prometheus's
// credentials_file) stays out of the config. It returns a copy.
func resolveAPIKeys(ac api.Config) (api.Config, error) {
	keys := slices.Clone(ac.APIKeys)
	for i, k := range keys {
		v, err := config.ResolveSecret(k)
		if err != nil {
			return ac, fmt.Errorf("api.api_keys[%d]: %w (create it, or fix the reference)", i, err)
		}
		keys[i] = v
	}
	tokens := slices.Clone(ac.Tokens)
	for i, t := range tokens {
		v, err := config.ResolveSecret(t.Key)
		if err != nil {
			return ac, fmt.Errorf("api.tokens[%d].key: %w (create it, or fix the reference)", i, err)
		}
		tokens[i].Key = v
	}
	ac.APIKeys, ac.Tokens = keys, tokens
	return ac, nil
}
