package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/nats-io/nats.go"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/orbitflow/internal/app"
	alertsp "github.com/orbitflow/orbitflow/services/processors/alerts"
)

const (
	// alertsTimeout bounds one request to the evaluator.
	alertsTimeout = 10 * time.Second
	// maxSilence is how far ahead a silence may end (as the API allows).
	maxSilence = 90 * 24 * time.Hour
	// maxDecisionLines bounds the decisions `alerts test` prints.
	maxDecisionLines = 50
	// maxSeriesLines bounds the series points `alerts test` prints (the
	// latest ones).
	maxSeriesLines = 50
)

var alertsSubcommands = []string{"list", "test", "ack", "silence", "silences", "unsilence", "rules"}

// alertsCmd is a parsed `orbitflow alerts` command line: the request to
// the evaluator and how to print its answer.
type alertsCmd struct {
	sub    string
	common common
	req    alerts.ControlRequest
	json   bool
}

func cmdAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ac, err := parseAlerts(args, stderr, time.Now())
	if err != nil {
		return err
	}
	cfg, err := ac.common.load()
	if err != nil {
		return err
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	nc, done, err := connectEvaluator(ctx, cfg, set)
	if err != nil {
		return err
	}
	defer done()
	body, err := askEvaluator(ctx, nc, ac.req)
	if err != nil {
		return err
	}
	return printAlertsReply(stdout, ac, body, termWidth(stdout))
}

