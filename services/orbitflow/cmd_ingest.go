package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/csvimport"
	"github.com/orbitflow/orbitflow/services/connectors/github"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/jsonl"
	"github.com/orbitflow/orbitflow/services/connectors/mbox"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/progress"
)

var errStop = errors.New("stop")

// fileSource is one --source of `orbitflow ingest`: a reader of files.
type fileSource struct {
	help string
	// read yields the records of files; reg is the configured registry
	// (for formats that validate as they read).
	read func(files []string, env source.Env, reg *events.Registry) iter.Seq[ingest.Record]
}

// fileSources maps --source to its reader.
var fileSources = map[string]fileSource{
	"gharchive": {"GH Archive hourly files (https://www.gharchive.org/, .json.gz or JSON lines)",
		func(files []string, env source.Env, _ *events.Registry) iter.Seq[ingest.Record] {
			return github.ArchiveFiles(files, env)
		}},
	"jsonl": {"normalized v1 events, one JSON object per line (.gz too; - is stdin)",
		func(files []string, _ source.Env, _ *events.Registry) iter.Seq[ingest.Record] {
			return jsonl.Files(files)
		}},
	"csv": {"normalized v1 events as CSV (columns named after the fields; see services/connectors/csvimport/README.md)",
		csvFormat(csvimport.FormatGeneric)},
	"events": {"event attendance (registered, attended, spoke, organized) as CSV or JSON Lines (.csv, .jsonl)",
		csvFormat(csvimport.FormatEvents)},
	"support": {"support tickets (opened, commented, solved) as CSV or JSON Lines (.csv, .jsonl)",
		csvFormat(csvimport.FormatSupport)},
	"mbox": {"mailing-list archives in mbox format (.gz too); e-mail addresses are stored hashed",
		func(files []string, env source.Env, _ *events.Registry) iter.Seq[ingest.Record] {
			return mbox.Files(files, env, "")
		}},
	"meetup": {"Meetup API v3 responses (events, RSVPs, comments) saved as JSON",
		meetupFiles},
}

func csvFormat(f csvimport.Format) func([]string, source.Env, *events.Registry) iter.Seq[ingest.Record] {
	return func(files []string, env source.Env, reg *events.Registry) iter.Seq[ingest.Record] {
		return csvimport.Files(files, csvimport.Options{Format: f, Env: env, Registry: reg})
	}
}

// meetupFiles reads each file as one Meetup API response (.gz too).
func meetupFiles(files []string, env source.Env, _ *events.Registry) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		for _, name := range files {
			f, err := ingest.Open(name)
			if err != nil {
				if !yield(ingest.Record{Pos: name, Err: err}) {
					return
				}
				continue
			}
			for rec := range csvimport.Meetup(f, name, env) {
				if !yield(rec) {
					f.Close()
					return
				}
			}
			f.Close()
		}
	}
}

// sourceNames lists --source values with their help, sorted.
func sourceHelp() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(fileSources)) {
		fmt.Fprintf(&b, "\n    %s: %s", name, fileSources[name].help)
	}
	return b.String()
}

func cmdIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	var c common
	c.register(fs)
	format := fs.String("source", "", "input format:"+sourceHelp())
	community := fs.String("community", "", "community the events belong to (applied to events that name none)")
	wait := fs.Bool("wait", false, "return only when every event is queryable in ClickHouse")
	waitTimeout := fs.Duration("wait-timeout", 30*time.Minute, "give up waiting after this long")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	src, ok := fileSources[*format]
	if !ok {
		return usagef("--source: want one of %s, got %q", strings.Join(slices.Sorted(maps.Keys(fileSources)), ", "), *format)
	}
	if *community == "" {
		return usagef("--community is required")
	}
	files := fs.Args()
	if len(files) == 0 {
		return usagef("name at least one FILE (or - for standard input)")
	}
	for _, f := range files {
		if f == "-" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	return publishRecords(ctx, cfg, publishJob{
		format: *format, community: *community, verb: "ingest", wait: *wait, waitTimeout: *waitTimeout, files: files,
		records: func(env source.Env, reg *events.Registry) iter.Seq[ingest.Record] { return src.read(files, env, reg) },
	}, stdout, stderr)
}

