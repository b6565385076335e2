package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	recorded "github.com/orbitflow/orbitflow/services/api/signals"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

const signalsUsage = "usage: orbitflow signals list|test|opt-out ... (see orbitflow -h)"

// cmdSignals is `orbitflow signals`: list the signals, test a rule on
// recent activities, and manage opt-outs.
func cmdSignals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	i := slices.IndexFunc(args, func(a string) bool { return slices.Contains([]string{"list", "test", "opt-out"}, a) })
	if i < 0 {
		return usagef(signalsUsage)
	}
	sub := args[i]
	args = slices.Delete(slices.Clone(args), i, i+1)
	op := ""
	if sub == "opt-out" {
		j := slices.IndexFunc(args, func(a string) bool { return slices.Contains([]string{"add", "remove", "list"}, a) })
		if j < 0 {
			return usagef("usage: orbitflow signals opt-out add|remove|list [--community C] [MEMBER]")
		}
		op = args[j]
		args = slices.Delete(args, j, j+1)
	}
	fs := flag.NewFlagSet("signals "+sub, flag.ContinueOnError)
	var c common
	c.register(fs)
	community := fs.String("community", "", "the community (required when several have signals)")
	rule := fs.String("rule", "", "list: only this rule's signals")
	days := fs.Int("days", 30, "list, test: the days ending now to look at (1..3660)")
	limit := fs.Int("limit", 100, "list: at most this many signals (1..10000)")
	asJSON := fs.Bool("json", false, "print JSON")
	comment := fs.String("comment", "", "opt-out add: why (e.g. how the member asked)")
	// Flags may come after the argument (signals test RULE --days 7).
	var pos []string
	for {
		if err := parse(fs, args, stderr); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	want := map[string]int{"list": 0, "test": 1, "add": 1, "remove": 1}[firstNonEmpty(op, sub)]
	if len(pos) != want {
		return usagef("signals %s takes %d argument(s), got %d", strings.TrimSpace(sub+" "+op), want, len(pos))
	}
	arg := ""
	if want == 1 {
		arg = pos[0]
	}
	if *days < 1 || *days > 3660 {
		return usagef("--days: want 1..3660, got %d", *days)
	}
	if *limit < 1 || *limit > 10000 {
		return usagef("--limit: want 1..10000, got %d", *limit)
	}
	if *community != "" && !signals.IsName(*community) {
		return usagef("--community: want a community name (a-z, 0-9, _ and -), got %q", *community)
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	if sub == "opt-out" {
		return signalOptOut(ctx, cfg, set, op, *community, arg, *comment, *asJSON, stdout)
	}
	conn, done, err := connectClickHouse(ctx, cfg, set)
	if err != nil {
		return err
	}
	defer done()
	if sub == "test" {
		return testSignalRule(ctx, cfg, conn, arg, *days, *asJSON, stdout)
	}
	if *community == "" {
		cs, err := queryStrings(ctx, conn, "SELECT DISTINCT community FROM signals ORDER BY community")
		if err != nil {
			return err
		}
		if *community, err = onlyCommunity(cs, "signals", errors.New("no signals recorded yet")); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	sigs, err := recorded.List(ctx, conn, recorded.Query{Community: *community, Rule: *rule,
		From: now.AddDate(0, 0, -*days), To: now.Add(time.Minute), Limit: *limit})
	if err != nil {
		return err
	}
	return printSignals(stdout, sigs, *asJSON)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func printSignals(w io.Writer, sigs []alerts.Signal, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"signals": sigs})
	}
	if len(sigs) == 0 {
		_, err := fmt.Fprintln(w, "no signals")
		return err
	}
	for _, s := range sigs {
		who := s.Member.DisplayName
		if who == "" {
			who = s.Member.ID
		}
		fmt.Fprintf(w, "%s  %s  %s (%s, %s)", s.At.Format("2006-01-02 15:04"), s.Rule, who, s.Member.ID, s.Member.LevelName)
		if s.Member.Organization != "" {
			fmt.Fprintf(w, " of %s", s.Member.Organization)
		}
		fmt.Fprintf(w, "\n    %s %s: %q\n", s.Activity.Source, s.Activity.Type, s.Activity.Title)
		for _, r := range s.Reasons {
			fmt.Fprintf(w, "    - %s\n", r)
		}
		if s.Activity.URL != "" {
			fmt.Fprintf(w, "    %s\n", s.Activity.URL)
		}
	}
	return nil
}