// parseAlerts reads the subcommand, its flags and arguments. now is when
// a silence's --for starts.
func parseAlerts(args []string, stderr io.Writer, now time.Time) (alertsCmd, error) {
	var ac alertsCmd
	// The subcommand comes first among the arguments; common flags may
	// come before it.
	i := slices.IndexFunc(args, func(a string) bool { return slices.Contains(alertsSubcommands, a) })
	if i < 0 {
		return ac, usagef("usage: orbitflow alerts %s ... (see orbitflow -h)", strings.Join(alertsSubcommands, "|"))
	}
	ac.sub = args[i]
	args = slices.Delete(slices.Clone(args), i, i+1)
	fs := flag.NewFlagSet("alerts "+ac.sub, flag.ContinueOnError)
	ac.common.register(fs)
	var (
		state, community, rule, key, by, comment string
		limit                                    int
		dur                                      time.Duration
	)
	nargs := 0
	switch ac.sub {
	case "list":
		fs.StringVar(&state, "state", "open", "open (pending and firing), pending, firing or resolved")
		fs.StringVar(&community, "community", "", "only this community's alerts")
		fs.IntVar(&limit, "limit", 100, "at most this many alerts (1..1000)")
		fs.BoolVar(&ac.json, "json", false, "print the evaluator's JSON")
	case "test":
		fs.BoolVar(&ac.json, "json", false, "print the evaluator's JSON")
		nargs = 1
	case "rules", "silences":
		fs.BoolVar(&ac.json, "json", false, "print the evaluator's JSON")
	case "ack":
		fs.StringVar(&by, "by", requester(), "who acknowledges")
		nargs = 1
	case "silence":
		fs.StringVar(&rule, "rule", "", "silence this rule's alerts (default: every rule)")
		fs.StringVar(&community, "community", "", "silence this community's alerts (default: every community)")
		fs.StringVar(&key, "key", "", "silence this key's alerts: a member id or a source (default: every key)")
		fs.DurationVar(&dur, "for", 0, "how long, e.g. 2h or 72h (at most 90 days; required)")
		fs.StringVar(&comment, "comment", "", "why")
		fs.StringVar(&by, "by", requester(), "who silences")
	case "unsilence":
		nargs = 1
	}
	// Flags may come after the arguments too (alerts ack ID --by NAME).
	var pos []string
	for {
		if err := parse(fs, args, stderr); err != nil {
			return ac, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != nargs {
		what := map[string]string{"test": "RULE", "ack": "ID (see orbitflow alerts list)", "unsilence": "ID (see orbitflow alerts silences)"}[ac.sub]
		if nargs == 0 {
			return ac, usagef("alerts %s takes no arguments, got %q", ac.sub, strings.Join(pos, " "))
		}
		return ac, usagef("alerts %s takes one argument, %s; got %d", ac.sub, what, len(pos))
	}
	arg := ""
	if nargs == 1 {
		arg = pos[0]
	}
	switch ac.sub {
	case "list":
		switch state {
		case "open":
			state = ""
		case alerts.StatePending, alerts.StateFiring, alerts.StateResolved:
		default:
			return ac, usagef("--state: want open, pending, firing or resolved, got %q", state)
		}
		if limit < 1 || limit > 1000 {
			return ac, usagef("--limit: want 1..1000, got %d", limit)
		}
		ac.req = alerts.ControlRequest{Op: alerts.OpList, State: state, Community: community, Limit: limit}
	case "test":
		ac.req = alerts.ControlRequest{Op: alerts.OpTest, Rule: arg}
	case "rules":
		ac.req = alerts.ControlRequest{Op: alerts.OpRules}
	case "silences":
		ac.req = alerts.ControlRequest{Op: alerts.OpSilences}
	case "ack":
		ac.req = alerts.ControlRequest{Op: alerts.OpAck, AlertID: arg, By: by}
	case "unsilence":
		ac.req = alerts.ControlRequest{Op: alerts.OpUnsilence, Silence: arg}
	case "silence":
		if dur <= 0 || dur > maxSilence {
			return ac, usagef("--for: want a duration up to 90 days (2h, 72h ...), got %s", dur)
		}
		spec := alerts.SilenceSpec{Rule: rule, Community: community, Key: key, EndsAt: now.Add(dur).UTC().Truncate(time.Second),
			Comment: comment, By: by}
		body, err := json.Marshal(spec)
		if err != nil {
			return ac, err
		}
		ac.req = alerts.ControlRequest{Op: alerts.OpSilence, Community: community, By: by, Body: body}
	}
	return ac, nil
}

// connectEvaluator reaches the NATS server the alert evaluator answers
// on: the running `orbitflow run`'s (run.json in the data dir), or the
// configured external NATS.
func connectEvaluator(ctx context.Context, cfg app.Config, set telemetry.Settings) (*nats.Conn, func(), error) {
	if cfg.NATS.Mode != bus.ModeEmbedded {
		stack, err := app.Start(ctx, cfg, app.Parts{Bus: true}, set)
		if err != nil {
			return nil, nil, err
		}
		return stack.Bus.Conn(), func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = stack.Shutdown(sctx)
		}, nil
	}
	st, active, err := app.WaitActiveRun(ctx, cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if !active {
		return nil, nil, fmt.Errorf("no orbitflow is running on the data dir %s: is `orbitflow run` running? start it, or pass --data-dir", cfg.DataDir)
	}
	if st.NATSURL == "" {
		return nil, nil, fmt.Errorf("the running orbitflow (pid %d) does not listen for NATS clients; set nats.embedded.listen", st.PID)
	}
	nc, err := bus.Dial(st.NATSURL, nats.Token(st.NATSToken), nats.Name("orbitflow-cli"),
		nats.MaxReconnects(2), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	return nc, nc.Close, nil
}

// errNotAnswering is what the command says when no evaluator answers.
var errNotAnswering = errors.New("the alert evaluator is not answering: is `orbitflow run` running with alerts enabled?")

// askEvaluator sends req on subjects.AlertControl and returns the body of
// a successful reply, or the evaluator's error. It blocks for up to
// alertsTimeout.
func askEvaluator(ctx context.Context, nc *nats.Conn, req alerts.ControlRequest) (json.RawMessage, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, alertsTimeout)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, subjects.AlertControl, data)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return nil, errNotAnswering
	default:
		return nil, fmt.Errorf("ask the alert evaluator: %w", err)
	}
	var reply alerts.ControlReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return nil, fmt.Errorf("the alert evaluator's reply: %w", err)
	}
	if reply.Status < 200 || reply.Status > 299 {
		return nil, errors.New(cmp.Or(reply.Error, fmt.Sprintf("the alert evaluator answered status %d", reply.Status)))
	}
	return reply.Body, nil
}

