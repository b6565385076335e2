package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"

	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

func cmdMembers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The subcommand comes first among the arguments; common flags may
	// come before it.
	sub, i := "", -1
	for j, a := range args {
		if slices.Contains([]string{"show", "merge", "unmerge", "suggestions", "forget"}, a) {
			sub, i = a, j
			break
		}
	}
	if i < 0 {
		return usagef("usage: orbitflow members show|merge|unmerge|suggestions|forget ... (see orbitflow -h)")
	}
	args = slices.Delete(slices.Clone(args), i, i+1)
	fs := flag.NewFlagSet("members "+sub, flag.ContinueOnError)
	var c common
	c.register(fs)
	community := fs.String("community", "", "the community (required when the member is in several)")
	top := fs.Int("top", 10, "how many activities, connections or suggestions to list")
	reason := fs.String("reason", "", "merge: why (recorded in identity_changes)")
	timeout := fs.Duration("timeout", 5*time.Minute, "forget: how long to wait for the sink and the scoring processor to apply it")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	want := map[string]int{"show": 1, "merge": 2, "unmerge": 1, "suggestions": 0, "forget": 1}[sub]
	if fs.NArg() != want {
		return usagef("members %s takes %d argument(s) (identities look like github:583231), got %d", sub, want, fs.NArg())
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	sc, err := cfg.Scoring.Scoring()
	if err != nil {
		return err
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	if sub == "forget" {
		return cmdForget(ctx, cfg, set, *community, fs.Arg(0), *timeout, stdout)
	}
	conn, done, err := connectClickHouse(ctx, cfg, set)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "show":
		return showMember(ctx, conn, sc, *community, fs.Arg(0), *top, stdout)
	case "suggestions":
		return showSuggestions(ctx, conn, *community, *top, stdout)
	}
	cmd := events.IdentityCommand{ID: newCommandID(), Community: *community, Kind: sub, Identities: fs.Args(),
		Reason: *reason, RequestedBy: requester(), At: events.NewTimestamp(time.Now())}
	if cmd.Community == "" {
		if cmd.Community, err = communityOf(ctx, conn, cmd.Identities[0]); err != nil {
			return err
		}
	}
	for _, id := range cmd.Identities {
		if err := requireIdentity(ctx, conn, cmd.Community, id); err != nil {
			return err
		}
	}
	if err := cmd.Validate(); err != nil {
		return usagef("%v", err)
	}
	js, closeBus, err := connectBus(ctx, cfg, false, set)
	if err != nil {
		return err
	}
	defer closeBus()
	data, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	ack, err := js.Publish(ctx, subjects.Identity(cmd.Community), data, jetstream.WithMsgID(cmd.ID))
	if err != nil {
		return fmt.Errorf("publish the %s: %w", sub, err)
	}
	fmt.Fprintf(stdout, "%s of %s in %s is on the stream (seq %d): the scoring processor applies it in order and rebuilds\n"+
		"the members' scores from their activities; see identity_changes and `orbitflow members show`\n",
		sub, strings.Join(cmd.Identities, " and "), cmd.Community, ack.Sequence)
	return nil
}

// newCommandID is a random id for an identity command (its Nats-Msg-Id).
func newCommandID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// requester names who asked, for identity_changes.requested_by.
func requester() string {
	host, _ := os.Hostname()
	return cmp.Or(os.Getenv("USER"), "unknown") + "@" + cmp.Or(host, "unknown")
}

// communityOf finds the one community an identity has activities in.
func communityOf(ctx context.Context, conn driver.Conn, identity string) (string, error) {
	cs, err := queryStrings(param(ctx, map[string]string{"i": identity}), conn,
		"SELECT DISTINCT community FROM activities WHERE identity = {i:String} ORDER BY community")
	if err != nil {
		return "", err
	}
	return onlyCommunity(cs, fmt.Sprintf("identity %q", identity),
		fmt.Errorf("identity %q has no activities: check the id (source:source_id, as in activities.identity)", identity))
}

// onlyCommunity is the one community of cs; for none it returns missing,
// for several an error asking for --community. what names the id.
func onlyCommunity(cs []string, what string, missing error) (string, error) {
	switch len(cs) {
	case 0:
		return "", missing
	case 1:
		return cs[0], nil
	}
	return "", usagef("%s is in communities %s: choose one with --community", what, strings.Join(cs, ", "))
}

// queryStrings runs a query of one String column and returns its values.
func queryStrings(ctx context.Context, conn driver.Conn, query string) ([]string, error) {
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// requireIdentity checks an identity has activities in the community.
func requireIdentity(ctx context.Context, conn driver.Conn, community, identity string) error {
	var n uint64
	if err := conn.QueryRow(param(ctx, map[string]string{"c": community, "i": identity}),
		"SELECT count() FROM activities WHERE community = {c:String} AND identity = {i:String}").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("identity %q has no activities in community %q: check the id (source:source_id, as in activities.identity)", identity, community)
	}
	return nil
}

