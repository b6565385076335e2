package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// Config configures the Notifier's retries.
type Config struct {
	// Backoff is the delay before the first retry; each further retry
	// waits twice as long (±25% jitter), up to MaxBackoff. 0 means 5s.
	Backoff time.Duration `yaml:"backoff"`
	// MaxBackoff caps the delay between attempts. 0 means 10m.
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// DefaultConfig returns the defaults: 5s, doubling up to 10m. With the
// default 8 attempts a target has about 10 minutes to recover.
func DefaultConfig() Config { return Config{Backoff: 5 * time.Second, MaxBackoff: 10 * time.Minute} }

// Validate reports every problem with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	if c.Backoff < 0 {
		errs = append(errs, fmt.Errorf("%s.backoff: want 0 (default 5s) or a positive duration, got %s", prefix, c.Backoff))
	}
	if c.MaxBackoff < 0 || c.MaxBackoff != 0 && c.MaxBackoff < c.Backoff {
		errs = append(errs, fmt.Errorf("%s.max_backoff: want 0 (default 10m) or at least backoff %s, got %s", prefix, c.Backoff, c.MaxBackoff))
	}
	return errors.Join(errs...)
}

// Deps are what the Notifier reads and calls.
type Deps struct {
	JS jetstream.JetStream
	// Targets returns the current senders by target name. It is called
	// for every delivery, so a reloaded rules file takes effect at once;
	// it must be safe for concurrent use.
	Targets func() map[string]Sender
	// MaxAttempts returns how many times a delivery to target is tried
	// before it is dead-lettered (Target.Attempts); 0 or a nil func means
	// DefaultMaxAttempts, and it is capped at MaxAttemptsLimit.
	MaxAttempts func(target string) int
}

// Notifier consumes deliveries and sends them (Start, Shutdown).
//
// Deliveries to one target are sent one at a time, in the order they
// arrive; different targets are served concurrently, so a target that
// hangs until its timeout delays no other. Every delivery held (queued or
// being sent) is kept from redelivery with InProgress while it waits.
type Notifier struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	met  metrics

	stopping chan struct{} // closed when Shutdown begins: no new sends
	quit     chan struct{} // closed once no more deliveries arrive: workers end

	mu       sync.Mutex
	started  bool
	shutdown bool
	quitting bool // no new workers
	cc       jetstream.ConsumeContext
	runCtx   context.Context
	cancel   context.CancelFunc
	workers  map[string]*worker // by subject
	stopped  chan struct{}      // closed when Shutdown is done
	wg       sync.WaitGroup     // workers and the keep-alive loop

	heldMu sync.Mutex
	held   map[jetstream.Msg]struct{} // received and not yet acked or naked
}

type metrics struct {
	delivered    metric.Int64Counter
	failures     metric.Int64Counter
	deadLettered metric.Int64Counter
}

// worker sends one subject's (one target's) deliveries in order.
type worker struct {
	key string
	ch  chan jetstream.Msg
}

const (
	// workerQueue is a target's queue; the consumer's MaxAckPending
	// (256) bounds what can be waiting in all of them.
	workerQueue = 256
	// workerIdle is how long an idle target's goroutine lingers.
	workerIdle = time.Minute
	// ackTimeout bounds one ack's wait for the server.
	ackTimeout = 5 * time.Second
)

// New returns a Notifier; Start begins consuming. Zero Config fields take
// their defaults.
func New(cfg Config, deps Deps, set telemetry.Settings) *Notifier {
	set = set.Named("alerts-notify")
	def := DefaultConfig()
	if cfg.Backoff <= 0 {
		cfg.Backoff = def.Backoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = max(def.MaxBackoff, cfg.Backoff)
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Backoff)
	m := set.MeterProvider.Meter("github.com/orbitflow/orbitflow/services/processors/alerts/notify")
	var met metrics
	met.delivered, _ = m.Int64Counter("orbitflow.alerts.notifications.delivered", metric.WithDescription("Notifications a target accepted"))
	met.failures, _ = m.Int64Counter("orbitflow.alerts.notifications.failed_attempts", metric.WithDescription("Delivery attempts that failed"))
	met.deadLettered, _ = m.Int64Counter("orbitflow.alerts.notifications.dead_lettered", metric.WithDescription("Notifications given up on and dead-lettered"))
	return &Notifier{cfg: cfg, deps: deps, log: set.Logger, met: met,
		stopping: make(chan struct{}), quit: make(chan struct{}), stopped: make(chan struct{}),
		workers: map[string]*worker{}, held: map[jetstream.Msg]struct{}{}}
}

