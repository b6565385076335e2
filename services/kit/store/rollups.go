package store

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Rollups keeps the health rollups of migration 0017 (member_periods,
// identity_lifetimes, items) up to date. Each Refresh recomputes, from the
// exact rollups of 0009, the community days and threads that received
// activities since the previous one (rollup_dirty_days and
// rollup_dirty_threads), then the weeks and months holding those days.
// Recomputed rows carry a higher version and replace the old ones, so a
// refresh that runs twice, or is interrupted and runs again, changes
// nothing. The first refresh of a database recomputes everything, a month
// at a time. One refresher per database: two would do the work twice
// (correct, wasted).
type Rollups struct {
	conn driver.Conn
	log  *slog.Logger
	// Overlap is how far before the watermark each refresh looks again,
	// for inserts that became visible after a refresh had read the dirty
	// markers (an insert's marker time is taken before it commits). What
	// arrived in it is recomputed twice: keep it short.
	Overlap time.Duration
	// Busy: after a refresh that took d, Run waits at least Busy×d.
	Busy float64
}

// RefreshStats says what one Refresh did.
type RefreshStats struct {
	Full    bool
	Months  int // months with recomputed days
	Days    int // community days recomputed
	Threads int // changed threads recomputed (a first build does not count)
	Took    time.Duration
}

// NewRollups returns a refresher writing through conn.
func NewRollups(conn driver.Conn, log *slog.Logger) *Rollups {
	return &Rollups{conn: conn, log: log, Overlap: 10 * time.Second, Busy: 4}
}

const rollupName = "health"

// Run refreshes every interval until ctx ends. A failed refresh is logged
// and retried at the next tick; nothing is lost, the watermark did not move.
//
// A refresh recomputes the periods the new activity touched: under a live
// stream, every member active today, however few events arrived since the
// last refresh. So the next refresh waits at least Busy times as long as
// the last one took: the refresher keeps to about 1/(Busy+1) of the time
// (and the engine's CPU) under load, and the dashboards lag by a few
// refreshes instead of the pipeline falling behind.
func (r *Rollups) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		st, err := r.Refresh(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			r.log.Warn("health rollups: refresh failed; retrying at the next tick", "err", err)
		default:
			level := slog.LevelDebug
			if st.Full || st.Took > 10*time.Second {
				level = slog.LevelInfo
			}
			r.log.Log(ctx, level, "health rollups refreshed", "full", st.Full, "months", st.Months, "days", st.Days,
				"threads", st.Threads, "took", st.Took.Round(time.Millisecond))
		}
		t.Reset(r.nextWait(interval, st.Took))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// nextWait is the pause after a refresh that took took.
func (r *Rollups) nextWait(interval, took time.Duration) time.Duration {
	return max(interval, time.Duration(r.Busy*float64(took)))
}

// Refresh brings the rollups up to what ClickHouse holds now.
func (r *Rollups) Refresh(ctx context.Context) (RefreshStats, error) {
	start := time.Now()
	var st RefreshStats
	var now time.Time
	if err := r.conn.QueryRow(ctx, "SELECT now64(3)").Scan(&now); err != nil {
		return st, fmt.Errorf("rollups: read the server clock: %w", err)
	}
	marks, err := r.times(ctx, "SELECT watermark FROM rollup_state FINAL WHERE name = ?", rollupName)
	if err != nil {
		return st, fmt.Errorf("rollups: read rollup_state: %w", err)
	}
	st.Full = len(marks) == 0
	since := time.Time{}
	if !st.Full {
		since = marks[0].Add(-r.Overlap)
	}
	// version: every row this refresh writes; later refreshes write higher.
	version := uint64(now.UnixMilli())
	p := map[string]string{"since": since.UTC().Format("2006-01-02 15:04:05.000"), "version": fmt.Sprint(version)}

	if err := r.markMerged(r.params(ctx, p), st.Full); err != nil {
		return st, fmt.Errorf("rollups: merges: %w", err)
	}
	months := "SELECT DISTINCT toDateTime(toStartOfMonth(day)) AS m FROM (" + dirtyDays + ") ORDER BY m"
	if st.Full {
		months = "SELECT DISTINCT toDateTime(toStartOfMonth(day)) AS m FROM identity_daily ORDER BY m"
	}
	ms, err := r.times(r.params(ctx, p), months)
	if err != nil {
		return st, fmt.Errorf("rollups: find the changed days: %w", err)
	}
	// Two passes: the members' rows and lifetimes of every month, then the
	// community numbers, which read the lifetimes (a member's last
	// contribution may be in a later month).
	for _, pass := range []string{"members", "community"} {
		for i, m := range ms {
			if st.Full {
				r.log.Info("health rollups: first build", "pass", pass, "month", m.Format("2006-01"), "done", i, "of", len(ms))
			}
			mp := maps.Clone(p)
			mp["m0"], mp["m1"] = m.Format("2006-01-02"), m.AddDate(0, 1, -1).Format("2006-01-02")
			n, err := r.refreshMonth(r.params(ctx, mp), st.Full, pass == "community")
			if err != nil {
				return st, fmt.Errorf("rollups: month %s (%s): %w", m.Format("2006-01"), pass, err)
			}
			if pass == "members" {
				st.Days += n
			}
		}
	}
	st.Months = len(ms)
	if st.Full && len(ms) == 0 {
		// An empty database: nothing to build.
		return st, r.saveWatermark(ctx, now, start, &st)
	}
	if !st.Full {
		// Months whose cohorts changed with no activity in them.
		cohorts := "SELECT DISTINCT community, month AS p FROM rollup_dirty_cohorts WHERE inserted_at > {since:DateTime64(3)}"
		if err := r.execIfAny(r.params(ctx, p), cohorts, cohortSQL(cohorts)); err != nil {
			return st, fmt.Errorf("rollups: cohorts: %w", err)
		}
	}
	n, err := r.refreshItems(ctx, p, st.Full)
	if err != nil {
		return st, fmt.Errorf("rollups: items: %w", err)
	}
	st.Threads = n
	written := "SELECT DISTINCT community, opened_day AS day FROM items WHERE version = {version:UInt64}"
	if err := r.execIfAny(r.params(ctx, p), written, itemPeriodsSQL(written)); err != nil {
		return st, fmt.Errorf("rollups: item periods: %w", err)
	}
	return st, r.saveWatermark(ctx, now, start, &st)
}

// saveWatermark records that everything inserted before now is in the
// rollups.
func (r *Rollups) saveWatermark(ctx context.Context, now, start time.Time, st *RefreshStats) error {
	if err := r.conn.Exec(ctx, "INSERT INTO rollup_state (name, watermark, refreshed_at) VALUES (?, ?, now64(3))", rollupName, now); err != nil {
		return fmt.Errorf("rollups: save the watermark: %w", err)
	}
	st.Took = time.Since(start)
	return nil
}

// markMerged marks the days and threads of the identities a merge or
// unmerge moved as changed, after reloading identity_member_dict so the
// recompute sees the move. A first build only reloads.
func (r *Rollups) markMerged(ctx context.Context, full bool) error {
	if !full {
		var n uint64
		if err := r.conn.QueryRow(ctx, "SELECT count() FROM rollup_dirty_identities WHERE inserted_at > {since:DateTime64(3)}").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
	if err := r.conn.Exec(ctx, "SYSTEM RELOAD DICTIONARY identity_member_dict"); err != nil {
		return err
	}
	if full {
		return nil
	}
	// Every identity of the members the moved identities left or joined:
	// a member's firsts and lasts may have been another identity's.
	moved := "SELECT cityHash64(community, identity) AS k FROM rollup_dirty_identities WHERE inserted_at > {since:DateTime64(3)}"
	affected := moved + ` UNION ALL SELECT identity_key FROM identity_member_dict
		WHERE member_key IN (SELECT ` + memberOf("k") + ` FROM (` + moved + `))`
	for _, q := range []string{
		`INSERT INTO rollup_dirty_days (community, day, inserted_at)
		SELECT DISTINCT community, period_start, now64(3) FROM member_periods
		WHERE unit = 'day' AND dimension = '' AND identity_key IN (` + affected + `)`,
		`INSERT INTO rollup_dirty_threads (community, thread_id, inserted_at)
		SELECT DISTINCT community, thread_id, now64(3) FROM thread_activity
		WHERE cityHash64(community, identity) IN (` + affected + `)`,
	} {
		if err := r.conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// execIfAny runs stmts if the query of what they recompute has rows.
func (r *Rollups) execIfAny(ctx context.Context, what string, stmts []string) error {
	var n uint64
	if err := r.conn.QueryRow(ctx, "SELECT count() FROM ("+what+")").Scan(&n); err != nil || n == 0 {
		return err
	}
	return r.exec(ctx, stmts)
}

// times runs a query of one DateTime column.
func (r *Rollups) times(ctx context.Context, query string, args ...any) ([]time.Time, error) {
	rows, err := r.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var t time.Time
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (r *Rollups) params(ctx context.Context, p map[string]string) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(p)))
}

// memberOf is the member (member_key) of the identity key k: its
// member if merged, else itself.
func memberOf(k string) string {
	return "dictGetOrDefault('identity_member_dict', 'member_key', " + k + ", " + k + ")"
}

// memberKey is the member of the row's identity_key.
var memberKey = memberOf("identity_key")

// The community days and threads that changed since the watermark.
const (
	dirtyDays    = "SELECT DISTINCT community, day FROM rollup_dirty_days WHERE inserted_at > {since:DateTime64(3)}"
	dirtyThreads = "SELECT DISTINCT community, thread_id FROM rollup_dirty_threads WHERE inserted_at > {since:DateTime64(3)}"
)

// typesSQL is the registry in use: contribution and item per type.
const typesSQL = `(SELECT type, argMax(contribution, written_at) AS contribution, argMax(item, written_at) AS item
	FROM activity_types GROUP BY type)`

// refreshMonth recomputes the changed days of one month ([m0, m1]; all
// of them when full), the identities' lifetimes from them, then the weeks
// and the month holding them; or, with community, the community numbers
// of the periods holding them. It returns how many community days it
// recomputed.
func (r *Rollups) refreshMonth(ctx context.Context, full, community bool) (int, error) {
	dayFilter, days := "1", "SELECT DISTINCT community, day FROM identity_daily WHERE day BETWEEN {m0:Date} AND {m1:Date}"
	if !full {
		dayFilter, days = "(community, day) IN ("+dirtyDays+")", dirtyDays
	}
	var n uint64
	if err := r.conn.QueryRow(ctx, "SELECT count() FROM ("+days+") WHERE day BETWEEN {m0:Date} AND {m1:Date}").Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	if community {
		return int(n), r.exec(ctx, communitySQL(days))
	}
	// The identity's activities per day, type, source and channel: the
	// exact rollup, its states merged.
	events := `SELECT d.community AS community, d.day AS day, d.identity AS identity, d.type AS type, d.source AS source,
			d.channel AS channel, max(d.is_bot) AS bot, max(d.is_teammate) AS mate,
			uniqExactMerge(d.events) AS n, any(t.contribution) AS contrib
		FROM (SELECT * FROM identity_daily WHERE day BETWEEN {m0:Date} AND {m1:Date} AND ` + dayFilter + `) AS d
		LEFT JOIN ` + typesSQL + ` AS t ON t.type = d.type
		GROUP BY community, day, identity, type, source, channel`
	// The identity's first and last activity and contribution in the
	// changed days: no event states to merge.
	spans := `SELECT d.community AS community, cityHash64(d.community, d.identity) AS k, max(d.is_bot) AS bot,
			max(d.is_teammate) AS mate, min(d.first_at) AS f, max(d.last_at) AS l,
			if(countIf(t.contribution) > 0, minIf(d.first_at, t.contribution), NULL) AS fc,
			if(countIf(t.contribution) > 0, maxIf(d.last_at, t.contribution), NULL) AS lc
		FROM (SELECT * FROM identity_daily WHERE day BETWEEN {m0:Date} AND {m1:Date} AND ` + dayFilter + `) AS d
		LEFT JOIN ` + typesSQL + ` AS t ON t.type = d.type
		GROUP BY community, identity`
	// The identities with activities in the changed days.
	changed := `SELECT cityHash64(community, identity) FROM identity_daily WHERE day BETWEEN {m0:Date} AND {m1:Date} AND ` + dayFilter
	var stmts []string
	if !full {
		stmts = append(stmts, movedSQL(spans, changed, dayFilter)...)
	}
	stmts = append(stmts,
		`INSERT INTO member_periods (community, unit, dimension, period_start, segment, identity_key, is_bot, is_teammate,
			activities, contributions, version)
		SELECT community, 'day', dim, day, seg, cityHash64(community, identity), max(bot), max(mate),
			sum(n), sumIf(n, contrib), {version:UInt64}
		FROM (`+events+`)
		ARRAY JOIN ['', 'source', 'channel', 'type'] AS dim, ['', toString(source), channel, toString(type)] AS seg
		GROUP BY community, dim, day, seg, identity`,
		// Tags: an activity counts once in each of its tags.
		`INSERT INTO member_periods (community, unit, dimension, period_start, segment, identity_key, is_bot, is_teammate,
			activities, contributions, version)
		SELECT community, 'day', 'tag', day, tag, cityHash64(community, identity), max(bot), max(mate), sum(n), sumIf(n, contrib),
			{version:UInt64}
		FROM (
			SELECT d.community AS community, d.day AS day, d.identity AS identity, d.tag AS tag, d.type AS type,
				max(d.is_bot) AS bot, max(d.is_teammate) AS mate, uniqExactMerge(d.events) AS n, any(t.contribution) AS contrib
			FROM (SELECT * FROM identity_tag_daily WHERE day BETWEEN {m0:Date} AND {m1:Date} AND `+dayFilter+`) AS d
			LEFT JOIN `+typesSQL+` AS t ON t.type = d.type
			GROUP BY community, day, identity, tag, type
		)
		GROUP BY community, day, tag, identity`,
		`INSERT INTO identity_lifetimes (community, identity_key, is_bot, is_teammate, first_at, last_at,
			first_contribution_at, last_contribution_at)
		SELECT community, k, bot, mate, f, l, fc, lc FROM (`+spans+`)`,
		`INSERT INTO identity_type_firsts (community, identity_key, type, first_at)
		SELECT community, cityHash64(community, identity), type, min(first_at) FROM identity_daily
		WHERE day BETWEEN {m0:Date} AND {m1:Date} AND `+dayFilter+`
		GROUP BY community, identity, type`,
	)
	// Weeks and the month: from the day rows, for the periods holding a
	// changed day. Weeks reach into the months around.
	for _, u := range units[1:] {
		periodFilter := "1"
		if !full {
			periodFilter = "(community, " + u.of("period_start") + ") IN (SELECT community, " + u.of("day") + " FROM (" + dirtyDays +
				") WHERE day BETWEEN {m0:Date} AND {m1:Date})"
		}
		// The days of the periods holding [m0, m1].
		first, last := u.of("{m0:Date}"), u.after(u.of("{m1:Date}"))+" - 1"
		stmts = append(stmts, `INSERT INTO member_periods (community, unit, dimension, period_start, segment,
			identity_key, is_bot, is_teammate, activities, contributions, version)
		SELECT community, '`+u.name+`', dimension, `+u.of("period_start")+` AS p, segment, identity_key, max(is_bot), max(is_teammate),
			sum(activities), sum(contributions), {version:UInt64}
		FROM member_periods FINAL
		WHERE unit = 'day' AND period_start BETWEEN `+first+` AND `+last+` AND `+periodFilter+`
		GROUP BY community, dimension, p, segment, identity_key`)
	}
	return int(n), r.exec(ctx, stmts)
}

func (r *Rollups) exec(ctx context.Context, stmts []string) error {
	for _, s := range stmts {
		if err := r.conn.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// movedSQL marks what a member's new activities in the changed days
// (spans: per identity; changed: their identity keys) take from periods
// that are not changed: the old day of a first activity, first
// contribution or first activity of a type that moved earlier, or of a
// last contribution that moved later, is recomputed (by the next
// refresh), and so are the cohorts of every month the member was active
// in when its first activity moves to an earlier month. Member-level:
// the first of a member may have been another identity's.
func movedSQL(spans, changed, dayFilter string) []string {
	keys := withMerged(changed)
	moved := `SELECT n.community AS community, n.f AS nf, o.f AS pf, n.fc AS nfc, o.fc AS pfc, n.lc AS nlc, o.lc AS plc, o.l AS pl
		FROM (
			SELECT community, ` + memberOf("k") + ` AS m,
				min(f) AS f, min(fc) AS fc, max(lc) AS lc
			FROM (` + spans + `) GROUP BY community, m
		) AS n
		INNER JOIN (
			SELECT community, m, min(first_at) AS f, max(last_at) AS l, min(first_contribution_at) AS fc,
				max(last_contribution_at) AS lc
			FROM (SELECT community, ` + memberKey + ` AS m, first_at, last_at, first_contribution_at, last_contribution_at
				FROM identity_lifetimes WHERE identity_key IN (` + keys + `))
			GROUP BY community, m
		) AS o ON o.community = n.community AND o.m = n.m`
	return []string{
		`INSERT INTO rollup_dirty_days (community, day, inserted_at)
		SELECT community, day, now64(3) FROM (
			SELECT community, arrayJoin(arrayFilter(x -> x IS NOT NULL,
				[if(nf < pf, toDate(pf), NULL), if(nfc < pfc, toDate(pfc), NULL), if(nlc > plc, toDate(plc), NULL)])) AS day
			FROM (` + moved + `)
		)`,
		`INSERT INTO rollup_dirty_cohorts (community, month, inserted_at)
		SELECT community, addMonths(toStartOfMonth(toDate(pf)), k), now64(3)
		FROM (` + moved + `)
		ARRAY JOIN range(toUInt32(dateDiff('month', toStartOfMonth(toDate(pf)), toStartOfMonth(toDate(pl))) + 1)) AS k
		WHERE toStartOfMonth(toDate(nf)) < toStartOfMonth(toDate(pf))`,
		`INSERT INTO rollup_dirty_days (community, day, inserted_at)
		SELECT n.community, toDate(o.f), now64(3)
		FROM (
			SELECT community, ` + memberOf("cityHash64(community, identity)") + ` AS m, toString(type) AS t, min(first_at) AS f
			FROM identity_daily WHERE day BETWEEN {m0:Date} AND {m1:Date} AND ` + dayFilter + `
			GROUP BY community, m, t
		) AS n
		INNER JOIN (
			SELECT community, m, t, min(first_at) AS f
			FROM (SELECT community, ` + memberKey + ` AS m, toString(type) AS t, first_at
				FROM identity_type_firsts WHERE identity_key IN (` + keys + `))
			GROUP BY community, m, t
		) AS o ON o.community = n.community AND o.m = n.m AND o.t = n.t
		WHERE n.f < o.f`,
	}
}

// withMerged is the identity keys of ids plus those of every merged
// identity and its member: enough to see a member's whole life.
func withMerged(ids string) string {
	return ids + " UNION ALL SELECT identity_key FROM identity_member_dict UNION ALL SELECT member_key FROM identity_member_dict"
}

// memberLives is a CTE: per member (m) of the identities ids of the
// communities, the first activity and the first and last contribution
// over all its identities.
func memberLives(communities, ids string) string {
	return `SELECT m, min(fa) AS first_at, min(fc) AS first_c, max(lc) AS last_c FROM (
			SELECT ` + memberKey + ` AS m, min(first_at) AS fa, min(first_contribution_at) AS fc, max(last_contribution_at) AS lc
			FROM identity_lifetimes
			WHERE community IN (` + communities + `) AND identity_key IN (` + withMerged(ids) + `)
			GROUP BY identity_key
		) GROUP BY m`
}

// memberTypeFirsts is a CTE: per member (m) of the identities ids and
// activity type (t), the first activity of the type.
func memberTypeFirsts(communities, ids string) string {
	return `SELECT m, t, min(fa) AS first_at FROM (
			SELECT ` + memberKey + ` AS m, toString(type) AS t, min(first_at) AS fa
			FROM identity_type_firsts
			WHERE community IN (` + communities + `) AND identity_key IN (` + withMerged(ids) + `)
			GROUP BY identity_key, type
		) GROUP BY m, t`
}

// unit is a period of the rollups: how to truncate a Date to one, and
// the one before and after (X stands for the period's start).
type unit struct{ name, trunc, prev, next string }

var units = []unit{
	{"day", "toDate", "(X) - 1", "(X) + 1"},
	{"week", "toMonday", "(X) - 7", "(X) + 7"},
	{"month", "toStartOfMonth", "addMonths(X, -1)", "addMonths(X, 1)"},
}

// of is the start of the period holding the Date x.
func (u unit) of(x string) string { return u.trunc + "(" + x + ")" }

// before and after are the starts of the periods before and after the
// one starting at x.
func (u unit) before(x string) string { return strings.ReplaceAll(u.prev, "X", x) }
func (u unit) after(x string) string  { return strings.ReplaceAll(u.next, "X", x) }

// communitySQL recomputes the community-level numbers of the periods
// holding the changed days of one month (days: community, day):
// community_periods, community_retention (for those periods and the ones
// after) and community_rolling (for the changed days and the 29 after,
// up to today).
func communitySQL(days string) []string {
	inMonth := "SELECT community, day FROM (" + days + ") WHERE day BETWEEN {m0:Date} AND {m1:Date}"
	var out []string
	for _, u := range units {
		tr, prev, next := u.of, u.before, u.after
		targets := "SELECT DISTINCT community, " + tr("day") + " AS p FROM (" + inMonth + ")"
		p0, p1 := tr("{m0:Date}"), tr("{m1:Date}")
		communities := "SELECT community FROM (" + targets + ")"
		ids := `SELECT identity_key FROM member_periods
			WHERE unit = '` + u.name + `' AND dimension = '' AND period_start BETWEEN ` + p0 + ` AND ` + p1 + `
			  AND (community, period_start) IN (` + targets + `)`
		// Per segment and member (g), then per segment; f and ft: the
		// members' firsts and lasts over all their identities.
		out = append(out, `INSERT INTO community_periods (community, unit, dimension, period_start, segment, active_members, activities,
			contributors, contributions, new_members, new_contributors, absence_factor, last_contributors, new_of_type, elephant_factor,
			organizations, organization_contributions, version)
		WITH f AS (`+memberLives(communities, ids)+`), ft AS (`+memberTypeFirsts(communities, ids)+`)
		SELECT s.community, '`+u.name+`', s.dimension, s.period_start, s.segment, members, acts, contributors_, contribs, new_m, new_c,
			arrayCount((x, c) -> (c - x) * 2 < contribs, cs, arrayCumSum(cs)), last_c, new_t,
			if(s.dimension = '', arrayCount((x, c) -> (c - x) * 2 < og.total, og.cs, arrayCumSum(og.cs)), 0),
			if(s.dimension = '', og.orgs, 0), if(s.dimension = '', og.total, 0), {version:UInt64}
		FROM (
			SELECT g.community AS community, g.dimension AS dimension, g.period_start AS period_start, g.segment AS segment,
				count() AS members, sum(g.n) AS acts, countIf(g.c > 0) AS contributors_, sum(g.c) AS contribs,
				countIf(f.first_at > 0 AND `+tr("toDate(f.first_at)")+` = g.period_start) AS new_m,
				countIf(f.first_c IS NOT NULL AND `+tr("toDate(f.first_c)")+` = g.period_start) AS new_c,
				countIf(f.last_c IS NOT NULL AND `+tr("toDate(f.last_c)")+` = g.period_start) AS last_c,
				countIf(g.dimension = 'type' AND ft.first_at > 0 AND `+tr("toDate(ft.first_at)")+` = g.period_start) AS new_t,
				arrayReverseSort(groupArrayIf(g.c, g.c > 0)) AS cs
			FROM (
				SELECT community, dimension, period_start, segment, `+memberKey+` AS m, sum(activities) AS n, sum(contributions) AS c
				FROM member_periods FINAL
				WHERE unit = '`+u.name+`' AND period_start BETWEEN `+p0+` AND `+p1+` AND (community, period_start) IN (`+targets+`)
				  AND NOT is_bot AND NOT is_teammate
				GROUP BY community, dimension, period_start, segment, m
			) AS g
			LEFT JOIN f ON f.m = g.m
			LEFT JOIN ft ON ft.m = g.m AND ft.t = g.segment
			GROUP BY g.community, g.dimension, g.period_start, g.segment
		) AS s
		LEFT JOIN (
			SELECT community, p, arrayReverseSort(groupArray(n)) AS cs, sum(n) AS total, count() AS orgs FROM (
				SELECT o.community AS community, `+tr("o.day")+` AS p, o.organization AS org, uniqExactMerge(o.events) AS n
				FROM organization_daily AS o
				INNER JOIN `+typesSQL+` AS t ON t.type = o.type
				WHERE t.contribution AND o.day BETWEEN `+p0+` AND `+next(p1)+` - 1 AND (o.community, `+tr("o.day")+`) IN (`+targets+`)
				GROUP BY community, p, org
			) GROUP BY community, p
		) AS og ON og.community = s.community AND og.p = s.period_start`)
		if u.name == "month" {
			out = append(out, cohortSQL(targets)...)
		}
		out = append(out, connectionsSQL(u, targets))
		// Retention of the target periods and the ones after them.
		out = append(out, `INSERT INTO community_retention (community, unit, period_start, previous_active, retained, version)
		WITH a AS (
			SELECT DISTINCT community, period_start AS q, `+memberKey+` AS m FROM member_periods FINAL
			WHERE unit = '`+u.name+`' AND dimension = '' AND period_start BETWEEN `+prev(p0)+` AND `+next(p1)+`
			  AND community IN (SELECT community FROM (`+targets+`)) AND NOT is_bot AND NOT is_teammate
		)
		SELECT pr.community, '`+u.name+`', `+next("pr.q")+` AS p, count(), countIf(cur.m != 0), {version:UInt64}
		FROM a AS pr
		LEFT JOIN a AS cur ON cur.community = pr.community AND cur.m = pr.m AND cur.q = `+next("pr.q")+`
		WHERE (pr.community, p) IN (SELECT community, p2 FROM (`+targets+`) ARRAY JOIN [p, `+next("p")+`] AS p2)
		GROUP BY pr.community, p`)
	}
	// Rolling 7 and 30 days: the changed days and the 29 after each.
	out = append(out, `INSERT INTO community_rolling (community, day, wau, mau, version)
	WITH r AS (
		SELECT community, min(day) AS lo, least(max(day) + 29, today()) AS hi FROM (`+inMonth+`) GROUP BY community
	)
	SELECT community, d, wau, mau, {version:UInt64} FROM (
		SELECT c.community AS community, c.d AS d, c.lo AS lo,
			uniqExactMerge(a.st) OVER (PARTITION BY c.community ORDER BY toUInt32(c.d) RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) AS wau,
			uniqExactMerge(a.st) OVER (PARTITION BY c.community ORDER BY toUInt32(c.d) RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS mau
		FROM (
			SELECT community, lo, lo - 29 + k AS d FROM r
			ARRAY JOIN range(toUInt32(greatest(dateDiff('day', lo - 29, hi) + 1, 0))) AS k
		) AS c
		LEFT JOIN (
			SELECT community, period_start AS d, uniqExactState(`+memberKey+`) AS st FROM member_periods FINAL
			WHERE unit = 'day' AND dimension = '' AND period_start BETWEEN {m0:Date} - 29 AND {m1:Date} + 29
			  AND community IN (SELECT community FROM r) AND NOT is_bot AND NOT is_teammate
			GROUP BY community, d
		) AS a ON a.community = c.community AND a.d = c.d
	)
	WHERE d >= lo`)
	return out
}

// refreshItems recomputes the items of the changed threads (all, in 16
// slices, when full): the opening (the first activity of a type with item
// 'opens') and the first response by another member, not a bot. It
// returns how many changed threads it recomputed (0 for a first build,
// which does not count them).
func (r *Rollups) refreshItems(ctx context.Context, p map[string]string, full bool) (int, error) {
	slices, threads := 1, "SELECT community, thread_id FROM ("+dirtyThreads+")"
	if full {
		slices, threads = 16, "SELECT DISTINCT community, thread_id FROM thread_activity"
	}
	total := 0
	for s := range slices {
		sp := maps.Clone(p)
		sp["slices"], sp["slice"] = fmt.Sprint(slices), fmt.Sprint(s)
		sctx := r.params(ctx, sp)
		sel := threads + " WHERE cityHash64(thread_id) % {slices:UInt64} = {slice:UInt64}"
		var n uint64
		if !full {
			if err := r.conn.QueryRow(sctx, "SELECT count() FROM ("+sel+")").Scan(&n); err != nil {
				return total, err
			}
			if n == 0 {
				continue
			}
		}
		if full {
			r.log.Info("health rollups: first build of items", "slice", s+1, "of", slices)
		}
		if err := r.conn.Exec(sctx, itemsSQL(sel)); err != nil {
			return total, err
		}
		total += int(n)
		// An item whose opening moved to another day (a second, earlier
		// opening arrived) left a row under the old day: delete it.
		if err := r.conn.Exec(sctx, `INSERT INTO items SELECT * REPLACE ({version:UInt64} AS version, 1 AS is_deleted)
			FROM (SELECT * FROM items FINAL
				WHERE (community, thread_id) IN (SELECT community, thread_id FROM items WHERE version = {version:UInt64} AND openings > 1)
				  AND version < {version:UInt64})`); err != nil {
			return total, err
		}
	}
	return total, nil
}

func itemsSQL(threads string) string {
	return `INSERT INTO items (community, opened_day, thread_id, item_type, source, channel, opener, opened_at, answered,
		responder, first_response_at, response_seconds, openings, version, is_deleted)
	SELECT community, toDate(opened_at), thread_id, item_type, source, channel, opener, opened_at, length(rs) > 0,
		if(length(rs) > 0, rs[1].3, ''), if(length(rs) > 0, rs[1].1, NULL),
		if(length(rs) > 0, toUInt64(greatest(dateDiff('second', opened_at, rs[1].1), 0)), 0), openings, {version:UInt64}, opener_bot
	FROM (
		SELECT community, thread_id, item_type, source, channel, opener, opened_at, openings, opener_bot,
			arraySort(x -> x.1, arrayFilter(x -> x.2 != opener_key AND x.1 >= opened_at, responses)) AS rs
		FROM (
			SELECT community, thread_id,
				argMinIf(type, first_at, item = 'opens') AS item_type, argMinIf(identity, first_at, item = 'opens') AS opener,
				argMinIf(mk, first_at, item = 'opens') AS opener_key, argMinIf(bot, first_at, item = 'opens') AS opener_bot,
				minIf(first_at, item = 'opens') AS opened_at, argMinIf(source, first_at, item = 'opens') AS source,
				argMinIf(channel, first_at, item = 'opens') AS channel, toUInt32(countIf(item = 'opens')) AS openings,
				groupArrayIf((first_at, mk, identity), item = 'responds' AND NOT bot) AS responses
			FROM (
				SELECT a.community AS community, a.thread_id AS thread_id, a.identity AS identity, a.type AS type, t.item AS item,
					a.source AS source, a.channel AS channel, a.bot AS bot, a.first_at AS first_at, ` + memberKey + ` AS mk
				FROM (
					SELECT community, thread_id, identity, cityHash64(community, identity) AS identity_key, type,
						any(source) AS source, any(channel) AS channel, max(is_bot) AS bot, min(first_at) AS first_at
					FROM thread_activity
					WHERE (community, thread_id) IN (` + threads + `)
					GROUP BY community, thread_id, identity, type
				) AS a
				INNER JOIN ` + typesSQL + ` AS t ON t.type = a.type
				WHERE t.item != ''
			)
			GROUP BY community, thread_id
			HAVING openings > 0
		)
	)`
}

// Settle makes everything inserted so far show in the health views now,
// instead of within the refresh interval and the dictionaries' lifetime:
// it reloads the health dictionaries and refreshes the rollups. For tests,
// benchmarks and tools that wrote data and read it back at once.
func Settle(ctx context.Context, conn driver.Conn, log *slog.Logger) error {
	for _, d := range []string{"member_identity_dict", "activity_type_dict", "identity_member_dict"} {
		if err := conn.Exec(ctx, "SYSTEM RELOAD DICTIONARY "+d); err != nil {
			return fmt.Errorf("reload %s: %w", d, err)
		}
	}
	_, err := NewRollups(conn, log).Refresh(ctx)
	return err
}

// cohortSQL recomputes the cohorts of the target months (targets:
// community, p): the members active in each month by the month of their
// first activity; a cohort no longer there is deleted.
func cohortSQL(targets string) []string {
	ids := `SELECT identity_key FROM member_periods
		WHERE unit = 'month' AND dimension = '' AND period_start IN (SELECT p FROM (` + targets + `))
		  AND (community, period_start) IN (` + targets + `)`
	return []string{
		`INSERT INTO community_cohorts (community, month, cohort, active, version, is_deleted)
		WITH f AS (` + memberLives("SELECT community FROM ("+targets+")", ids) + `)
		SELECT r.community, r.p, toStartOfMonth(f.first_at) AS cohort, count(), {version:UInt64}, 0
		FROM (
			SELECT DISTINCT community, period_start AS p, ` + memberKey + ` AS m FROM member_periods FINAL
			WHERE unit = 'month' AND dimension = '' AND period_start IN (SELECT p FROM (` + targets + `))
			  AND (community, period_start) IN (` + targets + `) AND NOT is_bot AND NOT is_teammate
		) AS r
		INNER JOIN f ON f.m = r.m
		GROUP BY r.community, r.p, cohort`,
		`INSERT INTO community_cohorts (community, month, cohort, active, version, is_deleted)
		SELECT community, month, cohort, 0, {version:UInt64}, 1 FROM community_cohorts FINAL
		WHERE (community, month) IN (` + targets + `) AND version < {version:UInt64}`,
	}
}

// connectionsSQL recomputes the connections of the target periods of
// unit u (targets: community, p) and of the periods after them (their
// recurring pairs are those of the targets): the distinct pairs of
// members who interacted, and those that also did in the period before.
func connectionsSQL(u unit, targets string) string {
	key := func(id string) string { return memberOf("cityHash64(community, " + id + ")") }
	return `INSERT INTO community_connections (community, unit, period_start, connections, recurring, version)
	WITH tp AS (SELECT DISTINCT community, q AS p FROM (SELECT community, p AS p0 FROM (` + targets + `))
		ARRAY JOIN [p0, ` + u.after("p0") + `] AS q),
	pairs AS (
		SELECT DISTINCT community, q, least(a, b) AS x, greatest(a, b) AS y FROM (
			SELECT community, ` + u.of("day") + ` AS q, ` + key("actor") + ` AS a, ` + key("target") + ` AS b
			FROM interactions_daily
			WHERE day BETWEEN (SELECT ` + u.before("min(p)") + ` FROM tp) AND (SELECT ` + u.after("max(p)") + ` - 1 FROM tp)
			  AND community IN (SELECT community FROM tp)
			  AND (community, ` + u.of("day") + `) IN (SELECT community, p FROM tp UNION ALL SELECT community, ` + u.before("p") + ` FROM tp)
		)
		WHERE a != b
	)
	SELECT t.community, '` + u.name + `', t.p, c.n, c.r, {version:UInt64}
	FROM tp AS t
	LEFT JOIN (
		SELECT cur.community AS community, cur.q AS q, count() AS n, countIf(pr.x != 0) AS r
		FROM pairs AS cur
		LEFT JOIN (SELECT community, ` + u.after("q") + ` AS nq, x, y FROM pairs) AS pr
			ON pr.community = cur.community AND pr.nq = cur.q AND pr.x = cur.x AND pr.y = cur.y
		WHERE (cur.community, cur.q) IN (SELECT community, p FROM tp)
		GROUP BY cur.community, cur.q
	) AS c ON c.community = t.community AND c.q = t.p`
}

// itemPeriodsSQL recomputes the item periods holding the days of items
// written by this refresh (days: community, day): per unit, period and
// item type, the items opened and answered, the median and p90 time to
// first response and the answered per whole hour; a type no longer there
// is deleted.
func itemPeriodsSQL(days string) []string {
	var out []string
	for _, u := range units {
		targets := "SELECT DISTINCT community, " + u.of("day") + " AS p FROM (" + days + ")"
		out = append(out, `INSERT INTO item_periods (community, unit, period_start, item_type, opened, responded, median_seconds,
			p90_seconds, response_hours, version, is_deleted)
		SELECT community, '`+u.name+`', p, item_type, opened, responded, if(responded > 0, round(q[1], 3), NULL),
			if(responded > 0, round(q[2], 3), NULL), hours, {version:UInt64}, 0
		FROM (
			SELECT community, `+u.of("opened_day")+` AS p, item_type, count() AS opened, countIf(answered) AS responded,
				quantilesExactInclusiveIf(0.5, 0.9)(response_seconds, answered) AS q,
				sumMapIf(map(toUInt32(intDiv(response_seconds + 3599, 3600)), toUInt64(1)), answered) AS hours
			FROM items FINAL
			WHERE (community, `+u.of("opened_day")+`) IN (`+targets+`)
			GROUP BY community, p, item_type
		)
		SETTINGS do_not_merge_across_partitions_select_final = 1`,
			`INSERT INTO item_periods (community, unit, period_start, item_type, opened, responded, version, is_deleted)
		SELECT community, unit, period_start, item_type, 0, 0, {version:UInt64}, 1 FROM item_periods FINAL
		WHERE unit = '`+u.name+`' AND (community, period_start) IN (`+targets+`) AND version < {version:UInt64}`)
	}
	return out
}
