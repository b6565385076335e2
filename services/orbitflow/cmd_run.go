package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/api/accounts"
	"github.com/orbitflow/orbitflow/services/connectors/demo"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
)

// runGCPercent is the garbage collector's target for `orbitflow run` when
// GOGC is not set. The process holds NATS, the sink's batches and the engine;
// trading some heap for fewer collections made the sink ~15% faster
// (BenchmarkSinkThroughput, GOGC=300 vs 100, medians of 3: 90.8k vs 77.1k
// events/s).
const runGCPercent = 300

// demoMarker records that the demo community was ingested into a data dir.
const demoMarker = "demo-ingested"

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c common
	c.register(fs)
	targetName := fs.String("target", "all", "what this process runs: "+targetHelp())
	withDemo := fs.Bool("demo", false, "on first start, ingest a generated demo community (90 days, several sources); then keep it talking live")
	demoSources := fs.String("demo-sources", "", "with --demo: the sources that keep talking live (comma-separated; default all: "+
		strings.Join(demo.Sources(), ",")+"; \"none\" for no live activity). Leave one out and demo-source-silent fires")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	target, ok := app.Targets[*targetName]
	if !ok {
		return usagef("--target: want one of %s, got %q", strings.Join(app.TargetNames(), ", "), *targetName)
	}
	if *withDemo && target.Name != "all" {
		return usagef("--demo: only with --target all (the demo needs every part in one process)")
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if err := cfg.CheckTarget(target); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if target.Name != "all" {
		log = log.With("target", target.Name)
	}
	metrics, err := telemetry.NewMetrics()
	if err != nil {
		return err
	}
	defer metrics.Shutdown(context.Background())
	// Deferred before the stack starts, so it runs after the stack has
	// shut down: the spans of the final flushes are exported too.
	traces, stopTraces, err := startTraces(cfg, log)
	if err != nil {
		return err
	}
	defer stopTraces()
	set := telemetry.Settings{Logger: log, TracerProvider: traces.Provider(), MeterProvider: metrics.Provider(), MetricsHandler: metrics.Handler()}.WithDefaults()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(runGCPercent)
	}

	var liveSources []string
	if *withDemo {
		if *demoSources != "" && *demoSources != "none" {
			liveSources = strings.Split(*demoSources, ",")
			if err := demo.CheckSources(liveSources); err != nil {
				return usagef("--demo-sources: %v", err)
			}
		}
		if err := writeDemoRules(cfg, stderr); err != nil {
			return err
		}
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	stack, err := app.Start(startCtx, cfg, target.StartParts(), set)
	if err != nil {
		return err
	}
	var lease *bus.Lease // released after the parts it guards stopped
	defer func() {
		log.Info("shutting down: flushing the sink, draining NATS")
		sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := stack.Shutdown(sctx); err != nil {
			log.Error("shutdown", "err", err)
		}
		if lease != nil {
			if err := lease.Release(sctx); err != nil {
				log.Warn("lease not released; a standby takes over when it expires", "err", err)
			}
		}
		log.Info("stopped")
	}()

	var natsURL, token string
	if stack.Bus != nil {
		natsURL, token = stack.Bus.ClientURL()
	}
	st := app.RunState{
		PID: os.Getpid(), NATSURL: natsURL, NATSToken: token,
		ClickHouseHTTP: stack.ClickHouseAddr, Database: cfg.ClickHouse.Database, StartedAt: time.Now().UTC(),
	}
	if target.Name == "all" && (cfg.NATS.Mode == "embedded" || cfg.ClickHouse.Mode == "embedded") {
		if err := app.WriteState(cfg.DataDir, st); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(cfg.DataDir, "run.json"), err)
		}
		defer app.RemoveState(cfg.DataDir)
	}
	apiAddr, hooksAddr := "", ""
	if stack.API != nil {
		apiAddr = stack.API.Addr()
	}
	if stack.Gateway != nil {
		hooksAddr = stack.Gateway.Addr()
	}
	if target.Name != "all" {
		printTarget(stdout, cfg, target, stack)
	} else {
		printWelcome(stdout, cfg, st, apiAddr, hooksAddr)
	}
	if target.Lease != "" {
		host, _ := os.Hostname()
		lease, err = bus.AcquireLease(ctx, stack.Bus.JetStream(), target.Lease, fmt.Sprintf("%s pid %d", host, os.Getpid()), cfg.Ops.LeaseTTL, log)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while standing by
			}
			return err
		}
		mctx, mcancel := context.WithTimeout(ctx, 2*time.Minute) // not startCtx: the wait may have been long
		err := stack.StartMore(mctx, target.Guarded)
		mcancel()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  active: holds the %s lease\n", target.Lease)
		select {
		case <-ctx.Done():
			return nil
		case <-lease.Lost():
			// Another instance may be scoring already: stop at once; the
			// supervisor restarts this one as a standby.
			return fmt.Errorf("%w; exiting so that one instance alone scores (restart it: it waits as a standby)", lease.Err())
		}
	}

	if *withDemo {
		if err := ingestDemo(ctx, stack, cfg, stderr); err != nil {
			return err
		}
		if *demoSources != "none" {
			done := make(chan struct{})
			go func() {
				defer close(done)
				liveDemo(ctx, stack, liveSources, log)
			}()
			defer func() { <-done }() // before the stack shuts down: it publishes until ctx ends
		}
	}
	<-ctx.Done()
	return nil
}

