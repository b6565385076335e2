// Package demo generates a synthetic community: seeded, deterministic
// activity over a span of days, across several sources, with the skew real
// communities show (a few members do most of the work), weekly and daily
// seasonality, growth, replies, reviews, reactions and mentions (so there is
// a reach graph), bots, teammates and some custom product activity. Nothing
// in it is real data; addresses and URLs use example domains.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
)

// Config shapes the community. Zero fields take the DefaultConfig value
// (Seed 0 is a seed like any other).
type Config struct {
	Community string // subject-safe token; default "demo"
	Seed      uint64
	Days      int // days covered, ending at End; default 90
	// End is the instant the span ends (exclusive); zero means the start of
	// the current UTC day, so runs on the same day give the same bytes.
	End     time.Time
	Members int // default 2,000
	Events  int // default 60,000
}

// DefaultConfig is the demo `make run` ingests: 2,000 members, 60,000
// events over 90 days.
func DefaultConfig() Config {
	return Config{Community: "demo", Seed: 42, Days: 90, Members: 2000, Events: 60000}
}

// Stats summarize what was generated.
type Stats struct {
	Events   int
	Members  int            // members with at least one activity
	BySource map[string]int // events per source
}

// kind is one activity a source produces.
type kind struct {
	typ    string
	weight float64 // relative frequency within its source
	starts string  // the thread pool it starts a thread in ("" = none)
	joins  string  // the thread pool it joins ("" = none)
	target string  // target kind towards the thread's author ("" = none)
}

type source struct {
	name     string
	share    float64 // share of members at home here
	channels []string
	url      string // fmt pattern taking (channel, n)
	titles   []string
	// late titles start appearing in the last quarter of the span (a new
	// pain point: it grows week over week), next to titles.
	late  []string
	kinds []kind
}

