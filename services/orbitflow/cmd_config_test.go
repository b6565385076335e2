package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigPrintsNoSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`api:
  api_keys: ["raw-api-key-0123456789", "sha256:`+strings.Repeat("ab", 32)+`"]
  tokens: [{key: raw-token-0123456789ab, scopes: [read]}, {key: "sha256:`+strings.Repeat("cd", 32)+`", scopes: [admin]}]
gateway:
  hooks: [{source: generic, community: acme, secrets: ["raw-hook-secret-0123456", "env:OF_HOOK"]}]
people:
  email_salt: raw-email-salt-0123456789
telemetry:
  traces: {otlp_endpoint: "https://otlp.example:4318", headers: {Authorization: "Bearer raw-otlp-token-0123", X-Tenant: "env:OF_HOOK"}}
`), 0o600))
	t.Setenv("OF_HOOK", "hook-secret-from-env-0123")
	var out, errOut bytes.Buffer
	require.NoError(t, cmdConfig([]string{"--config", path}, &out, &errOut), errOut.String())
	s := out.String()
	for _, secret := range []string{"raw-api-key-0123456789", "raw-token-0123456789ab", "raw-hook-secret-0123456", "hook-secret-from-env-0123",
		"raw-email-salt-0123456789", "raw-otlp-token-0123"} {
		require.NotContains(t, s, secret)
	}
	require.Contains(t, s, "sha256:"+strings.Repeat("ab", 32), "a hash names no secret")
	require.Contains(t, s, "env:OF_HOOK", "a reference names no secret")
	require.Contains(t, s, redacted)
}
