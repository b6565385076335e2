package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolveSecret(t *testing.T) {
	t.Setenv("OF_TEST_SECRET", "s3cret-from-env")
	file := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(file, []byte("s3cret-from-file\n"), 0o600))
	for in, want := range map[string]string{"env:OF_TEST_SECRET": "s3cret-from-env", "file:" + file: "s3cret-from-file", "plain": "plain"} {
		got, err := ResolveSecret(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ResolveSecret("env:OF_TEST_UNSET")
	require.EqualError(t, err, "environment variable OF_TEST_UNSET is not set")
	_, err = ResolveSecret("file:/nonexistent/x")
	require.ErrorContains(t, err, "read secret file")
}
