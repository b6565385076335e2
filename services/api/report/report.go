// Package report builds the weekly report of a community: what happened in
// one calendar week (Monday to Sunday, UTC) against the week before, for
// executives who want the numbers and the story. It reads ClickHouse only
// (parameterized queries); Build gathers, HTML and Text render, Mail wraps
// both in one e-mail.
package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/api/accounts"
	"github.com/orbitflow/orbitflow/services/api/signals"
	"github.com/orbitflow/orbitflow/services/api/structure"
	"github.com/orbitflow/orbitflow/services/api/topics"
)

// Options select the report.
type Options struct {
	Community string
	// Week is any instant in the week reported; zero means the last full
	// week before Now.
	Week time.Time
	// Now is the clock (zero: time.Now).
	Now time.Time
	// Top bounds each list (contributors, leaders, ...); 0 means 10.
	Top int
	// URL, if set, is where the report's page is served (linked from the
	// e-mail).
	URL string
}

// Report is one community's week.
type Report struct {
	Community string `json:"community"`
	// WeekStart is the Monday (00:00 UTC) the week starts; it ends 7 days
	// later, exclusive. Previous is the week before.
	WeekStart   time.Time `json:"week_start"`
	Previous    time.Time `json:"previous_week_start"`
	GeneratedAt time.Time `json:"generated_at"`
	URL         string    `json:"url,omitempty"`

	// Story is the week in a few sentences, built from the sections.
	Story []string `json:"story"`

	Health   []Figure      `json:"health"`
	Response []Response    `json:"response"`
	Gravity  *Gravity      `json:"gravity"`
	Movement *Movement     `json:"level_movement"`
	Top      []Contributor `json:"top_contributors"`
	Leaders  []Leader      `json:"new_leaders"`
	Roles    []RoleChange  `json:"roles_gained"`

	// Structure is the reach graph now (class, measures, bus risk) with
	// its monthly trend.
	Structure *structure.Summary `json:"structure"`
	// PainPoints are the week's recurring question topics.
	PainPoints *topics.Report `json:"pain_points"`
	// Signals are the week's community-qualified signals, newest first
	// (at most Top), and how many there were in all.
	Signals      []alerts.Signal `json:"signals"`
	SignalsTotal int             `json:"signals_total"`
	// Accounts is the reach into the customer base: the share of
	// accounts with an active member (overall, per segment and plan), the
	// most active accounts and those whose activity dropped; nil when no
	// account was imported.
	Accounts *accounts.Summary `json:"accounts"`
}

// WeekEnd is the end of the week, exclusive.
func (r *Report) WeekEnd() time.Time { return r.WeekStart.AddDate(0, 0, 7) }

// Figure is one health metric this week and the week before.
type Figure struct {
	Name     string  `json:"name"`
	Label    string  `json:"label"`
	Value    float64 `json:"value"`
	Previous float64 `json:"previous"`
	// Change is relative to the previous value (for a share: the
	// difference); nil when there is nothing to compare with.
	Change *float64 `json:"change"`
	Unit   string   `json:"unit,omitempty"`
}

// Response is the time to first response of one item type.
type Response struct {
	ItemType       string   `json:"item_type"`
	Opened         int64    `json:"opened"`
	Responded      int64    `json:"responded"`
	ResponseRate   float64  `json:"response_rate"`
	MedianHours    *float64 `json:"median_hours"`
	PreviousMedian *float64 `json:"previous_median_hours"`
}

// Gravity is the week's community gravity and members per level.
type Gravity struct {
	Gravity            float64  `json:"gravity"`
	Previous           *float64 `json:"previous_gravity"`
	Members            int64    `json:"members"`
	Leading            int64    `json:"leading"`
	Contributing       int64    `json:"contributing"`
	Participating      int64    `json:"participating"`
	Exploring          int64    `json:"exploring"`
	WeightedCommitment float64  `json:"weighted_commitment"`
}

// Movement is the bottleneck table of the latest full month before the
// week's end: per level held at the month's start, who moved.
type Movement struct {
	Month  time.Time    `json:"month"`
	Levels []LevelMoves `json:"levels"`
}

