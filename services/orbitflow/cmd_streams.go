package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// cmdStreams is the admin step of least-privilege NATS (deploy/nats/):
// `streams apply` creates or updates every stream as the configured (admin)
// user; `streams check` only looks them up, as a service with
// nats.external.manage_streams false does at start. Both print the streams.
func cmdStreams(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "apply" && args[0] != "check" {
		return usagef("streams: want `streams apply` (declare the streams, as the admin user) or `streams check`")
	}
	op := args[0]
	fs := flag.NewFlagSet("streams "+op, flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := parse(fs, args[1:], stderr); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if cfg.NATS.Mode != bus.ModeExternal {
		return usagef("streams %s: nats.mode is %q; this is for external NATS (orbitflow run declares the embedded server's streams itself)", op, cfg.NATS.Mode)
	}
	cfg.NATS.External.ManageStreams = op == "apply"
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b := bus.New(cfg.NATS, cfg.DataDir, telemetry.Nop())
	if err := b.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = b.Shutdown(context.Background()) }()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tSUBJECTS\tMESSAGES\tBYTES")
	for _, s := range subjects.Streams(cfg.NATS.Streams.Limits()) {
		st, err := b.JetStream().Stream(ctx, s.Name)
		if err != nil {
			return fmt.Errorf("streams %s: %s: %w", op, s.Name, err)
		}
		info := st.CachedInfo()
		fmt.Fprintf(tw, "%s\t%v\t%d\t%d\n", s.Name, info.Config.Subjects, info.State.Msgs, info.State.Bytes)
	}
	return tw.Flush()
}
