// Package alerts is the alert evaluator: it judges the rules of the alert
// rules file (rules.go) against ClickHouse on a schedule and whenever the
// activity stream brings news of a community, keeps every alert's state
// (pending → firing → resolved, acknowledgements, silences, cooldowns),
// records each change in ClickHouse (alerts, alert_events) and on the
// ALERTS stream, and queues grouped notifications for the notifier
// (notify/), which delivers them with retries.
//
// Nothing is lost between ClickHouse and the stream: changes are written
// to ClickHouse first, then published with deterministic message ids;
// a batch that failed either step stays in an outbox and is retried on
// the next tick, and at start the changes and notifications of the last
// hour are published again (the stream drops the duplicates).
//
// One evaluator per deployment: it owns the alert state.
package alerts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

// Config configures the evaluator (the `alerts` section).
type Config struct {
	// RulesFile is the alert rules file; "" is <data_dir>/alerts.yaml
	// (the composing binary fills it in). A missing file has no rules.
	RulesFile string `yaml:"rules_file"`
	// Interval is how often every rule is evaluated (silence is only seen
	// on a schedule).
	Interval time.Duration `yaml:"interval"`
	// StreamDebounce is the least time between two evaluations of a
	// community's rules triggered by its activity on the stream.
	StreamDebounce time.Duration `yaml:"stream_debounce"`
	// ReloadInterval is how often the rules file is checked for changes.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// Backoff is the notifier's first retry delay (doubling, capped at 10m).
	Backoff time.Duration `yaml:"backoff"`
}

// DefaultConfig evaluates every minute and at most every 10 s per
// community from the stream.
func DefaultConfig() Config {
	return Config{Interval: time.Minute, StreamDebounce: 10 * time.Second, ReloadInterval: 2 * time.Second, Backoff: 5 * time.Second}
}

// Validate reports every problem with its path under prefix.
func (c Config) Validate(prefix string) error {
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("%s.interval: must be at least 1s, got %s", prefix, c.Interval))
	}
	if c.StreamDebounce < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("%s.stream_debounce: must be at least 100ms, got %s", prefix, c.StreamDebounce))
	}
	if c.ReloadInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("%s.reload_interval: must be at least 100ms, got %s", prefix, c.ReloadInterval))
	}
	if c.Backoff < time.Millisecond {
		errs = append(errs, fmt.Errorf("%s.backoff: must be at least 1ms, got %s", prefix, c.Backoff))
	}
	if c.RulesFile != "" {
		if _, err := LoadFile(c.RulesFile); err != nil {
			errs = append(errs, fmt.Errorf("%s.rules_file: %w", prefix, err))
		}
	}
	return errors.Join(errs...)
}

// Deps are what the evaluator reads and writes.
type Deps struct {
	JS jetstream.JetStream
	CH driver.Conn
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Evaluator is the alerting component: evaluator, control responder and
// notifier.
type Evaluator struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	rd   Reader
	set  telemetry.Settings
	met  metrics

	mu      sync.Mutex // serializes evaluations, control requests and reloads
	file    File
	modTime time.Time
	// targets are the targets in use, read by the notifier without
	// waiting for an evaluation (which holds mu for its queries).
	targets  atomic.Pointer[targets]
	book     *Book
	silences map[string]Silence
	outbox   []batch
	lastEval map[string]time.Time // community → last stream-triggered evaluation

	liveMu sync.Mutex
	live   map[string]map[string]time.Time // community → source → last event seen on the stream
	dirty  map[string]bool

	notifier *notify.Notifier
	sub      *nats.Subscription
	watch    jetstream.ConsumeContext
	cancel   context.CancelFunc
	done     chan struct{}
	started  bool
}

