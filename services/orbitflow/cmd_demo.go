package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/demo"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The subcommand comes first, or after the common flags:
	// orbitflow demo --config F live.
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "live":
			return cmdDemoLive(ctx, slices.Delete(slices.Clone(args), i, i+1), stdout, stderr)
		case slices.Contains([]string{"-config", "--config", "-data-dir", "--data-dir"}, a):
			i++ // its value
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "--data-dir=") || strings.HasPrefix(a, "-config=") || strings.HasPrefix(a, "-data-dir="):
		default:
			i = len(args) // the history generator's flags
		}
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	d := demo.DefaultConfig()
	out := fs.String("out", "-", "output `file` (JSON lines; - is standard output)")
	community := fs.String("community", d.Community, "community name")
	seed := fs.Uint64("seed", d.Seed, "random seed (same seed, same day: same bytes)")
	members := fs.Int("members", d.Members, "members")
	events := fs.Int("events", d.Events, "events")
	days := fs.Int("days", d.Days, "days covered, ending today")
	accountsOut := fs.String("accounts", "", "also write the demo's customer accounts to this `file` (JSON lines, for orbitflow accounts import)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *accountsOut != "" {
		if err := writeDemoAccounts(*accountsOut); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "demo: %d customer accounts in %s\n", len(demo.Organizations()), *accountsOut)
	}
	if *members < 10 || *events < 0 || *days < 1 {
		return usagef("want --members ≥ 10, --events ≥ 0, --days ≥ 1")
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	st, err := demo.WriteJSONL(w, demo.Config{Community: *community, Seed: *seed, Days: *days, Members: *members, Events: *events})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "demo: %d events from %d members over %d days (%v)\n", st.Events, st.Members, *days, st.BySource)
	return nil
}

// cmdDemoLive feeds the running orbitflow with live demo activity: first
// what happened since the demo history ended (the start of today, UTC),
// then events as their time comes, until interrupted. Leaving a source
// out (--sources) is what a broken connector looks like to the alerts.
func cmdDemoLive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo live", flag.ContinueOnError)
	var c common
	c.register(fs)
	sources := fs.String("sources", "", "comma-separated sources that talk (default all: "+strings.Join(demo.Sources(), ",")+")")
	perHour := fs.Float64("per-hour", 1200, "mean events per hour over all sources, spread evenly over the day")
	since := fs.Duration("since", 0, "first send what happened in this last `duration` (as if received live); 0: since the start of today (UTC), when the demo history ends")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	var talking []string
	if *sources != "" {
		talking = strings.Split(*sources, ",")
	}
	lc := demoLive(talking, *perHour)
	if *since > 0 {
		lc.From = time.Now().UTC().Add(-*since)
	}
	if err := demo.CheckSources(lc.Sources); err != nil {
		return usagef("--sources: %v", err)
	}
	if *perHour <= 0 {
		return usagef("--per-hour: want a positive rate, got %g", *perHour)
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	js, closeBus, err := connectBus(ctx, cfg, false, set)
	if err != nil {
		return err
	}
	defer closeBus()
	reg, err := cfg.Registry()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "demo live: community %s, sources %s, ~%g events/hour; Ctrl-C stops\n", lc.Community, strings.Join(talkingSources(lc), ","), lc.PerHour)
	var st ingest.Outcome
	progress, last := isTerminal(stderr), time.Now()
	err = feedDemo(ctx, js, reg, lc, set, func(out ingest.Outcome, ev events.Event) {
		st.Published += out.Published
		st.Duplicates += out.Duplicates
		st.DeadLettered += out.DeadLettered
		if progress && time.Since(last) > 2*time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "\rdemo live: %d published, %d duplicates, %d rejected; last event %s ", st.Published, st.Duplicates,
				st.DeadLettered, ev.OccurredAt.Time.Format(time.TimeOnly))
		}
	})
	fmt.Fprintf(stdout, "\ndemo live: %d published, %d duplicates (sent before), %d rejected\n", st.Published, st.Duplicates, st.DeadLettered)
	if ctx.Err() != nil {
		return nil // interrupted: what was acknowledged is in the stream
	}
	return err
}

// demoLive is the live feed of the demo community: its members, on the
// given sources (none: all), from the start of today (UTC), when the
// demo history ends.
func demoLive(sources []string, perHour float64) demo.LiveConfig {
	d := demo.DefaultConfig()
	return demo.LiveConfig{Community: d.Community, Seed: d.Seed, Members: d.Members, PerHour: perHour, Sources: sources,
		From: time.Now().UTC().Truncate(24 * time.Hour)}
}

func talkingSources(lc demo.LiveConfig) []string {
	if len(lc.Sources) == 0 {
		return demo.Sources()
	}
	return lc.Sources
}

// feedDemo sends the live feed lc through js until ctx ends: one event at
// a time, each acknowledged by the stream before the next, so live events
// go out the moment they happen. each (if set) sees every outcome.
func feedDemo(ctx context.Context, js jetstream.JetStream, reg *events.Registry, lc demo.LiveConfig, set telemetry.Settings,
	each func(ingest.Outcome, events.Event)) error {
	live := ingest.NewLive(js, reg, subjects.StageIngest, 10*time.Second, set)
	return demo.Live(ctx, lc, func(ev events.Event) error {
		out, err := live.Publish(ctx, "demo", source.Result{Events: []events.Event{ev}}, nil, nil)
		if each != nil {
			each(out, ev)
		}
		return err
	})
}

func writeDemoAccounts(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := demo.WriteAccounts(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
