package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/orbitflow/orbitflow/services/connectors/demo"
)

func cmdDemo(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	d := demo.DefaultConfig()
	out := fs.String("out", "-", "output `file` (JSON lines; - is standard output)")
	community := fs.String("community", d.Community, "community name")
	seed := fs.Uint64("seed", d.Seed, "random seed (same seed, same day: same bytes)")
	members := fs.Int("members", d.Members, "members")
	events := fs.Int("events", d.Events, "events")
	days := fs.Int("days", d.Days, "days covered, ending today")
	if err := parse(fs, args, stderr); err != nil {
		return err
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
