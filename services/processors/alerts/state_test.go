package alerts

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
)

func TestBookPendingCooldownSilenceAndAck(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := Rule{Name: "r", Community: "c", For: Duration(2 * time.Hour), Cooldown: Duration(time.Hour)}.withDefaults()
	b := NewBook()
	none := func(string) bool { return false }
	fire := []Decision{{Key: "k", Firing: true, Value: 1, Baseline: 10}}
	calm := []Decision{{Key: "k", Value: 10, Baseline: 10}}
	step := func(at time.Duration, decs []Decision, silenced func(string) bool) []Transition {
		return b.Apply(r, "c", decs, t0.Add(at), false, silenced)
	}

	ts := step(0, fire, none)
	require.Len(t, ts, 1)
	require.Equal(t, alerts.StatePending, ts[0].Change.To)
	require.False(t, ts[0].Notify)
	require.Empty(t, step(time.Hour, fire, none), "still pending: no change")
	ts = step(2*time.Hour, fire, none)
	require.Equal(t, alerts.StateFiring, ts[0].Change.To)
	require.True(t, ts[0].Notify)
	id := ts[0].Alert.ID

	ack := b.Ack(b.Find(id), "ana", t0.Add(2*time.Hour+time.Minute))
	require.Equal(t, alerts.Acknowledged, ack.Change.To)
	require.False(t, ack.Notify)
	require.Empty(t, step(3*time.Hour, fire, none), "firing stays firing: notified once")

	ts = step(4*time.Hour, calm, none)
	require.Equal(t, alerts.StateResolved, ts[0].Change.To)
	require.True(t, ts[0].Notify, "a notified firing notifies its resolve")
	require.Nil(t, b.Find(id))

	// Fires again within the cooldown of the last notification: recorded, not notified.
	r.For = 0
	ts = step(2*time.Hour+30*time.Minute, fire, none)
	require.Equal(t, alerts.StateFiring, ts[0].Change.To)
	require.False(t, ts[0].Notify)
	require.NotEqual(t, id, ts[0].Alert.ID, "a new episode")
	ts = step(2*time.Hour+40*time.Minute, calm, none)
	require.False(t, ts[0].Notify, "its resolve is not notified either")

	// Silenced: no notification; after the cooldown and unsilenced: notified.
	ts = step(5*time.Hour, fire, func(string) bool { return true })
	require.False(t, ts[0].Notify)
	step(5*time.Hour+time.Minute, calm, none)
	ts = step(6*time.Hour, fire, none)
	require.True(t, ts[0].Notify)

	// A key that no longer has a decision (the member left the level) resolves.
	ts = step(7*time.Hour, nil, none)
	require.Len(t, ts, 1)
	require.Equal(t, alerts.StateResolved, ts[0].Change.To)
	require.Contains(t, ts[0].Alert.Summary, "no longer applies")

	// Grouped: one notification for several keys of one rule and community.
	many := []Decision{{Key: "a", Firing: true, Summary: "a down"}, {Key: "b", Firing: true, Summary: "b down"}}
	ts = b.Apply(Rule{Name: "g", Community: "c", Severity: "critical"}.withDefaults(), "c", many, t0, false, none)
	n := notification(Rule{Name: "g", Severity: "critical"}, "c", ts, "https://of.example/", t0)
	require.NotNil(t, n)
	require.Len(t, n.Alerts, 2)
	require.Equal(t, "Critical: g (c): 2 alerts", n.Title)
	require.Equal(t, "https://of.example/api/v1/alerts?community=c&rule=g", n.URL)
	require.Equal(t, n.ID, notification(Rule{Name: "g", Severity: "critical"}, "c", ts, "", t0).ID, "stable id: receivers deduplicate on it")
}

func TestRoleCadenceWithoutAnyQualifyingActivityIsNoVerdict(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	d := Rule{Detector: Detector{Type: RoleCadence}}.withDefaults().Detector
	dec := roleCadence(now, RoleHolder{Member: "slack:U1", Role: "code-contributor", Cadence: 7 * 24 * time.Hour}, d)
	require.False(t, dec.Firing)
	require.Contains(t, dec.Skipped, "no activity of its types")
	dec = roleCadence(now, RoleHolder{Member: "slack:U1", Role: "code-contributor", Cadence: 7 * 24 * time.Hour, Last: now.Add(-8 * 24 * time.Hour)}, d)
	require.True(t, dec.Firing, dec.Summary)
	require.Equal(t, "slack:U1/code-contributor", dec.Key)
}