// Start declares the durable consumer and starts consuming on a context of
// its own (ctx only bounds the declaration).
func (n *Notifier) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.shutdown {
		return errors.New("notify: already started")
	}
	decl := subjects.AlertConsumer(MaxAttemptsLimit)
	cons, err := bus.EnsureConsumer(ctx, n.deps.JS, decl)
	if err != nil {
		return err
	}
	n.runCtx, n.cancel = context.WithCancel(context.Background())
	cc, err := cons.Consume(n.dispatch, jetstream.PullMaxMessages(64),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			select {
			case <-n.stopping:
			default:
				n.log.Warn("consuming deliveries", "err", err)
			}
		}))
	if err != nil {
		n.cancel()
		return fmt.Errorf("notify: consume %s: %w", decl.Durable, err)
	}
	n.cc, n.started = cc, true
	n.wg.Add(1)
	go n.keepAlive(decl.AckWait / 3)
	n.log.Info("alert notifier started", "backoff", n.cfg.Backoff, "max_backoff", n.cfg.MaxBackoff)
	return nil
}

// Shutdown stops consuming, lets the sends under way finish (deliveries
// still queued are naked for redelivery), and waits for every handler, at
// most until ctx ends; then it cuts the sends short (they are retried
// later). Idempotent and safe without Start.
func (n *Notifier) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.shutdown {
		started, stopped := n.started, n.stopped
		n.mu.Unlock()
		if started {
			select {
			case <-stopped:
			case <-ctx.Done():
			}
		}
		return nil
	}
	n.shutdown = true
	cc := n.cc
	n.mu.Unlock()
	if cc == nil {
		return nil
	}
	defer close(n.stopped)
	close(n.stopping)
	var errs []error
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-ctx.Done():
		cc.Stop()
		errs = append(errs, fmt.Errorf("notify: shutdown: consumer not drained: %w", ctx.Err()))
	}
	n.mu.Lock()
	n.quitting = true
	n.mu.Unlock()
	close(n.quit)
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		n.cancel() // sends end now and are naked
		<-done
		errs = append(errs, fmt.Errorf("notify: shutdown: sends cut short (they will be retried): %w", ctx.Err()))
	}
	n.cancel()
	// Naks are fire-and-forget: make sure the server has them.
	if nc := n.deps.JS.Conn(); nc != nil && !nc.IsClosed() {
		_ = nc.FlushTimeout(5 * time.Second)
	}
	return errors.Join(errs...)
}

// dispatch is the consume callback: it queues msg for its target's worker
// and returns without waiting for the send.
func (n *Notifier) dispatch(msg jetstream.Msg) {
	n.hold(msg)
	key := msg.Subject()
	var wait *time.Timer
	for {
		n.mu.Lock()
		if n.quitting || isClosed(n.stopping) {
			n.mu.Unlock()
			n.nak(msg, 0)
			return
		}
		w := n.workers[key]
		if w == nil {
			w = &worker{key: key, ch: make(chan jetstream.Msg, workerQueue)}
			n.workers[key] = w
			n.wg.Add(1)
			go n.runWorker(w)
		}
		select {
		case w.ch <- msg:
			n.mu.Unlock()
			return
		default: // full: wait for room, without the lock
		}
		n.mu.Unlock()
		if wait == nil {
			wait = time.NewTimer(20 * time.Millisecond)
			defer wait.Stop()
		} else {
			wait.Reset(20 * time.Millisecond)
		}
		select {
		case <-wait.C:
		case <-n.stopping:
		}
	}
}

