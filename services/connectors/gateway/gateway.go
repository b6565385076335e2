// Package gateway receives webhook deliveries (GitHub, Discourse, Slack, the
// generic ingest endpoint) and publishes their activities to the activity
// stream.
//
// Each endpoint is bound to one source and one community. A delivery is
// answered only after the stream has acknowledged everything it produced:
//
//   - 202 with counts: published (events, duplicates), ignored, or
//     dead-lettered (unmapped kinds, invalid events).
//   - 200 with the platform's expected body for handshakes (Slack's
//     url_verification).
//   - 401 for a missing or wrong signature or API key: logged and counted,
//     never an event.
//   - 400 for malformed input, naming the field; the body is dead-lettered.
//   - 413 past max_body_bytes; 405 for methods other than POST.
//   - 503 with Retry-After when the stream does not acknowledge in time, so
//     the platform retries. Event ids are stable per delivery and published
//     as Nats-Msg-Id, so a retried delivery is stored once.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/segmentio/encoding/json"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/config"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Deps are what the gateway publishes through and the platforms it knows.
type Deps struct {
	JS       jetstream.JetStream
	Registry *events.Registry
	// Webhooks maps a source name (HookConfig.Source) to its webhook.
	Webhooks map[string]source.Webhook
	// People flags bots and teammates; nil means none configured.
	People *source.People
	// Now stamps received_at; nil means time.Now.
	Now func() time.Time
}

// Server is the webhook gateway.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	met  metrics
	live *ingest.Live
	// tracer is nil when tracing is off.
	tracer trace.Tracer
	meters metric.MeterProvider

	mu   sync.Mutex
	srv  *http.Server
	addr string
}

// metrics count deliveries; their events are counted by ingest.Live
// (orbitflow.connectors.events and .ignored).
type metrics struct {
	deliveries metric.Int64Counter // by source and outcome
}

// New returns a gateway; Start listens. cfg must be valid
// (Config.Validate).
func New(cfg Config, deps Deps, set telemetry.Settings) *Server {
	set = set.Named("gateway")
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m := set.MeterProvider.Meter("github.com/orbitflow/orbitflow/services/connectors/gateway")
	var met metrics
	met.deliveries, _ = m.Int64Counter("orbitflow.gateway.deliveries",
		metric.WithDescription("Webhook deliveries by source and outcome (accepted, ignored, unauthorized, malformed, too_large, unavailable)"))
	live := ingest.NewLive(deps.JS, deps.Registry, subjects.StageGateway, cfg.PublishTimeout, set)
	return &Server{cfg: cfg, deps: deps, log: set.Logger, met: met, live: live, meters: set.MeterProvider,
		tracer: telemetry.Tracer(set.TracerProvider, "github.com/orbitflow/orbitflow/services/connectors/gateway")}
}

// Handler returns the routes: one POST endpoint per hook.
func (s *Server) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	for i, h := range s.cfg.Hooks {
		wh, ok := s.deps.Webhooks[h.Source]
		if !ok {
			return nil, fmt.Errorf("gateway: hooks[%d]: no webhook for source %q", i, h.Source)
		}
		var secrets [][]byte
		for j, sec := range h.Secrets {
			v, err := config.ResolveSecret(sec)
			if err != nil {
				return nil, fmt.Errorf("gateway: hooks[%d].secrets[%d]: %w", i, j, err)
			}
			secrets = append(secrets, []byte(v))
		}
		ep := &endpoint{s: s, hook: h, wh: wh, secrets: secrets}
		mux.Handle(h.URLPath(), s.traced(ep, h.URLPath(), h.Source, h.Community))
	}
	return telemetry.InstrumentHTTP("gateway", s.meters, mux), nil
}

// Start listens on cfg.Listen; the server runs until Shutdown. With no
// hooks or no listen address it does nothing.
func (s *Server) Start(_ context.Context) error {
	if s.cfg.Listen == "" || len(s.cfg.Hooks) == 0 {
		return nil
	}
	h, err := s.Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", s.cfg.Listen, err)
	}
	if ln, err = s.cfg.TLS.Listener(ln); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: s.cfg.PublishTimeout + 30*time.Second, MaxHeaderBytes: 64 << 10}
	s.mu.Lock()
	s.srv, s.addr = srv, ln.Addr().String()
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("gateway stopped", "err", err)
		}
	}()
	s.log.Info("webhook gateway listening", "addr", s.addr, "hooks", len(s.cfg.Hooks), "tls", s.cfg.TLS.Enabled())
	return nil
}

// Addr is the bound address ("" when not listening).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting deliveries and waits for those in flight (their
// publishes finish or time out). Idempotent; safe without Start.
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

// endpoint serves one hook.
type endpoint struct {
	s       *Server
	hook    HookConfig
	wh      source.Webhook
	secrets [][]byte
}