// liveDemo keeps the demo community talking until ctx ends: what
// happened since the history ended (the start of today), then events as
// their time comes, each acknowledged by the stream before the next.
func liveDemo(ctx context.Context, stack *app.Stack, sources []string, log *slog.Logger) {
	lc := demoLive(sources, 1200)
	log.Info("demo community talking live", "sources", strings.Join(talkingSources(lc), ","), "events_per_hour", lc.PerHour)
	err := feedDemo(ctx, stack.Bus.JetStream(), stack.Registry, lc, telemetry.Settings{Logger: log}.WithDefaults(), nil)
	if err != nil && ctx.Err() == nil {
		log.Error("the live demo feed stopped", "err", err)
	}
}

// targetHelp lists the targets for --target's usage line.
func targetHelp() string {
	var b strings.Builder
	for i, name := range app.TargetNames() {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s)", name, app.Targets[name].Help)
	}
	return b.String()
}

// printTarget says what a split-mode process serves.
func printTarget(w io.Writer, cfg app.Config, t app.Target, stack *app.Stack) {
	fmt.Fprintf(w, "orbitflow %s is running --target %s: %s. Stop with Ctrl-C.\n", version, t.Name, t.Help)
	if stack.ClickHouseAddr != "" {
		fmt.Fprintf(w, "  ClickHouse HTTP interface: http://%s/ (database %s)\n", stack.ClickHouseAddr, cfg.ClickHouse.Database)
	}
	if t.Name == "nats" && stack.Bus != nil {
		url, _ := stack.Bus.ClientURL()
		fmt.Fprintf(w, "  NATS: %s\n", url)
	}
	if stack.API != nil {
		fmt.Fprintf(w, "  API and dashboard: http://%s/ (/healthz, /readyz, /metrics)\n", stack.API.Addr())
	}
	if stack.Ops != nil {
		fmt.Fprintf(w, "  ops: http://%s/healthz, /readyz, /metrics (a read key)\n", stack.Ops.Addr())
	}
	if stack.Gateway != nil {
		for _, h := range cfg.Gateway.Hooks {
			fmt.Fprintf(w, "  webhook: POST http://%s%s (%s, community %s)\n", stack.Gateway.Addr(), h.URLPath(), h.Source, h.Community)
		}
	}
	if stack.SinkGroup != nil {
		fmt.Fprintf(w, "  sink: this instance's share of the %d shards (sink.shards), rebalanced as instances come and go\n", cfg.Sink.Shards)
	}
	if stack.ScoringGroup != nil {
		fmt.Fprintf(w, "  scoring: this instance's share of the %d shards (scoring.shards), rebalanced as instances come and go\n", cfg.Scoring.Shards)
	}
}

