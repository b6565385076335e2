package signals_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/processors/alerts"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

const fileHead = `targets:
  sales: {type: webhook, url: "http://127.0.0.1:9/hook", secret: s3cret}
rules:
  - name: quiet
    community: acme
    detector: {type: source_absence}
    window: 15m
`

func TestSignalRulesDecodeFromTheAlertRulesFile(t *testing.T) {
	f, err := alerts.DecodeFile([]byte(fileHead + `signals:
  - name: sales-pricing
    description: asks about plans
    community: acme
    sources: [github, discourse]
    keywords: [pricing, enterprise, SSO, single sign-on]
    levels: [1, 2]
    roles: [champion]
    organizations: [Initech]
    targets: [sales]
`))
	require.NoError(t, err)
	require.Len(t, f.Signals, 1)
	r := f.Signals[0]
	require.Equal(t, signals.Rule{Name: "sales-pricing", Description: "asks about plans", Community: "acme",
		Sources: []string{"github", "discourse"}, Keywords: []string{"pricing", "enterprise", "SSO", "single sign-on"},
		Levels: []int{1, 2}, Roles: []string{"champion"}, Organizations: []string{"Initech"}, Targets: []string{"sales"}}, r)
}

func TestSignalRuleValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"no activity condition", `  - {name: s1, community: acme, levels: [1]}`,
			[]string{"signals[0] (s1).keywords: want at least one condition on the activity (sources, types, channels or keywords), got none"}},
		{"bad level and target", `  - {name: s1, community: acme, keywords: [quote], levels: [0, 5], targets: [crm]}`,
			[]string{
				"signals[0] (s1).levels[0]: want 1 (Leading) .. 4 (Exploring), got 0",
				"signals[0] (s1).levels[1]: want 1 (Leading) .. 4 (Exploring), got 5",
				`signals[0] (s1).targets[0]: no target "crm" under targets: (have sales)`}},
		{"bad names", `  - {name: Bad, community: "", keywords: [x]}`,
			[]string{
				`signals[0] (Bad).name: want a-z, 0-9, _ and - (at most 64 characters), got "Bad"`,
				`signals[0] (Bad).community: want a community name (a-z, 0-9, _ and -), got ""`}},
		{"punctuation keyword and duplicate", `  - {name: s1, community: acme, keywords: ["?!", upgrade, upgrade]}`,
			[]string{
				`signals[0] (s1).keywords[2]: "upgrade" is also keywords[1]`,
				`signals[0] (s1).keywords[0]: want letters or digits (a word or a phrase), got "?!"`}},
		{"duplicate names", "  - {name: s1, community: acme, keywords: [a]}\n  - {name: s1, community: acme, keywords: [b]}\n  - {name: quiet, community: acme, keywords: [c]}",
			[]string{
				`signals[1] (s1).name: "s1" is also signals[0]; names are unique`,
				`signals[2] (quiet).name: "quiet" is also an alert rule's name; names are unique`}},
		{"empty value", `  - {name: s1, community: acme, channels: [""]}`,
			[]string{`signals[0] (s1).channels[0]: want a non-empty value of at most 256 bytes, got ""`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alerts.DecodeFile([]byte(fileHead + "signals:\n" + tc.yaml + "\n"))
			require.Error(t, err)
			require.Equal(t, strings.Join(tc.want, "\n"), err.Error())
		})
	}
	_, err := alerts.DecodeFile([]byte(fileHead + "signals:\n  - {name: s1, community: acme, keyword: [x]}\n"))
	require.ErrorContains(t, err, "field keyword not found")
}

