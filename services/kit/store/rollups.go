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
	return &Rollups{conn: conn, log: log, Overlap: 10 * time.Second}
}

const rollupName = "health"

// Run refreshes every interval until ctx ends. A failed refresh is logged
// and retried at the next tick; nothing is lost, the watermark did not move.
func (r *Rollups) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
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
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
	for i, m := range ms {
		if st.Full {
			r.log.Info("health rollups: first build", "month", m.Format("2006-01"), "done", i, "of", len(ms))
		}
		mp := maps.Clone(p)
		mp["m0"], mp["m1"] = m.Format("2006-01-02"), m.AddDate(0, 1, -1).Format("2006-01-02")
		n, err := r.refreshMonth(r.params(ctx, mp), st.Full)
		if err != nil {
			return st, fmt.Errorf("rollups: month %s: %w", m.Format("2006-01"), err)
		}
		st.Days += n
	}
	st.Months = len(ms)
	if st.Full && len(ms) == 0 {
		// An empty database: nothing to build.
		return st, r.saveWatermark(ctx, now, start, &st)
	}
	n, err := r.refreshItems(ctx, p, st.Full)
	if err != nil {
		return st, fmt.Errorf("rollups: items: %w", err)
	}
	st.Threads = n
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
	for _, q := range []string{
		`INSERT INTO rollup_dirty_days (community, day, inserted_at)
		SELECT DISTINCT community, period_start, now64(3) FROM member_periods
		WHERE unit = 'day' AND dimension = '' AND identity_key IN (
			SELECT cityHash64(community, identity) FROM rollup_dirty_identities WHERE inserted_at > {since:DateTime64(3)})`,
		`INSERT INTO rollup_dirty_threads (community, thread_id, inserted_at)
		SELECT DISTINCT community, thread_id, now64(3) FROM thread_activity
		WHERE (community, identity) IN (SELECT community, identity FROM rollup_dirty_identities WHERE inserted_at > {since:DateTime64(3)})`,
	} {
		if err := r.conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
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

// memberKey is the member of the row's identity_key.
const memberKey = "dictGetOrDefault('identity_member_dict', 'member_key', identity_key, identity_key)"

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
// and the month holding them. It returns how many community days it
// recomputed.
func (r *Rollups) refreshMonth(ctx context.Context, full bool) (int, error) {
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
	var stmts []string
	if !full {
		// An identity whose first activity (contribution) moves earlier
		// was counted new on its old first day: recompute that day too
		// (the next refresh does).
		stmts = append(stmts, `INSERT INTO rollup_dirty_days (community, day, inserted_at)
		SELECT community, day, now64(3) FROM (
			SELECT o.community AS community,
				arrayJoin(arrayFilter(x -> x IS NOT NULL, [if(n.f < o.f, toDate(o.f), NULL), if(n.fc < o.fc, toDate(o.fc), NULL)])) AS day
			FROM (`+spans+`) AS n
			INNER JOIN (
				SELECT community, identity_key AS k, min(first_at) AS f, min(first_contribution_at) AS fc FROM identity_lifetimes
				WHERE identity_key IN (SELECT cityHash64(community, identity) FROM identity_daily
					WHERE day BETWEEN {m0:Date} AND {m1:Date} AND `+dayFilter+`)
				GROUP BY community, identity_key
			) AS o ON o.community = n.community AND o.k = n.k
		)`)
	}
	stmts = append(stmts,
		`INSERT INTO member_periods (community, unit, dimension, period_start, segment, identity_key, is_bot, is_teammate,
			activities, contributions, version)
		SELECT community, 'day', dim, day, seg, cityHash64(community, identity), max(bot), max(mate),
			sum(n), sumIf(n, contrib), {version:UInt64}
		FROM (`+events+`)
		ARRAY JOIN ['', 'source', 'channel', 'type'] AS dim, ['', toString(source), channel, toString(type)] AS seg
		GROUP BY community, dim, day, seg, identity`,
		`INSERT INTO identity_lifetimes (community, identity_key, is_bot, is_teammate, first_at, last_at,
			first_contribution_at, last_contribution_at)
		SELECT community, k, bot, mate, f, l, fc, lc FROM (`+spans+`)`,
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
	stmts = append(stmts, communitySQL(days)...)
	for _, s := range stmts {
		if err := r.conn.Exec(ctx, s); err != nil {
			return 0, err
		}
	}
	return int(n), nil
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
		// The members of the target periods, with their first activity and
		// contribution over all their identities (merged ones: every
		// identity of the member).
		out = append(out, `INSERT INTO community_periods (community, unit, dimension, period_start, segment, active_members, activities,
			contributors, contributions, new_members, new_contributors, version)
		WITH f AS (
			SELECT m, min(fa) AS first_at, min(fc) AS first_c FROM (
				SELECT `+memberKey+` AS m, min(first_at) AS fa, min(first_contribution_at) AS fc FROM identity_lifetimes
				WHERE community IN (SELECT community FROM (`+targets+`)) AND identity_key IN (
					SELECT identity_key FROM member_periods
					WHERE unit = '`+u.name+`' AND dimension = '' AND period_start BETWEEN `+p0+` AND `+p1+`
					  AND (community, period_start) IN (`+targets+`)
					UNION ALL SELECT identity_key FROM identity_member_dict
					UNION ALL SELECT member_key FROM identity_member_dict)
				GROUP BY identity_key
			) GROUP BY m
		)
		SELECT r.community, '`+u.name+`', r.dimension, r.period_start, r.segment, uniqExact(r.m), sum(r.n), uniqExactIf(r.m, r.c > 0), sum(r.c),
			uniqExactIf(r.m, `+tr("toDate(f.first_at)")+` = r.period_start AND f.first_at > 0),
			uniqExactIf(r.m, f.first_c IS NOT NULL AND `+tr("toDate(f.first_c)")+` = r.period_start), {version:UInt64}
		FROM (
			SELECT community, dimension, period_start, segment, `+memberKey+` AS m, activities AS n, contributions AS c
			FROM member_periods FINAL
			WHERE unit = '`+u.name+`' AND period_start BETWEEN `+p0+` AND `+p1+` AND (community, period_start) IN (`+targets+`)
			  AND NOT is_bot AND NOT is_teammate
		) AS r
		LEFT JOIN f ON f.m = r.m
		GROUP BY r.community, r.dimension, r.period_start, r.segment`)
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
