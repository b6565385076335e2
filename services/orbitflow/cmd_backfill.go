package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/backfill"
	"github.com/orbitflow/orbitflow/services/connectors/discord"
	"github.com/orbitflow/orbitflow/services/connectors/discourse"
	"github.com/orbitflow/orbitflow/services/connectors/github"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/slack"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// backfillArgs are the flags of `orbitflow backfill`; each source uses some.
type backfillArgs struct {
	community string
	repos     listFlag // github
	org       string   // github
	channels  listFlag // slack, discord
	team      string   // slack
	site      string   // discourse
	category  listFlag // discourse
	since     string
	baseURL   string
	restart   bool
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// backfillSource is one --source of `orbitflow backfill`.
type backfillSource struct {
	help string
	// tokenEnv names the environment variables holding credentials (never
	// flags: argv is visible to every user of the machine).
	tokenEnv []string
	// tokenOptional: public data can be read without a token.
	tokenOptional bool
	// plan checks the flags and returns the records; tok is "" only when
	// tokenOptional.
	// ctx ends the requests and the waits for rate limits.
	plan func(ctx context.Context, a backfillArgs, since time.Time, cur *backfill.Cursor, env source.Env, tok string) (iter.Seq[ingest.Record], error)
}

var backfillSources = map[string]backfillSource{
	"github": {
		help:          "issues, pull requests, comments, reviews, stargazers: --repo owner/name (repeatable) or --org NAME [--since DATE]; token in GITHUB_TOKEN (optional for public repositories, but the anonymous rate limit is 60 requests an hour)",
		tokenEnv:      []string{"GITHUB_TOKEN", "GH_TOKEN"},
		tokenOptional: true,
		plan:          planGitHub,
	},
	"slack": {
		help:     "channel history (conversations.history + thread replies): --channel C… (repeatable), --team T; token in SLACK_TOKEN (channels:history, groups:history)",
		tokenEnv: []string{"SLACK_TOKEN"},
		plan:     planSlack,
	},
	"discourse": {
		help:          "topics and posts: --site URL [--category slug] [--since DATE]; DISCOURSE_API_KEY and DISCOURSE_API_USERNAME for private forums",
		tokenEnv:      []string{"DISCOURSE_API_KEY"},
		tokenOptional: true,
		plan:          planDiscourse,
	},
	"discord": {
		help:     "channel history over the REST API: --channel ID (repeatable); token in DISCORD_BOT_TOKEN",
		tokenEnv: []string{"DISCORD_BOT_TOKEN"},
		plan:     planDiscord,
	},
}

func cmdBackfill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	var c common
	c.register(fs)
	var a backfillArgs
	format := fs.String("source", "", "platform:"+backfillHelp())
	fs.StringVar(&a.community, "community", "", "community the activity belongs to")
	fs.Var(&a.repos, "repo", "github: a repository owner/name (repeatable)")
	fs.StringVar(&a.org, "org", "", "github: every repository of an organization")
	fs.Var(&a.channels, "channel", "slack, discord: a channel id (repeatable)")
	fs.StringVar(&a.team, "team", "", "slack: the workspace (team) id; default: asked with auth.test")
	fs.StringVar(&a.site, "site", "", "discourse: the forum's base URL, e.g. https://forum.example.org")
	fs.Var(&a.category, "category", "discourse: a category slug or id (repeatable; default all)")
	fs.StringVar(&a.since, "since", "", "only activity since this date (YYYY-MM-DD or RFC 3339)")
	fs.StringVar(&a.baseURL, "base-url", "", "the API's base URL (GitHub Enterprise, tests)")
	fs.BoolVar(&a.restart, "restart", false, "forget the saved cursor and start over (what is already stored stays, once)")
	wait := fs.Bool("wait", false, "return only when every event is queryable in ClickHouse")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	src, ok := backfillSources[*format]
	if !ok {
		return usagef("--source: want one of %s, got %q", strings.Join(slices.Sorted(maps.Keys(backfillSources)), ", "), *format)
	}
	if a.community == "" {
		return usagef("--community is required")
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q (backfill reads an API, not files)", fs.Args())
	}
	var since time.Time
	if a.since != "" {
		var err error
		if since, err = parseDate(a.since); err != nil {
			return usagef("--since: %v", err)
		}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	name, err := cursorName(*format, a)
	if err != nil {
		return err
	}
	cur, err := backfill.OpenCursor(filepath.Join(cfg.DataDir, "backfill"), name)
	if err != nil {
		return err
	}
	if a.restart {
		cur.Values, cur.Done = map[string]string{}, map[string]bool{}
	}
	tok, tokErr := token(src.tokenEnv)
	// The flags are checked (by plan) before the token and the connection.
	seq, err := src.plan(ctx, a, since, cur, source.Env{Community: a.community, People: &cfg.People}, tok)
	if err != nil {
		return usagef("%v", err)
	}
	if tokErr != nil && !src.tokenOptional {
		return tokErr
	}
	if !cur.Updated.IsZero() {
		fmt.Fprintf(stderr, "backfill: resuming from %s (saved %s; --restart starts over)\n", cur.Path(), cur.Updated.Format(time.RFC3339))
	}
	records := func(source.Env, *events.Registry) iter.Seq[ingest.Record] { return seq }
	return publishRecords(ctx, cfg, publishJob{
		format: *format, community: a.community, verb: "backfill", wait: *wait, waitTimeout: 30 * time.Minute,
		records: records, rerun: "run the same backfill again: it resumes from the last saved page",
	}, stdout, stderr)
}

func backfillHelp() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(backfillSources)) {
		fmt.Fprintf(&b, "\n    %s: %s", name, backfillSources[name].help)
	}
	return b.String()
}

