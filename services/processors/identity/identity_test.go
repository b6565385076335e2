package identity

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	ghJane = Identity{Source: "github", SourceID: "583231", Username: "Jane", DisplayName: "Jane Doe", EmailSHA256: "e1"}
	slJane = Identity{Source: "slack", SourceID: "U1", Username: "jane.doe", EmailSHA256: "e1"}
	dcJane = Identity{Source: "discourse", SourceID: "7", Username: "jane", DisplayName: "Jane Doe"}
	ghBob  = Identity{Source: "github", SourceID: "42", Username: "bob"}
)

func TestSameEmailHashMergesAutomatically(t *testing.T) {
	r := New()
	m, ch := r.Observe(ghJane)
	require.Equal(t, "github:583231", m)
	require.Nil(t, ch)
	m, ch = r.Observe(slJane)
	require.Equal(t, "github:583231", m, "the first-seen identity names the member")
	require.Equal(t, &Change{Kind: "merge", Members: []string{"github:583231", "slack:U1"}, Reason: "same e-mail hash"}, ch)
	require.Equal(t, "github:583231", r.Resolve("slack", "U1"))
	require.Equal(t, []string{"github:583231", "slack:U1"}, r.Identities("github:583231"))
	m, ch = r.Observe(slJane)
	require.Equal(t, "github:583231", m)
	require.Nil(t, ch, "observing again changes nothing")
}

func TestUsernameReferencesResolve(t *testing.T) {
	r := New()
	r.Observe(ghJane)
	r.Observe(dcJane)
	require.Equal(t, "github:583231", r.Resolve("github", "login:JANE"))
	require.Equal(t, "discourse:7", r.Resolve("discourse", "@Jane"))
	require.Equal(t, "github:login:nobody", r.Resolve("github", "login:nobody"), "an unknown name stays its own member")
	require.Equal(t, "github:999", r.Resolve("github", "999"))
}

func TestWeakEvidenceIsOnlySuggested(t *testing.T) {
	r := New()
	r.Observe(ghJane)
	r.Observe(dcJane)
	r.Observe(ghBob)
	r.Observe(Identity{Source: "slack", SourceID: "U9", Username: "bob"})
	require.Equal(t, []Suggestion{
		{A: "discourse:7", B: "github:583231", Confidence: 0.8,
			Evidence: `same username "jane" on github and discourse and the same display name "Jane Doe"`},
		{A: "github:42", B: "slack:U9", Confidence: 0.6, Evidence: `same username "bob" on github and slack`},
	}, r.Suggestions())
	require.NotEqual(t, r.Resolve("discourse", "7"), r.Resolve("github", "583231"), "not merged automatically")
}

func TestLinkUnmergeAndRelink(t *testing.T) {
	r := New()
	r.Observe(ghJane)
	r.Observe(dcJane)
	ch := r.Link(dcJane, ghJane)
	require.Equal(t, &Change{Kind: "merge", Members: []string{"github:583231", "discourse:7"}, Reason: "explicit link"}, ch)
	require.Nil(t, r.Link(ghJane, dcJane), "already one member")
	require.Empty(t, r.Suggestions(), "one member: nothing to suggest")

	ch, err := r.Unmerge("discourse:7")
	require.NoError(t, err)
	require.Equal(t, &Change{Kind: "unmerge", Members: []string{"github:583231", "discourse:7"}, Reason: "unmerged discourse:7"}, ch)
	require.Equal(t, "discourse:7", r.Resolve("discourse", "7"))
	require.Empty(t, r.Suggestions(), "an unmerged pair is not suggested again")

	// The same e-mail hash no longer merges them: the unmerge was a decision.
	dc := dcJane
	dc.EmailSHA256 = "e1"
	_, merged := r.Observe(dc)
	require.Nil(t, merged)
	require.Equal(t, "discourse:7", r.Resolve("discourse", "7"))

	require.NotNil(t, r.Link(dcJane, ghJane), "an explicit link overrides the unmerge")
	require.Equal(t, "github:583231", r.Resolve("discourse", "7"))

	_, err = r.Unmerge("github:1")
	require.ErrorContains(t, err, "unknown")
	_, err = r.Unmerge("github:42")
	require.ErrorContains(t, err, "unknown")
	r.Observe(ghBob)
	_, err = r.Unmerge("github:42")
	require.ErrorContains(t, err, "nothing to unmerge")
}

// The survivor of a merge is the member seen first, whichever side the
// evidence arrives on: replays agree.
func TestDeterministic(t *testing.T) {
	run := func(order []Identity) map[string]string {
		r := New()
		for _, id := range order {
			r.Observe(id)
		}
		out := map[string]string{}
		for _, id := range order {
			out[id.Key()] = r.Resolve(id.Source, id.SourceID)
		}
		return out
	}
	a := run([]Identity{ghJane, ghBob, slJane})
	require.Equal(t, a, run([]Identity{ghJane, ghBob, slJane}))
	require.Equal(t, "github:583231", a["slack:U1"])
	b := run([]Identity{slJane, ghJane})
	require.Equal(t, "slack:U1", b["github:583231"], "first seen names the member")
}

func TestSnapshotRoundTrip(t *testing.T) {
	r := New()
	r.Observe(ghJane)
	r.Observe(slJane)
	r.Observe(dcJane)
	r.Observe(ghBob)
	r.Link(dcJane, ghBob)
	_, err := r.Unmerge("discourse:7")
	require.NoError(t, err)
	var buf, again bytes.Buffer
	require.NoError(t, r.WriteSnapshot(&buf))
	require.NoError(t, r.WriteSnapshot(&again))
	require.Equal(t, buf.Bytes(), again.Bytes(), "deterministic")
	back, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	for _, ref := range [][2]string{{"github", "583231"}, {"slack", "U1"}, {"discourse", "7"}, {"github", "42"}, {"github", "login:bob"}, {"discourse", "@jane"}} {
		require.Equal(t, r.Resolve(ref[0], ref[1]), back.Resolve(ref[0], ref[1]), ref)
	}
	require.Equal(t, r.Suggestions(), back.Suggestions())
	// Both continue alike: a new identity with Jane's e-mail joins her member.
	late := Identity{Source: "discord", SourceID: "9", EmailSHA256: "e1"}
	m1, c1 := r.Observe(late)
	m2, c2 := back.Observe(late)
	require.Equal(t, m1, m2)
	require.Equal(t, c1, c2)
	_, err = ReadSnapshot(bytes.NewReader([]byte("junk")))
	require.ErrorContains(t, err, "read snapshot")
}

func TestRefsAndMemberOf(t *testing.T) {
	r := New()
	r.Observe(Identity{Source: "github", SourceID: "1", Username: "Jane"})
	r.Observe(Identity{Source: "slack", SourceID: "U2"})
	require.NotNil(t, r.Link(Identity{Source: "github", SourceID: "1"}, Identity{Source: "slack", SourceID: "U2"}))
	require.Equal(t, "github:1", r.MemberOf("slack:U2"))
	require.Equal(t, "", r.MemberOf("slack:U9"))
	require.Equal(t, []string{"github:1", "github:@Jane", "github:@jane", "github:login:Jane", "github:login:jane", "slack:U2"}, r.Refs("github:1"))
	id, ok := ParseKey("github:login:jane")
	require.True(t, ok)
	require.Equal(t, Identity{Source: "github", SourceID: "login:jane"}, id)
	_, ok = ParseKey("nocolon")
	require.False(t, ok)
}
