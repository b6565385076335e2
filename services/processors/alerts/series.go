package alerts

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Reader reads what detectors judge from ClickHouse. Every query is
// parameterized; values never enter the SQL text.
type Reader struct{ CH driver.Conn }

const chTime = "2006-01-02 15:04:05.000"

func withParams(ctx context.Context, p map[string]string) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters(p)))
}

// eventAgg is the aggregate of an event metric over activities_raw
// (duplicates of a redelivered batch count once: distinct event ids).
var eventAgg = map[string]string{
	"activities":     "uniqExact(event_id)",
	"active_members": "uniqExact(identity)",
	"contributions":  "uniqExactIf(event_id, type IN (SELECT type FROM activity_types FINAL WHERE contribution))",
	"contributors":   "uniqExactIf(identity, type IN (SELECT type FROM activity_types FINAL WHERE contribution))",
}

// Windows returns an event metric over each window [start, end), in the
// order given, for the rule's community and segment; bots and teammates
// are left out. One query: the windows are OR-ed ranges of occurred_at,
// so only their partitions are read.
func (rd Reader) Windows(ctx context.Context, r Rule, windows [][2]time.Time) ([]Point, error) {
	p := map[string]string{"community": r.Community}
	var ranges, cases []string
	for i, w := range windows {
		s, e := "s"+strconv.Itoa(i), "e"+strconv.Itoa(i)
		p[s], p[e] = w[0].UTC().Format(chTime), w[1].UTC().Format(chTime)
		cond := fmt.Sprintf("occurred_at >= {%s:DateTime64(3)} AND occurred_at < {%s:DateTime64(3)}", s, e)
		ranges = append(ranges, "("+cond+")")
		cases = append(cases, cond, strconv.Itoa(i))
	}
	where := "community = {community:String} AND NOT is_bot AND attributes['teammate'] != 'true' AND (" + strings.Join(ranges, " OR ") + ")"
	if r.Segment != nil {
		p["segment"] = r.Segment.Value
		where += " AND " + r.Segment.Dimension + " = {segment:String}" // a validated dimension name
	}
	sql := fmt.Sprintf("SELECT toInt32(multiIf(%s, -1)) AS i, toUInt64(%s) AS v FROM activities_raw WHERE %s GROUP BY i", strings.Join(cases, ", "), eventAgg[r.Metric], where)
	rows, err := rd.CH.Query(withParams(ctx, p), sql)
	if err != nil {
		return nil, fmt.Errorf("alerts: %s of %s: %w", r.Metric, r.Community, err)
	}
	defer rows.Close()
	out := make([]Point, len(windows))
	for i, w := range windows {
		out[i] = Point{Start: w[0], End: w[1]}
	}
	for rows.Next() {
		var i int32
		var v uint64
		if err := rows.Scan(&i, &v); err != nil {
			return nil, err
		}
		if i >= 0 && int(i) < len(out) {
			out[i].Value, out[i].Volume = float64(v), float64(v)
		}
	}
	return out, rows.Err()
}

// FirstActivity is the start of the day of the community's first activity
// (zero if none): windows before it are not history.
func (rd Reader) FirstActivity(ctx context.Context, community string) (time.Time, error) {
	// The first day (in key order: one granule read), as a time: a
	// window that starts that day counts as history.
	rows, err := rd.CH.Query(withParams(ctx, map[string]string{"community": community}),
		`SELECT toDateTime64(day, 3, 'UTC') FROM identity_daily WHERE community = {community:String} ORDER BY day LIMIT 1`)
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	var t time.Time
	if rows.Next() {
		if err := rows.Scan(&t); err != nil {
			return time.Time{}, err
		}
	}
	return t, rows.Err()
}

// periodSQL reads a period metric: period_start, value, volume.
var periodSQL = map[string]string{
	"gravity": `SELECT period_start, gravity, toFloat64(members) FROM community_gravity FINAL
		WHERE community = {community:String} AND period = {period:String} AND period_start BETWEEN {from:Date} AND {to:Date}`,
	"retention": `SELECT period_start, retention, toFloat64(previous_active) FROM retention(community = {community:String},
		period = {period:String}, from = {from:Date}, to = {to:Date})`,
	"ttfr_median_hours": `SELECT toDate(dateTrunc({period:String}, opened_day)) AS p, quantileExactIf(0.5)(response_seconds, answered) / 3600,
		toFloat64(countIf(answered)) FROM items FINAL WHERE community = {community:String} AND opened_day BETWEEN {from:Date} AND {to:Date}
		GROUP BY p`,
	"ttfr_p90_hours": `SELECT toDate(dateTrunc({period:String}, opened_day)) AS p, quantileExactIf(0.9)(response_seconds, answered) / 3600,
		toFloat64(countIf(answered)) FROM items FINAL WHERE community = {community:String} AND opened_day BETWEEN {from:Date} AND {to:Date}
		GROUP BY p`,
	"ttfr_within_slo": `SELECT toDate(dateTrunc({period:String}, opened_day)) AS p, countIf(answered AND response_seconds <= {slo_seconds:UInt64}) / count(),
		toFloat64(count()) FROM items FINAL WHERE community = {community:String} AND opened_day BETWEEN {from:Date} AND {to:Date}
		GROUP BY p`,
	"response_rate": `SELECT toDate(dateTrunc({period:String}, opened_day)) AS p, countIf(answered) / count(),
		toFloat64(count()) FROM items FINAL WHERE community = {community:String} AND opened_day BETWEEN {from:Date} AND {to:Date}
		GROUP BY p`,
}