// The evaluator's reply bodies: its own types (services/processors/alerts),
// under the names this file prints them by.
type (
	alertView    = alertsp.Alert
	pointView    = alertsp.Point
	decisionView = alertsp.Decision
	silenceView  = alertsp.Silence
)

type testView struct {
	Rule      map[string]any `json:"rule"`
	At        time.Time      `json:"at"`
	Series    []pointView    `json:"series"`
	Baseline  []pointView    `json:"baseline"`
	Decisions []decisionView `json:"decisions"`
}

// printAlertsReply prints the evaluator's answer to ac; width bounds the
// list's lines (0: no bound).
func printAlertsReply(w io.Writer, ac alertsCmd, body json.RawMessage, width int) error {
	if ac.json {
		var buf bytes.Buffer
		if err := json.Indent(&buf, body, "", "  "); err != nil {
			return fmt.Errorf("the alert evaluator's reply: %w", err)
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	switch ac.sub {
	case "list":
		var v struct {
			Alerts []alertView `json:"alerts"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("the alert evaluator's reply: %w", err)
		}
		if len(v.Alerts) == 0 {
			fmt.Fprintf(w, "no %s alerts\n", cmp.Or(ac.req.State, "open"))
			return nil
		}
		for _, l := range alertTable(v.Alerts, width) {
			fmt.Fprintln(w, l)
		}
	case "test":
		var v testView
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("the alert evaluator's reply: %w", err)
		}
		printTest(w, v)
	case "rules":
		return printRules(w, body)
	case "ack":
		var v struct {
			Alert alertView `json:"alert"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("the alert evaluator's reply: %w", err)
		}
		a := v.Alert
		fmt.Fprintf(w, "acknowledged %s (%s in %s%s) by %s\n",
			cmp.Or(a.ID, ac.req.AlertID), a.Rule, a.Community, keySuffix(a.Key), cmp.Or(a.AckedBy, ac.req.By))
	case "silence":
		var v struct {
			Silence silenceView `json:"silence"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("the alert evaluator's reply: %w", err)
		}
		fmt.Fprintf(w, "silence %s: %s until %s\nmatching alerts change state as usual but notify no one; end it early with: orbitflow alerts unsilence %s\n",
			v.Silence.ID, silenceMatch(v.Silence), fmtTime(v.Silence.EndsAt), v.Silence.ID)
	case "silences":
		var v struct {
			Silences []silenceView `json:"silences"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("the alert evaluator's reply: %w", err)
		}
		if len(v.Silences) == 0 {
			fmt.Fprintln(w, "no active silences")
			return nil
		}
		rows := [][]string{{"ID", "MATCHES", "UNTIL", "BY", "COMMENT"}}
		for _, s := range v.Silences {
			rows = append(rows, []string{s.ID, silenceMatch(s), fmtTime(s.EndsAt), dash(s.By), dash(s.Comment)})
		}
		for _, l := range table(rows, width) {
			fmt.Fprintln(w, l)
		}
	case "unsilence":
		var v struct {
			Expired string `json:"expired"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("the alert evaluator's reply: %w", err)
		}
		fmt.Fprintf(w, "silence %s expired\n", cmp.Or(v.Expired, ac.req.Silence))
	}
	return nil
}

// alertTable lays the alerts out in columns; the summary, last, is cut
// to fit width (when width > 0).
func alertTable(list []alertView, width int) []string {
	rows := [][]string{{"ID", "STATE", "SEVERITY", "RULE", "COMMUNITY", "KEY", "SINCE", "VALUE", "BASELINE", "SUMMARY"}}
	for _, a := range list {
		state := a.State
		if !a.AckedAt.IsZero() {
			state += " (acked)"
		}
		rows = append(rows, []string{a.ID, state, a.Severity, a.Rule, a.Community, dash(a.Key), fmtTime(a.StartedAt),
			fmtNum(a.Value), fmtNum(a.Baseline), a.Summary})
	}
	return table(rows, width)
}

// table aligns rows in columns two spaces apart; the last column is cut
// to fit width (when width > 0), keeping at least 20 characters.
func table(rows [][]string, width int) []string {
	n := len(rows[0])
	widths := make([]int, n)
	for _, r := range rows {
		for i, c := range r[:n-1] {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	used := 0
	for _, wd := range widths[:n-1] {
		used += wd + 2
	}
	room := 0
	if width > 0 {
		room = max(width-used, 20)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r[:n-1] {
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
		}
		b.WriteString(truncate(oneLine(r[n-1]), room))
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}

// printTest prints a rule's evaluation: the rule, what it read, and each
// key's decision, firing ones first.
func printTest(w io.Writer, v testView) {
	fmt.Fprintf(w, "%s\nevaluated at %s\n", ruleLine(v.Rule), fmtTime(v.At))
	printPoints := func(title string, ps []pointView) {
		if len(ps) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		if len(ps) > maxSeriesLines {
			fmt.Fprintf(w, "  … %d earlier\n", len(ps)-maxSeriesLines)
			ps = ps[len(ps)-maxSeriesLines:]
		}
		rows := [][]string{{"START", "END", "VALUE"}}
		for _, p := range ps {
			rows = append(rows, []string{fmtTime(p.Start), fmtTime(p.End), fmtNum(p.Value)})
		}
		for _, l := range table(rows, 0) {
			fmt.Fprintln(w, "  "+l)
		}
	}
	printPoints("series (history first, the current window last)", v.Series)
	printPoints("baseline (the same hour of past weeks)", v.Baseline)
	if len(v.Decisions) == 1 && v.Decisions[0].Skipped == "" {
		d := v.Decisions[0]
		line := "value " + fmtNum(d.Value) + ", baseline (median) " + fmtNum(d.Baseline)
		if d.Lower != 0 || d.Upper != 0 {
			line += ", band " + fmtNum(d.Lower) + ".." + fmtNum(d.Upper)
		}
		if d.Score != 0 {
			line += ", score " + fmtNum(d.Score)
		}
		fmt.Fprintf(w, "\n%s\n", line)
	}
	if len(v.Decisions) == 0 {
		fmt.Fprintln(w, "\nno decisions: nothing to judge (no member, role holder or source qualifies)")
		return
	}
	firing := 0
	for _, d := range v.Decisions {
		if d.Firing && d.Skipped == "" {
			firing++
		}
	}
	fmt.Fprintf(w, "\ndecisions (%d, %d firing):\n", len(v.Decisions), firing)
	ds := slices.Clone(v.Decisions)
	rank := func(d decisionView) int {
		switch {
		case d.Skipped != "":
			return 2
		case d.Firing:
			return 0
		}
		return 1
	}
	slices.SortStableFunc(ds, func(a, b decisionView) int { return cmp.Compare(rank(a), rank(b)) })
	for i, d := range ds {
		if i == maxDecisionLines {
			fmt.Fprintf(w, "  … %d more\n", len(ds)-i)
			break
		}
		verdict := "ok"
		switch {
		case d.Skipped != "":
			verdict = "skipped: " + d.Skipped
		case d.Firing:
			verdict = "FIRES"
		}
		parts := []string{verdict}
		if d.Key != "" {
			parts = append(parts, d.Key)
		}
		if d.Summary != "" {
			parts = append(parts, d.Summary)
		}
		fmt.Fprintf(w, "  %s\n", strings.Join(parts, "  "))
	}
}

// printRules prints every rule on a line, then the targets.
func printRules(w io.Writer, body json.RawMessage) error {
	var v struct {
		Rules   []map[string]any          `json:"rules"`
		Targets map[string]map[string]any `json:"targets"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("the alert evaluator's reply: %w", err)
	}
	if len(v.Rules) == 0 {
		fmt.Fprintln(w, "no alert rules (add some to the rules file, or PUT /api/v1/alerts/rules/{name})")
	}
	for _, r := range v.Rules {
		fmt.Fprintln(w, ruleLine(r))
	}
	if len(v.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, name := range slices.Sorted(maps.Keys(v.Targets)) {
			t := v.Targets[name]
			line := "  " + name + ": " + str(t["type"])
			if u := str(t["url"]); u != "" {
				line += " " + u
			}
			fmt.Fprintln(w, line)
		}
	}
	return nil
}

// ruleLine is one line about a rule: its name, what it watches, how, and
// whom it notifies.
func ruleLine(r map[string]any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rule %s: community %s", cmp.Or(str(r["name"]), "?"), cmp.Or(str(r["community"]), "?"))
	if seg, ok := r["segment"].(map[string]any); ok {
		fmt.Fprintf(&b, " (%s %s)", str(seg["dimension"]), str(seg["value"]))
	}
	if m := str(r["metric"]); m != "" {
		b.WriteString(", metric " + m)
	}
	if d, ok := r["detector"].(map[string]any); ok {
		b.WriteString(", detector " + str(d["type"]))
		var params []string
		for _, k := range slices.Sorted(maps.Keys(d)) {
			if k != "type" {
				params = append(params, k+"="+str(d[k]))
			}
		}
		if len(params) > 0 {
			b.WriteString(" (" + strings.Join(params, ", ") + ")")
		}
	}
	for _, k := range []string{"window", "period", "for", "cooldown", "min_volume", "severity"} {
		if s := str(r[k]); s != "" {
			b.WriteString(", " + strings.ReplaceAll(k, "_", " ") + " " + s)
		}
	}
	if ts, ok := r["targets"].([]any); ok && len(ts) > 0 {
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = str(t)
		}
		b.WriteString(" → " + strings.Join(names, ", "))
	}
	if dis, _ := r["disabled"].(bool); dis {
		b.WriteString(" [disabled]")
	}
	return b.String()
}

// str shows a JSON value briefly: strings as they are, numbers short,
// lists comma-separated.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return fmtNum(x)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = str(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func silenceMatch(s silenceView) string {
	var parts []string
	for _, f := range []struct{ name, v string }{{"rule", s.Rule}, {"community", s.Community}, {"key", s.Key}} {
		if f.v != "" {
			parts = append(parts, f.name+" "+f.v)
		}
	}
	if len(parts) == 0 {
		return "every alert"
	}
	return strings.Join(parts, ", ")
}

func keySuffix(k string) string {
	if k == "" {
		return ""
	}
	return ", key " + k
}

// fmtTime shows a time in UTC to the minute; "-" for none.
func fmtTime(t time.Time) string {
	if t.IsZero() || t.Year() <= 1 {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// fmtNum shows a number briefly: whole numbers as such, others with four
// significant digits.
func fmtNum(f float64) string {
	if f == float64(int64(f)) && f < 1e15 && f > -1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

func dash(s string) string { return cmp.Or(s, "-") }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncate cuts s to n characters, the last an ellipsis (n ≤ 0: no cut).
func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// termWidth is the width to fit lines in: $COLUMNS, else the terminal's,
// else 0 (output to a file or pipe is not cut).
func termWidth(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	f, ok := w.(*os.File)
	if !ok || !isTerminal(w) {
		return 0
	}
	var ws struct{ row, col, x, y uint16 }
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws))); errno != 0 || ws.col == 0 {
		return 120
	}
	return int(ws.col)
}
