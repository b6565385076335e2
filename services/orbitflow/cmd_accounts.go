package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/api/accounts"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

var accountSubs = []string{"import", "map", "unmap", "list", "show", "reach", "dropped"}

// cmdAccounts is `orbitflow accounts`: the customer base (package
// accounts) read and written straight in ClickHouse.
func cmdAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, i := "", -1
	for j, a := range args {
		if slices.Contains(accountSubs, a) {
			sub, i = a, j
			break
		}
	}
	if i < 0 {
		return usagef("usage: orbitflow accounts %s ... (see orbitflow -h)", strings.Join(accountSubs, "|"))
	}
	args = slices.Delete(slices.Clone(args), i, i+1)
	fs := flag.NewFlagSet("accounts "+sub, flag.ContinueOnError)
	var c common
	c.register(fs)
	community := fs.String("community", "", "the community (default: the only one)")
	format := fs.String("format", "", "import: csv or jsonl (default from the file name)")
	dryRun := fs.Bool("dry-run", false, "import: validate and count, write nothing")
	replace := fs.Bool("replace", false, "import: the file is the whole customer base (accounts it does not list are deleted)")
	asJSON := fs.Bool("json", false, "print JSON")
	period := fs.String("period", "month", "reach: day, week or month")
	from := fs.String("from", "", "reach: first day YYYY-MM-DD (default: 12 months before --to)")
	to := fs.String("to", "", "reach: last day YYYY-MM-DD (default today, UTC)")
	days := fs.Int("days", 0, "list: active in the last N whole days (default 30); dropped: window length (default 7)")
	windows := fs.Int("windows", accounts.WeeklyDropRule.Windows, "dropped: previous windows in the baseline")
	metric := fs.String("metric", accounts.WeeklyDropRule.Metric, "dropped: active_members or activities")
	minDrop := fs.Float64("min-drop", accounts.WeeklyDropRule.MinDrop, "dropped: least relative drop (0..1]")
	minBaseline := fs.Float64("min-baseline", accounts.WeeklyDropRule.MinBaseline, "dropped: least baseline")
	// Flags may come after the arguments too (show ACCOUNT --json).
	var pos []string
	for rest := args; ; {
		if err := parse(fs, rest, stderr); err != nil {
			return err
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	want := map[string]int{"import": 1, "map": 2, "unmap": 1, "list": 0, "show": 1, "reach": 0, "dropped": 0}[sub]
	if len(pos) != want {
		return usagef("accounts %s takes %d argument(s), got %d (see orbitflow -h)", sub, want, len(pos))
	}
	arg := func(i int) string { return pos[i] }
	var file []accounts.Account
	if sub == "import" { // the file is checked before anything starts
		var err error
		if file, err = readAccountsFile(arg(0), *format); err != nil {
			return err
		}
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
	if sub == "import" {
		imp := accounts.Import
		if *replace {
			imp = accounts.Replace
		}
		res, err := imp(ctx, conn, file, *dryRun)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, res)
		}
		verb := "imported"
		if res.DryRun {
			verb = "checked (dry run, nothing written)"
		}
		deleted := ""
		if *replace {
			deleted = fmt.Sprintf(", %d deleted (not in the file)", res.Deleted)
		}
		fmt.Fprintf(stdout, "%d accounts %s: %d added, %d updated, %d unchanged%s\n", res.Accounts, verb, res.Added, res.Updated, res.Unchanged, deleted)
		return nil
	}
	if *community == "" {
		if sub == "map" || sub == "unmap" {
			*community, err = communityOf(ctx, conn, arg(0))
		} else {
			*community, err = onlyCommunityOf(ctx, conn)
		}
		if err != nil {
			return err
		}
	}
	switch sub {
	case "map":
		if err := requireIdentity(ctx, conn, *community, arg(0)); err != nil {
			return err
		}
		if err := accounts.Map(ctx, conn, *community, arg(0), arg(1), requester()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s in %s is mapped to account %s (an explicit mapping wins over a domain match)\n", arg(0), *community, arg(1))
	case "unmap":
		if err := accounts.Unmap(ctx, conn, *community, arg(0), requester()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s in %s is no longer mapped explicitly (a domain match applies again)\n", arg(0), *community)
	case "list":
		return listAccounts(ctx, conn, *community, max(*days, 0), *asJSON, stdout)
	case "show":
		return showAccount(ctx, conn, *community, arg(0), *asJSON, stdout)
	case "reach":
		return showReach(ctx, conn, *community, *period, *from, *to, *asJSON, stdout)
	case "dropped":
		rule := accounts.DropRule{Metric: *metric, Days: *days, Windows: *windows, MinDrop: *minDrop, MinBaseline: *minBaseline}
		if rule.Days == 0 {
			rule.Days = accounts.WeeklyDropRule.Days
		}
		if err := rule.Validate(); err != nil {
			return usagef("%v", err)
		}
		return showDropped(ctx, conn, *community, rule, *asJSON, stdout)
	}
	return nil
}

// readAccountsFile parses an import file ("-": standard input); format
// "" is taken from the file name.
func readAccountsFile(path, format string) ([]accounts.Account, error) {
	if format == "" {
		format = accounts.FormatOf(path)
		if format == "" {
			return nil, usagef("--format: want csv or jsonl (the file name %q does not say)", path)
		}
	}
	if format != accounts.FormatCSV && format != accounts.FormatJSONL {
		return nil, usagef("--format: want csv or jsonl, got %q", format)
	}
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	accts, err := accounts.Parse(r, format)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return accts, nil
}

// onlyCommunityOf is the one community with activities.
func onlyCommunityOf(ctx context.Context, conn driver.Conn) (string, error) {
	cs, err := queryStrings(ctx, conn, "SELECT DISTINCT community FROM identity_daily ORDER BY community")
	if err != nil {
		return "", err
	}
	return onlyCommunity(cs, "the data", usagef("no community has activities yet: choose one with --community"))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func listAccounts(ctx context.Context, conn driver.Conn, community string, days int, asJSON bool, w io.Writer) error {
	if days == 0 {
		days = 30
	}
	list, err := accounts.List(ctx, conn, community, time.Now().UTC(), days)
	if err != nil {
		return err
	}
	if asJSON {
		if list == nil {
			list = []accounts.AccountActivity{}
		}
		return printJSON(w, map[string]any{"community": community, "days": days, "accounts": list})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ACCOUNT\tNAME\tSEGMENT\tPLAN\tLINKED\tACTIVE %dD\tACTIVITIES %dD\n", days, days)
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", a.ID, a.Name, a.Segment, a.Plan, a.LinkedMembers, a.ActiveMembers, a.Activities)
	}
	if len(list) == 0 {
		fmt.Fprintln(tw, "(no accounts: orbitflow accounts import FILE)")
	}
	return tw.Flush()
}

func showAccount(ctx context.Context, conn driver.Conn, community, id string, asJSON bool, w io.Writer) error {
	d, err := accounts.Show(ctx, conn, community, id)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, d)
	}
	fmt.Fprintf(w, "%s — %s\nsegment %s, plan %s, persona %s\ndomains: %s\n\n", d.ID, d.Name, orNone(d.Segment), orNone(d.Plan),
		orNone(d.Persona), orNone(strings.Join(d.Domains, ", ")))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "MEMBER\tNAME\tLINK\tLAST SEEN\n")
	for _, m := range d.Members {
		seen := "-"
		if m.LastSeen.Year() > 1970 {
			seen = m.LastSeen.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.MemberID, m.DisplayName, m.Link, seen)
	}
	if len(d.Members) == 0 {
		fmt.Fprintf(tw, "(no member of %s is linked: orbitflow accounts map MEMBER %s)\n", community, d.ID)
	}
	return tw.Flush()
}