// runWorker sends w's deliveries one at a time. It ends after workerIdle
// without any (the map entry goes with it, under n.mu, so dispatch never
// queues to an ended worker) or at shutdown, naking what is still queued.
func (n *Notifier) runWorker(w *worker) {
	defer n.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case msg := <-w.ch:
			n.handle(msg)
			idle.Reset(workerIdle)
		case <-n.quit:
			for {
				select {
				case msg := <-w.ch:
					n.nak(msg, 0)
				default:
					return
				}
			}
		case <-idle.C:
			n.mu.Lock()
			if len(w.ch) == 0 {
				delete(n.workers, w.key)
				n.mu.Unlock()
				return
			}
			n.mu.Unlock()
			idle.Reset(workerIdle)
		}
	}
}

// handle sends one delivery and settles its message: ack on success,
// dead letter then ack when given up on, nak with a delay otherwise.
func (n *Notifier) handle(msg jetstream.Msg) {
	if isClosed(n.stopping) {
		n.nak(msg, 0) // not started: another instance, or the next start, sends it
		return
	}
	md, err := msg.Metadata()
	if err != nil { // not a JetStream message: cannot happen on a consumer
		n.log.Error("delivery without metadata; terminating it", "subject", msg.Subject(), "err", err)
		n.forget(msg)
		_ = msg.Term()
		return
	}
	attempt := int(md.NumDelivered)
	d, err := decodeDelivery(msg.Data())
	if err != nil {
		source := strings.TrimPrefix(msg.Subject(), subjects.AlertDeliveryPrefix+".")
		n.deadLetter(msg, md, source, fmt.Sprintf("undecodable delivery: %v", err), n.log.With("subject", msg.Subject()))
		return
	}
	log := n.log.With("target", d.Target, "delivery", d.ID)
	var sender Sender
	if n.deps.Targets != nil {
		sender = n.deps.Targets()[d.Target]
	}
	if sender == nil {
		n.deadLetter(msg, md, d.Target, fmt.Sprintf("target %s is not in the rules file", d.Target), log)
		return
	}
	maxAttempts := n.maxAttempts(d.Target)
	if attempt > maxAttempts { // e.g. max_attempts lowered, or a dead letter that failed before
		n.deadLetter(msg, md, d.Target, fmt.Sprintf("target %s: delivered %d times, more than max_attempts %d; not sent again", d.Target, attempt, maxAttempts), log)
		return
	}
	// The sender bounds the attempt with the target's timeout; this bounds
	// a sender that does not.
	ctx, cancel := context.WithTimeout(n.runCtx, MaxTimeout+10*time.Second)
	err = sender.Send(ctx, d)
	cancel()
	attrs := metric.WithAttributes(attribute.String("target", d.Target))
	if err == nil {
		n.met.delivered.Add(context.Background(), 1, attrs)
		log.Debug("delivered", "attempt", attempt)
		n.ack(msg, log)
		return
	}
	n.met.failures.Add(context.Background(), 1, attrs)
	switch {
	case errors.Is(err, ErrPermanent):
		log.Warn("target refused the delivery for good", "attempt", attempt, "err", err)
		n.deadLetter(msg, md, d.Target, fmt.Sprintf("target %s refused delivery %s on attempt %d: %v", d.Target, d.ID, attempt, err), log)
	case n.runCtx.Err() != nil:
		log.Info("send cut short by shutdown; it will be retried", "attempt", attempt, "err", err)
		n.nak(msg, 0)
	case attempt >= maxAttempts:
		log.Warn("delivery failed; out of attempts", "attempt", attempt, "max_attempts", maxAttempts, "err", err)
		n.deadLetter(msg, md, d.Target, fmt.Sprintf("target %s failed delivery %s %d times (max_attempts %d); last error: %v", d.Target, d.ID, attempt, maxAttempts, err), log)
	default:
		delay := n.delay(attempt, err)
		log.Warn("delivery failed; retrying", "attempt", attempt, "max_attempts", maxAttempts, "retry_in", delay, "err", err)
		n.nak(msg, delay)
	}
}