var sources = []source{
	{"github", 0.30, []string{"demo/core", "demo/docs", "demo/cli", "demo/website"}, "https://github.example/%s/issues/%d",
		[]string{"Crash when importing files over 2 GB", "Add --dry-run to the import command", "Docs: clarify the install steps on Windows",
			"Speed up the indexer on cold start", "Memory grows after a day of streaming", "Support ARM64 builds", "Flaky test in the scheduler",
			"Make retries configurable per connector", "Upgrade to the new plugin API", "Typo in the quick start"},
		[]string{"Webhook retries fail after upgrading to 2.3"},
		[]kind{
			{"github.issue.opened", 12, "issue", "", ""}, {"github.issue.commented", 25, "", "issue", events.KindReply},
			{"github.issue.closed", 5, "", "issue", ""},
			{"github.pull_request.opened", 10, "pr", "", ""}, {"github.pull_request.reviewed", 8, "", "pr", events.KindReview},
			{"github.pull_request.review_commented", 6, "", "pr", events.KindReview},
			{"github.pull_request.merged", 6, "", "pr", ""}, {"github.commit.pushed", 6, "", "", ""},
			{"github.discussion.created", 2, "discussion", "", ""}, {"github.discussion.commented", 3, "", "discussion", events.KindReply},
			{"github.discussion.answered", 0.8, "", "discussion", events.KindReply},
			{"github.star.created", 18, "", "", ""}, {"github.fork.created", 4, "", "", ""},
			{"github.release.published", 0.2, "", "", ""},
		}},
	{"discourse", 0.18, []string{"help", "announcements", "ideas", "show-and-tell"}, "https://forum.demo.example/c/%s/t/%d",
		[]string{"How do I configure retries?", "Best way to run this on Kubernetes?", "Show and tell: our dashboard for support",
			"Idea: a plugin marketplace", "Upgrading from 1.x to 2.0", "Slow queries after the upgrade", "Welcome, new members!",
			"Pricing for the enterprise plan?", "Does SSO work with Okta?", "How do I configure webhook retries?"},
		[]string{"Webhook retries fail after upgrading to 2.3", "Dashboard is slow after upgrading to 2.3", "Webhooks stopped after the 2.3 upgrade"},
		[]kind{
			{"discourse.topic.created", 15, "topic", "", ""}, {"discourse.post.created", 45, "", "topic", events.KindReply},
			{"discourse.post.liked", 30, "", "topic", events.KindReact}, {"discourse.solution.accepted", 4, "", "topic", events.KindThank},
			{"discourse.user.created", 2, "", "", ""},
		}},
	{"slack", 0.22, []string{"general", "help", "random", "contributors", "announcements"}, "https://demo.slack.example/archives/%s/p%d",
		[]string{"anyone seen this error on startup?", "release notes for 2.3 are up", "quick question about webhooks", "good morning all",
			"anyone using SSO with Azure AD?"},
		[]string{"webhooks failing since the 2.3 upgrade?"},
		[]kind{
			{"slack.message.posted", 45, "message", "", ""}, {"slack.thread.replied", 35, "", "message", events.KindReply},
			{"slack.reaction.added", 25, "", "message", events.KindReact}, {"slack.channel.joined", 3, "", "", ""},
			{"slack.member.joined", 1, "", "", ""},
		}},
	{"discord", 0.12, []string{"lobby", "dev", "showcase", "help"}, "https://discord.example/channels/demo/%s/%d",
		[]string{"built a bot with the API", "help: install fails on macOS", "stream tonight at 18:00 UTC", "what are you working on?"},
		nil,
		[]kind{
			{"discord.message.posted", 55, "message", "", ""}, {"discord.thread.created", 8, "message", "", ""},
			{"discord.reaction.added", 25, "", "message", events.KindReact}, {"discord.member.joined", 4, "", "", ""},
		}},
	{"mailinglist", 0.06, []string{"dev@lists.demo.example", "users@lists.demo.example"}, "https://lists.demo.example/archives/%s/%d",
		[]string{"[PROPOSAL] Deprecate the v1 API", "[VOTE] Release 2.3.0", "Question about licensing", "[DISCUSS] Roadmap for next year"},
		nil,
		[]kind{
			{"mailinglist.message.posted", 35, "mail", "", ""}, {"mailinglist.reply.posted", 65, "", "mail", events.KindReply},
		}},
	{"meetup", 0.04, []string{"berlin", "lagos", "sao-paulo", "online"}, "https://meetup.example/demo-%s/events/%d",
		[]string{"Monthly meetup: scaling pipelines", "Hack night", "Intro workshop for newcomers", "DemoConf community day"},
		nil,
		[]kind{
			{"meetup.event.organized", 3, "event", "", ""}, {"meetup.event.rsvped", 45, "", "event", ""},
			{"meetup.event.attended", 40, "", "event", ""}, {"meetup.event.spoke", 4, "", "event", ""},
			{"meetup.comment.posted", 5, "", "event", events.KindReply},
		}},
	{"support", 0.04, []string{"billing", "technical", "onboarding"}, "https://support.demo.example/%s/tickets/%d",
		[]string{"Cannot log in after password reset", "Invoice shows the wrong plan", "Import stuck at 99%", "How do I add a teammate?",
			"Quote for 50 more seats", "How do I cancel my subscription?", "Upgrade to the business plan"},
		[]string{"Webhook retries fail after the 2.3 upgrade"},
		[]kind{
			{"support.ticket.opened", 45, "ticket", "", ""}, {"support.ticket.replied", 45, "", "ticket", events.KindReply},
			{"support.ticket.resolved", 10, "", "ticket", events.KindThank},
		}},
	{"product", 0.04, []string{"app"}, "https://app.demo.example/%s/activity/%d", nil, nil,
		[]kind{
			{"custom.product.signed_in", 70, "", "", ""}, {"custom.product.project_created", 25, "", "", ""},
			{"custom.product.teammate_invited", 5, "", "", ""},
		}},
}

var (
	firstNames = []string{"Ada", "Bea", "Chen", "Dara", "Emeka", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kemi", "Lars", "Maya", "Nico", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tao", "Uma", "Vik", "Wen", "Xena", "Yuki", "Zoe"}
	lastNames  = []string{"Adeyemi", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Gupta", "Haddad", "Ito", "Jensen", "Kowalski", "Li", "Mendes", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi", "Silva", "Tanaka"}
	bots       = []string{"dependabot", "ci-bot", "stale-bot"}
	// hourWeights is the share of activity per UTC hour: a working-day
	// curve across time zones (quiet at night in Europe and the Americas).
	hourWeights = []float64{2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 6, 7, 7.5, 7.5, 7, 7.5, 8, 8, 7.5, 7, 6, 5, 4.5, 4, 3.5, 2.5}
)

type member struct {
	id       int
	home     int // index into sources
	bot      bool
	teammate bool
	first    string
	last     string
	org      int // index into Organizations(); -1: none (a personal address)
}