// Silence mutes notifications of the alerts it matches until EndsAt.
type Silence struct {
	ID        string    `json:"id"`
	Rule      string    `json:"rule"`
	Community string    `json:"community"`
	Key       string    `json:"key"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Comment   string    `json:"comment"`
	By        string    `json:"by"`
}

func (s Silence) matches(rule, community, key string, now time.Time) bool {
	return now.Before(s.EndsAt) && !now.Before(s.StartsAt) && (s.Rule == "" || s.Rule == rule) &&
		(s.Community == "" || s.Community == community) && (s.Key == "" || s.Key == key)
}

// batch is what one evaluation (or acknowledgement) writes: the changed
// alerts, their changes and the notification with its targets.
type batch struct {
	transitions  []Transition
	notification *alerts.Notification
	targets      []string
	written      bool // in ClickHouse; only publishing is left
}

// New returns an evaluator; Start runs it. cfg must be valid.
func New(cfg Config, deps Deps, set telemetry.Settings) *Evaluator {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	set = set.Named("alerts")
	return &Evaluator{cfg: cfg, deps: deps, log: set.Logger, set: set, rd: Reader{CH: deps.CH}, book: NewBook(),
		met:      newMetrics(set.MeterProvider.Meter("github.com/orbitflow/orbitflow/services/processors/alerts")),
		silences: map[string]Silence{}, live: map[string]map[string]time.Time{}, dirty: map[string]bool{},
		lastEval: map[string]time.Time{}}
}

// Start loads the rules and the saved state, publishes again what a
// crash may have left unpublished, and starts the notifier, the control
// responder, the stream watcher and the schedule.
func (e *Evaluator) Start(ctx context.Context) error {
	if err := e.reload(true); err != nil {
		return err
	}
	if err := e.restore(ctx); err != nil {
		return err
	}
	e.notifier = notify.New(notify.Config{Backoff: e.cfg.Backoff}, notify.Deps{JS: e.deps.JS, Targets: e.currentSenders,
		MaxAttempts: e.maxAttempts}, e.set)
	if err := e.notifier.Start(ctx); err != nil {
		return err
	}
	sub, err := e.deps.JS.Conn().QueueSubscribe(subjects.AlertControl, "alerts", e.control)
	if err != nil {
		return fmt.Errorf("alerts: subscribe %s: %w", subjects.AlertControl, err)
	}
	e.sub = sub
	cons, err := e.deps.JS.OrderedConsumer(ctx, subjects.ActivityStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.ActivityFilter("")}, DeliverPolicy: jetstream.DeliverNewPolicy, HeadersOnly: true,
		NamePrefix: "alerts-watch-" + nuid.Next()})
	if err != nil {
		return fmt.Errorf("alerts: watch %s: %w", subjects.ActivityStream, err)
	}
	if e.watch, err = cons.Consume(e.seen); err != nil {
		return fmt.Errorf("alerts: watch %s: %w", subjects.ActivityStream, err)
	}
	e.log.Info("alert evaluator started", "rules_file", e.cfg.RulesFile, "rules", len(e.file.Rules), "open_alerts", len(e.book.open),
		"interval", e.cfg.Interval)
	loopCtx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done, e.started = cancel, make(chan struct{}), true
	go e.loop(loopCtx)
	return nil
}

// Shutdown stops the schedule, the watcher, the responder and the
// notifier, flushing what the outbox holds. Idempotent; safe without Start.
func (e *Evaluator) Shutdown(ctx context.Context) error {
	var errs []error
	if e.watch != nil {
		e.watch.Stop()
		e.watch = nil
	}
	if e.sub != nil {
		errs = append(errs, e.sub.Drain())
		e.sub = nil
	}
	if e.started {
		e.cancel()
		select {
		case <-e.done:
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
		}
		e.started = false
		e.mu.Lock()
		e.flush(ctx)
		e.mu.Unlock()
	}
	if e.notifier != nil {
		errs = append(errs, e.notifier.Shutdown(ctx))
		e.notifier = nil
	}
	return errors.Join(errs...)
}

// targets are the notification targets of one rules file.
type targets struct {
	senders  map[string]notify.Sender
	attempts map[string]int
}

func (e *Evaluator) currentSenders() map[string]notify.Sender {
	if t := e.targets.Load(); t != nil {
		return t.senders
	}
	return nil
}

func (e *Evaluator) maxAttempts(target string) int {
	if t := e.targets.Load(); t != nil {
		return t.attempts[target]
	}
	return 0 // the notifier's default
}

// seen records a community's source as live (headers only: the subject
// names both).
func (e *Evaluator) seen(m jetstream.Msg) {
	parts := strings.Split(m.Subject(), ".")
	if len(parts) != 3 {
		return
	}
	now := e.deps.Now()
	e.liveMu.Lock()
	if e.live[parts[1]] == nil {
		e.live[parts[1]] = map[string]time.Time{}
	}
	e.live[parts[1]][parts[2]] = now
	e.dirty[parts[1]] = true
	e.liveMu.Unlock()
}

func (e *Evaluator) liveSeen(community, source string) time.Time {
	e.liveMu.Lock()
	defer e.liveMu.Unlock()
	return e.live[community][source]
}

func (e *Evaluator) loop(ctx context.Context) {
	defer close(e.done)
	tick := time.NewTicker(e.cfg.Interval)
	defer tick.Stop()
	fast := time.NewTicker(min(e.cfg.StreamDebounce, e.cfg.ReloadInterval))
	defer fast.Stop()
	e.EvaluateAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			e.EvaluateAll(ctx)
		case <-fast.C: // at least every ReloadInterval
			if err := e.reload(false); err != nil {
				e.log.Error("alert rules file not reloaded; keeping the rules in use", "err", err)
			}
			e.evaluateDirty(ctx)
		}
	}
}

// EvaluateAll evaluates every enabled rule now.
func (e *Evaluator) EvaluateAll(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flush(ctx)
	for _, r := range e.file.Rules {
		if !r.Disabled {
			e.evaluate(ctx, r)
		}
	}
}

// evaluateDirty evaluates the rules of communities the stream brought
// activity for, at most once per StreamDebounce each.
func (e *Evaluator) evaluateDirty(ctx context.Context) {
	now := e.deps.Now()
	e.liveMu.Lock()
	var due []string
	for c := range e.dirty {
		if now.Sub(e.lastEval[c]) >= e.cfg.StreamDebounce {
			due = append(due, c)
			delete(e.dirty, c)
		}
	}
	e.liveMu.Unlock()
	if len(due) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range due {
		e.lastEval[c] = now
		for _, r := range e.file.Rules {
			// Member rules change with the daily evaluation, account
			// rules with whole days; the stream matters for volumes and
			// sources.
			if r.Community == c && !r.Disabled && r.Detector.Type != MemberSilence && r.Detector.Type != RoleCadence &&
				r.Detector.Type != AccountDrop {
				e.evaluate(ctx, r)
			}
		}
	}
}

// evaluate judges one rule and records what changed. Called with mu held.
func (e *Evaluator) evaluate(ctx context.Context, r Rule) {
	now := e.deps.Now()
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	ev, err := Evaluate(qctx, e.rd, r, now, Env{Live: e.liveSeen, Open: e.book.Keys(r.Name, r.Community)})
	if err != nil {
		e.met.evaluated(r.Detector.Type, "error", time.Since(start))
		e.log.Warn("alert rule not evaluated; will retry on the next tick", "rule", r.Name, "err", err)
		return
	}
	r = ev.Rule
	ts := e.book.Apply(r, r.Community, ev.Decisions, now, false, func(key string) bool { return e.silenced(r.Name, r.Community, key, now) })
	if len(ts) == 0 {
		e.met.evaluated(r.Detector.Type, "unchanged", time.Since(start))
		return
	}
	e.met.evaluated(r.Detector.Type, "changed", time.Since(start))
	b := batch{transitions: ts, notification: notification(r, r.Community, ts, e.file.ExternalURL, now), targets: r.Targets}
	for _, t := range ts {
		e.met.changed(r.Name, t.Change.To)
		e.log.Info("alert "+t.Change.To, "rule", r.Name, "community", r.Community, "key", t.Alert.Key, "alert", t.Alert.ID,
			"value", t.Alert.Value, "baseline", t.Alert.Baseline, "notify", t.Notify)
	}
	e.outbox = append(e.outbox, b)
	e.flush(ctx)
}

func (e *Evaluator) silenced(rule, community, key string, now time.Time) bool {
	for _, s := range e.silences {
		if s.matches(rule, community, key, now) {
			return true
		}
	}
	return false
}

// flush writes and publishes the outbox in order, stopping at the first
// failure (retried on the next tick). Called with mu held.
func (e *Evaluator) flush(ctx context.Context) {
	for len(e.outbox) > 0 {
		b := &e.outbox[0]
		if !b.written {
			if err := e.write(ctx, b); err != nil {
				e.log.Error("alert changes not written to ClickHouse; retrying on the next tick", "err", err)
				return
			}
			b.written = true
		}
		if err := e.publish(ctx, b); err != nil {
			e.log.Error("alert changes not published; retrying on the next tick", "err", err)
			return
		}
		e.outbox = e.outbox[1:]
	}
}

func (e *Evaluator) write(ctx context.Context, b *batch) error {
	var alertRows, eventRows [][]any
	for _, t := range b.transitions {
		a, c := t.Alert, t.Change
		alertRows = append(alertRows, []any{a.ID, a.Fingerprint, a.Rule, a.Community, a.Key, a.Severity, a.State, a.Version, a.StartedAt,
			nullTime(a.FiredAt), nullTime(a.ResolvedAt), nullTime(a.AckedAt), a.AckedBy, nullTime(a.NotifiedAt), a.Value, a.Baseline,
			a.Summary, labels(a.Labels), c.At})
		eventRows = append(eventRows, []any{c.EventID, c.AlertID, c.Version, c.Rule, c.Community, c.Key, c.Severity, c.From, c.To, c.At,
			c.Value, c.Baseline, c.Summary, c.By})
	}
	if err := e.insert(ctx, "alerts", `alert_id, fingerprint, rule, community, key, severity, state, version, started_at, fired_at,
		resolved_at, acknowledged_at, acknowledged_by, notified_at, value, baseline, summary, labels, updated_at`, alertRows); err != nil {
		return err
	}
	if err := e.insert(ctx, "alert_events", `event_id, alert_id, version, rule, community, key, severity, from_state, to_state, at,
		value, baseline, summary, by`, eventRows); err != nil {
		return err
	}
	if n := b.notification; n != nil {
		body, _ := json.Marshal(n)
		return e.insert(ctx, "alert_notifications", "notification_id, rule, community, at, status, targets, body",
			[][]any{{n.ID, n.Rule, n.Community, n.At, n.Status, append([]string{}, b.targets...), string(body)}})
	}
	return nil
}

func (e *Evaluator) insert(ctx context.Context, table, cols string, rows [][]any) error {
	if err := store.Insert(ctx, e.deps.CH, table, cols, rows); err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	return nil
}

// publish sends the changes and one delivery per target, each with a
// deterministic message id: publishing twice stores once.
func (e *Evaluator) publish(ctx context.Context, b *batch) error {
	for _, t := range b.transitions {
		if err := e.publishChange(ctx, t.Change); err != nil {
			return err
		}
	}
	if b.notification != nil {
		return e.publishDeliveries(ctx, *b.notification, b.targets)
	}
	return nil
}

func (e *Evaluator) publishChange(ctx context.Context, c alerts.Change) error {
	data, _ := json.Marshal(c)
	if _, err := e.deps.JS.Publish(ctx, subjects.AlertChange(c.Community), data, jetstream.WithMsgID(c.EventID)); err != nil {
		return fmt.Errorf("alerts: publish change %s: %w", c.EventID, err)
	}
	return nil
}

func (e *Evaluator) publishDeliveries(ctx context.Context, n alerts.Notification, targets []string) error {
	for _, t := range targets {
		d := alerts.Delivery{ID: n.ID + "/" + t, Target: t, Notification: n}
		data, _ := json.Marshal(d)
		if _, err := e.deps.JS.Publish(ctx, subjects.AlertDelivery(t), data, jetstream.WithMsgID(d.ID)); err != nil {
			return fmt.Errorf("alerts: queue notification %s: %w", d.ID, err)
		}
	}
	return nil
}

// reload reads the rules file if it changed (or always when force). A
// file that does not validate is refused and the rules in use are kept.
// Alerts of rules removed or disabled are resolved.
func (e *Evaluator) reload(force bool) error {
	path := e.cfg.RulesFile
	var mod time.Time
	if st, err := os.Stat(path); err == nil {
		mod = st.ModTime()
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("alerts: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !force && mod.Equal(e.modTime) {
		return nil
	}
	f, err := LoadFile(path)
	if err != nil {
		e.modTime = mod // report a broken file once, not every tick
		return err
	}
	e.modTime = mod
	return e.use(f, !force)
}

// use makes f the rules in use. Called with mu held.
func (e *Evaluator) use(f File, logChange bool) error {
	ts := &targets{senders: map[string]notify.Sender{}, attempts: map[string]int{}}
	for name, t := range f.Targets {
		s, err := notify.NewSender(name, t)
		if err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		ts.senders[name], ts.attempts[name] = s, t.Attempts()
	}
	now := e.deps.Now()
	for _, old := range e.file.Rules {
		i := slices.IndexFunc(f.Rules, func(r Rule) bool { return r.Name == old.Name })
		if i < 0 || f.Rules[i].Disabled || f.Rules[i].Community != old.Community {
			if ts := e.book.ResolveRule(old.Name, now); len(ts) > 0 {
				e.outbox = append(e.outbox, batch{transitions: ts})
			}
		}
	}
	e.file = f
	e.targets.Store(ts)
	if logChange {
		e.log.Info("alert rules reloaded", "rules", len(f.Rules), "targets", len(f.Targets))
	}
	return nil
}

// restore loads the open alerts, the cooldowns and the silences, and
// publishes again the changes and notifications of the last hour.
func (e *Evaluator) restore(ctx context.Context) error {
	rows, err := e.deps.CH.Query(ctx, `SELECT alert_id, fingerprint, rule, community, key, severity, state, version, started_at,
		ifNull(fired_at, toDateTime64(0, 3, 'UTC')), ifNull(acknowledged_at, toDateTime64(0, 3, 'UTC')), acknowledged_by,
		ifNull(notified_at, toDateTime64(0, 3, 'UTC')), value, baseline, summary, labels
		FROM alerts FINAL WHERE state IN ('pending', 'firing') OR notified_at >= now64(3) - INTERVAL 1 DAY`)
	if err != nil {
		return fmt.Errorf("alerts: restore: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a := &Alert{}
		if err := rows.Scan(&a.ID, &a.Fingerprint, &a.Rule, &a.Community, &a.Key, &a.Severity, &a.State, &a.Version, &a.StartedAt,
			&a.FiredAt, &a.AckedAt, &a.AckedBy, &a.NotifiedAt, &a.Value, &a.Baseline, &a.Summary, &a.Labels); err != nil {
			return fmt.Errorf("alerts: restore: %w", err)
		}
		a.FiredAt, a.AckedAt, a.NotifiedAt = zeroEpoch(a.FiredAt), zeroEpoch(a.AckedAt), zeroEpoch(a.NotifiedAt)
		e.book.Restore(a)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := e.loadSilences(ctx); err != nil {
		return err
	}
	return e.republish(ctx)
}

func (e *Evaluator) loadSilences(ctx context.Context) error {
	rows, err := e.deps.CH.Query(ctx, `SELECT silence_id, rule, community, key, starts_at, ends_at, comment, created_by
		FROM alert_silences FINAL WHERE ends_at > now64(3)`)
	if err != nil {
		return fmt.Errorf("alerts: silences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Silence
		if err := rows.Scan(&s.ID, &s.Rule, &s.Community, &s.Key, &s.StartsAt, &s.EndsAt, &s.Comment, &s.By); err != nil {
			return err
		}
		e.silences[s.ID] = s
	}
	return rows.Err()
}

// republish publishes the last hour's changes and notifications again: a
// crash between the ClickHouse write and the publish loses nothing, and
// the stream's duplicate window drops what was already there.
func (e *Evaluator) republish(ctx context.Context) error {
	rows, err := e.deps.CH.Query(ctx, `SELECT event_id, alert_id, version, rule, community, key, severity, from_state, to_state, at,
		value, baseline, summary, by FROM alert_events FINAL WHERE at >= now64(3) - INTERVAL 1 HOUR ORDER BY at, version`)
	if err != nil {
		return fmt.Errorf("alerts: republish: %w", err)
	}
	var changes []alerts.Change
	for rows.Next() {
		var c alerts.Change
		if err := rows.Scan(&c.EventID, &c.AlertID, &c.Version, &c.Rule, &c.Community, &c.Key, &c.Severity, &c.From, &c.To, &c.At,
			&c.Value, &c.Baseline, &c.Summary, &c.By); err != nil {
			rows.Close()
			return err
		}
		changes = append(changes, c)
	}
	rows.Close()
	for _, c := range changes {
		if err := e.publishChange(ctx, c); err != nil {
			return err
		}
	}
	nrows, err := e.deps.CH.Query(ctx, `SELECT body, targets FROM alert_notifications FINAL WHERE at >= now64(3) - INTERVAL 1 HOUR ORDER BY at`)
	if err != nil {
		return fmt.Errorf("alerts: republish: %w", err)
	}
	defer nrows.Close()
	for nrows.Next() {
		var body string
		var targets []string
		if err := nrows.Scan(&body, &targets); err != nil {
			return err
		}
		var n alerts.Notification
		if err := json.Unmarshal([]byte(body), &n); err != nil {
			return fmt.Errorf("alerts: republish notification: %w", err)
		}
		if err := e.publishDeliveries(ctx, n, targets); err != nil {
			return err
		}
	}
	return nrows.Err()
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func zeroEpoch(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t
}

func labels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