// cursorName identifies a backfill by source and target, so two backfills
// of different repositories keep separate cursors.
func cursorName(format string, a backfillArgs) (string, error) {
	parts := []string{format, a.community}
	parts = append(parts, a.repos...)
	parts = append(parts, a.org, a.team, a.site)
	parts = append(parts, a.channels...)
	parts = append(parts, a.category...)
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('-')
		}
		for _, r := range p {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
	}
	name := b.String()
	if len(name) > 200 {
		return "", errors.New("backfill: too many targets for one cursor; split the backfill")
	}
	return name, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DD or RFC 3339, got %q", s)
	}
	return t, nil
}

// token returns the first set variable of names, or an error naming them.
func token(names []string) (string, error) {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("set %s to the API token (it is read from the environment only)", strings.Join(names, " or "))
}

// onlyFlags reports a usage error when a flag of another source is set.
func onlyFlags(src string, a backfillArgs, allowed ...string) error {
	set := map[string]bool{"repo": len(a.repos) > 0, "org": a.org != "", "channel": len(a.channels) > 0,
		"team": a.team != "", "site": a.site != "", "category": len(a.category) > 0}
	for _, name := range slices.Sorted(maps.Keys(set)) {
		if set[name] && !slices.Contains(allowed, name) {
			return fmt.Errorf("%s backfill: --%s does not apply (use %s)", src, name, "--"+strings.Join(allowed, ", --"))
		}
	}
	return nil
}

func apiClient(auth func(*http.Request)) *backfill.Client {
	return backfill.New("orbitflow/"+version+" (+https://github.com/orbitflow/orbitflow)", backfill.WithAuth(auth),
		backfill.WithLogger(slog.Default()))
}

func planGitHub(ctx context.Context, a backfillArgs, since time.Time, cur *backfill.Cursor, env source.Env, tok string) (iter.Seq[ingest.Record], error) {
	if err := onlyFlags("github", a, "repo", "org"); err != nil {
		return nil, err
	}
	if len(a.repos) == 0 && a.org == "" {
		return nil, errors.New("github backfill: name --repo owner/name (repeatable) or --org NAME")
	}
	for _, r := range a.repos {
		if o, n, ok := strings.Cut(r, "/"); !ok || o == "" || n == "" || strings.Contains(n, "/") {
			return nil, fmt.Errorf("github backfill: --repo: want owner/name, got %q", r)
		}
	}
	c := apiClient(func(r *http.Request) {
		r.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
	})
	return github.Backfill(ctx, c, cur, env, github.BackfillConfig{BaseURL: a.baseURL, Repos: a.repos, Org: a.org, Since: since}), nil
}