// LevelMoves is one row of Movement (Level 0: out of orbit).
type LevelMoves struct {
	Level   int   `json:"level"`
	Members int64 `json:"members"`
	Up      int64 `json:"moved_up"`
	Held    int64 `json:"held"`
	Down    int64 `json:"moved_down"`
}

// Contributor is one of the week's most active members.
type Contributor struct {
	MemberID      string  `json:"member_id"`
	Name          string  `json:"name"`
	Activities    int64   `json:"activities"`
	Contributions int64   `json:"contributions"`
	Level         int     `json:"orbit_level"`
	Love          float64 `json:"love"`
}

// Leader is a member who reached Leading (level 1) during the week.
type Leader struct {
	MemberID  string    `json:"member_id"`
	Name      string    `json:"name"`
	At        time.Time `json:"at"`
	FromLevel int       `json:"from_level"`
	Reason    string    `json:"reason"`
}

// RoleChange is a role gained during the week.
type RoleChange struct {
	MemberID string    `json:"member_id"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	At       time.Time `json:"at"`
}

// LevelNames are the orbit levels' names (index 0: out of orbit).
var LevelNames = []string{"out of orbit", "Leading", "Contributing", "Participating", "Exploring"}

// WeekOf is the Monday 00:00 UTC starting t's week.
func WeekOf(t time.Time) time.Time {
	d := t.UTC().Truncate(24 * time.Hour)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

// ErrNoData is returned when the community has no activity at all.
var ErrNoData = errors.New("report: the community has no activity")

// Build gathers the report. It fails with ErrNoData (wrapped) for a
// community without activity, and with the first query's error otherwise.
func Build(ctx context.Context, conn driver.Conn, o Options) (*Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Top <= 0 {
		o.Top = 10
	}
	week := WeekOf(o.Now).AddDate(0, 0, -7)
	if !o.Week.IsZero() {
		week = WeekOf(o.Week)
	}
	r := &Report{Community: o.Community, WeekStart: week, Previous: week.AddDate(0, 0, -7), GeneratedAt: o.Now.UTC(), URL: o.URL}
	q := querier{conn: conn, params: clickhouse.Parameters{
		"community": o.Community,
		"week":      week.Format(time.DateOnly),
		"prev":      r.Previous.Format(time.DateOnly),
		"last":      week.AddDate(0, 0, 6).Format(time.DateOnly),
		"top":       fmt.Sprint(o.Top),
	}}
	var known []struct {
		N uint64 `ch:"n"`
	}
	if err := q.sel(ctx, &known, `SELECT count() AS n FROM community_periods FINAL
		WHERE community = {community:String} AND unit = 'month' AND dimension = ''`); err != nil {
		return nil, err
	}
	if len(known) == 0 || known[0].N == 0 {
		return nil, fmt.Errorf("%w: %q (check the name with: orbitflow sql \"SELECT DISTINCT community FROM activities\")", ErrNoData, o.Community)
	}
	for _, step := range []func(context.Context, querier, *Report) error{health, response, gravity, movement, top, leaders} {
		if err := step(ctx, q, r); err != nil {
			return nil, err
		}
	}
	var err error
	if r.Structure, err = structure.Summarize(ctx, conn, o.Community, nil); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	pains, err := topics.Compute(ctx, conn, topics.Options{Community: o.Community, From: week, To: week.AddDate(0, 0, 6), Limit: o.Top})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	r.PainPoints = &pains
	sigs, err := signals.List(ctx, conn, signals.Query{Community: o.Community, From: week, To: week.AddDate(0, 0, 7), Limit: signals.MaxRows})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	r.SignalsTotal, r.Signals = len(sigs), sigs[:min(len(sigs), o.Top)]
	// The accounts' week is the one before the Monday after it.
	acc, err := accounts.WeeklySummary(ctx, conn, o.Community, week.AddDate(0, 0, 7))
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if overall := reachOf(acc.Week, "", ""); overall != nil && overall.Accounts > 0 {
		r.Accounts = &acc
	}
	r.Story = story(r)
	return r, nil
}

// querier runs the report's queries with its parameters.
type querier struct {
	conn   driver.Conn
	params clickhouse.Parameters
}

func (q querier) sel(ctx context.Context, dest any, sql string) error {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(q.params))
	if err := q.conn.Select(ctx, dest, sql); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func change(now, before float64) *float64 {
	if before == 0 {
		return nil
	}
	c := (now - before) / before
	return &c
}

func health(ctx context.Context, q querier, r *Report) error {
	var rows []struct {
		Start         time.Time `ch:"period_start"`
		Active        float64   `ch:"active_members"`
		Activities    float64   `ch:"activities"`
		Contributors  float64   `ch:"contributors"`
		Contributions float64   `ch:"contributions"`
		NewMembers    float64   `ch:"new_members"`
		NewContrib    float64   `ch:"new_contributors"`
		Retention     float64   `ch:"retention"`
		HasRetention  uint8     `ch:"has_retention"`
	}
	err := q.sel(ctx, &rows, `SELECT h.period_start AS period_start,
			toFloat64(ifNull(h.active_members, 0)) AS active_members, toFloat64(ifNull(h.activities, 0)) AS activities,
			toFloat64(ifNull(h.contributors, 0)) AS contributors, toFloat64(ifNull(h.contributions, 0)) AS contributions,
			toFloat64(ifNull(h.new_members, 0)) AS new_members, toFloat64(ifNull(h.new_contributors, 0)) AS new_contributors,
			toFloat64(ifNull(rt.retention, 0)) AS retention, toUInt8(rt.period_start != toDate(0)) AS has_retention
		FROM health(community = {community:String}, period = 'week', from = {prev:Date}, to = {last:Date}) AS h
		LEFT JOIN (SELECT period_start, retention FROM retention(community = {community:String}, period = 'week',
			from = {prev:Date}, to = {last:Date})) AS rt ON rt.period_start = h.period_start
		ORDER BY period_start`)
	if err != nil {
		return err
	}
	var this, prev = rows[0], rows[0]
	prev.Active, prev.Activities, prev.Contributors, prev.Contributions, prev.NewMembers, prev.NewContrib, prev.Retention = 0, 0, 0, 0, 0, 0, 0
	for _, row := range rows {
		switch {
		case row.Start.Equal(r.WeekStart):
			this = row
		case row.Start.Equal(r.Previous):
			prev = row
		}
	}
	fig := func(name, label string, now, before float64, unit string) Figure {
		return Figure{Name: name, Label: label, Value: now, Previous: before, Change: change(now, before), Unit: unit}
	}
	r.Health = []Figure{
		fig("active_members", "Active members", this.Active, prev.Active, ""),
		fig("activities", "Activities", this.Activities, prev.Activities, ""),
		fig("contributors", "Contributors", this.Contributors, prev.Contributors, ""),
		fig("contributions", "Contributions", this.Contributions, prev.Contributions, ""),
		fig("new_members", "New members", this.NewMembers, prev.NewMembers, ""),
		fig("new_contributors", "New contributors", this.NewContrib, prev.NewContrib, ""),
	}
	if this.HasRetention == 1 {
		// A share changes by its difference (in points), and not at all
		// when the week before has none.
		f := Figure{Name: "retention", Label: "Retention (of the week before's active members)", Value: this.Retention,
			Previous: prev.Retention, Unit: "share"}
		if prev.HasRetention == 1 {
			d := this.Retention - prev.Retention
			f.Change = &d
		}
		r.Health = append(r.Health, f)
	}
	return nil
}

func response(ctx context.Context, q querier, r *Report) error {
	var rows []struct {
		Start     time.Time `ch:"period_start"`
		Type      string    `ch:"item_type"`
		Opened    uint64    `ch:"opened"`
		Responded uint64    `ch:"responded"`
		Rate      float64   `ch:"response_rate"`
		Median    float64   `ch:"median_hours"`
	}
	err := q.sel(ctx, &rows, `SELECT period_start, toString(item_type) AS item_type, toUInt64(opened) AS opened,
			toUInt64(responded) AS responded, toFloat64(response_rate) AS response_rate,
			if(responded > 0, toFloat64(median_seconds) / 3600, nan) AS median_hours
		FROM time_to_first_response(community = {community:String}, period = 'week', from = {prev:Date}, to = {last:Date}, slo_hours = 24)
		ORDER BY period_start, item_type`)
	if err != nil {
		return err
	}
	prev := map[string]float64{}
	for _, row := range rows {
		if row.Start.Equal(r.Previous) {
			prev[row.Type] = row.Median
		}
	}
	for _, row := range rows {
		if !row.Start.Equal(r.WeekStart) {
			continue
		}
		resp := Response{ItemType: row.Type, Opened: int64(row.Opened), Responded: int64(row.Responded), ResponseRate: row.Rate,
			MedianHours: finite(row.Median)}
		if p, ok := prev[row.Type]; ok {
			resp.PreviousMedian = finite(p)
		}
		r.Response = append(r.Response, resp)
	}
	slices.SortFunc(r.Response, func(a, b Response) int {
		return cmp.Or(cmp.Compare(b.Opened, a.Opened), cmp.Compare(a.ItemType, b.ItemType))
	})
	return nil
}

func finite(v float64) *float64 {
	if v != v || v > 1e300 || v < -1e300 {
		return nil
	}
	return &v
}

func gravity(ctx context.Context, q querier, r *Report) error {
	var rows []struct {
		Start         time.Time `ch:"period_start"`
		Members       uint64    `ch:"members"`
		Leading       uint64    `ch:"leading"`
		Contributing  uint64    `ch:"contributing"`
		Participating uint64    `ch:"participating"`
		Exploring     uint64    `ch:"exploring"`
		WC            float64   `ch:"weighted_commitment"`
		Gravity       float64   `ch:"gravity"`
	}
	err := q.sel(ctx, &rows, `SELECT period_start, toUInt64(members) AS members, toUInt64(leading) AS leading,
			toUInt64(contributing) AS contributing, toUInt64(participating) AS participating, toUInt64(exploring) AS exploring,
			weighted_commitment, gravity
		FROM community_gravity FINAL
		WHERE community = {community:String} AND period = 'week' AND period_start IN ({prev:Date}, {week:Date})
		ORDER BY period_start`)
	if err != nil {
		return err
	}
	var prev *float64
	for _, row := range rows {
		if row.Start.Equal(r.Previous) {
			g := row.Gravity
			prev = &g
		}
		if row.Start.Equal(r.WeekStart) {
			r.Gravity = &Gravity{Gravity: row.Gravity, Members: int64(row.Members), Leading: int64(row.Leading),
				Contributing: int64(row.Contributing), Participating: int64(row.Participating), Exploring: int64(row.Exploring),
				WeightedCommitment: row.WC}
		}
	}
	if r.Gravity != nil {
		r.Gravity.Previous = prev
	}
	return nil
}

func movement(ctx context.Context, q querier, r *Report) error {
	var rows []struct {
		Month   time.Time `ch:"period_start"`
		Level   uint8     `ch:"level"`
		Members uint64    `ch:"members"`
		Up      uint64    `ch:"moved_up"`
		Held    uint64    `ch:"held"`
		Down    uint64    `ch:"moved_down"`
	}
	// The latest month that ended by the week's end.
	err := q.sel(ctx, &rows, `SELECT period_start, level, toUInt64(members) AS members, toUInt64(moved_up) AS moved_up,
			toUInt64(held) AS held, toUInt64(moved_down) AS moved_down
		FROM level_movement FINAL
		WHERE community = {community:String} AND period_start = (
			SELECT max(period_start) FROM level_movement FINAL
			WHERE community = {community:String} AND addMonths(period_start, 1) <= {last:Date} + 1)
		ORDER BY level`)
	if err != nil {
		return err
	}
	if len(rows) == 0 || rows[0].Month.IsZero() || rows[0].Month.Year() < 1971 {
		return nil
	}
	r.Movement = &Movement{Month: rows[0].Month}
	for _, row := range rows {
		r.Movement.Levels = append(r.Movement.Levels, LevelMoves{Level: int(row.Level), Members: int64(row.Members),
			Up: int64(row.Up), Held: int64(row.Held), Down: int64(row.Down)})
	}
	return nil
}

func top(ctx context.Context, q querier, r *Report) error {
	var rows []struct {
		Member        string  `ch:"member_id"`
		Name          string  `ch:"name"`
		Activities    uint64  `ch:"activities"`
		Contributions uint64  `ch:"contributions"`
		Level         uint8   `ch:"orbit_level"`
		Love          float64 `ch:"love"`
	}
	err := q.sel(ctx, &rows, `SELECT d.member_id AS member_id, ifNull(m.display_name, '') AS name, d.acts AS activities,
			d.contribs AS contributions, ifNull(m.orbit_level, 0) AS orbit_level, ifNull(m.love, 0) AS love
		FROM (
			SELECT member_id, toUInt64(sum(activities)) AS acts, toUInt64(sumIf(activities, contribution)) AS contribs
			FROM member_daily
			WHERE community = {community:String} AND day BETWEEN {week:Date} AND {last:Date} AND NOT is_bot AND NOT is_teammate
			GROUP BY member_id
			ORDER BY contribs DESC, acts DESC, member_id
			LIMIT {top:UInt32}
		) AS d
		LEFT JOIN (SELECT member_id, display_name, orbit_level, love FROM members WHERE community = {community:String}) AS m
			ON m.member_id = d.member_id
		ORDER BY contributions DESC, activities DESC, member_id
		SETTINGS join_use_nulls = 1`)
	if err != nil {
		return err
	}
	for _, row := range rows {
		r.Top = append(r.Top, Contributor{MemberID: row.Member, Name: row.Name, Activities: int64(row.Activities),
			Contributions: int64(row.Contributions), Level: int(row.Level), Love: row.Love})
	}
	return nil
}

func leaders(ctx context.Context, q querier, r *Report) error {
	var rows []struct {
		Member string    `ch:"member_id"`
		Name   string    `ch:"name"`
		At     time.Time `ch:"changed_at"`
		From   uint8     `ch:"from_level"`
		Reason string    `ch:"reason"`
	}
	// Members whose first move into Leading falls in the week (bots and
	// teammates left out, as the community's figures do).
	err := q.sel(ctx, &rows, `SELECT c.member_id AS member_id, ifNull(m.display_name, '') AS name, c.first_at AS changed_at,
			c.first_from AS from_level, toString(c.first_reason) AS reason
		FROM (
			SELECT member_id, min(changed_at) AS first_at, argMin(from_level, changed_at) AS first_from,
				argMin(reason, changed_at) AS first_reason
			FROM level_changes FINAL
			WHERE community = {community:String} AND to_level = 1 AND from_level != 1
				AND changed_at >= {week:Date} AND changed_at < {last:Date} + 1
			GROUP BY member_id
		) AS c
		INNER JOIN (SELECT member_id, display_name, orbit_level FROM members
			WHERE community = {community:String} AND NOT is_bot AND NOT is_teammate) AS m ON m.member_id = c.member_id
		ORDER BY first_at, member_id
		LIMIT {top:UInt32}`)
	if err != nil {
		return err
	}
	for _, row := range rows {
		r.Leaders = append(r.Leaders, Leader{MemberID: row.Member, Name: row.Name, At: row.At.UTC(), FromLevel: int(row.From), Reason: row.Reason})
	}
	var roles []struct {
		Member string    `ch:"member_id"`
		Name   string    `ch:"name"`
		Role   string    `ch:"role"`
		At     time.Time `ch:"changed_at"`
	}
	err = q.sel(ctx, &roles, `SELECT c.member_id AS member_id, ifNull(m.display_name, '') AS name, toString(c.role) AS role,
			c.changed_at AS changed_at
		FROM role_changes AS c FINAL
		INNER JOIN (SELECT member_id, display_name FROM members
			WHERE community = {community:String} AND NOT is_bot AND NOT is_teammate) AS m ON m.member_id = c.member_id
		WHERE c.community = {community:String} AND c.change = 'gained'
			AND c.changed_at >= {week:Date} AND c.changed_at < {last:Date} + 1
		ORDER BY changed_at, member_id, role
		LIMIT {top:UInt32}`)
	if err != nil {
		return err
	}
	for _, row := range roles {
		r.Roles = append(r.Roles, RoleChange{MemberID: row.Member, Name: row.Name, Role: row.Role, At: row.At.UTC()})
	}
	return nil
}

// reachOf is the row of a dimension ("" overall, segment, plan) and value.
func reachOf(rows []accounts.ReachRow, dimension, value string) *accounts.ReachRow {
	for i := range rows {
		if rows[i].Dimension == dimension && rows[i].Value == value {
			return &rows[i]
		}
	}
	return nil
}
