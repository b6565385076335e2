package signals

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

// Activity is what a rule sees of an activity.
type Activity struct {
	EventID, Community, Source, Type, Channel, Title, URL string
	// Organization is the activity's "organization" attribute.
	Organization string
	OccurredAt   time.Time
	// Bot is the actor's is_bot flag; Teammate the activity's "teammate"
	// attribute.
	Bot, Teammate bool
}

// Member is what a rule sees of the member right after the activity.
type Member struct {
	ID, Identity, DisplayName string
	Step                      uint8 // 1..12, 0 out of orbit
	Roles                     []string
	// Bot and Teammate as the scoring state holds them.
	Bot, Teammate bool
}

// Compiled is a rule ready to match: its keywords split into words.
type Compiled struct {
	Rule
	keywords [][]string
}

// Set is the enabled rules by community. The zero Set (and nil) has none.
type Set struct {
	byCommunity map[string][]*Compiled
}

// Compile readies the enabled rules (validated: see Validate).
func Compile(rules []Rule) *Set {
	s := &Set{byCommunity: map[string][]*Compiled{}}
	for _, r := range rules {
		if r.Disabled {
			continue
		}
		c := &Compiled{Rule: r}
		for _, k := range r.Keywords {
			c.keywords = append(c.keywords, words(k))
		}
		s.byCommunity[r.Community] = append(s.byCommunity[r.Community], c)
	}
	return s
}

// For returns community's rules, in file order.
func (s *Set) For(community string) []*Compiled {
	if s == nil {
		return nil
	}
	return s.byCommunity[community]
}

// Len is the number of enabled rules.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	n := 0
	for _, rs := range s.byCommunity {
		n += len(rs)
	}
	return n
}

// MatchActivity checks the rule's conditions on the activity alone
// (community, sources, types, channels, keywords) and returns the keywords
// found in the title, in rule order. It is cheap: the processor asks it
// before it looks the member up.
func (c *Compiled) MatchActivity(a Activity) ([]string, bool) {
	if a.Community != c.Community || a.Bot || a.Teammate {
		return nil, false
	}
	if !within(c.Sources, a.Source) || !within(c.Types, a.Type) || !within(c.Channels, a.Channel) {
		return nil, false
	}
	if len(c.keywords) == 0 {
		return nil, true
	}
	title := words(a.Title)
	var found []string
	for i, k := range c.keywords {
		if containsPhrase(title, k) {
			found = append(found, c.Keywords[i])
		}
	}
	return found, len(found) > 0
}

// MatchMember checks the rule's conditions on the member (levels, roles,
// organization); a teammate or a bot never matches.
func (c *Compiled) MatchMember(m Member, organization string) bool {
	if m.Bot || m.Teammate {
		return false
	}
	if len(c.Levels) > 0 && !slices.Contains(c.Levels, int(scoring.Level(m.Step))) {
		return false // out of orbit (level 0) is in no list
	}
	if len(c.Roles) > 0 && !slices.ContainsFunc(m.Roles, func(r string) bool { return slices.Contains(c.Roles, r) }) {
		return false
	}
	if len(c.Organizations) > 0 && !slices.ContainsFunc(c.Organizations, func(o string) bool { return strings.EqualFold(o, organization) }) {
		return false
	}
	return true
}

// Match evaluates the whole rule: the signal with its evidence, or false.
func (c *Compiled) Match(a Activity, m Member) (alerts.Signal, bool) {
	kw, ok := c.MatchActivity(a)
	if !ok || !c.MatchMember(m, a.Organization) {
		return alerts.Signal{}, false
	}
	return c.Signal(a, m, kw), true
}

// Signal builds the signal of a match: the evidence and, in Reasons, each
// condition of the rule with what met it.
func (c *Compiled) Signal(a Activity, m Member, keywords []string) alerts.Signal {
	roles := slices.Clone(m.Roles)
	if roles == nil {
		roles = []string{}
	}
	s := alerts.Signal{ID: alerts.SignalID(a.Community, c.Name, a.EventID), Kind: alerts.KindSignal, Rule: c.Name,
		Description: c.Description, Community: a.Community, At: a.OccurredAt.UTC(),
		Member: alerts.SignalMember{ID: m.ID, Identity: m.Identity, DisplayName: m.DisplayName, Level: scoring.Level(m.Step),
			LevelName: scoring.StepName(m.Step), Step: m.Step, Roles: roles, Organization: a.Organization},
		Activity: alerts.SignalActivity{EventID: a.EventID, Source: a.Source, Type: a.Type, Channel: a.Channel, Title: a.Title,
			URL: a.URL, OccurredAt: a.OccurredAt.UTC()},
		Keywords: keywords, Targets: slices.Clone(c.Targets)}
	s.Reasons = c.reasons(a, m, keywords)
	return s
}

func (c *Compiled) reasons(a Activity, m Member, keywords []string) []string {
	var out []string
	oneOf := func(what, v string, list []string) {
		if len(list) > 0 {
			out = append(out, fmt.Sprintf("%s %q is one of %s", what, v, quoteList(list)))
		}
	}
	oneOf("source", a.Source, c.Sources)
	oneOf("type", a.Type, c.Types)
	oneOf("channel", a.Channel, c.Channels)
	if len(keywords) > 0 {
		out = append(out, fmt.Sprintf("title has %s", quoteList(keywords)))
	}
	if len(c.Levels) > 0 {
		lv := make([]string, len(c.Levels))
		for i, l := range c.Levels {
			lv[i] = strconv.Itoa(l)
		}
		out = append(out, fmt.Sprintf("level %d (%s) is one of [%s]", scoring.Level(m.Step), scoring.StepName(m.Step), strings.Join(lv, ", ")))
	}
	if len(c.Roles) > 0 {
		var held []string
		for _, r := range m.Roles {
			if slices.Contains(c.Roles, r) {
				held = append(held, r)
			}
		}
		out = append(out, fmt.Sprintf("holds role %s of %s", quoteList(held), quoteList(c.Roles)))
	}
	oneOf("organization", a.Organization, c.Organizations)
	return append(out, "not a teammate or a bot, and not opted out of signals")
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func within(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }

// words splits s into lowercase runs of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// containsPhrase reports whether phrase occurs in text as consecutive
// words.
func containsPhrase(text, phrase []string) bool {
	if len(phrase) == 0 {
		return false
	}
	for i := 0; i+len(phrase) <= len(text); i++ {
		if slices.Equal(text[i:i+len(phrase)], phrase) {
			return true
		}
	}
	return false
}
