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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	otelmetric "go.opentelemetry.io/otel/metric"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/config"
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
	// Tokens are bearer tokens with scopes: read (the query API, the
	// pipeline status, alerts and rules as they are, a rule's test),
	// admin (acknowledge, silence, edit rules) and ingest (reserved for
	// ingest endpoints). Each key is written like api_keys. api_keys
	// hold every scope.
	Tokens []Token `yaml:"tokens"`
	// RateLimit bounds requests per second per token (bursts of twice
	// as many); more get 429 with Retry-After. 0 turns the limit off.
	RateLimit float64 `yaml:"rate_limit"`
	// QueryTimeout bounds each query of the query API.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// TLS serves HTTPS when a certificate is set.
	TLS config.ServerTLS `yaml:"tls"`
	// ReadyMaxLag is how many messages any consumer of the activity and
	// dead-letter streams may have left to process (pending delivery plus
	// unacknowledged) while /readyz still answers ready: beyond it the
	// pipeline is catching up, and what the API serves is behind.
	ReadyMaxLag int64 `yaml:"ready_max_lag"`
}

// Token is a bearer token with its scopes.
type Token struct {
	Key    string   `yaml:"key"`
	Scopes []string `yaml:"scopes"`
}

// Scopes a token may hold.
const (
	ScopeRead   = "read"
	ScopeAdmin  = "admin"
	ScopeIngest = "ingest"
)

var allScopes = []string{ScopeRead, ScopeAdmin, ScopeIngest}

// DefaultConfig listens on loopback.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:8080", RateLimit: 50, QueryTimeout: 10 * time.Second, ReadyMaxLag: 10_000}
}

// Validate reports every problem, each prefixed with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("%s.listen: want host:port or empty, got %q", prefix, c.Listen))
		}
	}
	for i, k := range c.APIKeys {
		if err := checkKey(k); err != nil {
			errs = append(errs, fmt.Errorf("%s.api_keys[%d]: %w", prefix, i, err))
		}
	}
	for i, t := range c.Tokens {
		if err := checkKey(t.Key); err != nil {
			errs = append(errs, fmt.Errorf("%s.tokens[%d].key: %w", prefix, i, err))
		}
		if len(t.Scopes) == 0 {
			errs = append(errs, fmt.Errorf("%s.tokens[%d].scopes: want at least one of %s", prefix, i, strings.Join(allScopes, ", ")))
		}
		for j, sc := range t.Scopes {
			if !slices.Contains(allScopes, sc) {
				errs = append(errs, fmt.Errorf("%s.tokens[%d].scopes[%d]: want one of %s, got %q", prefix, i, j, strings.Join(allScopes, ", "), sc))
			}
		}
	}
	if err := c.TLS.Validate(prefix + ".tls"); err != nil {
		errs = append(errs, err)
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("%s.rate_limit: must not be negative (0 turns it off), got %g", prefix, c.RateLimit))
	}
	if c.QueryTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s.query_timeout: must not be negative, got %s", prefix, c.QueryTimeout))
	}
	if c.ReadyMaxLag < 0 {
		errs = append(errs, fmt.Errorf("%s.ready_max_lag: must not be negative (0: ready only with nothing left to process), got %d", prefix, c.ReadyMaxLag))
	}
	return errors.Join(errs...)
}

func checkKey(k string) error {
	if h, ok := strings.CutPrefix(k, "sha256:"); ok {
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
			return errors.New("want sha256: and 64 hex digits")
		}
		return nil
	}
	if len(k) < 16 {
		return errors.New("must be at least 16 characters (or sha256:<hex>)")
	}
	return nil
}

// keyHash is what a configured key is compared by: the SHA-256 of the
// token (the config may hold only that).
func keyHash(k string) [sha256.Size]byte {
	var sum [sha256.Size]byte
	if h, ok := strings.CutPrefix(k, "sha256:"); ok {
		if b, err := hex.DecodeString(h); err == nil && len(b) == sha256.Size {
			copy(sum[:], b)
		}
		return sum
	}
	return sha256.Sum256([]byte(k))
}