// showSuggestions lists the possible merges the processor found.
func showSuggestions(ctx context.Context, conn driver.Conn, community string, top int, w io.Writer) error {
	rows, err := conn.Query(param(ctx, map[string]string{"c": community}), `SELECT community, member_a, member_b, confidence, evidence
		FROM merge_suggestions FINAL WHERE active AND ({c:String} = '' OR community = {c:String})
		ORDER BY confidence DESC, community, member_a, member_b LIMIT `+fmt.Sprint(max(top, 1)))
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var c, a, b, evidence string
		var confidence float64
		if err := rows.Scan(&c, &a, &b, &confidence, &evidence); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\t%s + %s\tconfidence %.2f\t%s\n", c, a, b, confidence, evidence)
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(w, "no merge suggestions (they are written at the scoring checkpoint, every 30 s by default)")
	} else {
		fmt.Fprintln(w, "merge one with: orbitflow members merge --community C MEMBER_A MEMBER_B")
	}
	return nil
}

// showMember prints a member's scores and why: love with the activities,
// sources and channels it comes from (recomputed from activities, adding up
// to the streamed love), presence, the level and the changes that led to
// it, and reach with the strongest connections. Every query is
// parameterized.
func showMember(ctx context.Context, conn driver.Conn, sc scoring.Config, community, member string, top int, w io.Writer) error {
	if community == "" {
		var cs []string
		rows, err := conn.Query(param(ctx, map[string]string{"m": member}),
			"SELECT DISTINCT community FROM members WHERE member_id = {m:String} ORDER BY community")
		if err != nil {
			return err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return err
			}
			cs = append(cs, c)
		}
		rows.Close()
		switch len(cs) {
		case 0:
			return fmt.Errorf("member %q has no scores (yet): check the id (source:source_id, as in activities.member_id)", member)
		case 1:
			community = cs[0]
		default:
			return usagef("member %q is in communities %s: choose one with --community", member, strings.Join(cs, ", "))
		}
	}
	p := map[string]string{"c": community, "m": member, "v": scoring.ModelVersion, "h": sc.Hash()}
	var (
		name                        string
		love, reach, gravity        float64
		level, step                 uint8
		p7, p30, p90                uint16
		firstSeen, lastSeen, presAt time.Time
		bot, teammate               bool
		model, hash                 string
	)
	err := conn.QueryRow(param(ctx, p), `SELECT display_name, love, reach, member_gravity, orbit_level, orbit_step,
		presence_7d, presence_30d, presence_90d, first_seen, last_seen, presence_at, is_bot, is_teammate, model_version, config_hash
		FROM members WHERE community = {c:String} AND member_id = {m:String}`).Scan(
		&name, &love, &reach, &gravity, &level, &step, &p7, &p30, &p90, &firstSeen, &lastSeen, &presAt, &bot, &teammate, &model, &hash)
	if err != nil {
		return fmt.Errorf("member %q in %q: %w", member, community, err)
	}
	flags := ""
	if bot {
		flags += " [bot: not scored]"
	}
	if teammate {
		flags += " [teammate]"
	}
	fmt.Fprintf(w, "%s %q in %s%s — model %s, scoring config %s\n", member, name, community, flags, model, hash)
	fmt.Fprintf(w, "first seen %s, last seen %s\n\n", firstSeen.Format(time.DateOnly), lastSeen.Format(time.DateOnly))

	// Love, explained from the activities themselves.
	var acts []scoring.Activity
	rows, err := conn.Query(param(ctx, p), `SELECT occurred_at, type, source, channel, toFloat64(weight), is_bot
		FROM activities WHERE community = {c:String}
		  AND identity IN (SELECT identity FROM member_identities FINAL WHERE community = {c:String} AND member_id = {m:String})
		ORDER BY occurred_at, event_id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var a scoring.Activity
		var at time.Time
		if err := rows.Scan(&at, &a.Type, &a.Source, &a.Channel, &a.Weight, &a.Bot); err != nil {
			rows.Close()
			return err
		}
		a.At = at.UnixMilli()
		acts = append(acts, a)
	}
	rows.Close()
	e := scoring.ExplainLove(sc, acts, time.Now().UnixMilli())
	fmt.Fprintf(w, "love %.4g (as of now; %d activities)\n", love, len(e.Contributions))
	if diff := e.Love - love; love != 0 && (diff > 1e-6*love || diff < -1e-6*love) {
		fmt.Fprintf(w, "  note: the activities add up to %.6g; the processor may not have caught up yet\n", e.Love)
	}
	share := func(label string, m map[string]float64) {
		keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Compare(m[b], m[a]) })
		var parts []string
		for _, k := range keys[:min(len(keys), top)] {
			if k == "" {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.4g (%.0f%%)", k, m[k], 100*m[k]/max(e.Love, 1e-300)))
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "  by %s: %s\n", label, strings.Join(parts, ", "))
		}
	}
	share("source", e.BySource)
	share("channel", e.ByChannel)
	for _, c := range e.Contributions[:min(len(e.Contributions), top)] {
		fmt.Fprintf(w, "  %s  %-36s weight %-4g → %.4g\n", time.UnixMilli(c.At).UTC().Format(time.DateOnly), c.Type, c.Weight, c.Value)
	}

	fmt.Fprintf(w, "\npresence (as of %s): active %d of the last 7 days, %d of 30, %d of 90\n", presAt.Format(time.DateOnly), p7, p30, p90)
	fmt.Fprintf(w, "\nlevel: %s (orbit %d, step %d)\n", scoring.StepName(step), level, step)
	rows, err = conn.Query(param(ctx, p), `SELECT changed_at, from_step, to_step, reason, detail FROM level_changes FINAL
		WHERE community = {c:String} AND member_id = {m:String} ORDER BY changed_at, stream_seq`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var at time.Time
		var from, to uint8
		var reason, detail string
		if err := rows.Scan(&at, &from, &to, &reason, &detail); err != nil {
			rows.Close()
			return err
		}
		fmt.Fprintf(w, "  %s  %s → %s  (%s: %s)\n", at.Format(time.DateOnly), scoring.StepName(from), scoring.StepName(to), reason, detail)
	}
	rows.Close()

	fmt.Fprintf(w, "\nreach %.4g, member gravity (love × reach) %.4g; strongest connections:\n", reach, gravity)
	rows, err = conn.Query(param(ctx, p), `SELECT if(member_a = {m:String}, member_b, member_a) AS other, strength,
		direct_interactions, indirect_interactions FROM member_edges
		WHERE community = {c:String} AND (member_a = {m:String} OR member_b = {m:String})
		ORDER BY strength DESC, other LIMIT `+fmt.Sprint(top))
	if err != nil {
		return err
	}
	for rows.Next() {
		var other string
		var strength float64
		var direct, indirect uint32
		if err := rows.Scan(&other, &strength, &direct, &indirect); err != nil {
			rows.Close()
			return err
		}
		fmt.Fprintf(w, "  %-28s strength %.4g (direct %d, indirect %d)\n", other, strength, direct, indirect)
	}
	rows.Close()
	return showRoles(ctx, conn, p, w)
}

// showRoles prints the roles the member holds, each with the reason of
// its latest gain, and its pocket and PageRank from the weekly graph.
func showRoles(ctx context.Context, conn driver.Conn, p map[string]string, w io.Writer) error {
	rows, err := conn.Query(param(ctx, p), `SELECT role, argMax(change, changed_at) AS last, max(changed_at) AS at,
		argMax(reason, changed_at) FROM role_changes FINAL
		WHERE community = {c:String} AND member_id = {m:String} AND model_version = {v:String} AND config_hash = {h:String}
		GROUP BY role HAVING last = 'gained' ORDER BY role`)
	if err != nil {
		return err
	}
	var lines []string
	for rows.Next() {
		var role, last, reason string
		var at time.Time
		if err := rows.Scan(&role, &last, &at, &reason); err != nil {
			rows.Close()
			return err
		}
		lines = append(lines, fmt.Sprintf("  %s since %s: %s", role, at.Format(time.DateOnly), reason))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(lines) == 0 {
		fmt.Fprintln(w, "\nroles: none")
	} else {
		fmt.Fprintf(w, "\nroles:\n%s\n", strings.Join(lines, "\n"))
	}
	var (
		at       time.Time
		pagerank float64
		pocket   int32
	)
	err = conn.QueryRow(param(ctx, p), `SELECT computed_at, pagerank, pocket FROM member_graph_latest
		WHERE community = {c:String} AND member_id = {m:String}`).Scan(&at, &pagerank, &pocket)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		fmt.Fprintln(w, "\ngraph: no weekly measures yet (computed when stream time enters a new week)")
	case err != nil:
		return err
	case pocket < 0:
		fmt.Fprintf(w, "\ngraph (as of %s): PageRank %.4g, in no pocket (no strong tie)\n", at.Format(time.DateOnly), pagerank)
	default:
		fmt.Fprintf(w, "\ngraph (as of %s): PageRank %.4g, pocket %d\n", at.Format(time.DateOnly), pagerank, pocket)
	}
	return nil
}

func param(ctx context.Context, p map[string]string) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(p)))
}