func planSlack(ctx context.Context, a backfillArgs, since time.Time, cur *backfill.Cursor, env source.Env, tok string) (iter.Seq[ingest.Record], error) {
	if err := onlyFlags("slack", a, "channel", "team"); err != nil {
		return nil, err
	}
	if len(a.channels) == 0 {
		return nil, errors.New("slack backfill: name at least one --channel (a channel id such as C0123ABC)")
	}
	c := apiClient(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
	return slack.Backfill(ctx, c, cur, env, slack.BackfillConfig{
		BaseURL: a.baseURL, Team: a.team, Channels: a.channels, Oldest: since,
	}), nil
}

func planDiscourse(ctx context.Context, a backfillArgs, since time.Time, cur *backfill.Cursor, env source.Env, tok string) (iter.Seq[ingest.Record], error) {
	if err := onlyFlags("discourse", a, "site", "category"); err != nil {
		return nil, err
	}
	if a.site == "" {
		return nil, errors.New("discourse backfill: --site is required, e.g. --site https://forum.example.org")
	}
	user := os.Getenv("DISCOURSE_API_USERNAME")
	if tok != "" && user == "" {
		user = "system"
	}
	c := apiClient(func(r *http.Request) {
		if tok != "" {
			r.Header.Set("Api-Key", tok)
			r.Header.Set("Api-Username", user)
		}
	})
	return discourse.Backfill(ctx, c, cur, env, discourse.BackfillConfig{
		Site: a.site, Categories: a.category, Since: since,
	}), nil
}

// planDiscord backfills each channel with the discord package; the
// package's own cursor is kept in the backfill cursor, per channel, and
// saved after what it covers is acknowledged by the stream.
func planDiscord(ctx context.Context, a backfillArgs, since time.Time, cur *backfill.Cursor, env source.Env, tok string) (iter.Seq[ingest.Record], error) {
	if len(a.channels) == 0 {
		return nil, errors.New("discord backfill: name at least one --channel")
	}
	if err := onlyFlags("discord", a, "channel"); err != nil {
		return nil, err
	}
	return func(yield func(ingest.Record) bool) {
		for _, ch := range a.channels {
			// A finished run leaves After = the newest message: the next
			// run fetches only what is newer.
			dc := discord.Cursor{Before: cur.Values[ch+".before"], After: cur.Values[ch+".after"], Newest: cur.Values[ch+".newest"]}
			if dc.After == "" && dc.Before == "" && !since.IsZero() {
				dc.After = discord.SnowflakeAt(since)
			}
			stopped := false
			n := 0
			handle := func(_ context.Context, res source.Result, raw []byte) error {
				n++
				for _, rec := range ingest.FromResult(res, nil, raw, fmt.Sprintf("discord:%s#%d", ch, n)) {
					if !yield(rec) {
						stopped = true
						return errors.New("stopped")
					}
				}
				return nil
			}
			reject := func(_ context.Context, raw []byte, err error) error {
				if !yield(ingest.FromResult(source.Result{}, err, raw, fmt.Sprintf("discord:%s#%d", ch, n))[0]) {
					stopped = true
					return errors.New("stopped")
				}
				return nil
			}
			next, err := discord.Backfill(ctx, http.DefaultClient, a.baseURL, tok, ch, dc, env, handle, discord.WithBackfillReject(reject))
			if stopped {
				return
			}
			save := func() error {
				cur.Values[ch+".before"], cur.Values[ch+".after"], cur.Values[ch+".newest"] = next.Before, next.After, next.Newest
				return cur.Save()
			}
			if !yield(ingest.CheckpointRecord(save)) {
				return
			}
			if err != nil {
				yield(ingest.Record{Pos: "discord:" + ch, Err: err})
				return
			}
		}
	}, nil
}