// Deps are what the API reads.
type Deps struct {
	JS jetstream.JetStream
	CH driver.Conn // nil: no ClickHouse (an ops server of the connectors)
	// Consumers, if not nil, are the name prefixes of the consumers whose
	// lag /readyz judges: the process's own (the sink's durables, the
	// scoring processor's). nil judges every consumer of the activity and
	// dead-letter streams (the API: what it serves is only as fresh as all
	// of them); empty judges none.
	Consumers []string
	// SignalOptOuts are the configuration's signal opt-outs
	// (signals.opt_out): community → members. The API lists them and
	// cannot remove them.
	SignalOptOuts map[string][]string
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	metrics http.Handler // GET /metrics, if set
	meters  otelmetric.MeterProvider
	// ops: only /healthz, /readyz and /metrics (NewOps).
	ops bool

	// keys are the SHA-256 of the accepted tokens (the tokens themselves
	// are not kept) with their scopes and request budgets.
	keys []*credential

	mu   sync.Mutex
	srv  *http.Server
	addr string
}

// New returns a server; Start listens. cfg must be valid.
func New(cfg Config, deps Deps, set telemetry.Settings) *Server {
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = DefaultConfig().QueryTimeout
	}
	set = set.Named("api")
	s := &Server{cfg: cfg, deps: deps, log: set.Logger, metrics: set.MetricsHandler, meters: set.MeterProvider}
	for i, k := range cfg.APIKeys {
		s.keys = append(s.keys, &credential{name: fmt.Sprintf("api_keys[%d]", i), sum: keyHash(k), scopes: allScopes,
			bucket: newBucket(cfg.RateLimit)})
	}
	for i, t := range cfg.Tokens {
		s.keys = append(s.keys, &credential{name: fmt.Sprintf("tokens[%d]", i), sum: keyHash(t.Key), scopes: t.Scopes,
			bucket: newBucket(cfg.RateLimit)})
	}
	return s
}

// NewOps returns the operations server of a process that runs no API
// (`orbitflow run --target sink`, ...): /healthz, /readyz and /metrics only,
// /metrics behind a read key as on the API. cfg.Listen is where it listens.
func NewOps(cfg Config, deps Deps, set telemetry.Settings) *Server {
	s := New(cfg, deps, set)
	s.ops = true
	s.log = set.Named("ops").Logger
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
	mux.Handle("GET /v1/pipeline", s.auth(ScopeRead, http.HandlerFunc(s.pipeline)))
	if s.metrics != nil {
		// Prometheus: authorization: {credentials: <a read token>}.
		mux.Handle("GET /metrics", s.auth(ScopeRead, s.metrics))
	}
	if s.ops {
		return http.MaxBytesHandler(telemetry.InstrumentHTTP("ops", s.meters, mux), 64<<10)
	}
	s.queryRoutes(mux)
	s.alertRoutes(mux)
	s.signalRoutes(mux)
	s.dashboardRoutes(mux)
	return s.withAccountImport(http.MaxBytesHandler(telemetry.InstrumentHTTP("api", s.meters, mux), 64<<10))
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
	if ln, err = s.cfg.TLS.Listener(ln); err != nil {
		return fmt.Errorf("api: %w", err)
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
	if s.ops {
		s.log.Info("ops endpoints listening (/healthz, /readyz, /metrics)", "addr", s.addr, "tls", s.cfg.TLS.Enabled())
		return nil
	}
	s.log.Info("API listening", "addr", s.addr, "tls", s.cfg.TLS.Enabled())
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

// credential is one accepted token.
type credential struct {
	name   string // where it is configured, for logs: never the token
	sum    [sha256.Size]byte
	scopes []string
	bucket *bucket
}

// auth lets a request through when its bearer token holds scope and is
// within its rate limit: 401 without a known token, 403 without the
// scope, 429 over the limit. Tokens are compared by their SHA-256 in
// constant time, all of them, so the time taken tells nothing.
func (s *Server) auth(scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var found *credential
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
			sum := sha256.Sum256([]byte(tok))
			for _, k := range s.keys {
				if subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1 {
					found = k
				}
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), credentialKey{}, found))
		switch {
		case found == nil:
			s.log.Warn("unauthorized API request", "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="orbitflow"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong API key: send Authorization: Bearer <key> (api.api_keys or api.tokens)"})
		case !slices.Contains(found.scopes, scope):
			s.log.Warn("API request without the scope", "path", r.URL.Path, "token", found.name, "scope", scope)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("this token lacks the %s scope (api.tokens[].scopes)", scope)})
		default:
			if wait := found.bucket.take(time.Now()); wait > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": fmt.Sprintf("more than %g requests per second with this token (api.rate_limit); retry in %s", s.cfg.RateLimit, wait.Round(time.Millisecond))})
				return
			}
			next.ServeHTTP(w, r)
		}
	})
}