func decodeDelivery(data []byte) (alerts.Delivery, error) {
	var d alerts.Delivery
	if err := json.Unmarshal(data, &d); err != nil {
		return d, err
	}
	switch {
	case d.ID == "":
		return d, errors.New("id: want the delivery id, got nothing")
	case d.Target == "":
		return d, errors.New("target: want the target name, got nothing")
	}
	return d, nil
}

func (n *Notifier) maxAttempts(target string) int {
	m := 0
	if n.deps.MaxAttempts != nil {
		m = n.deps.MaxAttempts(target)
	}
	if m <= 0 {
		m = DefaultMaxAttempts
	}
	return min(m, MaxAttemptsLimit)
}

// delay is the wait before the retry after attempt (1 for the first
// delivery): Backoff doubled per attempt, ±25%, at most MaxBackoff, and no
// less than a Retry-After the target sent (within MaxBackoff).
func (n *Notifier) delay(attempt int, err error) time.Duration {
	d := n.cfg.Backoff
	for i := 1; i < attempt && d < n.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, n.cfg.MaxBackoff)
	d = d*3/4 + time.Duration(rand.Int64N(int64(d/2)+1))
	var ra interface{ RetryDelay() time.Duration }
	if errors.As(err, &ra) {
		d = max(d, ra.RetryDelay())
	}
	return min(d, n.cfg.MaxBackoff)
}

// deadLetter stores msg in the dead-letter stream, retrying until the
// stream has it, and then acks it; at shutdown it naks instead.
func (n *Notifier) deadLetter(msg jetstream.Msg, md *jetstream.MsgMetadata, source, reason string, log *slog.Logger) {
	dl := bus.DeadLetter{Stage: subjects.StageAlerts, Source: source, Reason: reason,
		Payload: msg.Data(), Header: msg.Headers(), Subject: msg.Subject(), Seq: md.Sequence.Stream}
	backoff := min(n.cfg.Backoff, time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := bus.PublishDeadLetter(ctx, n.deps.JS, dl)
		cancel()
		if err == nil {
			break
		}
		log.Warn("dead-letter publish failed; retrying", "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-n.stopping:
			t.Stop()
			n.nak(msg, 0)
			return
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	n.met.deadLettered.Add(context.Background(), 1, metric.WithAttributes(attribute.String("target", source)))
	log.Warn("delivery dead-lettered", "seq", md.Sequence.Stream, "reason", reason)
	n.ack(msg, log)
}

// ack acks msg and waits for the server to confirm.
func (n *Notifier) ack(msg jetstream.Msg, log *slog.Logger) {
	n.forget(msg)
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
		err = msg.DoubleAck(ctx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return
		}
	}
	log.Warn("ack failed; the delivery will come again and may reach the target twice", "err", err)
}

// nak hands msg back for redelivery after delay (0: at once).
func (n *Notifier) nak(msg jetstream.Msg, delay time.Duration) {
	n.forget(msg)
	var err error
	if delay > 0 {
		err = msg.NakWithDelay(delay)
	} else {
		err = msg.Nak()
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		n.log.Warn("nak failed; the delivery comes again after the ack wait", "subject", msg.Subject(), "err", err)
	}
}

func (n *Notifier) hold(msg jetstream.Msg) {
	n.heldMu.Lock()
	n.held[msg] = struct{}{}
	n.heldMu.Unlock()
}

// forget stops keeping msg alive; call it before settling msg, so no
// InProgress follows its ack or nak.
func (n *Notifier) forget(msg jetstream.Msg) {
	n.heldMu.Lock()
	delete(n.held, msg)
	n.heldMu.Unlock()
}

// keepAlive tells the server, every period, that the deliveries held are
// being worked on, so a delivery queued behind a slow target is not
// redelivered (and sent twice) when the consumer's AckWait passes.
func (n *Notifier) keepAlive(every time.Duration) {
	defer n.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			return
		case <-t.C:
			// Under the lock: settling a message forgets it first, so
			// InProgress never follows its ack or nak.
			n.heldMu.Lock()
			for msg := range n.held {
				if err := msg.InProgress(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
					n.log.Debug("in-progress signal failed", "subject", msg.Subject(), "err", err)
				}
			}
			n.heldMu.Unlock()
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
