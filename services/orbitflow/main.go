// Command orbitflow runs the Orbitflow community-analytics pipeline.
//
//	orbitflow run       everything in one process (embedded NATS and ClickHouse by default)
//	orbitflow ingest    publish activity from files (jsonl, gharchive, mbox, csv, ...)
//	orbitflow backfill  publish a platform's history read from its API
//	orbitflow members   show a member's scores and why; merge and unmerge identities
//	orbitflow alerts    list, test, acknowledge and silence alerts
//	orbitflow accounts  import customer accounts; reach into the customer base
//	orbitflow signals   community-qualified signals: list, test a rule, opt-outs
//	orbitflow structure community structure (pool, hub, web), bridges, introductions, amplifiers
//	orbitflow sql       run SQL against the configured ClickHouse
//	orbitflow status    throughput, stream lag, dead letters, members, alerts and health at a glance
//	orbitflow streams   declare (apply) or check the NATS streams: the admin step of least-privilege NATS
//	orbitflow demo      write a generated demo community as JSON lines
//	orbitflow bench     drive the whole pipeline with generated load and measure it
//
// Configuration: one YAML file (--config, strict), then ORBITFLOW_* variables,
// then flags. `orbitflow config` prints the effective configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
)

const usage = `orbitflow — community analytics, from activity to understanding

Usage:
  orbitflow run    [--config FILE] [--data-dir DIR] [--demo]
  orbitflow ingest [--config FILE] [--data-dir DIR] --source FORMAT --community NAME [--wait] FILE...
  orbitflow backfill [--config FILE] [--data-dir DIR] --source PLATFORM --community NAME [--wait] [target flags]
  orbitflow members show [--config FILE] [--community C] MEMBER     scores and why
  orbitflow members merge [--community C] [--reason R] IDENTITY IDENTITY   one person (rebuilds scores)
  orbitflow members unmerge [--community C] IDENTITY                 take an identity out of its member
  orbitflow members suggestions [--community C]                     possible merges with their evidence
  orbitflow members forget [--community C] [--timeout D] MEMBER     erase a member everywhere; drop its identities' later events
  orbitflow alerts list [--state open|pending|firing|resolved] [--community C] [--limit N] [--json]
  orbitflow alerts test RULE [--json]                               evaluate a rule now: series, baseline, decisions
  orbitflow alerts ack ID [--by NAME]                               acknowledge a firing alert
  orbitflow alerts silence [--rule R] [--community C] [--key K] --for 2h [--comment TEXT]
  orbitflow alerts unsilence ID                                     end a silence now
  orbitflow alerts silences|rules [--json]                          active silences; rules and targets
  orbitflow signals list [--community C] [--rule R] [--days N] [--limit N] [--json]   community-qualified signals with their evidence
  orbitflow signals test RULE [--days N] [--json]                   what a signal rule would fire on recent activities
  orbitflow signals opt-out add|remove|list --community C [--comment T] [MEMBER]   members who never produce signals
  orbitflow topics [--community C] [--from D --to D] [--limit N] [--min-items N] [--json]   pain points: recurring question topics
  orbitflow report [--community C] [--week DATE] [--format text|html|json] [--out FILE] [--email TARGET]   the weekly report
  orbitflow structure [--community C] [--segment K:V | --segments] [--json]   pool, hub or web: the numbers, bus risk, monthly trend
  orbitflow bridges [--community C] [--min-strength S] [--per-pair N] [--json]   members who connect pockets
  orbitflow introduce MEMBER --segment K:V [--community C] [--limit N] [--json]   who can introduce a member to a segment
  orbitflow amplifiers [--segment K:V] [--community C] [--limit N] [--json]   high-reach members of a segment
  orbitflow accounts import [--format csv|jsonl] [--dry-run] [--replace] FILE   customer accounts (account_id,name,domains,segment,plan,persona)
  orbitflow accounts map [--community C] MEMBER ACCOUNT              link a member to an account (wins over its e-mail domain)
  orbitflow accounts unmap [--community C] MEMBER                    remove the explicit link
  orbitflow accounts list [--community C] [--days 30] [--json]       accounts with linked and active members
  orbitflow accounts show [--community C] [--json] ACCOUNT           an account and its members
  orbitflow accounts reach [--community C] [--period month] [--from D] [--to D] [--json]   share of accounts with an active member
  orbitflow accounts dropped [--community C] [--days 7] [--windows 4] [--json]   accounts whose community activity dropped
  orbitflow sql    [--config FILE] [--data-dir DIR] [--format table|TSV|CSV|JSON] "SELECT ..."
  orbitflow status [--config FILE] [--json] [--watch 2s] [--api URL] [--api-key KEY]   the running pipeline at a glance
  orbitflow demo   [--out FILE] [--seed N] [--members N] [--events N] [--days N]
  orbitflow bench  [--duration 20s] [--rate max,50000,10000] [--runs N] [--json]   load, ceilings, latency, CPU per component
  orbitflow streams apply|check [--config FILE]          declare the NATS streams as the admin user, or check them
  orbitflow config [--config FILE] [--data-dir DIR]     print the effective configuration
  orbitflow version

Run 'orbitflow COMMAND -h' for a command's flags.
`

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "run":
		err = cmdRun(ctx, rest, stdout, stderr)
	case "ingest":
		err = cmdIngest(ctx, rest, stdout, stderr)
	case "backfill":
		err = cmdBackfill(ctx, rest, stdout, stderr)
	case "members":
		err = cmdMembers(ctx, rest, stdout, stderr)
	case "alerts":
		err = cmdAlerts(ctx, rest, stdout, stderr)
	case "accounts":
		err = cmdAccounts(ctx, rest, stdout, stderr)
	case "signals":
		err = cmdSignals(ctx, rest, stdout, stderr)
	case "report":
		err = cmdReport(ctx, rest, stdout, stderr)
	case "sql":
		err = cmdSQL(ctx, rest, stdout, stderr)
	case "structure":
		err = cmdStructure(ctx, rest, stdout, stderr)
	case "bridges":
		err = cmdBridges(ctx, rest, stdout, stderr)
	case "introduce":
		err = cmdIntroduce(ctx, rest, stdout, stderr)
	case "amplifiers":
		err = cmdAmplifiers(ctx, rest, stdout, stderr)
	case "topics":
		err = cmdTopics(ctx, rest, stdout, stderr)
	case "status":
		err = cmdStatus(ctx, rest, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, rest, stdout, stderr)
	case "bench":
		err = cmdBench(ctx, rest, stdout, stderr)
	case "streams":
		err = cmdStreams(ctx, rest, stdout, stderr)
	case "config":
		err = cmdConfig(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "orbitflow", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "orbitflow: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "orbitflow %s: %v\n", cmd, err)
			return 2
		}
		fmt.Fprintf(stderr, "orbitflow %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// common holds the flags every command that reads the config shares.
type common struct {
	configFile string
	dataDir    string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.configFile, "config", os.Getenv("ORBITFLOW_CONFIG"), "YAML config `file` (strict: unknown keys are errors)")
	fs.StringVar(&c.dataDir, "data-dir", "", "data `directory` for embedded NATS and ClickHouse (default ./data)")
}

// load builds and validates the config.
func (c *common) load() (app.Config, error) {
	cfg, err := app.Load(c.configFile, os.LookupEnv)
	if err != nil {
		return cfg, err
	}
	if c.dataDir != "" {
		cfg.DataDir = c.dataDir
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func newLogger(cfg app.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	// Lines logged on a traced path (log.InfoContext(ctx, ...) with a
	// sampled span) carry trace_id and span_id.
	if cfg.Log.Format == "json" {
		return slog.New(telemetry.NewTraceHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(telemetry.NewTraceHandler(slog.NewTextHandler(w, opts)))
}

func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}

// isTerminal reports whether w is a character device (an interactive terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
