package scoring

import (
	"time"

	"testing"

	"github.com/stretchr/testify/require"
)

func roleEvents(cs []RoleChange) []string {
	out := []string{}
	for _, c := range cs {
		sign := "-"
		if c.Gained {
			sign = "+"
		}
		out = append(out, sign+c.Role+" "+c.Member)
	}
	return out
}

// An activity rule holds from the activity that completes the count until
// the daily evaluation after the oldest one leaves the window.
func TestRoleFromActivitiesComesAndGoes(t *testing.T) {
	s := NewScorer(DefaultConfig())
	answer := func(day string) []RoleChange {
		s.Apply(Activity{Member: "ana", At: ms(day) + 3600_000, Type: "github.discussion.answered", Weight: 6})
		return s.RoleChanges()
	}
	require.Empty(t, answer("2026-03-01"))
	require.Empty(t, answer("2026-03-20"))
	got := answer("2026-04-10")
	require.Equal(t, []string{"+educator ana"}, roleEvents(got))
	require.Equal(t, ms("2026-04-10")+3600_000, got[0].At)
	require.Contains(t, got[0].Reason, "rule educator (had at least 3 answers accepted in 90 days): 3 of github.discussion.answered")
	require.Equal(t, []string{"educator"}, s.Roles("ana"))

	// 90 days after 2026-03-01 01:00 is 2026-05-30 01:00: the evaluation
	// at the start of 2026-05-31 finds two.
	tick := func(day string) []RoleChange {
		s.Apply(Activity{Member: "clock", At: ms(day) + 60_000, Type: "x", Weight: 1})
		return s.RoleChanges()
	}
	require.Empty(t, tick("2026-05-30"))
	lost := tick("2026-05-31")
	require.Equal(t, []string{"-educator ana"}, roleEvents(lost))
	require.Equal(t, ms("2026-05-31"), lost[0].At)
	require.Contains(t, lost[0].Reason, "2 of github.discussion.answered, discourse.solution.accepted in 90 days, needs 3")
	require.Empty(t, s.Roles("ana"))
}

// Target kinds narrow what counts: an answer with no reply target does
// not count for a rule that needs one.
func TestRoleTargetKindsAndPrefixes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Roles.Rules = []RoleRule{{Name: "helper", Description: "replied to others twice in a week",
		Activities: &ActivityCount{Types: []string{"discourse.*"}, TargetKinds: []string{"reply"}, AtLeast: 2, Within: 7 * 24 * time.Hour}}}
	require.NoError(t, cfg.Validate())
	s := NewScorer(cfg)
	at := ms("2026-03-02")
	s.Apply(Activity{Member: "bo", At: at, Type: "discourse.post.created", Weight: 2})
	s.Apply(Activity{Member: "bo", At: at + 1, Type: "discourse.post.created", Weight: 2, Targets: []Target{{Member: "bo", Kind: "reply"}}})
	s.Apply(Activity{Member: "bo", At: at + 2, Type: "github.issue.commented", Weight: 2, Targets: []Target{{Member: "cy", Kind: "reply"}}})
	require.Empty(t, s.Roles("bo"), "no reply to another member in a discourse.* activity yet")
	s.Apply(Activity{Member: "bo", At: at + 3, Type: "discourse.post.created", Weight: 2, Targets: []Target{{Member: "cy", Kind: "reply"}}})
	s.Apply(Activity{Member: "bo", At: at + 4, Type: "discourse.post.created", Weight: 2, Targets: []Target{{Member: "cy", Kind: "mention"}}})
	require.Empty(t, s.Roles("bo"), "mentions do not count")
	s.Apply(Activity{Member: "bo", At: at + 5, Type: "discourse.topic.created", Weight: 2, Targets: []Target{{Member: "di", Kind: "reply"}}})
	require.Equal(t, []string{"helper"}, s.Roles("bo"))
}

