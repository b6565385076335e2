// Package app composes the services into the orbitflow binary: one config
// tree, one start order, one stop order.
package app

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/api"
	"github.com/orbitflow/orbitflow/services/connectors/discord"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
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

// EnvPrefix prefixes every environment variable that sets a config field.
const EnvPrefix = "ORBITFLOW_"

// Config is the whole configuration of one orbitflow process.
type Config struct {
	// DataDir holds the embedded NATS and ClickHouse state and run.json.
	DataDir    string         `yaml:"data_dir"`
	Log        LogConfig      `yaml:"log"`
	NATS       bus.Config     `yaml:"nats"`
	ClickHouse store.Config   `yaml:"clickhouse"`
	Sink       sink.Config    `yaml:"sink"`
	Scoring    orbit.Config   `yaml:"scoring"`
	Alerts     alerts.Config  `yaml:"alerts"`
	API        api.Config     `yaml:"api"`
	Gateway    gateway.Config `yaml:"gateway"`
	People     source.People  `yaml:"people"`
	Discord    DiscordConfig  `yaml:"discord"`
	Events     EventsConfig   `yaml:"events"`
	// Telemetry configures trace export (off by default).
	Telemetry telemetry.Config `yaml:"telemetry"`
	// Ops is the /healthz, /readyz and /metrics listener of split-mode
	// targets without the API.
	Ops OpsConfig `yaml:"ops"`
	// Signals holds the signal opt-outs (the rules are in the alert rules
	// file, under signals:).
	Signals signals.Config `yaml:"signals"`
}

// LogConfig configures the process log (stderr).
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// EventsConfig configures the event registry.
type EventsConfig struct {
	// ActivityTypesFile replaces the built-in activity type registry
	// (schemas/events/activity_types.yaml) with a file of the same format.
	ActivityTypesFile string `yaml:"activity_types_file"`
	// CustomDefaultWeight is the Orbit weight (1–12) of custom.* activities;
	// 0 keeps the registry's default.
	CustomDefaultWeight float64 `yaml:"custom_default_weight"`
}

// DiscordConfig connects a Discord bot to the gateway; it runs in
// `orbitflow run` when a token is set.
type DiscordConfig struct {
	// Community the bot's servers belong to.
	Community string `yaml:"community"`
	// Token is the bot token: "env:NAME", "file:PATH" or the value.
	Token string `yaml:"token"`
	// GatewayURL and Intents: see the discord package (defaults are right).
	GatewayURL string `yaml:"gateway_url"`
	Intents    int    `yaml:"intents"`
}

// Enabled reports whether the Discord client should run.
func (d DiscordConfig) Enabled() bool { return d.Token != "" }

// Client returns the discord package's config with the token resolved.
func (d DiscordConfig) Client() (discord.Config, error) {
	tok, err := config.ResolveSecret(d.Token)
	if err != nil {
		return discord.Config{}, err
	}
	return discord.Config{Token: tok, GatewayURL: d.GatewayURL, Intents: d.Intents}, nil
}

func (d DiscordConfig) validate() []error {
	if !d.Enabled() {
		return nil
	}
	var errs []error
	if d.Community == "" {
		errs = append(errs, errors.New("discord.community: required when discord.token is set"))
	}
	c, err := d.Client()
	if err != nil {
		return append(errs, fmt.Errorf("discord.token: %w", err))
	}
	if err := c.Validate(); err != nil {
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("discord.%w", e))
		}
	}
	return errs
}

