package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/orbitflow/orbitflow/services/api/topics"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// cmdTopics prints the pain points of a community: the recurring topics
// of its question-like items over a period against the period before
// (package topics; the API's /pain-points answers the same).
func cmdTopics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("topics", flag.ContinueOnError)
	var c common
	c.register(fs)
	community := fs.String("community", "", "the community (default: the only one with items)")
	from := fs.String("from", "", "the period's first day, YYYY-MM-DD (with --to; default: the last full week, Monday to Sunday)")
	to := fs.String("to", "", "the period's last day, YYYY-MM-DD (inclusive)")
	limit := fs.Int("limit", topics.DefaultLimit, fmt.Sprintf("at most this many topics (1..%d)", topics.MaxLimit))
	minItems := fs.Int("min-items", topics.DefaultMinItems, "list a topic when at least this many items of the period have it")
	asJSON := fs.Bool("json", false, "print the report as JSON (as the API's /pain-points)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("topics takes no arguments, got %q", fs.Args())
	}
	opt := topics.Options{Community: *community, Limit: *limit, MinItems: *minItems}
	if (*from == "") != (*to == "") {
		return usagef("topics: --from and --to come together")
	}
	if *from != "" {
		var err error
		if opt.From, err = time.Parse(time.DateOnly, *from); err != nil {
			return usagef("topics: --from: want a date YYYY-MM-DD, got %q", *from)
		}
		if opt.To, err = time.Parse(time.DateOnly, *to); err != nil {
			return usagef("topics: --to: want a date YYYY-MM-DD, got %q", *to)
		}
	}
	if *limit < 1 || *limit > topics.MaxLimit {
		return usagef("topics: --limit: want 1..%d, got %d", topics.MaxLimit, *limit)
	}
	if *minItems < 1 {
		return usagef("topics: --min-items: want at least 1, got %d", *minItems)
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	conn, done, err := connectClickHouse(ctx, cfg, set)
	if err != nil {
		return err
	}
	defer done()
	if opt.Community == "" {
		cs, err := queryStrings(ctx, conn, "SELECT DISTINCT community FROM items ORDER BY community LIMIT 21")
		if err != nil {
			return err
		}
		if opt.Community, err = onlyCommunity(cs, "the data", usagef("topics: no community has items yet")); err != nil {
			return err
		}
	}
	rep, err := topics.Compute(ctx, conn, opt)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTopics(stdout, rep)
	return nil
}

// printTopics writes the report as a table, then the example items.
func printTopics(w io.Writer, r topics.Report) {
	fmt.Fprintf(w, "Pain points of %s, %s to %s (against %s to %s)\n", r.Community, r.From.Format(time.DateOnly),
		r.To.Format(time.DateOnly), r.PreviousFrom.Format(time.DateOnly), r.PreviousTo.Format(time.DateOnly))
	fmt.Fprintf(w, "%d question-like items (%d the period before), %s unanswered, median first response %s\n\n",
		r.Questions, r.PreviousQuestions, percent(r.UnansweredShare), seconds(r.MedianResponseSeconds))
	if len(r.Topics) == 0 {
		fmt.Fprintln(w, "no recurring topic (lower --min-items to see one-offs)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTOPIC\tITEMS\tBEFORE\tGROWTH\tUNANSWERED\tMEDIAN TTFR")
	for i, t := range r.Topics {
		growth := fmt.Sprintf("%+d (%+.0f%%)", t.Growth, 100*t.GrowthRatio)
		if t.New {
			growth = fmt.Sprintf("%+d (new)", t.Growth)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\n", i+1, t.Label, t.Items, t.PreviousItems, growth,
			percent(t.UnansweredShare), seconds(t.MedianResponseSeconds))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\nExamples:")
	for i, t := range r.Topics {
		for _, e := range t.Examples {
			state := "answered"
			if !e.Answered {
				state = "unanswered"
			}
			fmt.Fprintf(w, "  %d %s: %q (%s, %s, %s) %s\n", i+1, t.Label, e.Title, e.Type, e.OpenedAt.Format(time.DateOnly), state, e.URL)
		}
	}
}

func percent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// seconds shows a duration in seconds for people ("-" for none).
func seconds(s *float64) string {
	if s == nil {
		return "-"
	}
	d := time.Duration(*s * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%.1fd", d.Hours()/24)
}