// publishJob is what ingest and backfill publish.
type publishJob struct {
	format, community, verb string
	wait                    bool
	waitTimeout             time.Duration
	records                 func(env source.Env, reg *events.Registry) iter.Seq[ingest.Record]
	// files, when set, are the input files: progress shows the bytes read
	// of their total size.
	files []string
	// rerun is the advice printed when the run stops with an error.
	rerun string
}

// publishRecords publishes the job's records (valid events to the stream,
// rejections to the dead letters), prints the summary and, with wait,
// returns only when everything is queryable.
func publishRecords(ctx context.Context, cfg app.Config, job publishJob, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	// With telemetry.traces set, the run has a span ("ingest <format>")
	// and each event a trace of its own linked to it, continued by the
	// sink and the scoring processor; exported before the command returns.
	traces, stopTraces, err := startTraces(cfg, log)
	if err != nil {
		return err
	}
	defer stopTraces()
	set := telemetry.Settings{Logger: log, TracerProvider: traces.Provider()}.WithDefaults()
	reg, err := cfg.Registry()
	if err != nil {
		return err
	}
	js, done, err := connectBus(ctx, cfg, job.wait, set)
	if err != nil {
		return err
	}
	defer done()

	env := source.Env{Community: job.community, People: &cfg.People}
	records := job.records(env, reg)
	var files *progress.Files
	if len(job.files) > 0 {
		files = progress.NewFiles(job.files)
		records = trackFiles(records, files)
	}
	report, finish := progressPrinter(stderr, job.verb, files)
	stats, err := ingest.Run(ctx, js, records, ingest.Options{
		Community: job.community, Format: job.format, Registry: reg,
		Window: cfg.NATS.PublishMaxPending, Progress: report, ProgressEvery: 1000, TracerProvider: set.TracerProvider,
	})
	finish()
	fmt.Fprintln(stdout, stats.Summary())
	if err != nil {
		rerun := job.rerun
		if rerun == "" {
			rerun = "run the same " + job.verb + " again to finish — repeated events are dropped as duplicates"
		}
		return fmt.Errorf("%w (what was acknowledged is in the stream; %s)", err, rerun)
	}
	if job.wait {
		wctx, cancel := context.WithTimeout(ctx, job.waitTimeout)
		defer cancel()
		if err := waitQueryable(wctx, js, stats, stderr); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "all events are queryable in ClickHouse")
	}
	return nil
}

// connectBus reaches JetStream: the running `orbitflow run` when there is
// one, an external NATS when configured, or else the data dir itself (with
// ClickHouse and the sink too when the caller waits for rows).
func connectBus(ctx context.Context, cfg app.Config, withSink bool, set telemetry.Settings) (jetstream.JetStream, func(), error) {
	if cfg.NATS.Mode == bus.ModeEmbedded {
		st, active, err := app.WaitActiveRun(ctx, cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		if active {
			if st.NATSURL == "" {
				return nil, nil, fmt.Errorf("the running orbitflow (pid %d) does not listen for NATS clients; set nats.embedded.listen", st.PID)
			}
			// Few reconnects: when the run dies, say so soon instead of waiting.
			nc, err := bus.Dial(st.NATSURL, nats.Token(st.NATSToken), nats.Name("orbitflow-cli"),
				nats.MaxReconnects(10), nats.ReconnectWait(500*time.Millisecond))
			if err != nil {
				return nil, nil, err
			}
			js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.NATS.PublishMaxPending),
				jetstream.WithPublishAsyncTimeout(30*time.Second))
			if err != nil {
				nc.Close()
				return nil, nil, err
			}
			return js, func() { _ = nc.Drain() }, nil
		}
	}
	parts := app.Parts{Bus: true}
	if withSink {
		parts = app.All
	}
	// No run is active (or NATS is external): serve ourselves.
	cfg.NATS.Embedded.Listen = ""
	stack, err := app.Start(ctx, cfg, parts, set)
	if err != nil {
		return nil, nil, err
	}
	return stack.Bus.JetStream(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = stack.Shutdown(sctx)
	}, nil
}