// Periods returns a period metric for the last n whole periods before
// the one now is in, oldest first; periods without a row are missing
// (not zero: no gravity row is not a gravity of 0).
func (rd Reader) Periods(ctx context.Context, r Rule, n int, now time.Time) ([]Point, error) {
	cur := periodStart(r.Period, now)
	from := cur
	for range n {
		from = addPeriod(r.Period, from, -1)
	}
	p := map[string]string{"community": r.Community, "period": r.Period, "from": from.Format(time.DateOnly),
		"to": cur.AddDate(0, 0, -1).Format(time.DateOnly), "slo_seconds": strconv.Itoa(max(r.SLOHours, 1) * 3600)}
	rows, err := rd.CH.Query(withParams(ctx, p), "SELECT * FROM ("+periodSQL[r.Metric]+") ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("alerts: %s of %s: %w", r.Metric, r.Community, err)
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var start time.Time
		var v, vol float64
		if err := rows.Scan(&start, &v, &vol); err != nil {
			return nil, err
		}
		out = append(out, Point{Start: start, End: addPeriod(r.Period, start, 1), Value: v, Volume: vol})
	}
	return out, rows.Err()
}

func periodStart(period string, t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch period {
	case "week":
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)) // Monday, as ClickHouse's toStartOfWeek(…, 1)
	case "month":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return d
}

func addPeriod(period string, t time.Time, n int) time.Time {
	switch period {
	case "week":
		return t.AddDate(0, 0, 7*n)
	case "month":
		return t.AddDate(0, n, 0)
	}
	return t.AddDate(0, 0, n)
}

// Members returns the candidates of member_silence: members at the
// levels or holding the roles, seen within the lookback, with their
// active days in it.
func (rd Reader) Members(ctx context.Context, r Rule, now time.Time, keep []string) ([]MemberActivity, error) {
	d := r.Detector
	since := now.Add(-d.Lookback.D())
	levels := make([]string, len(d.Levels))
	for i, l := range d.Levels {
		levels[i] = strconv.Itoa(l)
	}
	p := map[string]string{"community": r.Community, "since": since.UTC().Format(chTime),
		"levels": "[" + strings.Join(levels, ",") + "]", "roles": arrayParam(d.Roles), "keep": arrayParam(keep)}
	rows, err := rd.CH.Query(withParams(ctx, p), `
		SELECT c.member_id, any(c.display_name), any(c.orbit_level), any(c.roles), any(c.last_seen), arraySort(groupUniqArray(d.day))
		FROM (SELECT member_id, display_name, orbit_level, roles, last_seen FROM members
			WHERE community = {community:String} AND NOT is_bot AND NOT is_teammate
			  AND (last_seen >= {since:DateTime64(3)} AND (has({levels:Array(UInt8)}, orbit_level) OR hasAny(roles, {roles:Array(String)}))
			       OR has({keep:Array(String)}, member_id))) AS c
		LEFT JOIN (SELECT DISTINCT if(mi.member_id = '', a.identity, mi.member_id) AS member_id, a.day AS day
			FROM (SELECT identity, day FROM identity_daily WHERE community = {community:String} AND day >= toDate({since:DateTime64(3)}) AND NOT is_bot) AS a
			LEFT JOIN (`+identitiesSQL+`) AS mi ON mi.identity = a.identity) AS d
			ON d.member_id = c.member_id
		GROUP BY c.member_id ORDER BY c.member_id`)
	if err != nil {
		return nil, fmt.Errorf("alerts: members of %s: %w", r.Community, err)
	}
	defer rows.Close()
	var out []MemberActivity
	for rows.Next() {
		var m MemberActivity
		if err := rows.Scan(&m.Member, &m.Name, &m.Level, &m.Roles, &m.LastSeen, &m.Days); err != nil {
			return nil, err
		}
		days := m.Days[:0]
		for _, day := range m.Days {
			if day.Year() > 1970 {
				days = append(days, day)
			}
		}
		m.Days = days
		out = append(out, m)
	}
	return out, rows.Err()
}