// unjoin splits an errors.Join result.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// DefaultConfig is the embedded default: everything in one process under ./data.
func DefaultConfig() Config {
	return Config{
		DataDir:    "./data",
		Log:        LogConfig{Level: "info", Format: "text"},
		NATS:       bus.DefaultConfig(),
		ClickHouse: store.DefaultConfig(),
		Sink:       sink.DefaultConfig(),
		Scoring:    orbit.DefaultConfig(),
		Alerts:     alerts.DefaultConfig(),
		API:        api.DefaultConfig(),
		Gateway:    gateway.DefaultConfig(),
		Discord:    DiscordConfig{GatewayURL: discord.DefaultGatewayURL, Intents: discord.DefaultIntents},
		Telemetry:  telemetry.DefaultConfig(),
		Ops:        OpsConfig{Listen: "127.0.0.1:9464", LeaseTTL: 10 * time.Second},
	}
}

// Load builds the config: defaults, then the file (if any), then ORBITFLOW_*
// variables. Flags are applied by the caller, then Validate.
func Load(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		if err := config.LoadFile(path, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := config.ApplyEnv(EnvPrefix, &cfg, lookup); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Validate checks the whole tree and reports every problem with its path.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: want debug, info, warn or error, got %q", c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: want text or json, got %q", c.Log.Format))
	}
	errs = append(errs, c.NATS.Validate("nats"), c.ClickHouse.Validate("clickhouse"), c.Sink.Validate("sink"), c.Scoring.Validate("scoring"), c.Alerts.Validate("alerts"), c.API.Validate("api"),
		c.Gateway.Validate("gateway", WebhookSources()), c.Signals.Validate("signals"))
	errs = append(errs, c.People.Validate("people")...)
	if c.People.EmailSalt != "" {
		if _, err := c.Salt(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.Discord.validate()...)
	errs = append(errs, c.Telemetry.Validate("telemetry"))
	if c.Ops.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Ops.Listen); err != nil {
			errs = append(errs, fmt.Errorf("ops.listen: want host:port or empty, got %q", c.Ops.Listen))
		}
	}
	if c.Ops.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("ops.lease_ttl: must be at least 1s (renewed every third of it), got %s", c.Ops.LeaseTTL))
	}
	if w := c.Events.CustomDefaultWeight; w != 0 && (w < 1 || w > 12) {
		errs = append(errs, fmt.Errorf("events.custom_default_weight: must be 1..12 (or 0 for the registry default), got %g", w))
	}
	if f := c.Events.ActivityTypesFile; f != "" {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("events.activity_types_file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Registry returns the activity type registry the config selects.
func (c Config) Registry() (*events.Registry, error) {
	reg := events.DefaultRegistry()
	if f := c.Events.ActivityTypesFile; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("events.activity_types_file: %w", err)
		}
		if reg, err = events.LoadRegistry(data); err != nil {
			return nil, fmt.Errorf("events.activity_types_file %s: %w", f, err)
		}
	}
	if c.Events.CustomDefaultWeight != 0 {
		reg = reg.WithCustomWeight(c.Events.CustomDefaultWeight)
	}
	return reg, nil
}

// Salt is the deployment's e-mail salt: people.email_salt (env:, file:
// or the value), or the one generated in the data dir.
func (c Config) Salt() (*events.Salt, error) {
	if c.People.EmailSalt == "" {
		return LoadOrCreateSalt(c.DataDir)
	}
	v, err := config.ResolveSecret(c.People.EmailSalt)
	if err != nil {
		return nil, fmt.Errorf("people.email_salt: %w", err)
	}
	s, err := events.NewSalt(v)
	if err != nil {
		return nil, fmt.Errorf("people.email_salt: %w", err)
	}
	return s, nil
}

// AlertRulesFile is the alert rules file: alerts.rules_file, or
// <data_dir>/alerts.yaml.
func (c Config) AlertRulesFile() string {
	if c.Alerts.RulesFile != "" {
		return c.Alerts.RulesFile
	}
	return filepath.Join(c.DataDir, "alerts.yaml")
}

// ClickHousePath is where the embedded engine keeps its data.
func (c Config) ClickHousePath() string {
	if c.ClickHouse.Embedded.Path != "" {
		return c.ClickHouse.Embedded.Path
	}
	return filepath.Join(c.DataDir, "clickhouse")
}