func printWelcome(w io.Writer, cfg app.Config, st app.RunState, apiAddr, hooksAddr string) {
	fmt.Fprintf(w, "orbitflow %s is running (data dir %s). Stop with Ctrl-C.\n", version, cfg.DataDir)
	if st.ClickHouseHTTP != "" {
		fmt.Fprintf(w, "  ClickHouse HTTP interface: http://%s/ (database %s)\n", st.ClickHouseHTTP, cfg.ClickHouse.Database)
	}
	if st.NATSURL != "" {
		fmt.Fprintf(w, "  NATS: %s (token in %s)\n", st.NATSURL, filepath.Join(cfg.DataDir, "run.json"))
	}
	if apiAddr != "" {
		fmt.Fprintf(w, "  dashboard: http://%s/ (sign in with the API key)\n", apiAddr)
		fmt.Fprintf(w, "  API: http://%s/v1/pipeline (Authorization: Bearer <key>; key in %s unless api.api_keys is set)\n", apiAddr, filepath.Join(cfg.DataDir, "api-key"))
	}
	if hooksAddr != "" {
		for _, h := range cfg.Gateway.Hooks {
			fmt.Fprintf(w, "  webhook: POST http://%s%s (%s, community %s)\n", hooksAddr, h.URLPath(), h.Source, h.Community)
		}
	}
	fmt.Fprintf(w, "Try:\n")
	fmt.Fprintf(w, "  ./bin/orbitflow sql \"SELECT source, count() FROM activities GROUP BY source ORDER BY source\"\n")
	if st.ClickHouseHTTP != "" {
		fmt.Fprintf(w, "  curl 'http://%s/?query=SELECT+count()+FROM+activities'\n", st.ClickHouseHTTP)
	}
	fmt.Fprintf(w, "  ./bin/orbitflow ingest --source jsonl --community NAME --wait events.jsonl\n")
}

// ingestDemo publishes the generated demo community once per data dir.
func ingestDemo(ctx context.Context, stack *app.Stack, cfg app.Config, stderr io.Writer) error {
	marker := filepath.Join(cfg.DataDir, demoMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	dc := demo.DefaultConfig()
	src := func(yield func(ingest.Record) bool) {
		_, _ = demo.Generate(dc, func(ev events.Event) error {
			if !yield(ingest.Record{Event: ev, Pos: "demo:" + ev.ID}) {
				return errStop
			}
			return nil
		})
	}
	fmt.Fprintf(stderr, "generating the demo community (%d members, ~%d events over %d days) ...\n", dc.Members, dc.Events, dc.Days)
	report, finish := progressPrinter(stderr, "demo", nil)
	stats, err := ingest.Run(ctx, stack.Bus.JetStream(), src, ingest.Options{
		Community: dc.Community, Format: "demo", Registry: stack.Registry, TracerProvider: stack.Telemetry().TracerProvider,
		Progress: report, ProgressEvery: 5000,
	})
	finish()
	if err != nil {
		return fmt.Errorf("demo ingest: %w", err)
	}
	fmt.Fprintf(stderr, "demo: %s\n", stats.Summary())
	if err := waitQueryable(ctx, stack.Bus.JetStream(), stats, stderr); err != nil {
		return err
	}
	if err := importDemoAccounts(ctx, stack.CH, stderr); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600)
}

// importDemoAccounts imports the demo's customer accounts, so the reach
// into the customer base has its denominator.
func importDemoAccounts(ctx context.Context, conn driver.Conn, stderr io.Writer) error {
	var b bytes.Buffer
	if err := demo.WriteAccounts(&b); err != nil {
		return err
	}
	accts, err := accounts.Parse(&b, accounts.FormatJSONL)
	if err != nil {
		return fmt.Errorf("demo accounts: %w", err)
	}
	res, err := accounts.Import(ctx, conn, accts, false)
	if err != nil {
		return fmt.Errorf("demo accounts: %w", err)
	}
	fmt.Fprintf(stderr, "demo: %d customer accounts imported (orbitflow accounts reach shows how many are in the community)\n", res.Accounts)
	return nil
}