type thread struct {
	id      string // event id of the starter
	author  int
	channel string
	title   string
	url     string
}

// pool is the open threads of one kind (issues, pull requests, topics, ...)
// of one source; new threads push out the oldest.
type pool struct{ threads []thread }

const poolCap = 400

func (p *pool) add(t thread) {
	if len(p.threads) == poolCap {
		copy(p.threads, p.threads[poolCap/4:])
		p.threads = p.threads[:poolCap-poolCap/4]
	}
	p.threads = append(p.threads, t)
}

// pick prefers recent threads: most replies come soon after the start.
func (p *pool) pick(rng *rand.Rand) (thread, bool) {
	if len(p.threads) == 0 {
		return thread{}, false
	}
	back := min(len(p.threads)-1, int(rng.ExpFloat64()*10))
	return p.threads[len(p.threads)-1-back], true
}

// Generate calls emit for every event, in time order, and returns what it
// generated. The output depends only on cfg (with End set, on nothing else):
// the same Config gives the same events. It stops at the first error emit
// returns and returns it. Every event passes events.DefaultRegistry().Validate.
func Generate(cfg Config, emit func(events.Event) error) (Stats, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return Stats{}, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	members := newMembers(rng, cfg.Members)
	return generate(cfg, rng, members, newTimes(rng, cfg), "demo:", nil, emit)
}

// generate emits one event per time, from members, with ids prefix+n;
// keep (if set) selects the sources emitted (the others are drawn all
// the same, so the rest stays as it would be).
func generate(cfg Config, rng *rand.Rand, members []member, times []time.Time, prefix string, keep func(string) bool,
	emit func(events.Event) error) (Stats, error) {
	// Zipf-like activity: the member of rank k is picked ∝ (k+2)^-1.15.
	zipf := rand.NewZipf(rng, 1.15, 2, uint64(cfg.Members-1))

	pools := make([]map[string]*pool, len(sources))
	for i, s := range sources {
		pools[i] = map[string]*pool{}
		for _, k := range s.kinds {
			for _, name := range []string{k.starts, k.joins} {
				if name != "" && pools[i][name] == nil {
					pools[i][name] = &pool{}
				}
			}
		}
	}
	st := Stats{BySource: map[string]int{}}
	active := make([]bool, len(members))
	for n, at := range times {
		m := &members[zipf.Uint64()]
		si := m.home
		if !m.bot && rng.Float64() < 0.2 { // members show up elsewhere too
			si = rng.IntN(len(sources))
		}
		src := &sources[si]
		k := pickKind(rng, src.kinds)
		if m.bot {
			k = botKind(rng)
		}
		id := prefix + strconv.Itoa(n)
		ev := events.Event{
			ID: id, SchemaVersion: events.SchemaVersion, Community: cfg.Community,
			Source: src.name, Type: k.typ, OccurredAt: events.NewTimestamp(at),
			ReceivedAt: events.NewTimestamp(at.Add(time.Duration(150+rng.IntN(4000)) * time.Millisecond)),
			Actor: events.Actor{
				Source: src.name, SourceID: sourceID(src.name, m.id), Username: username(m),
				DisplayName: m.first + " " + m.last, IsBot: m.bot,
			},
			Channel: src.channels[rng.IntN(len(src.channels))],
		}
		if m.bot {
			ev.Actor.DisplayName = m.first
		} else {
			ev.Actor.EmailSHA256 = events.HashEmail(email(m))
			ev.Actor.EmailDomainSHA256 = events.HashEmailDomain(email(m))
		}
		if m.teammate {
			ev.Attributes = map[string]string{"teammate": "true"}
		} else if m.org >= 0 {
			ev.Attributes = map[string]string{"organization": organizations[m.org].Name}
		}
		if k.joins != "" {
			if t, ok := pools[si][k.joins].pick(rng); ok {
				ev.ThreadID, ev.ParentID, ev.Channel, ev.Title, ev.URL = t.id, t.id, t.channel, t.title, t.url
				if k.target != "" && t.author != m.id {
					ev.Targets = []events.Target{{Source: src.name, SourceID: sourceID(src.name, t.author), Username: username(&members[t.author]), Kind: k.target}}
				}
			}
		}
		if k.starts != "" {
			ev.ThreadID = id
			if len(src.titles) > 0 {
				ev.Title = src.titles[rng.IntN(len(src.titles))]
				// In the last quarter the new pain point takes a growing
				// share of the new threads (up to a third by the end).
				if late := lateness(cfg, at); len(src.late) > 0 && late > 0 && rng.Float64() < late/3 {
					ev.Title = src.late[rng.IntN(len(src.late))]
				}
			}
			ev.URL = fmt.Sprintf(src.url, ev.Channel, n)
			pools[si][k.starts].add(thread{id: id, author: m.id, channel: ev.Channel, title: ev.Title, url: ev.URL})
		}
		if ev.URL == "" && src.url != "" && rng.Float64() < 0.5 {
			ev.URL = fmt.Sprintf(src.url, ev.Channel, n)
		}
		if !m.bot && (k.starts != "" || k.target == events.KindReply) && rng.Float64() < 0.05 { // an @-mention
			other := &members[zipf.Uint64()]
			if other.id != m.id && !other.bot {
				ev.Targets = append(ev.Targets, events.Target{Source: src.name, SourceID: sourceID(src.name, other.id), Username: username(other), Kind: events.KindMention})
			}
		}
		if keep != nil && !keep(ev.Source) {
			continue
		}
		if err := emit(ev); err != nil {
			return st, err
		}
		st.Events++
		st.BySource[src.name]++
		active[m.id] = true
	}
	for _, a := range active {
		if a {
			st.Members++
		}
	}
	return st, nil
}

