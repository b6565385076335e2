// Package api serves Orbitflow's HTTP API: liveness and readiness for
// operators and orchestrators, the pipeline status (stream depth, consumer
// lag), and the query API over the community health views and the Orbit
// Model's tables (query.go, documented in openapi.json), behind API keys.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Config configures the API server.
type Config struct {
	// Listen is host:port; "" disables the server.
	Listen string `yaml:"listen"`
	// APIKeys are the bearer tokens accepted on /v1/ and /api/v1/
	// endpoints: the token itself, or better "sha256:<hex of its SHA-256>"
	// so the config holds no secret. When empty, `orbitflow run` generates
	// one into <data_dir>/api-key (mode 0600).
	APIKeys []string `yaml:"api_keys"`
	// QueryTimeout bounds each query of the query API.
	QueryTimeout time.Duration `yaml:"query_timeout"`
}

// DefaultConfig listens on loopback.
func DefaultConfig() Config { return Config{Listen: "127.0.0.1:8080", QueryTimeout: 10 * time.Second} }

// Validate reports every problem, each prefixed with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("%s.listen: want host:port or empty, got %q", prefix, c.Listen))
		}
	}
	for i, k := range c.APIKeys {
		if h, ok := strings.CutPrefix(k, "sha256:"); ok {
			if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
				errs = append(errs, fmt.Errorf("%s.api_keys[%d]: want sha256: and 64 hex digits", prefix, i))
			}
		} else if len(k) < 16 {
			errs = append(errs, fmt.Errorf("%s.api_keys[%d]: must be at least 16 characters (or sha256:<hex>)", prefix, i))
		}
	}
	if c.QueryTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s.query_timeout: must not be negative, got %s", prefix, c.QueryTimeout))
	}
	return errors.Join(errs...)
}

// Deps are what the API reads.
type Deps struct {
	JS jetstream.JetStream
	CH driver.Conn
}

// Server is the HTTP API.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	// keys are the SHA-256 of the accepted tokens: the tokens themselves
	// are not kept.
	keys [][sha256.Size]byte

	mu   sync.Mutex
	srv  *http.Server
	addr string
}

// New returns a server; Start listens. cfg must be valid.
func New(cfg Config, deps Deps, set telemetry.Settings) *Server {
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = DefaultConfig().QueryTimeout
	}
	s := &Server{cfg: cfg, deps: deps, log: set.Named("api").Logger}
	for _, k := range cfg.APIKeys {
		if h, ok := strings.CutPrefix(k, "sha256:"); ok {
			var sum [sha256.Size]byte
			if b, err := hex.DecodeString(h); err == nil && len(b) == sha256.Size {
				copy(sum[:], b)
				s.keys = append(s.keys, sum)
			}
			continue
		}
		s.keys = append(s.keys, sha256.Sum256([]byte(k)))
	}
	return s
}

// Handler returns the routes, for tests and embedding.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /v1/pipeline", s.auth(http.HandlerFunc(s.pipeline)))
	s.queryRoutes(mux)
	s.alertRoutes(mux)
	return http.MaxBytesHandler(mux, 64<<10)
}

// Start listens on cfg.Listen. The server runs on its own goroutine until
// Shutdown.
func (s *Server) Start(_ context.Context) error {
	if s.cfg.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.cfg.Listen, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	s.mu.Lock()
	s.srv, s.addr = srv, ln.Addr().String()
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api server stopped", "err", err)
		}
	}()
	s.log.Info("API listening", "addr", s.addr)
	return nil
}

// Addr is the bound address ("" when not listening).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops the server. Idempotent; safe without Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok && tok != "" {
			sum := sha256.Sum256([]byte(tok))
			for _, k := range s.keys {
				if subtle.ConstantTimeCompare(sum[:], k[:]) == 1 {
					next.ServeHTTP(w, r)
					return
				}
			}
		}
		s.log.Warn("unauthorized API request", "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="orbitflow"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong API key: send Authorization: Bearer <key> (api.api_keys)"})
	})
}

type check struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := []check{{Name: "nats"}, {Name: "clickhouse"}}
	if _, err := s.deps.JS.AccountInfo(ctx); err != nil {
		checks[0].Error = err.Error()
	} else {
		checks[0].OK = true
	}
	if err := s.deps.CH.Ping(ctx); err != nil {
		checks[1].Error = err.Error()
	} else {
		checks[1].OK = true
	}
	status := http.StatusOK
	for _, c := range checks {
		if !c.OK {
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}

// StreamStatus is one stream's depth.
type StreamStatus struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// ConsumerStatus is one durable consumer's progress.
type ConsumerStatus struct {
	Stream      string `json:"stream"`
	Name        string `json:"name"`
	AckFloor    uint64 `json:"ack_floor"`
	Pending     uint64 `json:"pending"`     // in the stream, not yet delivered
	AckPending  int    `json:"ack_pending"` // delivered, not yet acknowledged
	Redelivered int    `json:"redelivered"`
}

// Pipeline is the body of GET /v1/pipeline.
type Pipeline struct {
	Streams   []StreamStatus   `json:"streams"`
	Consumers []ConsumerStatus `json:"consumers"`
}

func (s *Server) pipeline(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var p Pipeline
	for _, name := range []string{subjects.ActivityStream, subjects.DeadLetterStream} {
		st, err := s.deps.JS.Stream(ctx, name)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("stream %s: %v", name, err)})
			return
		}
		info, err := st.Info(ctx)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("stream %s: %v", name, err)})
			return
		}
		p.Streams = append(p.Streams, StreamStatus{Name: name, Messages: info.State.Msgs, Bytes: info.State.Bytes, FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq})
		for ci := range st.ListConsumers(ctx).Info() {
			p.Consumers = append(p.Consumers, ConsumerStatus{Stream: name, Name: ci.Name, AckFloor: ci.AckFloor.Stream,
				Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered})
		}
	}
	writeJSON(w, http.StatusOK, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
