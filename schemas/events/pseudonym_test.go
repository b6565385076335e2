package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSaltEmail(t *testing.T) {
	salt := MustSalt("0123456789abcdef-deployment-one")
	email := HashEmail("Jane@Example.org ")
	got := salt.Email(email)

	// The definition, spelled out: HMAC-SHA256 keyed by the salt's bytes
	// over the hex digits of the unsalted hash, in lowercase hex.
	m := hmac.New(sha256.New, []byte("0123456789abcdef-deployment-one"))
	m.Write([]byte(email))
	require.Equal(t, hex.EncodeToString(m.Sum(nil)), got)
	require.True(t, isHexSHA256(got), "the keyed hash has the shape of email_sha256: %q", got)

	require.NotEqual(t, email, got, "the stored hash must not be the unsalted one")
	require.Equal(t, got, salt.Email(HashEmail("jane@example.org")), "the same address gives the same key (merges by e-mail work)")
	require.NotEqual(t, got, salt.Email(HashEmail("john@example.org")))
	require.NotEqual(t, got, MustSalt("0123456789abcdef-deployment-two").Email(email), "another deployment's salt gives another key")
	require.Empty(t, salt.Email(""), "no e-mail stays no e-mail")
}

func TestSaltTombstoneAndFingerprint(t *testing.T) {
	a, b := MustSalt("0123456789abcdef-deployment-one"), MustSalt("0123456789abcdef-deployment-two")
	ts := a.Tombstone("acme", "github:583231")
	require.True(t, isHexSHA256(ts))
	require.NotContains(t, ts, "583231")
	require.Equal(t, ts, a.Tombstone("acme", "github:583231"))
	require.NotEqual(t, ts, a.Tombstone("beta", "github:583231"), "tombstones are per community")
	require.NotEqual(t, ts, a.Tombstone("acme", "github:583232"))
	require.NotEqual(t, ts, b.Tombstone("acme", "github:583231"))
	// The separator keeps (community, key) pairs apart.
	require.NotEqual(t, a.Tombstone("ac", "megithub:1"), a.Tombstone("acme", "github:1"))

	require.Len(t, a.Fingerprint(), 16)
	require.NotEqual(t, a.Fingerprint(), b.Fingerprint())
	require.False(t, strings.Contains(a.Fingerprint(), "deployment"))

	_, err := NewSalt("short")
	require.ErrorContains(t, err, "at least 16 bytes")
}

func TestForgetCommand(t *testing.T) {
	salt := MustSalt("0123456789abcdef-deployment-one")
	at := NewTimestamp(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	c := IdentityCommand{ID: "f1", Community: "acme", Kind: IdentityForget,
		Tombstones: []string{salt.Tombstone("acme", "github:1"), salt.Tombstone("acme", "slack:U2")}, At: at}
	data, err := json.Marshal(c)
	require.NoError(t, err)
	require.NotContains(t, string(data), "github:1", "the command on the stream names no identity")
	got, err := DecodeIdentityCommand(data)
	require.NoError(t, err)
	require.Equal(t, c.Tombstones, got.Tombstones)

	for _, tc := range []struct {
		name string
		cmd  IdentityCommand
		want string
	}{
		{"no tombstone", IdentityCommand{ID: "f", Community: "acme", Kind: IdentityForget, At: at}, "tombstones: a forget takes 1..1024, got 0"},
		{"plain identity", IdentityCommand{ID: "f", Community: "acme", Kind: IdentityForget, Identities: []string{"github:1"},
			Tombstones: c.Tombstones, At: at}, "identities: a forget names no identity"},
		{"not a hash", IdentityCommand{ID: "f", Community: "acme", Kind: IdentityForget, Tombstones: []string{"github:1"}, At: at},
			`tombstones[0]: want 64 lowercase hex digits`},
		{"tombstones on a merge", IdentityCommand{ID: "m", Community: "acme", Kind: IdentityMerge, Identities: []string{"a:1", "b:2"},
			Tombstones: c.Tombstones, At: at}, "tombstones: only a forget carries them"},
	} {
		t.Run(tc.name, func(t *testing.T) { require.ErrorContains(t, tc.cmd.Validate(), tc.want) })
	}
}
