package store

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	chschema "github.com/orbitflow/orbitflow/schemas/clickhouse"
)

// Modes.
const (
	ModeEmbedded = "embedded"
	ModeExternal = "external"
)

// Config selects and configures ClickHouse. Both modes use the same client
// path: clickhouse-go over HTTP (native optional for real servers).
type Config struct {
	// Mode is "embedded" (the ClickHouse engine in this process, served on
	// Embedded.Listen) or "external" (ClickHouse servers by address).
	Mode     string         `yaml:"mode"`
	Database string         `yaml:"database"`
	Embedded EmbeddedConfig `yaml:"embedded"`
	External ExternalConfig `yaml:"external"`
	// Cluster selects the cluster layout of external servers; the zero
	// value is one server (schemas/clickhouse/README.md#layouts).
	Cluster ClusterConfig `yaml:"cluster"`
	// DialTimeout bounds connecting; QueryTimeout bounds one statement.
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	MaxOpenConns int           `yaml:"max_open_conns"`
	// ActivitiesRetention is how long raw activities are kept (whole days;
	// 0 keeps them all, the default). The health rollups and the scores
	// are kept either way; what needs raw activities (love explanations,
	// identity rebuilds, new queries) sees only the retained ones.
	ActivitiesRetention time.Duration `yaml:"activities_retention"`
}

// EmbeddedConfig configures the embedded engine and its HTTP interface.
type EmbeddedConfig struct {
	// Path holds the engine's data. Empty means <data-dir>/clickhouse.
	Path string `yaml:"path"`
	// Library is the path of libchdb.so. Empty means the cache location that
	// scripts/fetch-chdb.sh fills (override with ORBITFLOW_CHDB_LIB).
	Library string `yaml:"library"`
	// Listen is where the ClickHouse-compatible HTTP interface listens.
	Listen string `yaml:"listen"`
	// User and Password, when Password is set, are required from every
	// HTTP client (like a ClickHouse server's users.xml).
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// ExternalConfig reaches real ClickHouse servers.
type ExternalConfig struct {
	Addrs    []string  `yaml:"addrs"`
	Protocol string    `yaml:"protocol"` // "http" (default) or "native"
	Username string    `yaml:"username"`
	Password string    `yaml:"password"`
	TLS      TLSConfig `yaml:"tls"`
}

// ClusterConfig places the schema on a ClickHouse cluster of one shard
// whose replicas each hold all the data: the migrations run ON CLUSTER
// Name and every table is a Replicated*MergeTree (schemas/clickhouse
// Render). The servers need the cluster in remote_servers, the macros
// {shard} and {replica}, and ClickHouse Keeper (deploy/clickhouse/config.d).
type ClusterConfig struct {
	// Name is the cluster's name in the servers' remote_servers; "" means
	// one server (the statements exactly as the migration files hold them).
	Name string `yaml:"name"`
}

// Layout is the schema layout the config selects.
func (c Config) Layout() chschema.Layout {
	return chschema.Layout{Cluster: c.Cluster.Name}
}

// TLSConfig configures TLS to external servers.
type TLSConfig struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// DefaultConfig returns the embedded default.
func DefaultConfig() Config {
	return Config{
		Mode:         ModeEmbedded,
		Database:     "default",
		Embedded:     EmbeddedConfig{Listen: "127.0.0.1:8123", User: "default"},
		External:     ExternalConfig{Protocol: "http", Username: "default"},
		DialTimeout:  10 * time.Second,
		MaxOpenConns: 8,
	}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Validate reports every problem, each prefixed with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, path, fmt.Sprintf(format, a...)))
	}
	if c.ActivitiesRetention < 0 || c.ActivitiesRetention%(24*time.Hour) != 0 {
		add("activities_retention", "want whole days (e.g. 8760h for a year) or 0 to keep all, got %s", c.ActivitiesRetention)
	}
	if !identifier.MatchString(c.Database) {
		add("database", "want a ClickHouse identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64), got %q", c.Database)
	}
	switch c.Mode {
	case ModeEmbedded:
		if _, _, err := net.SplitHostPort(c.Embedded.Listen); err != nil {
			add("embedded.listen", "want host:port such as 127.0.0.1:8123, got %q", c.Embedded.Listen)
		}
		if c.Embedded.Password != "" && c.Embedded.User == "" {
			add("embedded.user", "a user is required when a password is set")
		}
	case ModeExternal:
		if len(c.External.Addrs) == 0 {
			add("external.addrs", "at least one host:port is required in external mode (e.g. clickhouse:8123)")
		}
		for i, a := range c.External.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				add(fmt.Sprintf("external.addrs[%d]", i), "want host:port, got %q", a)
			}
		}
		if c.External.Protocol != "http" && c.External.Protocol != "native" {
			add("external.protocol", "want \"http\" or \"native\", got %q", c.External.Protocol)
		}
		if (c.External.TLS.CertFile == "") != (c.External.TLS.KeyFile == "") {
			add("external.tls", "cert_file and key_file go together")
		}
	default:
		add("mode", "want %q or %q, got %q", ModeEmbedded, ModeExternal, c.Mode)
	}
	if c.Cluster.Name != "" {
		if c.Mode != ModeExternal {
			add("cluster.name", "a cluster layout needs mode: external (the embedded engine is one server); remove cluster.name or set mode: external, got mode %q", c.Mode)
		} else if err := c.Layout().Validate(); err != nil {
			add("cluster.name", "%v", err)
		}
	}
	if c.DialTimeout <= 0 {
		add("dial_timeout", "must be positive, got %s", c.DialTimeout)
	}
	if c.MaxOpenConns < 1 {
		add("max_open_conns", "must be at least 1, got %d", c.MaxOpenConns)
	}
	return errors.Join(errs...)
}