// lateness is 0 before the last quarter of the span and grows to 1 at its
// end.
func lateness(cfg Config, at time.Time) float64 {
	span := time.Duration(cfg.Days) * 24 * time.Hour
	into := at.Sub(cfg.End.Add(-span)).Seconds() / span.Seconds()
	return max(0, (into-0.75)*4)
}

func withDefaults(cfg Config) (Config, error) {
	d := DefaultConfig()
	if cfg.Community == "" {
		cfg.Community = d.Community
	}
	if cfg.Days == 0 {
		cfg.Days = d.Days
	}
	if cfg.Members == 0 {
		cfg.Members = d.Members
	}
	if cfg.Events == 0 {
		cfg.Events = d.Events
	}
	if cfg.End.IsZero() {
		cfg.End = time.Now().UTC().Truncate(24 * time.Hour)
	}
	switch {
	case cfg.Days < 0 || cfg.Members < 0 || cfg.Events < 0:
		return cfg, fmt.Errorf("demo: days, members and events must not be negative (got %d, %d, %d)", cfg.Days, cfg.Members, cfg.Events)
	case cfg.Members < 10:
		return cfg, fmt.Errorf("demo: members: want at least 10, got %d", cfg.Members)
	}
	if !communityToken.MatchString(cfg.Community) {
		return cfg, fmt.Errorf("demo: community: want a token matching %s, got %q", events.TokenPattern, cfg.Community)
	}
	return cfg, nil
}

var communityToken = regexp.MustCompile(events.TokenPattern)

func newMembers(rng *rand.Rand, n int) []member {
	shareSum := 0.0
	for _, s := range sources {
		shareSum += s.share
	}
	members := make([]member, n)
	for i := range members {
		m := member{id: i, first: firstNames[rng.IntN(len(firstNames))], last: lastNames[rng.IntN(len(lastNames))]}
		x := rng.Float64() * shareSum
		for j, s := range sources {
			if x < s.share || j == len(sources)-1 {
				m.home = j
				break
			}
			x -= s.share
		}
		// Teammates: 1 in 3 of the 2% busiest ranks (staff are busy).
		m.teammate = i < n/50+1 && i%3 == 0
		members[i] = m
	}
	// 40% of the people write from an organization's address; a few
	// organizations account for most of them, and 40% of them never show up.
	for i := range members {
		members[i].org = -1
		if rng.Float64() < 0.4 {
			members[i].org = int(0.6 * float64(len(organizations)) * math.Pow(rng.Float64(), 1.8))
		}
	}
	// A few bots on GitHub, among the busiest identities.
	for j, i := range []int{1, 4, 9} {
		members[i] = member{id: i, bot: true, first: bots[j], home: 0, org: -1}
	}
	return members
}

