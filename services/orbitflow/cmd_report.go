package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/api/report"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
	"github.com/orbitflow/orbitflow/services/processors/alerts"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

// cmdReport prints (or e-mails) a community's weekly report.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var c common
	c.register(fs)
	community := fs.String("community", "", "the community (required when there are several)")
	week := fs.String("week", "", "any day (YYYY-MM-DD, UTC) of the week to report; default the last full week")
	format := fs.String("format", "text", "output: text, html or json")
	out := fs.String("out", "", "write the report to this file instead of stdout")
	email := fs.String("email", "", "send the report (HTML and text) to this e-mail target of the alert rules file")
	top := fs.Int("top", 10, "how many top contributors and new leaders to list")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("report takes no arguments (got %q); name the community with --community", fs.Arg(0))
	}
	switch *format {
	case "text", "html", "json":
	default:
		return usagef("--format: want text, html or json, got %q", *format)
	}
	var at time.Time
	if *week != "" {
		var err error
		if at, err = time.Parse(time.DateOnly, *week); err != nil {
			return usagef("--week: want a date YYYY-MM-DD, got %q", *week)
		}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	var target notify.Target
	var rules alerts.File
	if *email != "" {
		// Check the target before the queries: a typo fails at once.
		if rules, err = alerts.LoadFile(cfg.AlertRulesFile()); err != nil {
			return fmt.Errorf("--email: %w", err)
		}
		t, ok := rules.Targets[*email]
		if !ok {
			return usagef("--email: no target %q in %s (have %s)", *email, cfg.AlertRulesFile(), strings.Join(targetNames(rules), ", "))
		}
		target = t
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	conn, done, err := connectClickHouse(ctx, cfg, set)
	if err != nil {
		return err
	}
	defer done()
	name, err := soleCommunity(ctx, conn, *community)
	if err != nil {
		return err
	}
	opts := report.Options{Community: name, Week: at, Top: *top}
	if rules.ExternalURL != "" {
		opts.URL = app.ReportURL(rules.ExternalURL, name, at)
	}
	r, err := report.Build(ctx, conn, opts)
	if err != nil {
		return err
	}
	if *email != "" {
		mail, err := app.ReportMail(r)
		if err != nil {
			return err
		}
		if err := notify.SendMail(ctx, *email, target, mail); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "sent the report of %s, week of %s, to %s (%s)\n", name, r.WeekStart.Format(time.DateOnly), *email,
			strings.Join(target.To, ", "))
		if *out == "" {
			return nil
		}
	}
	var body []byte
	switch *format {
	case "html":
		if body, err = report.HTML(r); err != nil {
			return err
		}
	case "json":
		if body, err = json.MarshalIndent(r, "", "  "); err != nil {
			return err
		}
		body = append(body, '\n')
	default:
		body = []byte(report.Text(r))
	}
	if *out != "" {
		if err := os.WriteFile(*out, body, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", *out)
		return nil
	}
	_, err = stdout.Write(body)
	return err
}

func targetNames(f alerts.File) []string {
	names := slices.Sorted(maps.Keys(f.Targets))
	if len(names) == 0 {
		return []string{"none: add one under targets:"}
	}
	return names
}

// soleCommunity is name, or when name is empty the only community with
// activity (an error lists them when there are several).
func soleCommunity(ctx context.Context, conn driver.Conn, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	var rows []struct {
		Community string `ch:"community"`
	}
	if err := conn.Select(ctx, &rows, `SELECT DISTINCT toString(community) AS community FROM community_periods FINAL
		WHERE unit = 'month' AND dimension = '' ORDER BY community`); err != nil {
		return "", err
	}
	switch len(rows) {
	case 0:
		return "", fmt.Errorf("no community has activity yet: ingest some first (orbitflow ingest ...)")
	case 1:
		return rows[0].Community, nil
	}
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.Community
	}
	return "", usagef("--community is required: there are %d communities (%s)", len(names), strings.Join(names, ", "))
}
