package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// fixtureRow is one activity of the hand-computed health fixture.
type fixtureRow struct {
	id, identity, typ, at, thread string
	bot, teammate                 bool
}

// healthFixture is community "fx" over two ISO weeks (2026-03-02 and
// 2026-03-09). Members: github:1; github:2; github:3 and slack:U3 (one
// member, github:3); a bot github:9 and a teammate github:8.
var healthFixture = []fixtureRow{
	{"e1", "github:1", "github.issue.opened", "2026-03-02 10:00:00", "T1", false, false},
	{"e2", "github:9", "github.issue.commented", "2026-03-02 10:30:00", "T1", true, false},  // a bot's answer does not count
	{"e3", "github:2", "github.issue.commented", "2026-03-02 12:00:00", "T1", false, false}, // T1 answered after 2 h
	{"e4", "slack:U3", "slack.message.posted", "2026-03-02 13:00:00", "", false, false},
	{"e5", "github:3", "github.issue.opened", "2026-03-03 09:00:00", "T2", false, false},
	{"e6", "github:1", "github.issue.commented", "2026-03-03 15:00:00", "T2", false, false}, // T2 answered after 6 h
	{"e7", "github:8", "github.issue.commented", "2026-03-03 16:00:00", "T2", false, true},
	{"e8", "github:2", "github.star.created", "2026-03-09 08:00:00", "", false, false},
	{"e9", "github:2", "discourse.topic.created", "2026-03-09 09:00:00", "T3", false, false}, // never answered
	{"e10", "github:1", "github.pull_request.opened", "2026-03-10 11:00:00", "", false, false},
}