func showReach(ctx context.Context, conn driver.Conn, community, period, fromS, toS string, asJSON bool, w io.Writer) error {
	to := time.Now().UTC().Truncate(24 * time.Hour)
	var err error
	if toS != "" {
		if to, err = time.Parse(time.DateOnly, toS); err != nil {
			return usagef("--to: want YYYY-MM-DD, got %q", toS)
		}
	}
	from := to.AddDate(-1, 0, 1)
	if fromS != "" {
		if from, err = time.Parse(time.DateOnly, fromS); err != nil {
			return usagef("--from: want YYYY-MM-DD, got %q", fromS)
		}
	}
	if !slices.Contains(accounts.Periods, period) {
		return usagef("--period: want day, week or month, got %q", period)
	}
	r, err := accounts.ReachOf(ctx, conn, community, period, from, to)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, r)
	}
	fmt.Fprintf(w, "Reach into the customer base, %s, per %s from %s to %s (active: any activity in the %s; bots and teammates left out)\n\n",
		community, period, r.From, r.To, period)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "PERIOD\tBY\tVALUE\tACCOUNTS\tWITH ACTIVE MEMBERS\tSHARE\tACTIVE MEMBERS\n")
	for _, x := range r.Rows {
		by, val := x.Dimension, x.Value
		if by == "" {
			by, val = "all", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.1f%%\t%d\n", x.PeriodStart.Format(time.DateOnly), by, orNone(val), x.Accounts, x.ActiveAccounts,
			x.Share*100, x.ActiveMembers)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Active members per account in the last period.
	if len(r.Accounts) == 0 {
		return nil
	}
	last := r.Accounts[len(r.Accounts)-1].PeriodStart
	fmt.Fprintf(w, "\nActive members per account, %s starting %s:\n\n", period, last.Format(time.DateOnly))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ACCOUNT\tNAME\tSEGMENT\tPLAN\tACTIVE MEMBERS\tACTIVITIES\n")
	for _, a := range r.Accounts {
		if a.PeriodStart.Equal(last) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", a.AccountID, a.Name, a.Segment, a.Plan, a.ActiveMembers, a.Activities)
		}
	}
	return tw.Flush()
}

func showDropped(ctx context.Context, conn driver.Conn, community string, rule accounts.DropRule, asJSON bool, w io.Writer) error {
	ds, err := accounts.Dropped(ctx, conn, community, time.Now().UTC(), rule)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, map[string]any{"community": community, "rule": rule, "accounts": ds})
	}
	fmt.Fprintf(w, "Accounts of %s whose %s dropped: the last %d days against the %d windows before (at least %.0f%% below a baseline of at least %g)\n\n",
		community, rule.Metric, rule.Days, rule.Windows, rule.MinDrop*100, rule.MinBaseline)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ACCOUNT\tNAME\tSEGMENT\tPLAN\tNOW\tBASELINE\tDROP\n")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%g\t%.2f\t%.0f%%\n", d.AccountID, d.Name, d.Segment, d.Plan, d.Current, d.Baseline, d.Drop*100)
	}
	if len(ds) == 0 {
		fmt.Fprintln(tw, "(none)")
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