// demoRules are the alert rules `run --demo` starts with (when the rules
// file does not exist yet): one of each kind of detector, on the demo
// community. `run --demo` keeps it talking live; leaving a source out
// (--demo-sources) fires demo-source-silent within 15 minutes (the
// quietest demo sources, support and product, send ~12 events in 15
// minutes at 1200 events/hour: a quiet quarter hour by chance is rare).
const demoRules = `# Alert rules for the demo community, written by 'orbitflow run --demo'.
# Reloaded on change; see services/processors/alerts/README.md.
# To be notified, add a target and list it under a rule's targets:
#   targets:
#     me: {type: webhook, url: "http://127.0.0.1:9999/hook", secret: "env:ORBITFLOW_ALERT_SECRET"}
#     chat: {type: slack, url: "https://hooks.slack.com/services/T000/B000/XXXX"}
external_url: http://127.0.0.1:8080
# The demo-sales-interest signals are recorded (orbitflow signals list, the
# weekly report), not delivered. To receive them, run an HTTP server that
# accepts POST on 127.0.0.1:9999 (the body is the signal as JSON, signed
# with the secret; see X-Orbitflow-Signature) and uncomment:
#   targets:
#     demo-signals: {type: webhook, url: "http://127.0.0.1:9999/signals", secret: demo-signal-secret, max_attempts: 3}
# and add "targets: [demo-signals]" to the signal rule below.
rules:
  - name: demo-source-silent
    description: a demo source stopped delivering (restart with --demo-sources leaving one out)
    community: demo
    detector: {type: source_absence, lookback: 2h}
    window: 15m
    severity: critical
  - name: demo-active-members-drop
    description: fewer active members than on the same weekday and hour of past weeks
    community: demo
    metric: active_members
    window: 1d
    detector: {type: seasonal, weeks: 8}
    min_volume: 20
  - name: demo-activity-band
    description: daily activity below its Bollinger band
    community: demo
    metric: activities
    window: 1d
    detector: {type: bollinger, periods: 20, k: 2}
    min_volume: 50
  - name: demo-gravity-negative
    description: gravity below zero for two weeks
    community: demo
    metric: gravity
    period: week
    detector: {type: threshold, op: "<", value: 0, for_periods: 2}
  - name: demo-retention-down
    description: retention down more than 5 points month over month
    community: demo
    metric: retention
    period: month
    detector: {type: change, change: -0.05}
    min_volume: 20
  - name: demo-answers-slow
    description: time to first response over its 48-hour SLO (p90, weekly)
    community: demo
    metric: ttfr_p90_hours
    period: week
    detector: {type: threshold, op: ">", value: 48}
    min_volume: 5
  - name: demo-advocate-silent
    description: a Leading or Contributing member went quiet for longer than their cadence allows
    community: demo
    detector: {type: member_silence, gap_factor: 3, min_silence: 14d}
    severity: info
  - name: demo-role-cadence
    description: a role holder's expected cadence lapsed
    community: demo
    detector: {type: role_cadence}
    severity: info
# Community-qualified signals (services/processors/alerts/README.md#signals):
# a member's activity whose title asks about plans, for sales or customer
# success. Teammates, bots and opted-out members never fire.
signals:
  - name: demo-sales-interest
    description: a member asks about pricing, plans, SSO, a quote or cancelling (a software upgrade alone is not a sale)
    community: demo
    keywords: [pricing, enterprise, SSO, quote, business plan, cancel]
`

// writeDemoRules writes demoRules as the rules file unless one exists.
func writeDemoRules(cfg app.Config, stderr io.Writer) error {
	path := cfg.AlertRulesFile()
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(demoRules), 0o600); err != nil {
		return fmt.Errorf("write the demo alert rules: %w", err)
	}
	fmt.Fprintf(stderr, "demo alert rules written to %s\n", path)
	return nil
}

// startTraces makes the tracer provider of cfg.Telemetry.Traces (the no-op
// one when no endpoint is set); stop exports what is left, at most 10 s.
func startTraces(cfg app.Config, log *slog.Logger) (*telemetry.Traces, func(), error) {
	traces, err := telemetry.NewTraces(cfg.Telemetry.Traces, "orbitflow", version)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Telemetry.Traces.Enabled() {
		// The endpoint only: the headers may hold credentials.
		log.Info("exporting traces", "otlp_endpoint", cfg.Telemetry.Traces.OTLPEndpoint, "sample_ratio", cfg.Telemetry.Traces.SampleRatio)
	}
	return traces, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := traces.Shutdown(sctx); err != nil {
			log.Warn("traces not all exported", "err", err)
		}
	}, nil
}
