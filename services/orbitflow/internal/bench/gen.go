// Package bench is `orbitflow bench`: a load generator that drives the whole
// pipeline (bus → sink → ClickHouse, scoring, alerts) in one process and
// measures it against the ceilings of its parts on the same machine.
package bench

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
)

// kind is one GitHub activity type of the load, with its share of a GH
// Archive hour and what it carries.
type kind struct {
	typ    string
	count  float64 // events of this type in the reference hour
	starts bool    // opens a thread (an issue or a pull request)
	joins  bool    // happens in a thread
	reply  float64 // share of the thread events that target the thread's author
	title  bool
}

// mix is the type mix of the GH Archive hour 2015-01-01 00:00 UTC (7,243
// activities after the github connector's normalization, measured on
// ../shared/realdata/gharchive/2015-01-01-0.json.gz): pushes dominate, and
// about 1 in 10 activities is a comment or review, most of them replies.
// Encoded events of that hour average 504 bytes; the generated ones are
// shaped to match (same fields, same URL and attribute forms).
var mix = []kind{
	{typ: "github.commit.pushed", count: 4254},
	{typ: "github.issue.commented", count: 650, joins: true, reply: 0.79, title: true},
	{typ: "github.star.created", count: 642},
	{typ: "github.ref.created", count: 525},
	{typ: "github.issue.opened", count: 235, starts: true, title: true},
	{typ: "github.fork.created", count: 213},
	{typ: "github.pull_request.opened", count: 163, starts: true, title: true},
	{typ: "github.issue.closed", count: 135, joins: true, title: true},
	{typ: "github.pull_request.merged", count: 126, joins: true, title: true},
	{typ: "github.wiki.edited", count: 90},
	{typ: "github.pull_request.review_commented", count: 85, joins: true, reply: 0.65, title: true},
	{typ: "github.commit.commented", count: 56},
	{typ: "github.pull_request.closed", count: 25, joins: true, title: true},
	{typ: "github.release.published", count: 24},
	{typ: "github.member.added", count: 16},
	{typ: "github.issue.reopened", count: 3, joins: true, title: true},
	{typ: "github.pull_request.reopened", count: 1, joins: true, title: true},
}

var titles = []string{
	"Crash when importing files over 2 GB", "Add --dry-run to the import command",
	"Docs: clarify the install steps on Windows", "Speed up the indexer on cold start",
	"Memory grows after a day of streaming", "Support ARM64 builds", "Flaky test in the scheduler",
	"Make retries configurable per connector", "Upgrade to the new plugin API", "Typo in the quick start",
}

type thread struct {
	id     string
	author int
	repo   int
	number int
	title  string
	pr     bool
}

// Generator produces GitHub activities for one community: members and
// repositories picked with a power law (a few members and repositories do
// most of the work), threads opened and answered, replies targeting the
// thread's author so the reach graph has edges. Not safe for concurrent use.
type Generator struct {
	community string
	prefix    string
	rng       *rand.Rand
	members   *rand.Zipf
	repos     *rand.Zipf
	cdf       []float64
	threads   []thread // recent threads, a ring
	next      int
	n         int
	issues    int
}

// NewGenerator returns a generator of events with ids prefix+n, for
// community, over members members.
func NewGenerator(community, prefix string, members int, seed uint64) *Generator {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &Generator{community: community, prefix: prefix, rng: rng,
		members: rand.NewZipf(rng, 1.1, 2, uint64(max(members, 2)-1)),
		repos:   rand.NewZipf(rng, 1.2, 2, uint64(max(members/10, 2)-1)),
		threads: make([]thread, 0, 4096)}
	total := 0.0
	for _, k := range mix {
		total += k.count
		g.cdf = append(g.cdf, total)
	}
	for i := range g.cdf {
		g.cdf[i] /= total
	}
	return g
}

// Next returns the next event, stamped now. It passes
// events.DefaultRegistry().Validate.
func (g *Generator) Next(now time.Time) events.Event {
	x := g.rng.Float64()
	k := mix[len(mix)-1]
	for i, c := range g.cdf {
		if x < c {
			k = mix[i]
			break
		}
	}
	actor := int(g.members.Uint64())
	repo := int(g.repos.Uint64())
	id := g.prefix + strconv.Itoa(g.n)
	g.n++
	ts := events.NewTimestamp(now)
	ev := events.Event{
		ID: id, SchemaVersion: events.SchemaVersion, Community: g.community, Source: "github", Type: k.typ,
		OccurredAt: ts, ReceivedAt: ts,
		Actor:   events.Actor{Source: "github", SourceID: strconv.Itoa(1_000_000 + actor), Username: "user" + strconv.Itoa(actor)},
		Channel: repoName(repo),
	}
	switch {
	case k.starts:
		g.issues++
		t := thread{author: actor, repo: repo, number: g.issues, title: titles[g.rng.IntN(len(titles))], pr: k.typ == "github.pull_request.opened"}
		t.id = "github:issue:" + strconv.Itoa(repo) + ":" + strconv.Itoa(t.number)
		if len(g.threads) < cap(g.threads) {
			g.threads = append(g.threads, t)
		} else {
			g.threads[g.next] = t
			g.next = (g.next + 1) % len(g.threads)
		}
		g.inThread(&ev, t, k)
	case k.joins && len(g.threads) > 0:
		// Most activity in a thread comes soon after it opened.
		back := min(len(g.threads)-1, int(g.rng.ExpFloat64()*50))
		t := g.threads[(g.next-1-back+2*len(g.threads))%len(g.threads)]
		ev.Channel = repoName(t.repo)
		g.inThread(&ev, t, k)
		if t.author != actor && g.rng.Float64() < k.reply {
			ev.Targets = []events.Target{{Source: "github", SourceID: strconv.Itoa(1_000_000 + t.author),
				Username: "user" + strconv.Itoa(t.author), Kind: events.KindReply}}
		}
	case k.typ == "github.commit.pushed":
		sha := g.sha()
		ev.URL = "https://github.com/" + ev.Channel + "/commit/" + sha
		ev.Attributes = map[string]string{"commits": strconv.Itoa(1 + int(g.rng.ExpFloat64()*2)), "ref": "refs/heads/main"}
	default:
		ev.URL = "https://github.com/" + ev.Channel
	}
	return ev
}

func (g *Generator) inThread(ev *events.Event, t thread, k kind) {
	ev.ThreadID = t.id
	what := "issues"
	if t.pr {
		what = "pull"
	}
	ev.URL = "https://github.com/" + repoName(t.repo) + "/" + what + "/" + strconv.Itoa(t.number)
	if k.joins {
		ev.URL += "#issuecomment-" + strconv.Itoa(68_000_000+g.n)
	}
	if k.title {
		ev.Title = t.title
	}
	ev.Attributes = map[string]string{"number": strconv.Itoa(t.number)}
	if t.pr {
		ev.Attributes["pull_request"] = "true"
	}
}

func (g *Generator) sha() string {
	const hexdigits = "0123456789abcdef"
	var b [40]byte
	for i := 0; i < 40; i += 16 {
		v := g.rng.Uint64()
		for j := i; j < min(i+16, 40); j++ {
			b[j] = hexdigits[v&15]
			v >>= 4
		}
	}
	return string(b[:])
}

func repoName(r int) string {
	return "org" + strconv.Itoa(r%97) + "/project-" + strconv.Itoa(r)
}
