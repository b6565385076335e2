package events

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDefaultRegistry(t *testing.T) {
	r := DefaultRegistry()
	// The reference points of ORBIT-MODEL.md §1.
	for name, w := range map[string]float64{
		"meetup.event.organized":      11, // organized a meetup
		"github.pull_request.opened":  8,  // opened a pull request
		"discourse.solution.accepted": 6,  // answered a forum question
		"meetup.event.attended":       5,  // attended a conference
		"newsletter.issue.read":       1,  // read the newsletter
	} {
		got, ok := r.Weight(name)
		require.True(t, ok, name)
		require.Equal(t, w, got, name)
	}
	// What the connectors emit.
	for _, name := range []string{
		"github.issue.opened", "github.issue.closed", "github.issue.commented", "github.pull_request.merged",
		"github.pull_request.closed", "github.pull_request.reviewed", "github.pull_request.review_commented",
		"github.commit.pushed", "github.release.published", "github.discussion.created", "github.discussion.answered",
		"github.discussion.commented", "github.star.created", "github.fork.created",
		"discourse.topic.created", "discourse.post.created", "discourse.post.liked",
		"slack.message.posted", "slack.thread.replied", "slack.reaction.added", "slack.channel.joined",
		"discord.message.posted", "discord.thread.created", "discord.reaction.added", "discord.member.joined",
		"mailinglist.message.posted", "mailinglist.reply.posted",
		"meetup.event.rsvped", "meetup.event.spoke", "support.ticket.opened", "support.ticket.replied",
		"support.ticket.resolved", "generic.message.posted",
	} {
		_, ok := r.Lookup(name)
		require.True(t, ok, name)
	}
	types := r.Types()
	require.Greater(t, len(types), 40)
	for i, ty := range types {
		require.Regexp(t, typeName, ty.Name)
		require.Len(t, strings.Split(ty.Name, "."), 3, "<source>.<object>.<verb>: %s", ty.Name)
		require.True(t, ty.Weight >= MinWeight && ty.Weight <= MaxWeight, ty.Name)
		require.NotEmpty(t, ty.Description, ty.Name)
		if i > 0 {
			require.Less(t, types[i-1].Name, ty.Name, "sorted")
		}
	}
	types[0].Name = "changed"
	require.NotEqual(t, "changed", r.Types()[0].Name, "Types returns a copy")

	pr, _ := r.Lookup("github.pull_request.opened")
	require.True(t, pr.Contribution)
	star, _ := r.Lookup("github.star.created")
	require.False(t, star.Contribution)
}

func TestCustomTypes(t *testing.T) {
	r := DefaultRegistry()
	require.Equal(t, 2.0, r.CustomWeight())
	for _, name := range []string{"custom.signed_up", "custom.product.project-created", "custom.a.b.c.d", "custom.0"} {
		ty, ok := r.Lookup(name)
		require.True(t, ok, name)
		require.Equal(t, name, ty.Name)
		require.Equal(t, 2.0, ty.Weight)
		require.False(t, ty.Contribution)
	}
	for _, name := range []string{"custom", "custom.", "custom.A", "custom..a", "custom.a.", "custom._a", "custom.a b", "xcustom.a", "custom.a*", "custom." + strings.Repeat("a", 65)} {
		_, ok := r.Lookup(name)
		require.False(t, ok, name)
	}
	long := "custom." + strings.Repeat(strings.Repeat("a", 60)+".", 2) + "a"
	require.Greater(t, len(long), MaxTypeLen)
	require.False(t, IsCustom(long))

	r9 := r.WithCustomWeight(9)
	w, _ := r9.Weight("custom.signed_up")
	require.Equal(t, 9.0, w)
	w, _ = r9.Weight("github.pull_request.opened")
	require.Equal(t, 8.0, w, "registered types keep their weight")
	w, _ = r.Weight("custom.signed_up")
	require.Equal(t, 2.0, w, "WithCustomWeight returns a copy")
	require.Panics(t, func() { r.WithCustomWeight(0) })
	require.Panics(t, func() { r.WithCustomWeight(12.5) })
	require.NotPanics(t, func() { r.WithCustomWeight(12) })

	_, ok := r.Weight("github.nothing.happened")
	require.False(t, ok)
}

func TestLoadRegistry(t *testing.T) {
	ok := "version: 1\ncustom_default_weight: 3\ntypes:\n  - {name: forum.post.created, weight: 4.5, contribution: true, description: posted}\n"
	r, err := LoadRegistry([]byte(ok))
	require.NoError(t, err)
	ty, found := r.Lookup("forum.post.created")
	require.True(t, found)
	require.Equal(t, ActivityType{Name: "forum.post.created", Weight: 4.5, Description: "posted", Contribution: true}, ty)
	require.Equal(t, 3.0, r.CustomWeight())

	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"every problem", "version: 2\ncustom_default_weight: 0\ntypes:\n" +
			"  - {name: a.b.c, weight: 13, description: d}\n" +
			"  - {name: a.b.c, weight: 2, description: d}\n" +
			"  - {name: Bad.Name.x, weight: 2, description: d}\n" +
			"  - {name: custom.x.y, weight: 2, description: d}\n" +
			"  - {name: a.b, weight: 0.5}\n",
			[]string{"version: want 1, got 2", "custom_default_weight: want 1..12, got 0", "types[0].weight: want 1..12, got 13",
				`types[1].name: "a.b.c" is listed twice`, "types[2].name", "types[3].name: \"custom.x.y\": the custom.* namespace",
				"types[4].name", "types[4].weight", "types[4].description: required"}},
		{"unknown top key", "version: 1\ncustom_default_weight: 2\nextra: 1\ntypes: []\n", []string{"field extra not found"}},
		{"unknown type key", "version: 1\ncustom_default_weight: 2\ntypes:\n  - {name: a.b.c, weight: 2, description: d, wieght: 3}\n", []string{"field wieght not found"}},
		{"wrong type", "version: 1\ncustom_default_weight: two\ntypes: []\n", []string{"cannot unmarshal"}},
		{"no types", "version: 1\ncustom_default_weight: 2\n", []string{"types: want at least one type"}},
		{"empty", "", []string{"empty file"}},
		{"two documents", ok + "---\n" + ok, []string{"want one YAML document"}},
		{"not yaml", "version: [", []string{"activity types:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadRegistry([]byte(tc.yaml))
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// The embedded file is loaded at init; a broken one must fail loudly.
func TestMustLoadPanicsOnBrokenFile(t *testing.T) {
	require.NotPanics(t, func() { mustLoad(defaultTypes) })
	require.PanicsWithValue(t,
		"events: the embedded activity_types.yaml is broken: activity types:\nversion: want 1, got 0\ncustom_default_weight: want 1..12, got 0\ntypes: want at least one type",
		func() { mustLoad([]byte("{}")) })
}

func TestRegistryItems(t *testing.T) {
	r := DefaultRegistry()
	for typ, want := range map[string]string{"github.issue.opened": ItemOpens, "support.ticket.opened": ItemOpens,
		"github.issue.commented": ItemResponds, "discourse.post.created": ItemResponds, "slack.message.posted": ""} {
		got, ok := r.Lookup(typ)
		require.True(t, ok, typ)
		require.Equal(t, want, got.Item, typ)
	}
	_, err := LoadRegistry([]byte("version: 1\ncustom_default_weight: 2\ntypes:\n  - {name: a.b.c, weight: 3, item: asks, description: x}\n"))
	require.ErrorContains(t, err, `types[0].item: want opens, responds or nothing, got "asks"`)
}