// Appointed roles come with the member's first sighting, as actor or
// target, and stay; bots hold no rule roles.
func TestAppointedRolesAndBots(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Roles.Appointed = map[string][]string{"maintainer": {"github:1"}, "community-manager": {"github:1", "slack:U2"}}
	require.NoError(t, cfg.Validate())
	s := NewScorer(cfg)
	s.Apply(Activity{Member: "github:9", At: ms("2026-03-02"), Type: "x", Weight: 1, Targets: []Target{{Member: "github:1", Kind: "mention"}}})
	require.ElementsMatch(t, []string{"+maintainer github:1", "+community-manager github:1"}, roleEvents(s.RoleChanges()))
	require.Equal(t, "appointed in the scoring config (roles.appointed)", s.RoleChanges()[0].Reason)
	require.Equal(t, []string{"community-manager", "maintainer"}, s.Roles("github:1"))
	for d := range 120 {
		s.Apply(Activity{Member: "github:9", At: ms("2026-03-03") + int64(d)*msPerDay, Type: "x", Weight: 1})
	}
	require.Equal(t, []string{"community-manager", "maintainer"}, s.Roles("github:1"), "appointed roles do not lapse")

	for i := range 3 {
		s.Apply(Activity{Member: "dependabot[bot]", At: ms("2026-08-01") + int64(i), Type: "support.ticket.opened", Weight: 4, Bot: true})
	}
	require.Empty(t, s.Roles("dependabot[bot]"))
}

// Advocate: Leading or Contributing with reach in the top decile, judged
// against the cut computed on Mondays.
func TestAdvocateNeedsLevelAndTopReach(t *testing.T) {
	s := NewScorer(DefaultConfig())
	start := ms("2026-03-02") // a Monday
	// Twenty members reply to each other a little; "ria" is replied to a lot.
	for d := range 35 {
		at := start + int64(d)*msPerDay + 3600_000
		for k := range 20 {
			m := string(rune('a' + k))
			s.Apply(Activity{Member: m, At: at + int64(k), Type: "x", Weight: 1, Targets: []Target{{Member: string(rune('a' + (k+1)%20)), Kind: "react"}}})
			if d%2 == 0 {
				s.Apply(Activity{Member: m, At: at + 100 + int64(k), Type: "x", Weight: 1, Targets: []Target{{Member: "ria", Kind: "reply"}}})
			}
		}
	}
	require.Empty(t, s.Roles("ria"), "ria has top reach but no level of her own")
	require.Contains(t, []uint8{1, 2}, Level(s.Lookup("a").Step), "daily actives reach Contributing or better")
	advocates := 0
	for k := range 20 {
		advocates += len(s.Roles(string(rune('a' + k))))
	}
	require.LessOrEqual(t, advocates, 2, "the top decile of 21 is 3 members, ria one of them")
	// ria becomes active every day: Contributing within the month.
	var gained []RoleChange
	for d := 35; d < 70; d++ {
		s.Apply(Activity{Member: "ria", At: start + int64(d)*msPerDay + 7200_000, Type: "x", Weight: 1})
		for _, c := range s.RoleChanges() {
			if c.Member == "ria" {
				gained = append(gained, c)
			}
		}
	}
	require.Equal(t, []string{"+advocate ria"}, roleEvents(gained))
	require.Contains(t, gained[0].Reason, "rule advocate")
	require.Contains(t, gained[0].Reason, "in the top 10%")
	require.Equal(t, []string{"advocate"}, s.Roles("ria"))
}

func TestRoleConfigValidation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Roles.Rules = append(cfg.Roles.Rules,
		RoleRule{Name: "educator", Levels: []uint8{1}},
		RoleRule{Name: "Bad Name", ReachTop: 1.5},
		RoleRule{Name: "empty"},
		RoleRule{Name: "x", Levels: []uint8{5}, Activities: &ActivityCount{Types: []string{"a b"}, TargetKinds: []string{"poke"}, AtLeast: 0, Within: 0}},
	)
	cfg.Roles.Appointed = map[string][]string{"advocate": {"github:1"}, "lonely": nil}
	cfg.Schedule.ReachCut = "hourly"
	err := cfg.Validate()
	for _, want := range []string{
		`roles.rules[4].name: role "educator" is already defined at roles.rules[1].name`,
		`roles.rules[5].name: want a name of a-z, 0-9, - and _ (1–64), got "Bad Name"`,
		`roles.rules[5].reach_top: want a share in (0, 1], got 1.5`,
		`roles.rules[6]: needs a condition: levels, reach_top or activities`,
		`roles.rules[7].levels[0]: want 1 (Leading) … 4 (Exploring), got 5`,
		`roles.rules[7].activities.types[0]: want a type`,
		`roles.rules[7].activities.target_kinds[0]: want one of`,
		`roles.rules[7].activities.at_least: must be 1..64, got 0`,
		`roles.rules[7].activities.within: must be at least 1h`,
		`roles.appointed.advocate: role "advocate" is already defined at roles.rules[0].name`,
		`roles.appointed.lonely: lists no members`,
		`schedule.reach_cut: want weekly or daily, got "hourly"`,
	} {
		require.ErrorContains(t, err, want)
	}
}