func loadHealthFixture(t *testing.T) driver.Conn {
	t.Helper()
	conn, ctx := migrated(t)
	writeTypes(t, conn)
	// Every activity inserted twice, in two batches: a redelivered batch
	// must not count twice.
	for range 2 {
		b, err := conn.PrepareBatch(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
			thread_id, is_bot, attributes, received_at, stream_seq)`)
		require.NoError(t, err)
		for i, r := range healthFixture {
			at, err := time.Parse(time.DateTime, r.at)
			require.NoError(t, err)
			attrs := map[string]string{}
			if r.teammate {
				attrs["teammate"] = "true"
			}
			source, _, _ := strings.Cut(r.identity, ":")
			require.NoError(t, b.Append(r.id, "fx", source, r.typ, at, r.identity, r.identity, r.thread, r.bot, attrs, at, uint64(i+1)))
		}
		require.NoError(t, b.Send())
	}
	ids, err := conn.PrepareBatch(ctx, "INSERT INTO member_identities (community, identity, member_id, source, username, stream_seq)")
	require.NoError(t, err)
	for _, m := range [][2]string{{"github:1", "github:1"}, {"github:2", "github:2"}, {"github:3", "github:3"}, {"slack:U3", "github:3"},
		{"github:8", "github:8"}, {"github:9", "github:9"}} {
		require.NoError(t, ids.Append("fx", m[0], m[1], "", "", uint64(1)))
	}
	require.NoError(t, ids.Send())
	settle(t, conn)
	return conn
}

// rowsOf runs a query and returns its rows as strings (TSV-like).
func rowsOf(t *testing.T, conn driver.Conn, query string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	require.NoError(t, err, query)
	defer rows.Close()
	cols := rows.ColumnTypes()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = newScanTarget(c.ScanType())
		}
		require.NoError(t, rows.Scan(vals...))
		line := ""
		for i, v := range vals {
			if i > 0 {
				line += "\t"
			}
			line += format(v)
		}
		out = append(out, line)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestHealthMetricsOnAHandComputedFixture(t *testing.T) {
	conn := loadHealthFixture(t)
	q := func(sql string) []string { return rowsOf(t, conn, sql) }

	// Week of 03-02: github:1 (2), github:2 (1), github:3 via both identities (2).
	// Week of 03-09: github:1 (PR), github:2 (a star, not a contribution, and a topic).
	require.Equal(t, []string{
		"2026-03-02\t3\t5\t3\t5\t3\t3",
		"2026-03-09\t2\t3\t2\t2\t0\t0",
	}, q(`SELECT period_start, active_members, activities, contributors, contributions, new_members, new_contributors
		FROM health(community = 'fx', period = 'week', from = '2026-03-02', to = '2026-03-15')`))
	require.Equal(t, []string{"2026-03-02\t3\t3\t3\t3", "2026-03-03\t2\t2\t2\t2", "2026-03-09\t1\t2\t1\t1", "2026-03-10\t1\t1\t1\t1"},
		q(`SELECT day, active_members, activities, contributors, contributions FROM health_daily WHERE community = 'fx' ORDER BY day`),
		"health_daily: the same numbers per day, without parameters")
	days := q(`SELECT period_start, active_members FROM health(community = 'fx', period = 'day', from = '2026-03-01', to = '2026-03-10')`)
	require.Len(t, days, 10, "every day of the range, empty ones too")
	require.Equal(t, "2026-03-01\t0", days[0])
	require.Equal(t, "2026-03-02\t3", days[1])

	// First contributions per kind: week 1 the first issue opened (github:1,
	// github:3), comment (github:2, github:1), chat message (github:3); week 2
	// the first topic (github:2) and pull request (github:1).
	require.Equal(t, []string{
		"2026-03-02\tgithub.issue.commented\t2",
		"2026-03-02\tgithub.issue.opened\t2",
		"2026-03-02\tslack.message.posted\t1",
		"2026-03-09\tdiscourse.topic.created\t1",
		"2026-03-09\tgithub.pull_request.opened\t1",
	}, q(`SELECT period_start, type, new_contributors
		FROM new_contributors(community = 'fx', period = 'week', from = '2026-03-02', to = '2026-03-15')`))

	// Week 1: contributions {2, 2, 1}: two members make half of 5; week 2:
	// {1, 1}: one makes half of 2. Over both weeks: {3, 2, 2} of 7, two.
	require.Equal(t, []string{"2026-03-02\t2\t5\t3", "2026-03-09\t1\t2\t2"}, q(`SELECT period_start, absence_factor, contributions, contributors
		FROM contributor_absence(community = 'fx', period = 'week', from = '2026-03-02', to = '2026-03-15')`))
	require.Equal(t, []string{"2\t7\t3"}, q(`SELECT absence_factor, contributions, contributors
		FROM contributor_absence_range(community = 'fx', from = '2026-03-02', to = '2026-03-15')`))

	require.Equal(t, []string{
		"2026-03-02\tgithub.issue.opened\t2\t2\t1\t14400\t20160\t0.5",
		"2026-03-09\tdiscourse.topic.created\t1\t0\t0\tNULL\tNULL\t0",
	}, q(`SELECT period_start, item_type, opened, responded, response_rate, median_seconds, p90_seconds, within_slo
		FROM time_to_first_response(community = 'fx', period = 'week', from = '2026-03-02', to = '2026-03-15', slo_hours = 4)`))

	require.Equal(t, []string{"2026-03-09\t3\t2\t0.666667"}, q(`SELECT period_start, previous_active, retained, retention
		FROM retention(community = 'fx', period = 'week', from = '2026-03-02', to = '2026-03-15')`))

	require.Equal(t, []string{"2026-03-01\t0\t3\t3\t1"}, q(`SELECT cohort, month_offset, cohort_size, active, share
		FROM retention_cohorts(community = 'fx', from = '2026-03-01', to = '2026-03-31')`))

	// DAU, and WAU/MAU ending each day: github:1, 2, 3 on 03-02; github:1, 3 on 03-03.
	active := q(`SELECT day, dau, wau, mau, dau_mau FROM active_members(community = 'fx', from = '2026-03-02', to = '2026-03-10')`)
	require.Len(t, active, 9)
	require.Equal(t, []string{"2026-03-02\t3\t3\t3\t1", "2026-03-03\t2\t3\t3\t0.666667", "2026-03-04\t0\t3\t3\t0"}, active[:3])
	require.Equal(t, "2026-03-09\t1\t3\t3\t0.333333", active[7], "WAU of 03-03..03-09: github:1, github:3 (03-03), github:2 (03-09)")
	require.Equal(t, "2026-03-10\t1\t2\t3\t0.333333", active[8], "WAU of 03-04..03-10: github:2 and github:1")

	// By source (the fixture's source is the identity's): github:3's slack
	// activity is its own segment; the star is activity, not contribution.
	require.Equal(t, []string{
		"2026-03-02\tgithub\t3\t4\t3\t4",
		"2026-03-02\tslack\t1\t1\t1\t1",
		"2026-03-09\tgithub\t2\t3\t2\t2",
	}, q(`SELECT period_start, segment, active_members, volume, contributors, contributions
		FROM health_by(community = 'fx', period = 'week', from = '2026-03-02', to = '2026-03-15', dimension = 'source')`))

	// As of 03-20 with 7 days: github:3's last contribution (03-03) is
	// older; github:1 (03-10) and github:2 (03-09) are older too.
	require.Equal(t, []string{"2026-03-02\t1", "2026-03-09\t2"}, q(`SELECT period_start, inactive_contributors
		FROM inactive_contributors(community = 'fx', period = 'week', from = '2026-03-01', to = '2026-03-31',
		                           as_of = '2026-03-20 00:00:00', inactive_days = 7)`))
	require.Equal(t, []string{"2026-03-02\t1"}, q(`SELECT period_start, inactive_contributors
		FROM inactive_contributors(community = 'fx', period = 'week', from = '2026-03-01', to = '2026-03-31',
		                           as_of = '2026-03-12 00:00:00', inactive_days = 7)`))
}

// The CHAOSS worked example: contributions {1000, 433, 343, 332, 202, 90,
// 42, 33} give a contributor absence factor of 2.
func TestContributorAbsenceWorkedExample(t *testing.T) {
	conn, ctx := migrated(t)
	require.NoError(t, conn.Exec(ctx, "INSERT INTO activity_types (type, weight, contribution, item, description) VALUES ('github.commit.pushed', 6, true, '', 'x')"))
	b, err := conn.PrepareBatch(ctx, "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at)")
	require.NoError(t, err)
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for m, n := range []int{1000, 433, 343, 332, 202, 90, 42, 33} {
		for k := range n {
			id := fmt.Sprintf("github:%d", m)
			require.NoError(t, b.Append(fmt.Sprintf("c%d-%d", m, k), "chaoss", "github", "github.commit.pushed", at, id, id, at))
		}
	}
	require.NoError(t, b.Send())
	settle(t, conn)
	require.Equal(t, []string{"2026-03-01\t2\t2475\t8"}, rowsOf(t, conn, `SELECT period_start, absence_factor, contributions, contributors
		FROM contributor_absence(community = 'chaoss', period = 'month', from = '2026-03-01', to = '2026-03-31')`))
	require.Equal(t, []string{"2\t2475\t8"}, rowsOf(t, conn, `SELECT absence_factor, contributions, contributors
		FROM contributor_absence_range(community = 'chaoss', from = '2026-03-01', to = '2026-03-31')`))
}

// Burstiness: a day with four times the usual activity is outside the
// band of the 20 days before it; the usual days are not.
func TestBurstiness(t *testing.T) {
	conn, ctx := migrated(t)
	b, err := conn.PrepareBatch(ctx, "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at)")
	require.NoError(t, err)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for d := range 25 {
		n := 10
		if d == 21 {
			n = 40
		}
		for k := range n {
			at := start.AddDate(0, 0, d).Add(time.Duration(k) * time.Minute)
			require.NoError(t, b.Append(fmt.Sprintf("b%d-%d", d, k), "burst", "github", "github.issue.commented", at, "github:1", "github:1", at))
		}
	}
	require.NoError(t, b.Send())
	settle(t, conn)
	rows := rowsOf(t, conn, `SELECT period_start, activities, periods_20, outside_band
		FROM burstiness(community = 'burst', period = 'day', from = '2026-03-01', to = '2026-03-25')`)
	require.Len(t, rows, 25)
	require.Equal(t, "2026-03-01\t10\t0\tfalse", rows[0], "no band before 20 periods")
	require.Equal(t, "2026-03-21\t10\t20\tfalse", rows[20])
	require.Equal(t, "2026-03-22\t40\t20\ttrue", rows[21])
	require.Equal(t, "2026-03-23\t10\t20\tfalse", rows[22])
}

// The network's shape: density over the members who are not bots.
func TestNetwork(t *testing.T) {
	conn, ctx := migrated(t)
	require.NoError(t, conn.Exec(ctx, `INSERT INTO members_raw (community, member_id, love_factor, love_period_ms, reach_factor, reach_period_ms, is_bot, stream_seq)
		VALUES ('net', 'a', 0.9, 1, 0.9, 1, false, 1), ('net', 'b', 0.9, 1, 0.9, 1, false, 1), ('net', 'c', 0.9, 1, 0.9, 1, false, 1),
		       ('net', 'bot', 0.9, 1, 0.9, 1, true, 1)`))
	require.NoError(t, conn.Exec(ctx, `INSERT INTO member_edges_raw (community, member_a, member_b, direct_interactions, strength, strength_at,
		reach_factor, reach_period_ms, stream_seq)
		VALUES ('net', 'a', 'b', 1, 10, now64(3), 0.9, 2592000000, 1), ('net', 'a', 'c', 2, 20, now64(3), 0.9, 2592000000, 1)`))
	require.Equal(t, []string{"3\t3\t2\t0.666667"}, rowsOf(t, conn,
		"SELECT members, connected_members, edges, round(density, 6) FROM network WHERE community = 'net'"))
	require.Equal(t, []string{"3\t3\t2\t0.666667"}, rowsOf(t, conn,
		"SELECT members, connected_members, edges, round(density, 6) FROM community_network(community = 'net')"))
}

// settle makes the health views see what a test just wrote (the
// dictionaries reload every 5–10 seconds, the rollups every few seconds).
func settle(t *testing.T, conn driver.Conn) {
	t.Helper()
	require.NoError(t, store.Settle(context.Background(), conn, telemetry.Nop().Logger))
}

// The elephant factor counts organizations the way the absence factor
// counts members: acme 4, globex 3, initech 3 contributions → 2 (the
// activity without an organization, the star and the bot do not count).
func TestElephantFactor(t *testing.T) {
	conn, ctx := migrated(t)
	writeTypes(t, conn)
	b, err := conn.PrepareBatch(ctx, "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, is_bot, attributes, received_at)")
	require.NoError(t, err)
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	n := 0
	add := func(org, typ string, bot bool) {
		n++
		attrs := map[string]string{}
		if org != "" {
			attrs["organization"] = org
		}
		id := fmt.Sprintf("github:%d", n)
		require.NoError(t, b.Append(fmt.Sprintf("o%d", n), "orgs", "github", typ, at, id, id, bot, attrs, at))
	}
	for org, k := range map[string]int{"acme": 4, "globex": 3, "initech": 3} {
		for range k {
			add(org, "github.pull_request.opened", false)
		}
	}
	add("", "github.pull_request.opened", false)
	add("acme", "github.star.created", false)
	add("umbrella", "github.pull_request.opened", true)
	require.NoError(t, b.Send())
	settle(t, conn)
	require.Equal(t, []string{"2026-03-01\t2\t10\t3"}, rowsOf(t, conn, `SELECT period_start, elephant_factor, contributions, organizations
		FROM elephant_factor(community = 'orgs', period = 'month', from = '2026-03-01', to = '2026-03-31')`))
	require.Equal(t, []string{"2\t10\t3"}, rowsOf(t, conn, `SELECT elephant_factor, contributions, organizations
		FROM elephant_factor_range(community = 'orgs', from = '2026-03-01', to = '2026-03-31')`))
}

// Recurring connections: pairs of members who interacted in a week and in
// the week before.
func TestRecurringConnections(t *testing.T) {
	conn, ctx := migrated(t)
	b, err := conn.PrepareBatch(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
		target_member_ids, target_kinds, is_bot, received_at)`)
	require.NoError(t, err)
	for i, r := range []struct {
		actor, target, at string
		bot               bool
	}{
		{"github:1", "github:2", "2026-03-03", false}, // week 1: 1–2, 1–3
		{"github:3", "github:1", "2026-03-04", false},
		{"github:2", "github:1", "2026-03-10", false}, // week 2: 1–2 again (recurring), 2–4 new
		{"github:4", "github:2", "2026-03-11", false},
		{"github:9", "github:3", "2026-03-11", true}, // a bot: not a connection
	} {
		at, err := time.Parse(time.DateOnly, r.at)
		require.NoError(t, err)
		for range 2 { // redelivered: counts once
			require.NoError(t, b.Append(fmt.Sprintf("i%d", i), "rc", "github", "github.issue.commented", at, r.actor, r.actor,
				[]string{r.target}, []string{"reply"}, r.bot, at))
		}
	}
	require.NoError(t, b.Send())
	settle(t, conn)
	require.Equal(t, []string{"2026-03-02\t2\t0\t0", "2026-03-09\t2\t1\t0.5"}, rowsOf(t, conn, `SELECT period_start, connections, recurring, recurring_share
		FROM recurring_connections(community = 'rc', period = 'week', from = '2026-03-02', to = '2026-03-15')`))
}

// migrated is a fresh, migrated database of the embedded engine.
func migrated(t *testing.T) (driver.Conn, context.Context) {
	t.Helper()
	conn := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, conn, telemetry.Nop().Logger)
	require.NoError(t, err)
	return conn, ctx
}

// writeTypes writes the default registry into activity_types, as the sink
// does at start.
func writeTypes(t *testing.T, conn driver.Conn) {
	t.Helper()
	types, err := conn.PrepareBatch(context.Background(), "INSERT INTO activity_types (type, weight, contribution, item, description)")
	require.NoError(t, err)
	for _, ty := range events.DefaultRegistry().Types() {
		require.NoError(t, types.Append(ty.Name, ty.Weight, ty.Contribution, ty.Item, ty.Description))
	}
	require.NoError(t, types.Send())
}