var at = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func TestMatchWhichActivitiesFireAndWhy(t *testing.T) {
	set := signals.Compile([]signals.Rule{
		{Name: "sales", Community: "acme", Sources: []string{"github", "discourse"}, Keywords: []string{"pricing", "SSO", "single sign-on", "quote"},
			Levels: []int{1, 2}, Targets: []string{"crm"}},
		{Name: "churn", Community: "acme", Types: []string{"support.ticket.opened"}, Keywords: []string{"cancel"}, Organizations: []string{"initech"}},
		{Name: "off", Community: "acme", Keywords: []string{"pricing"}, Disabled: true},
		{Name: "other", Community: "beta", Keywords: []string{"pricing"}},
	})
	require.Equal(t, 3, set.Len())
	lead := signals.Member{ID: "m1", Identity: "github:1", DisplayName: "Ada", Step: 8, Roles: []string{"champion"}}
	newbie := signals.Member{ID: "m2", Identity: "github:2", Step: 2}
	act := func(source, typ, title, org string) signals.Activity {
		return signals.Activity{EventID: "e-" + title, Community: "acme", Source: source, Type: typ, Channel: "help", Title: title,
			Organization: org, OccurredAt: at}
	}
	type fired struct {
		rule     string
		keywords []string
	}
	for _, tc := range []struct {
		a    signals.Activity
		m    signals.Member
		want []fired
	}{
		{act("github", "github.issue.opened", "Pricing for SSO and single sign on?", ""), lead,
			[]fired{{"sales", []string{"pricing", "SSO", "single sign-on"}}}},
		{act("github", "github.issue.opened", "ENTERPRISE quote, please", ""), lead, []fired{{"sales", []string{"quote"}}}},
		{act("github", "github.issue.opened", "lasso pricings quoted", ""), lead, nil},        // no whole word
		{act("slack", "slack.message.posted", "pricing?", ""), lead, nil},                     // source not listed
		{act("github", "github.issue.opened", "pricing?", ""), newbie, nil},                   // level 4, not 1 or 2
		{act("github", "github.issue.opened", "pricing?", ""), signals.Member{ID: "m3"}, nil}, // out of orbit
		{act("support", "support.ticket.opened", "How do I cancel?", "Initech"), newbie, []fired{{"churn", []string{"cancel"}}}},
		{act("support", "support.ticket.opened", "How do I cancel?", "Globex"), newbie, nil},
	} {
		var got []fired
		for _, r := range set.For("acme") {
			if s, ok := r.Match(tc.a, tc.m); ok {
				got = append(got, fired{s.Rule, s.Keywords})
			}
		}
		require.Equal(t, tc.want, got, "title %q, member %s", tc.a.Title, tc.m.ID)
	}

	s, ok := set.For("acme")[0].Match(act("discourse", "discourse.topic.created", "SSO pricing", "Initech"), lead)
	require.True(t, ok)
	require.Equal(t, "sales", s.Rule)
	require.Equal(t, "signal", s.Kind)
	require.Len(t, s.ID, 32)
	require.Equal(t, s.ID, set.For("acme")[0].Signal(act("discourse", "x", "SSO pricing", ""), lead, nil).ID, "the id is rule + event")
	require.Equal(t, []string{"pricing", "SSO"}, s.Keywords)
	require.Equal(t, "m1", s.Member.ID)
	require.Equal(t, uint8(2), s.Member.Level)
	require.Equal(t, "Contributing II", s.Member.LevelName)
	require.Equal(t, []string{"champion"}, s.Member.Roles)
	require.Equal(t, "Initech", s.Member.Organization)
	require.Equal(t, []string{"crm"}, s.Targets)
	require.Equal(t, []string{
		`source "discourse" is one of ["github", "discourse"]`,
		`title has ["pricing", "SSO"]`,
		`level 2 (Contributing II) is one of [1, 2]`,
		"not a teammate or a bot, and not opted out of signals",
	}, s.Reasons)
}

func TestTeammatesAndBotsNeverMatch(t *testing.T) {
	r := signals.Compile([]signals.Rule{{Name: "any", Community: "acme", Keywords: []string{"pricing"}}}).For("acme")[0]
	a := signals.Activity{EventID: "e1", Community: "acme", Source: "github", Title: "pricing", OccurredAt: at}
	m := signals.Member{ID: "m1", Step: 5}
	_, ok := r.Match(a, m)
	require.True(t, ok, "the control case fires")
	for name, tc := range map[string]struct {
		a signals.Activity
		m signals.Member
	}{
		"bot actor":         {func() signals.Activity { x := a; x.Bot = true; return x }(), m},
		"teammate activity": {func() signals.Activity { x := a; x.Teammate = true; return x }(), m},
		"bot member":        {a, signals.Member{ID: "m1", Step: 5, Bot: true}},
		"teammate member":   {a, signals.Member{ID: "m1", Step: 5, Teammate: true}},
	} {
		_, ok := r.Match(tc.a, tc.m)
		require.False(t, ok, name)
	}
}

func TestOptOutConfigValidation(t *testing.T) {
	require.NoError(t, signals.Config{OptOut: map[string][]string{"acme": {"github:1", "m-2"}}}.Validate("signals"))
	err := signals.Config{OptOut: map[string][]string{"Acme": {"x"}, "acme": {"", "two words"}}}.Validate("signals")
	require.Equal(t, `signals.opt_out.Acme: want a community name (a-z, 0-9, _ and -)
signals.opt_out.acme[0]: want a member id or identity key like github:583231 (1..256 printable bytes, no spaces), got ""
signals.opt_out.acme[1]: want a member id or identity key like github:583231 (1..256 printable bytes, no spaces), got "two words"`, err.Error())
	require.Equal(t, []signals.OptOut{{Community: "acme", Member: "a", Config: true}, {Community: "acme", Member: "b", Config: true}},
		signals.Config{OptOut: map[string][]string{"acme": {"b", "a"}, "beta": {"c"}}}.OptOuts("acme"))
}
