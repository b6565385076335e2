package bus

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// Modes.
const (
	ModeEmbedded = "embedded"
	ModeExternal = "external"
)

// Config selects and configures the NATS JetStream the services use.
type Config struct {
	// Mode is "embedded" (the real nats-server in this process) or
	// "external" (a NATS server or cluster reached by URL).
	Mode     string         `yaml:"mode"`
	Embedded EmbeddedConfig `yaml:"embedded"`
	External ExternalConfig `yaml:"external"`
	Streams  StreamsConfig  `yaml:"streams"`
	// PublishMaxPending bounds async publishes awaiting an ack; a publisher
	// blocks when the window is full.
	PublishMaxPending int `yaml:"publish_max_pending"`
}

// EmbeddedConfig configures the in-process NATS server.
type EmbeddedConfig struct {
	// StoreDir holds JetStream's files. Empty means <data-dir>/nats.
	StoreDir string `yaml:"store_dir"`
	// SyncInterval is how often JetStream fsyncs its files. The server's own
	// default is 2 minutes, so an acknowledged message can be lost to a power
	// failure within that window; 1s costs nothing measurable here. "always"
	// fsyncs every write (~4k msg/s on this class of machine).
	SyncInterval string `yaml:"sync_interval"`
	// Listen is a host:port where other processes (orbitflow ingest, sql)
	// reach this server. Empty means in-process only. Clients must present
	// Token; when Token is empty one is generated per start.
	Listen string `yaml:"listen"`
	Token  string `yaml:"token"`
	// MaxMemory and MaxStore bound JetStream's memory and disk use (bytes);
	// 0 lets the server choose.
	MaxMemory int64 `yaml:"max_memory"`
	MaxStore  int64 `yaml:"max_store"`
	// Cluster makes the server a node of a JetStream cluster
	// (`orbitflow run --target nats` on each of three machines, for a
	// deployment without NATS servers of its own; the tests of split mode).
	Cluster ClusterConfig `yaml:"cluster"`
}

// ClusterConfig joins the embedded server to a cluster. The routes
// authenticate with the client token (embedded.token, the same on every
// node).
type ClusterConfig struct {
	// Name is the cluster's name; "" is no cluster.
	Name string `yaml:"name"`
	// Node is this server's name, unique in the cluster.
	Node string `yaml:"node"`
	// Listen is the host:port the other nodes' routes connect to.
	Listen string `yaml:"listen"`
	// Routes are the other nodes' listen addresses (host:port); listing
	// this node's own too is fine.
	Routes []string `yaml:"routes"`
}

// ExternalConfig reaches an existing NATS server or cluster.
type ExternalConfig struct {
	URLs      []string  `yaml:"urls"`
	User      string    `yaml:"user"`
	Password  string    `yaml:"password"`
	Token     string    `yaml:"token"`
	CredsFile string    `yaml:"creds_file"`
	TLS       TLSConfig `yaml:"tls"`
	// ManageStreams lets Start create or update the streams (the user needs
	// $JS.API.STREAM.CREATE/UPDATE). With false Start only looks them up, so
	// a least-privilege user can start; an admin declares them beforehand
	// with `orbitflow streams apply` (deploy/nats/).
	ManageStreams bool `yaml:"manage_streams"`
}