// RoleHolders returns the holders of roles with a cadence (limited to
// the rule's roles, if any) and their last activity of the role's types
// in the lookback.
func (rd Reader) RoleHolders(ctx context.Context, r Rule, now time.Time) ([]RoleHolder, error) {
	p := map[string]string{"community": r.Community, "roles": arrayParam(r.Detector.Roles),
		"since": now.Add(-r.Detector.Lookback.D()).UTC().Format(chTime)}
	rows, err := rd.CH.Query(withParams(ctx, p), `
		WITH rr AS (
			SELECT role, argMax(cadence_seconds, written_at) AS cadence, argMax(activity_types, written_at) AS types
			FROM role_rules GROUP BY role
			HAVING cadence > 0 AND (empty({roles:Array(String)}) OR has({roles:Array(String)}, role)))
		SELECT h.member_id, any(h.display_name), h.role, any(rr.cadence),
			maxIf(d.last_at, arrayExists(t -> if(endsWith(t, '.*'), startsWith(d.type, substring(t, 1, length(t) - 1)), d.type = t), rr.types))
		FROM (SELECT member_id, display_name, arrayJoin(roles) AS role FROM members
			WHERE community = {community:String} AND NOT is_bot AND NOT is_teammate) AS h
		INNER JOIN rr ON rr.role = h.role
		LEFT JOIN (SELECT if(mi.member_id = '', a.identity, mi.member_id) AS member_id, a.type AS type, max(a.last_at) AS last_at
			FROM (SELECT identity, type, last_at FROM identity_daily WHERE community = {community:String} AND day >= toDate({since:DateTime64(3)})) AS a
			LEFT JOIN (`+identitiesSQL+`) AS mi ON mi.identity = a.identity
			GROUP BY member_id, type) AS d
			ON d.member_id = h.member_id
		GROUP BY h.member_id, h.role ORDER BY h.member_id, h.role`)
	if err != nil {
		return nil, fmt.Errorf("alerts: role holders of %s: %w", r.Community, err)
	}
	defer rows.Close()
	var out []RoleHolder
	for rows.Next() {
		var h RoleHolder
		var cadence uint32
		if err := rows.Scan(&h.Member, &h.Name, &h.Role, &cadence, &h.Last); err != nil {
			return nil, err
		}
		h.Cadence = time.Duration(cadence) * time.Second
		if h.Last.Year() <= 1970 {
			h.Last = time.Time{}
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// Sources returns, per source of the community, the events received in
// each window of the lookback (oldest first) and in the current one
// ending at now, by received_at: when the pipeline got them, which is
// what a broken connector stops. Backfilled history (occurred long
// before) does not count as delivery.
func (rd Reader) Sources(ctx context.Context, r Rule, now time.Time, keep []string) ([]SourceActivity, error) {
	w, lb := r.Window.D(), r.Detector.Lookback.D()
	n := int(lb / w)
	start := now.Add(-time.Duration(n+1) * w)
	p := map[string]string{"community": r.Community, "start": start.UTC().Format(chTime), "now": now.UTC().Format(chTime),
		"w": strconv.FormatInt(w.Milliseconds(), 10), "sources": arrayParam(r.Detector.Sources)}
	rows, err := rd.CH.Query(withParams(ctx, p), `
		SELECT source, toInt64(intDiv(toUnixTimestamp64Milli(received_at) - toUnixTimestamp64Milli({start:DateTime64(3)}), {w:Int64})) AS i,
			uniqExact(event_id), max(received_at)
		FROM activities_raw
		WHERE community = {community:String} AND occurred_at >= {start:DateTime64(3)} - INTERVAL 1 DAY
		  AND received_at >= {start:DateTime64(3)} AND received_at < {now:DateTime64(3)}
		  AND (empty({sources:Array(String)}) OR has({sources:Array(String)}, source))
		GROUP BY source, i ORDER BY source, i`)
	if err != nil {
		return nil, fmt.Errorf("alerts: sources of %s: %w", r.Community, err)
	}
	defer rows.Close()
	by := map[string]*SourceActivity{}
	var order []string
	for _, s := range append(slices.Clone(r.Detector.Sources), keep...) {
		if by[s] == nil {
			by[s] = &SourceActivity{Source: s, Windows: make([]float64, n)}
			order = append(order, s)
		}
	}
	for rows.Next() {
		var src string
		var i int64
		var c uint64
		var last time.Time
		if err := rows.Scan(&src, &i, &c, &last); err != nil {
			return nil, err
		}
		s := by[src]
		if s == nil {
			s = &SourceActivity{Source: src, Windows: make([]float64, n)}
			by[src] = s
			order = append(order, src)
		}
		switch {
		case i >= 0 && int(i) < n:
			s.Windows[i] = float64(c)
		case int(i) == n:
			s.Current = float64(c)
		}
		if last.After(s.Last) {
			s.Last = last
		}
	}
	out := make([]SourceActivity, 0, len(order))
	for _, s := range order {
		out = append(out, *by[s])
	}
	return out, rows.Err()
}

// identitiesSQL maps a community's identities to their members as of
// now (the member_identity_dict dictionary lags merges by seconds;
// alerts read the table).
const identitiesSQL = `SELECT identity, argMax(member_id, stream_seq) AS member_id FROM member_identities
	WHERE community = {community:String} GROUP BY identity`

// arrayParam writes a ClickHouse Array(String) parameter literal.
func arrayParam(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(x) + "'"
	}
	return "[" + strings.Join(q, ",") + "]"
}
