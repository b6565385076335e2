package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIdentityCommand(t *testing.T) {
	c := IdentityCommand{ID: "m1", Community: "acme", Kind: IdentityMerge, Identities: []string{"github:1", "slack:U2"},
		At: NewTimestamp(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))}
	data, err := json.Marshal(c)
	require.NoError(t, err)
	got, err := DecodeIdentityCommand(data)
	require.NoError(t, err)
	require.Equal(t, c.Identities, got.Identities)
	require.True(t, c.At.Equal(got.At.Time))

	bad := IdentityCommand{Community: "Acme!", Kind: "split", Identities: []string{"nocolon", ":x"}}
	err = bad.Validate()
	for _, want := range []string{"id: required", "community: want a token", `kind: want merge, unmerge or forget, got "split"`,
		`identities[0]: want source:source_id`, `identities[1]: want source:source_id`, "at: required"} {
		require.ErrorContains(t, err, want)
	}
	un := IdentityCommand{ID: "u", Community: "acme", Kind: IdentityUnmerge, Identities: []string{"a:1", "b:2"}, At: c.At}
	require.ErrorContains(t, un.Validate(), "identities: a unmerge takes 1, got 2")
	_, err = DecodeIdentityCommand([]byte("{"))
	require.ErrorContains(t, err, "identity command")
}