// signalOptOut adds, removes or lists opt-outs in the bucket the scoring
// processor watches (list shows the configuration's too).
func signalOptOut(ctx context.Context, cfg app.Config, set telemetry.Settings, op, community, member, comment string, asJSON bool, w io.Writer) error {
	if community == "" {
		return usagef("signals opt-out %s: --community is required", op)
	}
	if op != "list" {
		if err := signals.ValidMember(member); err != nil {
			return usagef("member: %v", err)
		}
	}
	js, closeBus, err := connectBus(ctx, cfg, false, set)
	if err != nil {
		return err
	}
	defer closeBus()
	store, err := signals.OpenOptOuts(ctx, js)
	if err != nil {
		return err
	}
	switch op {
	case "add":
		if err := store.Add(ctx, signals.OptOut{Community: community, Member: member, By: requester(), Comment: comment, At: time.Now().UTC()}); err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s opted out of signals in %s: its activities produce no signal from now on (signals recorded before stay)\n", member, community)
		return err
	case "remove":
		if err := store.Remove(ctx, community, member); errors.Is(err, signals.ErrNotOptedOut) {
			if slices.Contains(cfg.Signals.OptOut[community], member) {
				return fmt.Errorf("%s opted out in the configuration (signals.opt_out.%s); remove it there", member, community)
			}
			return fmt.Errorf("%s has not opted out of signals in %s", member, community)
		} else if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s may produce signals in %s again\n", member, community)
		return err
	}
	list, err := store.List(ctx, community)
	if err != nil {
		return err
	}
	list = append(cfg.Signals.OptOuts(community), list...)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"opt_outs": list})
	}
	if len(list) == 0 {
		_, err := fmt.Fprintf(w, "no member of %s opted out of signals\n", community)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tWHERE\tBY\tAT\tCOMMENT")
	for _, o := range list {
		where, at := "api", o.At.Format("2006-01-02 15:04")
		if o.Config {
			where, at = "config", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Member, where, o.By, at, o.Comment)
	}
	return tw.Flush()
}

// testSignalRule runs a signal rule of the rules file over the last days'
// activities and prints what it would fire. The member's level and roles
// are today's (the processor judges them as of each activity), and the
// opt-outs are not consulted: it shows what the rule matches.
func testSignalRule(ctx context.Context, cfg app.Config, conn driver.Conn, name string, days int, asJSON bool, w io.Writer) error {
	rules, _, err := app.LoadSignalRules(cfg.AlertRulesFile())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(rules, func(r signals.Rule) bool { return r.Name == name })
	if i < 0 {
		var names []string
		for _, r := range rules {
			names = append(names, r.Name)
		}
		return fmt.Errorf("no signal rule %q in %s (have %s)", name, cfg.AlertRulesFile(), strings.Join(names, ", "))
	}
	r := rules[i]
	r.Disabled = false
	rule := signals.Compile([]signals.Rule{r}).For(r.Community)[0]
	rows, err := conn.Query(param(ctx, map[string]string{"c": r.Community, "days": fmt.Sprint(days),
		"sources": chArray(r.Sources), "types": chArray(r.Types), "channels": chArray(r.Channels)}), `
		SELECT a.event_id, a.source, a.type, a.channel, a.title, a.url, a.occurred_at, a.identity, a.is_bot,
			a.attributes['teammate'] = 'true', a.attributes['organization'],
			if(i.member_id = '', a.identity, i.member_id), m.display_name, m.orbit_step, m.roles, m.is_bot, m.is_teammate
		FROM activities AS a
		LEFT JOIN (SELECT identity, member_id FROM member_identities FINAL WHERE community = {c:String}) AS i ON i.identity = a.identity
		LEFT JOIN (SELECT member_id, display_name, orbit_step, roles, is_bot, is_teammate FROM members WHERE community = {c:String}) AS m
			ON m.member_id = if(i.member_id = '', a.identity, i.member_id)
		WHERE a.community = {c:String} AND a.occurred_at >= now64(3) - toIntervalDay({days:UInt32})
			AND (empty({sources:Array(String)}) OR a.source IN {sources:Array(String)})
			AND (empty({types:Array(String)}) OR a.type IN {types:Array(String)})
			AND (empty({channels:Array(String)}) OR a.channel IN {channels:Array(String)})
		ORDER BY a.occurred_at DESC
		LIMIT 1 BY a.event_id
		LIMIT 100000`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var fired []alerts.Signal
	seen := 0
	for rows.Next() {
		var a signals.Activity
		var m signals.Member
		a.Community = r.Community
		if err := rows.Scan(&a.EventID, &a.Source, &a.Type, &a.Channel, &a.Title, &a.URL, &a.OccurredAt, &m.Identity, &a.Bot,
			&a.Teammate, &a.Organization, &m.ID, &m.DisplayName, &m.Step, &m.Roles, &m.Bot, &m.Teammate); err != nil {
			return err
		}
		seen++
		if s, ok := rule.Match(a, m); ok {
			fired = append(fired, s)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(w, "signal rule %s (%s): %d of %d activities of the last %d days would fire (levels and roles as of today; opt-outs not applied)\n\n",
			r.Name, r.Community, len(fired), seen, days)
	}
	return printSignals(w, fired, asJSON)
}

// chArray is an Array(String) query parameter's value.
func chArray(xs []string) string {
	q := make([]string, len(xs))
	esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	for i, x := range xs {
		q[i] = "'" + esc.Replace(x) + "'"
	}
	return "[" + strings.Join(q, ",") + "]"
}