// waitQueryable blocks until the sink has acknowledged (written) every
// message up to the highest sequence the ingest published or matched.
func waitQueryable(ctx context.Context, js jetstream.JetStream, st ingest.Stats, stderr io.Writer) error {
	targets := []struct {
		stream, consumer string
		seq              uint64
	}{
		{subjects.ActivityStream, subjects.SinkActivities, st.MaxSeq},
		{subjects.DeadLetterStream, subjects.SinkDeadLetters, st.DeadMaxSeq},
	}
	for _, t := range targets {
		if t.seq == 0 {
			continue
		}
		bar := newBar(stderr, "waiting for ClickHouse: "+t.consumer, "")
		first := true
		var base uint64
		for {
			var floor uint64
			cons, err := js.Consumer(ctx, t.stream, t.consumer)
			if err == nil {
				var info *jetstream.ConsumerInfo
				if info, err = cons.Info(ctx); err == nil {
					floor = info.AckFloor.Stream
				}
			}
			if err != nil && ctx.Err() != nil {
				bar.Finish()
				return fmt.Errorf("waiting for the sink: %w", ctx.Err())
			}
			if errors.Is(err, nats.ErrConnectionClosed) {
				bar.Finish()
				return fmt.Errorf("waiting for the sink: lost the connection to NATS (did orbitflow run stop?): %w", err)
			}
			if floor >= t.seq {
				break
			}
			if first && err == nil {
				// Progress counts from where the sink was when the wait began.
				base, first = floor, false
			}
			bar.Update(progress.State{Done: int64(floor - min(base, floor)), Total: int64(t.seq - base),
				Detail: fmt.Sprintf("written up to sequence %d of %d", floor, t.seq)})
			select {
			case <-ctx.Done():
				bar.Finish()
				return fmt.Errorf("waiting for the sink (is `orbitflow run` up and ClickHouse reachable?): %w", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
		bar.Finish()
	}
	return nil
}

// newBar is a progress display on w: a bar when w is a terminal, a line
// every 5 seconds otherwise.
func newBar(w io.Writer, label, unit string) *progress.Bar {
	return progress.New(w, progress.Options{Label: label, Unit: unit, Terminal: isTerminal(w), Width: termWidth(w)})
}

// trackFiles passes records through, telling files where the reader is.
func trackFiles(records iter.Seq[ingest.Record], files *progress.Files) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		for rec := range records {
			files.At(rec.Pos)
			if !yield(rec) {
				return
			}
		}
	}
}

// progressPrinter returns an ingest progress callback and the function
// that ends the display (before the summary is printed): a bar redrawn in
// place on a terminal, a line every few seconds otherwise. With files the
// bar measures the bytes read of their total size; without, the events.
func progressPrinter(w io.Writer, label string, files *progress.Files) (report func(ingest.Stats), finish func()) {
	unit := "events"
	if files != nil && files.Total() > 0 {
		unit = "B"
	}
	bar := newBar(w, label, unit)
	return func(s ingest.Stats) {
		if !bar.Due() {
			return
		}
		detail := fmt.Sprintf("%d published, %d duplicates, %d rejected", s.Published, s.Duplicates, s.Rejected)
		if unit == "B" {
			bar.Update(progress.State{Done: files.Done(), Total: files.Total(), Items: s.Read, ItemUnit: "events", Detail: detail})
			return
		}
		bar.Update(progress.State{Done: s.Read, Detail: detail})
	}, bar.Finish
}