// newTimes returns cfg.Events instants in [End-Days, End), sorted, so
// replies always follow what they answer: later days are busier (growth),
// weekends quieter, and the hour of day follows hourWeights.
func newTimes(rng *rand.Rand, cfg Config) []time.Time {
	var hourCDF [24]float64
	total := 0.0
	for h, w := range hourWeights {
		total += w
		hourCDF[h] = total
	}
	start := cfg.End.Add(-time.Duration(cfg.Days) * 24 * time.Hour)
	times := make([]time.Time, cfg.Events)
	for i := range times {
		for {
			// Density ∝ 1 + x on [0,1): inverse CDF.
			f := math.Sqrt(1+3*rng.Float64()) - 1
			day := start.Add(time.Duration(int(f*float64(cfg.Days))) * 24 * time.Hour)
			if wd := day.Weekday(); (wd == time.Saturday || wd == time.Sunday) && rng.Float64() > 0.45 {
				continue
			}
			x := rng.Float64() * total
			h := 0
			for hourCDF[h] <= x && h < 23 {
				h++
			}
			t := day.Add(time.Duration(h)*time.Hour + time.Duration(rng.Int64N(int64(time.Hour))))
			times[i] = t.Truncate(time.Millisecond)
			break
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return times
}

func pickKind(rng *rand.Rand, ks []kind) kind {
	total := 0.0
	for _, k := range ks {
		total += k.weight
	}
	x := rng.Float64() * total
	for _, k := range ks {
		if x < k.weight {
			return k
		}
		x -= k.weight
	}
	return ks[len(ks)-1]
}

// botKind: bots open dependency pull requests, comment and close stale issues.
func botKind(rng *rand.Rand) kind {
	switch r := rng.IntN(10); {
	case r < 5:
		return kind{typ: "github.pull_request.opened", starts: "pr"}
	case r < 8:
		return kind{typ: "github.issue.commented", joins: "issue", target: events.KindReply}
	default:
		return kind{typ: "github.issue.closed", joins: "issue"}
	}
}

func sourceID(src string, id int) string {
	switch src {
	case "slack":
		return "U" + strconv.Itoa(100000+id*7)
	case "discord":
		return strconv.Itoa(800000000000 + id*131)
	default:
		return strconv.Itoa(1000 + id)
	}
}

func username(m *member) string {
	if m.bot {
		return m.first + "[bot]"
	}
	return lower(m.first) + "." + lower(m.last[:1]) + strconv.Itoa(m.id)
}

func email(m *member) string {
	return lower(m.first) + "." + lower(m.last) + strconv.Itoa(m.id) + "@" + emailDomain(m)
}

// emailDomain is the member's organization's domain, else a personal
// mail provider's (personalDomain); teammates write from the project's.
func emailDomain(m *member) string {
	switch {
	case m.teammate:
		return "demo.example"
	case m.org >= 0:
		return organizations[m.org].Domain
	default:
		return personalDomain
	}
}

// personalDomain is the demo's free-mail provider: its addresses belong
// to people, never to an organization.
const personalDomain = "mail.example"

// Organization is one of the demo's customer accounts.
type Organization struct {
	ID, Name, Domain, Segment, Plan, Persona string
}

// organizations are the demo's customer accounts: 120 generated companies
// (all in the accounts file; only the first 72 can have people in the
// community).
var organizations = func() []Organization {
	pre := []string{"North", "Blue", "Iron", "Bright", "Silver", "Red", "Green", "Swift", "Stone", "Clear", "Cedar", "Harbor"}
	suf := []string{"wind", "field", "works", "labs", "soft", "data", "point", "forge", "line", "gate"}
	segments := []string{"enterprise", "mid-market", "smb"}
	plans := [][]string{{"enterprise", "enterprise", "business"}, {"business", "team", "team"}, {"team", "starter", "free"}}
	personas := []string{"developer", "data engineer", "platform team", "support lead"}
	var out []Organization
	for i := range len(pre) * len(suf) {
		name := pre[i%len(pre)] + suf[(i/len(pre)+i)%len(suf)]
		seg := min(i*len(segments)/(len(pre)*len(suf)), len(segments)-1) // the biggest accounts come first
		out = append(out, Organization{
			ID: fmt.Sprintf("acct-%03d", i+1), Name: name, Domain: lower(name) + ".example",
			Segment: segments[seg], Plan: plans[seg][i%3], Persona: personas[i%len(personas)],
		})
	}
	return out
}()

// Organizations returns the demo's customer accounts.
func Organizations() []Organization { return slices.Clone(organizations) }

// WriteAccounts writes the demo's customer accounts as JSON Lines, the
// format `orbitflow accounts import` reads: account_id, name, domains,
// segment, plan, persona.
func WriteAccounts(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, o := range organizations {
		if err := enc.Encode(map[string]any{"account_id": o.ID, "name": o.Name, "domains": []string{o.Domain},
			"segment": o.Segment, "plan": o.Plan, "persona": o.Persona}); err != nil {
			return err
		}
	}
	return nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// WriteJSONL writes the community as JSON lines (events.Encode, one event a
// line) to w, buffered; it flushes before returning.
func WriteJSONL(w io.Writer, cfg Config) (Stats, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	var buf []byte
	st, err := Generate(cfg, func(ev events.Event) error {
		var err error
		if buf, err = events.AppendEncode(buf[:0], &ev); err != nil {
			return err
		}
		buf = append(buf, '\n')
		_, err = bw.Write(buf)
		return err
	})
	if err != nil {
		return st, err
	}
	return st, bw.Flush()
}

// Sources lists the demo's sources.
func Sources() []string {
	out := make([]string, len(sources))
	for i, s := range sources {
		out[i] = s.name
	}
	return out
}

// CheckSources reports the first name that is not a demo source.
func CheckSources(names []string) error {
	known := Sources()
	for _, s := range names {
		if !slices.Contains(known, s) {
			return fmt.Errorf("demo: no source %q (have %s)", s, strings.Join(known, ", "))
		}
	}
	return nil
}

// LiveConfig shapes a live demo feed.
type LiveConfig struct {
	Community string
	Seed      uint64 // the members' seed: the history's members (DefaultConfig().Seed) keep talking
	Members   int
	// PerHour is the mean events per hour over all sources, spread evenly
	// over the day (a Poisson process), so a silent source stands out.
	PerHour float64
	// Sources are the sources that talk; empty is every source. Stopping
	// one (a feed without it) is what a broken connector looks like.
	Sources []string
	// From is where the feed starts: events from From to now are sent at
	// once (catching up since the history ended), the rest as their time
	// comes. Zero is now.
	From time.Time
	Now  func() time.Time
}

// Live sends demo activity as it happens until ctx ends (nil) or emit
// fails. Day d's events have ids demo-live-<yyyymmdd>-<per hour>:<n> and
// depend only on the config and the day, so restarting the feed the same day sends
// the same events again (the stream and ClickHouse keep them once).
func Live(ctx context.Context, cfg LiveConfig, emit func(events.Event) error) error {
	base, err := withDefaults(Config{Community: cfg.Community, Seed: cfg.Seed, Members: cfg.Members, Events: 1, Days: 1})
	if err != nil {
		return err
	}
	if cfg.PerHour <= 0 {
		return fmt.Errorf("demo: per-hour rate must be positive, got %g", cfg.PerHour)
	}
	if err := CheckSources(cfg.Sources); err != nil {
		return err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	from := cfg.From
	if from.IsZero() {
		from = now()
	}
	keep := func(s string) bool { return len(cfg.Sources) == 0 || slices.Contains(cfg.Sources, s) }
	for day := from.UTC().Truncate(24 * time.Hour); ctx.Err() == nil; day = day.Add(24 * time.Hour) {
		rng := rand.New(rand.NewPCG(base.Seed, base.Seed^0x9e3779b97f4a7c15))
		members := newMembers(rng, base.Members) // the history's members
		rng = rand.New(rand.NewPCG(base.Seed^uint64(day.Unix()), 7))
		var times []time.Time
		for t := day; ; {
			t = t.Add(time.Duration(rng.ExpFloat64() / cfg.PerHour * float64(time.Hour)))
			if !t.Before(day.Add(24 * time.Hour)) {
				break
			}
			times = append(times, t.Truncate(time.Millisecond))
		}
		c := base
		c.Events, c.End = len(times), day.Add(24*time.Hour)
		_, err := generate(c, rng, members, times, "demo-live-"+day.Format("20060102")+"-"+strconv.FormatFloat(cfg.PerHour, 'f', -1, 64)+":", keep, func(ev events.Event) error {
			at := ev.OccurredAt.Time
			if at.Before(from) {
				return nil
			}
			if wait := at.Sub(now()); wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
				ev.ReceivedAt = events.NewTimestamp(now())
			} // caught up: received as if live, a moment after it happened
			return emit(ev)
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}
