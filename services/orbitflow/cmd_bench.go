package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/bench"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/progress"
	"github.com/orbitflow/orbitflow/services/processors/orbit"
)

// cmdBench starts the whole pipeline in this process on a fresh data dir
// (embedded NATS and ClickHouse, or the configured external ones), measures
// the ceilings of its parts, then drives it with generated load, and prints
// the figures (bench.WriteText, or JSON).
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c common
	c.register(fs)
	duration := fs.Duration("duration", 20*time.Second, "how long each pipeline phase publishes")
	rates := fs.String("rate", "max,50000,10000", "the phases' publish rates in events/s, comma-separated; max is flat out")
	runs := fs.Int("runs", 1, "repeat the whole bench this many times, each on a fresh data dir, and report medians")
	ceiling := fs.Int("ceiling-events", 300_000, "messages the JetStream and ClickHouse ceilings measure")
	members := fs.Int("members", 100_000, "members the load draws from (power law)")
	seed := fs.Uint64("seed", 1, "the load's random seed")
	poll := fs.Duration("poll", 20*time.Millisecond, "how often to ask ClickHouse what is queryable (the latency's resolution)")
	drain := fs.Duration("drain", 3*time.Minute, "how long to wait, after publishing, for every event to be queryable and scored")
	asJSON := fs.Bool("json", false, "print the figures as JSON (for comparing commits)")
	profDir := fs.String("cpuprofile", "", "write each phase's CPU profile, and a heap profile at the end of each run, into this `directory` (go tool pprof)")
	keep := fs.Bool("keep", false, "keep the data dirs (printed) instead of removing them")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench takes no arguments, got %q", fs.Args())
	}
	var rateList []int
	for _, r := range strings.Split(*rates, ",") {
		if r = strings.TrimSpace(r); r == "max" {
			rateList = append(rateList, 0)
			continue
		}
		n, err := strconv.Atoi(r)
		if err != nil || n <= 0 {
			return usagef("--rate: want max or a positive number of events/s, got %q", r)
		}
		rateList = append(rateList, n)
	}
	switch {
	case *runs < 1:
		return usagef("--runs: must be at least 1, got %d", *runs)
	case *duration < time.Second:
		return usagef("--duration: must be at least 1s, got %s", *duration)
	case *ceiling < 1000:
		return usagef("--ceiling-events: must be at least 1000, got %d", *ceiling)
	case *members < 10:
		return usagef("--members: must be at least 10, got %d", *members)
	case *poll < time.Millisecond:
		return usagef("--poll: must be at least 1ms, got %s", *poll)
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(runGCPercent) // as orbitflow run
	}
	base := cfg.DataDir
	if c.dataDir == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return err
	}
	// Lines and the publishing bar share stderr: a line clears the bar,
	// the next tick draws a new one (on a terminal; plain output gets the
	// bar's line every 5 s).
	var (
		mu       sync.Mutex
		bar      *progress.Bar
		barPhase string
	)
	logLine := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if bar != nil {
			bar.Finish()
			bar = nil
		}
		fmt.Fprintf(stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	tick := func(phase string, sent, total int) {
		mu.Lock()
		defer mu.Unlock()
		if bar == nil || barPhase != phase {
			bar, barPhase = newBar(stderr, "bench: publishing at "+phase, "events"), phase
		}
		bar.Update(progress.State{Done: int64(sent), Total: int64(total)})
	}
	sum := bench.Summary{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), Version: version, At: time.Now().UTC().Format(time.RFC3339)}
	sum.Config.Duration, sum.Config.Rates, sum.Config.CeilingEvents, sum.Config.Members = duration.String(), rateList, *ceiling, *members
	for i := range *runs {
		dir, err := os.MkdirTemp(base, "orbitflow-bench-")
		if err != nil {
			return err
		}
		logLine("run %d of %d in %s", i+1, *runs, dir)
		bc := bench.Config{Duration: *duration, Rates: rateList, CeilingEvents: *ceiling, Members: *members, Seed: *seed,
			Poll: *poll, Drain: *drain, BatchSize: cfg.Sink.BatchSize, Progress: logLine, Tick: tick}
		if *profDir != "" {
			if err := os.MkdirAll(*profDir, 0o755); err != nil {
				return err
			}
			bc.Profile = func(phase string, data []byte) {
				path := filepath.Join(*profDir, fmt.Sprintf("cpu-run%d-%s.pprof", i+1, phase))
				if err := os.WriteFile(path, data, 0o644); err != nil {
					logLine("writing %s: %v", path, err)
				}
			}
		}
		heapTo := ""
		if *profDir != "" {
			heapTo = filepath.Join(*profDir, fmt.Sprintf("heap-run%d.pprof", i+1))
		}
		res, err := benchRun(ctx, cfg, dir, bc, heapTo, stderr)
		if !*keep {
			_ = os.RemoveAll(dir)
		} else {
			logLine("kept %s", dir)
		}
		if err != nil {
			return err
		}
		sum.Runs = append(sum.Runs, res)
	}
	sum.Median = bench.Medians(sum.Runs)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	bench.WriteText(stdout, sum)
	return nil
}

// benchRun starts every part of `orbitflow run` on dir (no API, no
// gateway: they listen, the load does not go through them) and runs the
// bench on it.
func benchRun(ctx context.Context, cfg app.Config, dir string, bc bench.Config, heapTo string, stderr io.Writer) (bench.Result, error) {
	cfg.DataDir = dir
	cfg.NATS.Embedded.Listen = ""
	cfg.NATS.Embedded.StoreDir = ""
	cfg.ClickHouse.Embedded.Listen = "127.0.0.1:0"
	cfg.API.Listen = ""
	cfg.Gateway.Hooks = nil
	cfg.Discord = app.DiscordConfig{}
	cfg.Alerts.RulesFile = ""
	if cfg.Log.Level == "info" {
		cfg.Log.Level = "warn" // the bench prints its own progress
	}
	if cfg.ClickHouse.Mode != store.ModeEmbedded || cfg.NATS.Mode != "embedded" {
		return bench.Result{}, errors.New("bench: runs on the embedded NATS and ClickHouse (a fresh data dir each run); external mode would write bench data into real servers")
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	stack, err := app.Start(sctx, cfg, app.All, set)
	cancel()
	if err != nil {
		return bench.Result{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = stack.Shutdown(sctx)
	}()
	res, err := bench.Run(ctx, bc, bench.Deps{JS: stack.Bus.JetStream(), CH: stack.CH, Registry: stack.Registry, ScoredSeq: stack.Scoring.Seq})
	if err != nil {
		return res, err
	}
	if heapTo != "" {
		if err := writeHeapProfile(heapTo); err != nil {
			return res, err
		}
	}
	// The scoring processor writes its checkpoint at shutdown: its size is
	// the state the members cost.
	sctx, cancel = context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := stack.Scoring.Shutdown(sctx); err != nil {
		return res, err
	}
	obj, err := stack.Bus.JetStream().ObjectStore(sctx, orbit.Bucket)
	if err != nil {
		return res, fmt.Errorf("bench: checkpoint store: %w", err)
	}
	info, err := obj.GetInfo(sctx, orbit.CheckpointObject)
	if err != nil {
		return res, fmt.Errorf("bench: checkpoint: %w", err)
	}
	res.StateBytes = int64(info.Size)
	return res, nil
}

// writeHeapProfile writes what the heap holds now (after a collection).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("bench: heap profile: %w", err)
	}
	return f.Close()
}
