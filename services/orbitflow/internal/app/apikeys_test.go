package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api"
)

func TestAPIKeysMayBeFileAndEnvReferences(t *testing.T) {
	file := filepath.Join(t.TempDir(), "metrics-token")
	require.NoError(t, os.WriteFile(file, []byte("scrape-token-0123456789\n"), 0o600))
	t.Setenv("ORBITFLOW_TEST_KEY", "env-key-0123456789abcdef")
	in := api.Config{
		APIKeys: []string{"env:ORBITFLOW_TEST_KEY", "plain-key-0123456789"},
		Tokens:  []api.Token{{Key: "file:" + file, Scopes: []string{api.ScopeRead}}},
	}
	out, err := resolveAPIKeys(in)
	require.NoError(t, err)
	require.Equal(t, []string{"env-key-0123456789abcdef", "plain-key-0123456789"}, out.APIKeys)
	require.Equal(t, "scrape-token-0123456789", out.Tokens[0].Key, "the file's content, trimmed")
	require.Equal(t, "file:"+file, in.Tokens[0].Key, "the config itself is not changed")

	_, err = resolveAPIKeys(api.Config{Tokens: []api.Token{{Key: "file:/nonexistent/metrics-token", Scopes: []string{api.ScopeRead}}}})
	require.ErrorContains(t, err, "api.tokens[0].key")
	require.ErrorContains(t, err, "create it")
}