// credentialKey holds, in a request's context, the credential auth found.
type credentialKey struct{}

// credentialOf is the credential auth let the request through with.
func credentialOf(r *http.Request) *credential {
	c, _ := r.Context().Value(credentialKey{}).(*credential)
	return c
}

// bucket is a token bucket: rate per second, bursts of twice as many.
// A nil bucket never limits.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	at     time.Time
}

func newBucket(rate float64) *bucket {
	if rate <= 0 {
		return nil
	}
	return &bucket{rate: rate, tokens: 2 * rate}
}

// take spends one request; it returns 0, or how long until one is free.
func (b *bucket) take(now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() {
		b.tokens = min(2*b.rate, b.tokens+now.Sub(b.at).Seconds()*b.rate)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

type check struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ConsumerLag is one consumer's backlog in the readiness answer.
type ConsumerLag struct {
	Stream   string `json:"stream"`
	Consumer string `json:"consumer"`
	Lag      int64  `json:"lag"` // pending delivery plus unacknowledged
}

// Readiness is the body of GET /readyz: ready when NATS and ClickHouse
// answer and no consumer of the activity or dead-letter stream has more
// than api.ready_max_lag messages left to process.
type Readiness struct {
	Ready     bool          `json:"ready"`
	Checks    []check       `json:"checks"`
	Consumers []ConsumerLag `json:"consumers"`
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	fail := func(err error) check { return check{Error: err.Error()} }
	nats := check{OK: true}
	if _, err := s.deps.JS.AccountInfo(ctx); err != nil {
		nats = fail(err)
	}
	ch := check{OK: true}
	if s.deps.CH != nil {
		if err := s.deps.CH.Ping(ctx); err != nil {
			ch = fail(err)
		}
	}
	lags, err := s.consumerLags(ctx)
	caught := check{OK: true}
	if err != nil {
		caught = fail(err)
	}
	var behind []string
	for _, l := range lags {
		if l.Lag > s.cfg.ReadyMaxLag {
			behind = append(behind, fmt.Sprintf("%s on %s is %d messages behind", l.Consumer, l.Stream, l.Lag))
		}
	}
	if len(behind) > 0 && caught.OK {
		caught = check{Error: strings.Join(behind, "; ") + fmt.Sprintf(" (api.ready_max_lag is %d): the pipeline is catching up; "+
			"if the lag does not fall, see the logs of the consumer (orbitflow status shows its rate)", s.cfg.ReadyMaxLag)}
	}
	nats.Name, ch.Name, caught.Name = "nats", "clickhouse", "consumers"
	checks := []check{nats, ch, caught}
	if s.deps.CH == nil {
		checks = []check{nats, caught}
	}
	body := Readiness{Ready: nats.OK && ch.OK && caught.OK, Checks: checks, Consumers: lags}
	status := http.StatusOK
	if !body.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// consumerLags lists the consumers of the activity and dead-letter
// streams (durable and ordered ones) that Deps.Consumers selects, with
// their backlog.
func (s *Server) consumerLags(ctx context.Context) ([]ConsumerLag, error) {
	lags := []ConsumerLag{}
	if s.deps.Consumers != nil && len(s.deps.Consumers) == 0 {
		return lags, nil
	}
	for _, name := range []string{subjects.ActivityStream, subjects.DeadLetterStream} {
		st, err := s.deps.JS.Stream(ctx, name)
		if err != nil {
			return lags, fmt.Errorf("stream %s: %w", name, err)
		}
		list := st.ListConsumers(ctx)
		for ci := range list.Info() {
			if s.deps.Consumers != nil && !slices.ContainsFunc(s.deps.Consumers, func(p string) bool { return strings.HasPrefix(ci.Name, p) }) {
				continue
			}
			lags = append(lags, ConsumerLag{Stream: name, Consumer: ci.Name, Lag: int64(ci.NumPending) + int64(ci.NumAckPending)})
		}
		if err := list.Err(); err != nil {
			return lags, fmt.Errorf("consumers of %s: %w", name, err)
		}
	}
	return lags, nil
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