// TLSConfig configures TLS to an external server.
type TLSConfig struct {
	Enabled  bool   `yaml:"enabled"`
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// StreamsConfig holds the user-tunable stream limits (see schemas/subjects).
type StreamsConfig struct {
	// Storage is "file" or "memory".
	Storage            string        `yaml:"storage"`
	Replicas           int           `yaml:"replicas"`
	DuplicateWindow    time.Duration `yaml:"duplicate_window"`
	ActivityMaxAge     time.Duration `yaml:"activity_max_age"`
	ActivityMaxBytes   int64         `yaml:"activity_max_bytes"`
	DeadLetterMaxAge   time.Duration `yaml:"dead_letter_max_age"`
	DeadLetterMaxBytes int64         `yaml:"dead_letter_max_bytes"`
	MaxMsgSize         int32         `yaml:"max_msg_size"`
}

// DefaultConfig returns the embedded default.
func DefaultConfig() Config {
	l := subjects.DefaultLimits()
	return Config{
		Mode: ModeEmbedded,
		Embedded: EmbeddedConfig{
			SyncInterval: "1s",
			Listen:       "127.0.0.1:4222",
		},
		External: ExternalConfig{ManageStreams: true},
		Streams: StreamsConfig{
			Storage:            "file",
			Replicas:           l.Replicas,
			DuplicateWindow:    l.Duplicates,
			ActivityMaxAge:     l.ActivityMaxAge,
			ActivityMaxBytes:   l.ActivityMaxBytes,
			DeadLetterMaxAge:   l.DeadMaxAge,
			DeadLetterMaxBytes: l.DeadMaxBytes,
			MaxMsgSize:         l.MaxMsgSize,
		},
		PublishMaxPending: 4096,
	}
}

// Limits converts the stream settings into schemas/subjects limits.
func (c StreamsConfig) Limits() subjects.Limits {
	st := subjects.FileStorage
	if c.Storage == "memory" {
		st = subjects.MemoryStorage
	}
	return subjects.Limits{
		Storage:          st,
		Replicas:         c.Replicas,
		Duplicates:       c.DuplicateWindow,
		ActivityMaxAge:   c.ActivityMaxAge,
		ActivityMaxBytes: c.ActivityMaxBytes,
		DeadMaxAge:       c.DeadLetterMaxAge,
		DeadMaxBytes:     c.DeadLetterMaxBytes,
		MaxMsgSize:       c.MaxMsgSize,
	}
}

// syncInterval parses SyncInterval: a duration or "always".
func (c EmbeddedConfig) syncInterval() (d time.Duration, always bool, err error) {
	if c.SyncInterval == "always" {
		return 0, true, nil
	}
	d, err = time.ParseDuration(c.SyncInterval)
	if err != nil || d <= 0 {
		return 0, false, fmt.Errorf("want a positive duration such as 1s, or \"always\"; got %q", c.SyncInterval)
	}
	return d, false, nil
}

// Validate reports every problem, each prefixed with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, path, fmt.Sprintf(format, a...)))
	}
	switch c.Mode {
	case ModeEmbedded:
		if _, _, err := c.Embedded.syncInterval(); err != nil {
			add("embedded.sync_interval", "%v", err)
		}
		if c.Embedded.Listen != "" {
			if _, _, err := net.SplitHostPort(c.Embedded.Listen); err != nil {
				add("embedded.listen", "want host:port (e.g. 127.0.0.1:4222) or empty; got %q", c.Embedded.Listen)
			}
		}
		if cl := c.Embedded.Cluster; cl.Name != "" {
			if cl.Node == "" {
				add("embedded.cluster.node", "want this server's name, unique in the cluster")
			}
			if _, _, err := net.SplitHostPort(cl.Listen); err != nil {
				add("embedded.cluster.listen", "want host:port for the other nodes' routes; got %q", cl.Listen)
			}
			if len(cl.Routes) == 0 {
				add("embedded.cluster.routes", "want the other nodes' cluster.listen addresses")
			}
			for i, r := range cl.Routes {
				if _, _, err := net.SplitHostPort(r); err != nil {
					add(fmt.Sprintf("embedded.cluster.routes[%d]", i), "want host:port; got %q", r)
				}
			}
			if c.Embedded.Listen == "" || c.Embedded.Token == "" {
				add("embedded.cluster", "a cluster node needs embedded.listen (its clients) and embedded.token (the same on every node: the routes authenticate with it)")
			}
		}
		if c.Embedded.MaxMemory < 0 || c.Embedded.MaxStore < 0 {
			add("embedded", "max_memory and max_store must be 0 (server default) or positive")
		}
	case ModeExternal:
		if len(c.External.URLs) == 0 {
			add("external.urls", "at least one URL is required in external mode (e.g. nats://nats:4222)")
		}
		if c.External.CredsFile != "" {
			if _, err := os.Stat(c.External.CredsFile); err != nil {
				add("external.creds_file", "%v", err)
			}
		}
		if c.External.Token != "" && c.External.User != "" {
			add("external", "set either token or user/password, not both")
		}
		if c.External.TLS.CertFile != "" && c.External.TLS.KeyFile == "" || c.External.TLS.CertFile == "" && c.External.TLS.KeyFile != "" {
			add("external.tls", "cert_file and key_file go together")
		}
	default:
		add("mode", "want %q or %q, got %q", ModeEmbedded, ModeExternal, c.Mode)
	}
	if c.Streams.Storage != "file" && c.Streams.Storage != "memory" {
		add("streams.storage", "want \"file\" or \"memory\", got %q", c.Streams.Storage)
	}
	for _, err := range c.Streams.Limits().Validate() {
		errs = append(errs, fmt.Errorf("%s.streams.%w", prefix, err))
	}
	if c.PublishMaxPending < 1 || c.PublishMaxPending > 1<<20 {
		add("publish_max_pending", "must be 1..1048576, got %d", c.PublishMaxPending)
	}
	return errors.Join(errs...)
}
