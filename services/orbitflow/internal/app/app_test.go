package app

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
)

func TestDefaultConfigIsValid(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
}

func TestLoadFileEnvAndStrictness(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(path, []byte("data_dir: /srv/of\nsink:\n  batch_size: 500\n"), 0o600))
	env := map[string]string{"ORBITFLOW_SINK_FLUSH_INTERVAL": "250ms", "ORBITFLOW_NATS_MODE": "external", "ORBITFLOW_NATS_EXTERNAL_URLS": "nats://a:4222,nats://b:4222"}
	cfg, err := Load(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	require.Equal(t, "/srv/of", cfg.DataDir)
	require.Equal(t, 500, cfg.Sink.BatchSize)
	require.Equal(t, "250ms", cfg.Sink.FlushInterval.String())
	require.Equal(t, []string{"nats://a:4222", "nats://b:4222"}, cfg.NATS.External.URLs)
	require.NoError(t, cfg.Validate())

	require.NoError(t, os.WriteFile(path, []byte("sink:\n  batch_sise: 5\n"), 0o600))
	_, err = Load(path, func(string) (string, bool) { return "", false })
	require.ErrorContains(t, err, "batch_sise", "an unknown key is an error")
}

func TestValidateReportsEveryProblemWithItsPath(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Log.Level = "loud"
	cfg.NATS.Mode = "carrier-pigeon"
	cfg.ClickHouse.Mode = "external"
	cfg.Sink.BatchSize = -1
	cfg.Events.CustomDefaultWeight = 40
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{"log.level", "nats.mode", "clickhouse.external.addrs", "sink.batch_size", "events.custom_default_weight"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestRegistryCustomWeight(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Events.CustomDefaultWeight = 7
	reg, err := cfg.Registry()
	require.NoError(t, err)
	w, ok := reg.Weight("custom.signed_up")
	require.True(t, ok)
	require.Equal(t, 7.0, w)
}

func TestDataDirLockAndRunState(t *testing.T) {
	dir := t.TempDir()
	_, active, err := ActiveRun(dir)
	require.NoError(t, err)
	require.False(t, active, "no process holds a fresh dir")

	lock, err := LockDataDir(dir)
	require.NoError(t, err)
	_, err = LockDataDir(dir)
	require.ErrorIs(t, err, ErrBusy, "a second holder is refused")
	_, _, err = ActiveRun(dir)
	require.ErrorIs(t, err, ErrBusy, "held without run.json: busy")

	// A run.json left by a killed run (its pid is gone) is not trusted.
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	require.NoError(t, WriteState(dir, RunState{PID: dead.Process.Pid, NATSURL: "nats://127.0.0.1:1"}))
	_, active, err = ActiveRun(dir)
	require.ErrorIs(t, err, ErrBusy, "stale run.json: still busy, not active")
	require.False(t, active)

	st := RunState{PID: os.Getpid(), NATSURL: "nats://127.0.0.1:4222", NATSToken: "secret", ClickHouseHTTP: "127.0.0.1:8123"}
	require.NoError(t, WriteState(dir, st))
	fi, err := os.Stat(filepath.Join(dir, "run.json"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "run.json holds a token")
	got, active, err := ActiveRun(dir)
	require.NoError(t, err)
	require.True(t, active)
	require.Equal(t, st.NATSToken, got.NATSToken)

	lock.Release()
	lock.Release() // idempotent
	RemoveState(dir)
	_, active, err = ActiveRun(dir)
	require.NoError(t, err)
	require.False(t, active)
}

func TestAPIKeyIsCreatedOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateAPIKey(dir)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(k1, "of_") && len(k1) > 20)
	k2, err := LoadOrCreateAPIKey(dir)
	require.NoError(t, err)
	require.Equal(t, k1, k2)
	fi, err := os.Stat(filepath.Join(dir, "api-key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// The shipped example lists every setting with its default: it must load
// strictly (no stale keys), validate, and equal the defaults.
func TestExampleConfigIsTheDefaults(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	cfg, err := Load("../../../../deploy/config/orbitflow.example.yaml", none)
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	def := DefaultConfig()
	require.Equal(t, def.Gateway.Listen, cfg.Gateway.Listen)
	require.Equal(t, def.Gateway.MaxBodyBytes, cfg.Gateway.MaxBodyBytes)
	require.Equal(t, def.Gateway.PublishTimeout, cfg.Gateway.PublishTimeout)
	require.Equal(t, def.Sink, cfg.Sink)
	require.Equal(t, def.Scoring, cfg.Scoring)
	require.Equal(t, def.Alerts, cfg.Alerts)
	require.Equal(t, def.API.Listen, cfg.API.Listen)
	require.Equal(t, def.Telemetry, cfg.Telemetry)
}

func TestGatewayHooksAreValidatedAgainstKnownSources(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Gateway.Hooks = []gateway.HookConfig{{Source: "myspace", Community: "acme", Secrets: []string{"0123456789abcdef"}}}
	err := cfg.Validate()
	require.ErrorContains(t, err, `gateway.hooks[0].source: want one of `+strings.Join(WebhookSources(), ", ")+`, got "myspace"`)
	require.Contains(t, WebhookSources(), "generic")
}

func TestComposeConfigLoadsAndValidates(t *testing.T) {
	cfg, err := Load("../../../../deploy/config/orbitflow.compose.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	require.NoError(t, cfg.Validate())
	require.Equal(t, "0.0.0.0:8090", cfg.Gateway.Listen)
}

func TestPeopleAreValidated(t *testing.T) {
	cfg := DefaultConfig()
	cfg.People.Teammates = []string{"github:jane", "jane"}
	require.ErrorContains(t, cfg.Validate(), `people.teammates[1]: want source:username, got "jane"`)
}

func TestEmailSaltIsCreatedOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	s1, err := LoadOrCreateSalt(dir)
	require.NoError(t, err)
	s2, err := LoadOrCreateSalt(dir)
	require.NoError(t, err)
	require.Equal(t, s1.Fingerprint(), s2.Fingerprint(), "the same salt on every start")
	fi, err := os.Stat(filepath.Join(dir, "email-salt"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	other, err := LoadOrCreateSalt(t.TempDir())
	require.NoError(t, err)
	require.NotEqual(t, s1.Fingerprint(), other.Fingerprint(), "each data dir generates its own")

	cfg := DefaultConfig()
	cfg.DataDir = dir
	fromDir, err := cfg.Salt()
	require.NoError(t, err)
	require.Equal(t, s1.Fingerprint(), fromDir.Fingerprint())
	t.Setenv("OF_TEST_SALT", "salt-from-the-environment-0123")
	cfg.People.EmailSalt = "env:OF_TEST_SALT"
	require.NoError(t, cfg.Validate())
	fromEnv, err := cfg.Salt()
	require.NoError(t, err)
	require.Equal(t, events.MustSalt("salt-from-the-environment-0123").Fingerprint(), fromEnv.Fingerprint())
	cfg.People.EmailSalt = "short"
	require.ErrorContains(t, cfg.Validate(), "people.email_salt: want at least 16 bytes")
	cfg.People.EmailSalt = "env:OF_TEST_SALT_UNSET"
	require.ErrorContains(t, cfg.Validate(), "people.email_salt: environment variable OF_TEST_SALT_UNSET is not set")
}
