package events

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHashEmailDomain(t *testing.T) {
	// printf 'example.com' | sha256sum
	const want = "a379a6f6eeafb9a55e378c118034e2751e682fab9f2d30ab13d2125586ce1947"
	require.Equal(t, want, HashDomain("example.com"))
	require.Equal(t, want, HashDomain(" Example.COM. "), "trimmed, lowercased, no trailing dot")
	require.Equal(t, want, HashEmailDomain("Ann.Lee@Example.com"))
	require.Equal(t, want, HashEmailDomain(`"a@b"@example.com`), "the domain follows the last @")
	require.Equal(t, "example.com", EmailDomain(" ann@EXAMPLE.com "))
	for _, bad := range []string{"", "ann", "ann@", "ann@ ."} {
		require.Empty(t, HashEmailDomain(bad), "%q has no domain", bad)
	}
	require.NotEqual(t, HashEmail("ann@example.com"), HashEmailDomain("ann@example.com"))
}

func TestFreeMailDomains(t *testing.T) {
	for _, d := range []string{"gmail.com", "GMail.com.", "outlook.com", "proton.me"} {
		require.True(t, IsFreeMailDomain(d), d)
	}
	require.True(t, IsFreeMailDomainHash(HashEmailDomain("someone@gmail.com")))
	require.False(t, IsFreeMailDomain("example.com"))
	require.False(t, IsFreeMailDomainHash(HashDomain("example.com")))
	seen := map[string]bool{}
	for _, d := range FreeMailDomains() {
		require.Equal(t, normalizeDomain(d), d, "listed normalized")
		require.False(t, seen[d], "%s listed twice", d)
		seen[d] = true
	}
}
