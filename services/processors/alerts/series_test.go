package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// readerDB is a migrated database with a small hand-made community:
// activities (two sources, a bot and a teammate), members with levels and
// roles, a role rule with a cadence, gravity rows and items.
func readerDB(t *testing.T, now time.Time) driver.Conn {
	t.Helper()
	ctx := context.Background()
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	exec := func(sql string, args ...any) {
		t.Helper()
		require.NoError(t, ch.Exec(ctx, sql, args...))
	}
	type act struct {
		id, src, typ, identity string
		at                     time.Time
		bot, teammate          bool
	}
	day := 24 * time.Hour
	acts := []act{
		{"a1", "github", "github.pull_request.opened", "github:1", now.Add(-30 * time.Minute), false, false},
		{"a2", "github", "github.issue.commented", "github:2", now.Add(-20 * time.Minute), false, false},
		{"a3", "slack", "slack.message.posted", "slack:3", now.Add(-10 * time.Minute), false, false},
		{"a4", "slack", "slack.message.posted", "slack:bot", now.Add(-10 * time.Minute), true, false},
		{"a5", "slack", "slack.message.posted", "slack:team", now.Add(-10 * time.Minute), false, true},
		{"a6", "github", "github.issue.commented", "github:2", now.Add(-7*day - 20*time.Minute), false, false},
		// member github:1: active every 2 days until 20 days ago
		{"m1", "github", "github.pull_request.opened", "github:1", now.Add(-26 * day), false, false},
		{"m2", "github", "github.issue.commented", "github:1", now.Add(-24 * day), false, false},
		{"m3", "github", "github.issue.commented", "github:1", now.Add(-22 * day), false, false},
		{"m4", "github", "github.issue.commented", "github:1", now.Add(-20 * day), false, false},
	}
	b, err := ch.PrepareBatch(ctx, "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at, is_bot, attributes)")
	require.NoError(t, err)
	for _, a := range acts {
		attrs := map[string]string{}
		if a.teammate {
			attrs["teammate"] = "true"
		}
		require.NoError(t, b.Append(a.id, "c", a.src, a.typ, a.at, a.identity, a.identity, a.at, a.bot, attrs))
		if a.id == "a1" { // delivered twice (a redelivered batch): counts once
			require.NoError(t, b.Append(a.id, "c", a.src, a.typ, a.at, a.identity, a.identity, a.at, a.bot, attrs))
		}
	}
	require.NoError(t, b.Send())
	exec(`INSERT INTO members_raw (community, member_id, display_name, first_seen, last_seen, orbit_level, roles, is_bot, is_teammate, stream_seq)
		VALUES ('c', 'github:1', 'Ada', ?, ?, 1, ['code-contributor'], false, false, 1),
		       ('c', 'github:2', 'Bo', ?, ?, 3, [], false, false, 1),
		       ('c', 'slack:3', 'Cy', ?, ?, 2, [], false, false, 1)`,
		now.Add(-26*day), now.Add(-20*day), now.Add(-8*day), now.Add(-20*time.Minute), now.Add(-10*time.Minute), now.Add(-10*time.Minute))
	exec(`INSERT INTO role_rules (role, description, appointed, cadence_seconds, activity_types, model_version, config_hash)
		VALUES ('code-contributor', 'PRs', false, 604800, ['github.pull_request.*'], 'v', 'h')`)
	exec(`INSERT INTO community_gravity (community, period, period_start, members, gravity, stream_seq) VALUES
		('c', 'week', ?, 30, 2.1, 1), ('c', 'week', ?, 30, -0.5, 1), ('c', 'week', ?, 31, -1.2, 1)`,
		periodStart("week", now).AddDate(0, 0, -21), periodStart("week", now).AddDate(0, 0, -14), periodStart("week", now).AddDate(0, 0, -7))
	return ch
}

