package signals_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/alerts"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

func loadRules(path string) ([]signals.Rule, string, error) {
	f, err := alerts.LoadFile(path)
	return f.Signals, f.ExternalURL, err
}

func TestWatcherReloadsRulesAndKeepsThemOnABrokenEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.yaml")
	write := func(s string, mod time.Time) {
		require.NoError(t, os.WriteFile(path, []byte(s), 0o600))
		require.NoError(t, os.Chtimes(path, mod, mod))
	}
	t0 := time.Now().Add(-time.Hour)
	write("external_url: https://of.example.org/\nrules: []\nsignals:\n  - {name: a, community: acme, keywords: [pricing]}\n", t0)
	w := signals.NewWatcher(path, loadRules, signals.Config{OptOut: map[string][]string{"acme": {"github:1"}}}, nil, telemetry.Nop().Logger)
	require.NoError(t, w.Start(t.Context()))
	t.Cleanup(func() { _ = w.Shutdown(t.Context()) })
	require.Equal(t, 1, w.Rules().Len())
	require.Equal(t, "a", w.Rules().For("acme")[0].Name)
	require.Equal(t, "https://of.example.org/api/v1/communities/acme/members/github:1", w.MemberURL("acme", "github:1"))
	require.True(t, w.OptedOut("acme", "m9", "github:1"))
	require.False(t, w.OptedOut("acme", "m9"))

	write("rules: []\nsignals:\n  - {name: a, community: acme, keywords: [pricing]}\n  - {name: b, community: beta, types: [x.y.z], disabled: true}\n  - {name: c, community: beta, types: [x.y.z]}\n", t0.Add(time.Minute))
	require.Eventually(t, func() bool { return w.Rules().Len() == 2 }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "c", w.Rules().For("beta")[0].Name, "disabled rules are left out")
	require.Equal(t, "", w.MemberURL("acme", "github:1"))

	write("signals:\n  - {name: a, community: acme}\n", t0.Add(2*time.Minute)) // invalid: no activity condition
	time.Sleep(3 * time.Second)
	require.Equal(t, 2, w.Rules().Len(), "a broken edit keeps the rules in use")
}
