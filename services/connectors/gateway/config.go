package gateway

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/services/kit/config"
)

// Config configures the webhook gateway.
type Config struct {
	// Listen is host:port; "" disables the gateway.
	Listen string `yaml:"listen"`
	// MaxBodyBytes bounds one delivery's body; larger ones get 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// PublishTimeout bounds waiting for the stream's acknowledgement; past
	// it the delivery gets 503 and the platform retries.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// RetryAfter is the Retry-After sent with a 503.
	RetryAfter time.Duration `yaml:"retry_after"`
	// Hooks are the endpoints, one per source and community.
	Hooks []HookConfig `yaml:"hooks"`
	// TLS serves HTTPS when a certificate is set.
	TLS config.ServerTLS `yaml:"tls"`
}

// HookConfig is one endpoint.
type HookConfig struct {
	// Source is the platform: github, discourse, slack or generic.
	Source string `yaml:"source"`
	// Community the deliveries belong to.
	Community string `yaml:"community"`
	// Path is the URL path; default /hooks/<source>. Two hooks of one
	// source need distinct paths, e.g. /hooks/github/acme.
	Path string `yaml:"path"`
	// Secrets verify deliveries: the webhook secret (github, discourse:
	// HMAC key; slack: signing secret) or, for generic, the API keys. Several
	// are accepted at once, for rotation. Write "env:NAME" to read one from
	// the environment or "file:PATH" to read it from a file, keeping secrets
	// out of the config file.
	Secrets []string `yaml:"secrets"`
}

// DefaultConfig listens on loopback with no hooks.
func DefaultConfig() Config {
	return Config{
		Listen:         "127.0.0.1:8090",
		MaxBodyBytes:   4 << 20,
		PublishTimeout: 5 * time.Second,
		RetryAfter:     5 * time.Second,
	}
}

// Validate reports every problem, each prefixed with its path under prefix.
// sources are the known webhook sources.
func (c Config) Validate(prefix string, sources []string) error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, path, fmt.Sprintf(format, a...)))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			add("listen", "want host:port or empty, got %q", c.Listen)
		}
	}
	if err := c.TLS.Validate(prefix + ".tls"); err != nil {
		errs = append(errs, err)
	}
	if c.MaxBodyBytes < 1<<10 || c.MaxBodyBytes > 64<<20 {
		add("max_body_bytes", "must be 1 KiB..64 MiB, got %d", c.MaxBodyBytes)
	}
	if c.PublishTimeout < 100*time.Millisecond {
		add("publish_timeout", "must be at least 100ms, got %s", c.PublishTimeout)
	}
	if c.RetryAfter < time.Second {
		add("retry_after", "must be at least 1s, got %s", c.RetryAfter)
	}
	paths := map[string]int{}
	for i, h := range c.Hooks {
		p := fmt.Sprintf("hooks[%d]", i)
		known := false
		for _, s := range sources {
			known = known || s == h.Source
		}
		if !known {
			add(p+".source", "want one of %s, got %q", strings.Join(sources, ", "), h.Source)
		}
		if h.Community == "" {
			add(p+".community", "required")
		}
		path := h.URLPath()
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " ?#{}") {
			add(p+".path", "want an absolute URL path, got %q", path)
		}
		if j, dup := paths[path]; dup {
			add(p+".path", "%q is also hooks[%d]'s path", path, j)
		}
		paths[path] = i
		if len(h.Secrets) == 0 {
			add(p+".secrets", "required: a delivery is only accepted when it is signed (or carries an API key)")
		}
		for j, s := range h.Secrets {
			v, err := config.ResolveSecret(s)
			switch {
			case err != nil:
				add(fmt.Sprintf("%s.secrets[%d]", p, j), "%v", err)
			case len(v) < 16:
				add(fmt.Sprintf("%s.secrets[%d]", p, j), "must be at least 16 characters")
			}
		}
	}
	return errors.Join(errs...)
}

// URLPath is the hook's path, defaulted.
func (h HookConfig) URLPath() string {
	if h.Path != "" {
		return h.Path
	}
	return "/hooks/" + h.Source
}
