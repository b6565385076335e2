package source

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
)

func TestIDIsStableAndBounded(t *testing.T) {
	require.Equal(t, "github:issue_comment:123", ID("github", "issue_comment", "123"))
	long := ID("mailinglist", strings.Repeat("é", 300))
	require.LessOrEqual(t, len(long), events.MaxIDLen)
	require.True(t, utf8.ValidString(long), "cut inside a rune")
	require.Equal(t, long, ID("mailinglist", strings.Repeat("é", 300)), "not stable")
	require.NotEqual(t, long, ID("mailinglist", strings.Repeat("é", 301)), "different ids collide")
}

func TestPeople(t *testing.T) {
	p := &People{Bots: []string{"github:ci-robot"}, Teammates: []string{"GitHub:Jane"}}
	require.True(t, p.IsBot("github", "dependabot[bot]"))
	require.True(t, p.IsBot("github", "CI-Robot"))
	require.False(t, p.IsBot("slack", "ci-robot"), "bots are per source")
	require.False(t, p.IsBot("github", "jane"))
	var none *People
	require.True(t, none.IsBot("github", "renovate[bot]"))
	require.False(t, none.IsTeammate("github", "jane"))

	env := Env{Community: "acme", People: p, Now: func() time.Time { return time.Unix(100, 0) }}
	ev := env.Event("github:x:1", "github.issue.opened", time.Unix(50, 0))
	require.Equal(t, "github", ev.Source)
	require.Equal(t, "acme", ev.Community)
	require.Equal(t, int64(100), ev.ReceivedAt.Unix())
	ev.Actor = env.Actor("github", "1", "Jane", "")
	env.Mark(&ev)
	require.Equal(t, "true", ev.Attributes[AttrTeammate])
	require.NoError(t, events.DefaultRegistry().Validate(&ev))

	errs := (&People{Bots: []string{"nobody"}, Teammates: []string{"github:"}}).Validate("people")
	require.Len(t, errs, 2)
	require.ErrorContains(t, errs[0], "want source:username")
}

func TestCleanAndClip(t *testing.T) {
	require.Equal(t, "a b", Clean(" a\x00b\xff ", 10))
	require.Equal(t, "éé", Clean("ééé", 5), "cut on a rune boundary")
	require.Equal(t, "ok", Clip("ok"))
	require.Equal(t, strings.Repeat("x", 64)+"…", Clip(strings.Repeat("x", 70)))
	require.Equal(t, "a b…", Clip("a\nb"))
	require.True(t, Printable("plain text"))
	require.False(t, Printable("tab\t"))
}