func TestReaderReadsEveryKindOfSeries(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	rd := Reader{CH: readerDB(t, now)}

	r := Rule{Name: "x", Community: "c", Metric: "activities", Window: Duration(time.Hour)}
	ws := [][2]time.Time{{now.Add(-7*24*time.Hour - time.Hour), now.Add(-7 * 24 * time.Hour)}, {now.Add(-time.Hour), now}}
	pts, err := rd.Windows(ctx, r, ws)
	require.NoError(t, err)
	require.Equal(t, []float64{1, 3}, values(pts), "bots and teammates left out; a duplicate counts once")

	r.Metric = "active_members"
	pts, err = rd.Windows(ctx, r, ws)
	require.NoError(t, err)
	require.Equal(t, []float64{1, 3}, values(pts))

	r.Segment = &Segment{Dimension: "source", Value: "github"}
	pts, err = rd.Windows(ctx, r, ws)
	require.NoError(t, err)
	require.Equal(t, []float64{1, 2}, values(pts))

	r.Segment, r.Metric = nil, "contributors"
	pts, err = rd.Windows(ctx, r, ws)
	require.NoError(t, err)
	require.Len(t, pts, 2) // contribution types come from activity_types (empty here): no error is what matters

	first, err := rd.FirstActivity(ctx, "c")
	require.NoError(t, err)
	require.Equal(t, now.Add(-26*24*time.Hour).Truncate(24*time.Hour), first)

	g := Rule{Name: "g", Community: "c", Metric: "gravity", Period: "week"}
	pts, err = rd.Periods(ctx, g, 3, now)
	require.NoError(t, err)
	require.Equal(t, []float64{2.1, -0.5, -1.2}, values(pts))
	require.Equal(t, 31.0, pts[2].Volume)
	ev, err := Evaluate(ctx, rd, Rule{Name: "g", Community: "c", Metric: "gravity", Period: "week",
		Detector: Detector{Type: Threshold, Op: "<", Value: ptr(0.0), ForPeriods: 2}}, now, Env{})
	require.NoError(t, err)
	require.True(t, ev.Decisions[0].Firing, ev.Decisions[0].Summary)
	for _, m := range []string{"retention", "ttfr_median_hours", "ttfr_p90_hours", "ttfr_within_slo", "response_rate"} {
		_, err := rd.Periods(ctx, Rule{Name: "p", Community: "c", Metric: m, Period: "month"}.withDefaults(), 2, now)
		require.NoError(t, err, m)
	}
	// Items opened last week: answered after 2 h, after 30 h, never.
	wk := periodStart("week", now).AddDate(0, 0, -7)
	require.NoError(t, rd.CH.Exec(ctx, `INSERT INTO items (community, opened_day, thread_id, item_type, opened_at, answered, response_seconds, version)
		VALUES ('c', ?, 't1', 'issue', ?, true, 7200, 1), ('c', ?, 't2', 'issue', ?, true, 108000, 1), ('c', ?, 't3', 'issue', ?, false, 0, 1)`,
		wk, wk, wk, wk, wk, wk))
	slo := Rule{Name: "s", Community: "c", Metric: "ttfr_within_slo", Period: "week", SLOHours: 48}.withDefaults()
	pts, err = rd.Periods(ctx, slo, 1, now)
	require.NoError(t, err)
	require.Len(t, pts, 1)
	require.InDelta(t, 2.0/3, pts[0].Value, 1e-9, "two of three answered within 48 h")
	slo.SLOHours = 24
	pts, err = rd.Periods(ctx, slo, 1, now)
	require.NoError(t, err)
	require.InDelta(t, 1.0/3, pts[0].Value, 1e-9)
	p90 := Rule{Name: "p", Community: "c", Metric: "ttfr_p90_hours", Period: "week"}.withDefaults()
	pts, err = rd.Periods(ctx, p90, 1, now)
	require.NoError(t, err)
	require.Greater(t, pts[0].Value, 2.0)
	require.Equal(t, 2.0, pts[0].Volume, "volume: the answered items")

	ms := Rule{Name: "m", Community: "c", Detector: Detector{Type: MemberSilence}}.withDefaults()
	mems, err := rd.Members(ctx, ms, now, nil)
	require.NoError(t, err)
	require.Len(t, mems, 2, "levels 1 and 2: Ada and Cy, not Bo")
	require.Equal(t, "github:1", mems[0].Member)
	require.Len(t, mems[0].Days, 5)
	dec := memberSilence(now, mems[0], ms.Detector)
	require.True(t, dec.Firing, dec.Summary) // 20 days silent, usually every 2 days: past the 14-day floor

	rc := Rule{Name: "r", Community: "c", Detector: Detector{Type: RoleCadence}}.withDefaults()
	hs, err := rd.RoleHolders(ctx, rc, now)
	require.NoError(t, err)
	require.Len(t, hs, 1)
	require.Equal(t, "code-contributor", hs[0].Role)
	require.Equal(t, 7*24*time.Hour, hs[0].Cadence)
	require.WithinDuration(t, now.Add(-30*time.Minute), hs[0].Last, time.Second, "the last github.pull_request.* activity")

	sa := Rule{Name: "s", Community: "c", Window: Duration(15 * time.Minute), Detector: Detector{Type: SourceAbsence, Lookback: Duration(time.Hour)}}.withDefaults()
	srcs, err := rd.Sources(ctx, sa, now, nil)
	require.NoError(t, err)
	require.Len(t, srcs, 2)
	require.Equal(t, "github", srcs[0].Source)
	require.Equal(t, []float64{0, 0, 0, 2}, srcs[0].Windows, "a1 (-30m) and a2 (-20m) in the window before the current one, which has none")
	require.Equal(t, 0.0, srcs[0].Current)
	require.Equal(t, 3.0, srcs[1].Current, "slack: bots and teammates still prove the connector works")

	// The keys of open alerts are always judged: a member below the
	// levels, a source silent for longer than the lookback.
	mems, err = rd.Members(ctx, ms, now, []string{"github:2"})
	require.NoError(t, err)
	require.Len(t, mems, 3)
	srcs, err = rd.Sources(ctx, sa, now, []string{"discourse"})
	require.NoError(t, err)
	require.Len(t, srcs, 3)
	var gone Decision
	for _, d := range sourceAbsence(now, sa.Window.D(), srcs, sa.Detector) {
		if d.Key == "discourse" {
			gone = d
		}
	}
	require.True(t, gone.Hold && gone.Skipped != "", "silent beyond the lookback: no verdict, the open alert stays")
	b := NewBook()
	b.Restore(&Alert{ID: "x", Fingerprint: fingerprint("s", "c", "discourse"), Rule: "s", Community: "c", Key: "discourse", State: "firing"})
	require.Empty(t, b.Apply(sa, "c", []Decision{gone}, now, false, func(string) bool { return false }))
}

func ptr[T any](v T) *T { return &v }