// reply is the JSON body of every answer but handshakes.
type reply struct {
	Error string `json:"error,omitempty"`
	Field string `json:"field,omitempty"`
	ingest.Outcome
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := e.s
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		e.answer(w, http.StatusMethodNotAllowed, "method_not_allowed", reply{Error: "only POST is accepted"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			e.answer(w, http.StatusRequestEntityTooLarge, "too_large",
				reply{Error: fmt.Sprintf("body over %d bytes", s.cfg.MaxBodyBytes)})
			return
		}
		e.answer(w, http.StatusBadRequest, "malformed", reply{Error: "reading the body: " + err.Error()})
		return
	}
	now := s.deps.Now()
	if err := e.verify(r.Header, body, now); err != nil {
		// Never an event, and never the secret in the log.
		s.log.WarnContext(ctx, "delivery rejected: bad signature", "source", e.hook.Source, "path", e.hook.URLPath(),
			"remote", r.RemoteAddr, "reason", err.Error())
		e.answer(w, http.StatusUnauthorized, "unauthorized", reply{Error: err.Error()})
		return
	}
	env := source.Env{Community: e.hook.Community, People: s.deps.People, Now: func() time.Time { return now }}
	var res source.Result
	// Every platform sends UTF-8 (JSON or form encoding); other bytes
	// would reach ClickHouse as text no reader can trust.
	if at := invalidUTF8(body); at >= 0 {
		err = &source.InputError{Field: "body", Reason: fmt.Sprintf("not valid UTF-8 (byte %d)", at)}
	} else {
		res, err = e.wh.Normalize(env, r.Header, body)
	}
	if err != nil {
		var ie *source.InputError
		if !errors.As(err, &ie) {
			ie = &source.InputError{Reason: err.Error()}
		}
		if dlErr := s.live.DeadLetter(ctx, e.hook.Source, body, deliveryHeader(r.Header), "malformed: "+ie.Error()); dlErr != nil {
			e.unavailable(ctx, w, dlErr)
			return
		}
		if s.tracer != nil {
			bus.Fail(trace.SpanFromContext(ctx), "malformed: "+ie.Error())
		}
		e.answer(w, http.StatusBadRequest, "malformed", reply{Error: ie.Reason, Field: ie.Field, Outcome: ingest.Outcome{DeadLettered: 1}})
		return
	}
	if res.Reply != nil {
		ct := "text/plain; charset=utf-8" // Slack's challenge
		if json.Valid(res.Reply) {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		e.count("handshake")
		_, _ = w.Write(res.Reply)
		return
	}
	out, err := s.live.Publish(ctx, e.hook.Source, res, body, deliveryHeader(r.Header))
	if err != nil {
		e.unavailable(ctx, w, err)
		return
	}
	if s.tracer != nil && out.DeadLettered > 0 {
		bus.Fail(trace.SpanFromContext(ctx), out.Rejected[0])
	}
	s.log.DebugContext(ctx, "delivery stored", "source", e.hook.Source, "community", e.hook.Community,
		"published", out.Published, "duplicates", out.Duplicates, "dead_lettered", out.DeadLettered, "ignored", out.Ignored)
	outcome := "accepted"
	switch {
	case res.Unmapped != "":
		outcome = "unmapped"
	case len(res.Events) == 0:
		outcome = "ignored"
	}
	e.answer(w, http.StatusAccepted, outcome, reply{Outcome: out})
}

// verify accepts the delivery if any configured secret verifies it.
func (e *endpoint) verify(h http.Header, body []byte, now time.Time) error {
	var first error
	for _, sec := range e.secrets {
		err := e.wh.Verify(sec, h, body, now)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// deliveryHeader is what of the request's headers goes with a dead letter
// (for a replay): everything but credentials.
func deliveryHeader(h http.Header) nats.Header {
	hdr := nats.Header{}
	for k, vs := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Cookie", "Proxy-Authorization":
			continue
		}
		for _, v := range vs {
			hdr.Add(k, v)
		}
	}
	return hdr
}

func (e *endpoint) unavailable(ctx context.Context, w http.ResponseWriter, err error) {
	e.s.log.ErrorContext(ctx, "delivery not stored; the platform will retry", "source", e.hook.Source, "err", err)
	w.Header().Set("Retry-After", strconv.Itoa(int(e.s.cfg.RetryAfter/time.Second)))
	msg := "the event stream is unavailable; retry later"
	if errors.Is(err, bus.ErrStreamFull) {
		msg = "the event stream is full; retry later (its operator must make room: see the orbitflow log)"
	}
	e.answer(w, http.StatusServiceUnavailable, "unavailable", reply{Error: msg})
}

func (e *endpoint) answer(w http.ResponseWriter, code int, outcome string, body reply) {
	e.count(outcome)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(body)
	_, _ = w.Write(append(b, '\n'))
}

func (e *endpoint) count(outcome string) {
	e.s.met.deliveries.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("source", e.hook.Source), attribute.String("outcome", outcome)))
}

// invalidUTF8 returns the offset of the first byte that is not UTF-8, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
