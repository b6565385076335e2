package accounts

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Active means any activity in the period (or window) by a member linked
// to the account; bots and teammates are left out, as the health metrics
// do (identity_daily's is_bot and is_teammate).

// AccountActivity is one account with its members in a community.
type AccountActivity struct {
	Account
	// LinkedMembers are the community's members linked to the account
	// (member_accounts), active or not.
	LinkedMembers uint64 `json:"linked_members"`
	// ActiveMembers and Activities count the Days whole days before today.
	ActiveMembers uint64 `json:"active_members"`
	Activities    uint64 `json:"activities"`
	Days          int    `json:"days"`
}

// List returns every account with its linked members in community and
// the active members and activities of the days whole days before today
// (UTC; today itself is not over), most active first.
func List(ctx context.Context, conn driver.Conn, community string, today time.Time, days int) ([]AccountActivity, error) {
	if days < 1 || days > 366 {
		return nil, fmt.Errorf("days: want 1..366, got %d", days)
	}
	rows, err := conn.Query(withParams(ctx, map[string]string{"community": community, "today": today.UTC().Format(time.DateOnly),
		"days": strconv.Itoa(days)}), `
		SELECT w.account_id, a.name, a.domains, a.segment, a.plan, a.persona, toUInt64(l.n), w.active_members, w.activities
		FROM account_windows(community = {community:String}, today = {today:Date}, days = {days:UInt32}, windows = 0) AS w
		INNER JOIN accounts AS a ON a.account_id = w.account_id
		LEFT JOIN (SELECT account_id, count() AS n FROM member_accounts WHERE community = {community:String} GROUP BY account_id) AS l
			ON l.account_id = w.account_id
		ORDER BY w.active_members DESC, w.activities DESC, w.account_id`)
	if err != nil {
		return nil, fmt.Errorf("accounts: list: %w", err)
	}
	defer rows.Close()
	var out []AccountActivity
	for rows.Next() {
		a := AccountActivity{Days: days}
		if err := rows.Scan(&a.ID, &a.Name, &a.Domains, &a.Segment, &a.Plan, &a.Persona, &a.LinkedMembers, &a.ActiveMembers, &a.Activities); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// LinkedMember is a member linked to an account, and how.
type LinkedMember struct {
	MemberID    string    `json:"member_id"`
	DisplayName string    `json:"display_name"`
	Link        string    `json:"link"` // explicit or domain
	LastSeen    time.Time `json:"last_seen"`
}

// AccountDetail is one account and its linked members in a community.
type AccountDetail struct {
	Account
	Members []LinkedMember `json:"members"`
}

// Show returns account and the members of community linked to it, the
// most recently seen first (ErrNoAccount if it was not imported).
func Show(ctx context.Context, conn driver.Conn, community, account string) (AccountDetail, error) {
	a, err := Get(ctx, conn, account)
	if err != nil {
		return AccountDetail{}, err
	}
	d := AccountDetail{Account: a, Members: []LinkedMember{}}
	rows, err := conn.Query(withParams(ctx, map[string]string{"community": community, "account": account}), `
		SELECT l.member_id, m.display_name, l.link, m.last_seen
		FROM (SELECT member_id, link FROM member_accounts WHERE community = {community:String} AND account_id = {account:String}) AS l
		LEFT JOIN (SELECT member_id, display_name, last_seen FROM members WHERE community = {community:String}) AS m
			ON m.member_id = l.member_id
		ORDER BY 4 DESC, l.member_id`)
	if err != nil {
		return d, fmt.Errorf("accounts: show %s: %w", account, err)
	}
	defer rows.Close()
	for rows.Next() {
		var m LinkedMember
		if err := rows.Scan(&m.MemberID, &m.DisplayName, &m.Link, &m.LastSeen); err != nil {
			return d, err
		}
		d.Members = append(d.Members, m)
	}
	return d, rows.Err()
}

// ReachRow is the reach into the customer base in one period: of all
// accounts (Dimension ""), of one segment or of one plan.
type ReachRow struct {
	PeriodStart    time.Time `json:"period_start"`
	Dimension      string    `json:"dimension"` // "", segment or plan
	Value          string    `json:"value"`
	Accounts       uint64    `json:"accounts"`
	ActiveAccounts uint64    `json:"active_accounts"` // with at least one active member
	Share          float64   `json:"share"`           // ActiveAccounts / Accounts (0 without accounts)
	ActiveMembers  uint64    `json:"active_members"`  // summed over the accounts
}

// AccountPeriod is one account's active members in one period.
type AccountPeriod struct {
	PeriodStart   time.Time `json:"period_start"`
	AccountID     string    `json:"account_id"`
	Name          string    `json:"name"`
	Segment       string    `json:"segment"`
	Plan          string    `json:"plan"`
	ActiveMembers uint64    `json:"active_members"`
	Activities    uint64    `json:"activities"`
}

// Reach is the reach metrics over a range of periods.
type Reach struct {
	Community string          `json:"community"`
	Period    string          `json:"period"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	Rows      []ReachRow      `json:"reach"`
	Accounts  []AccountPeriod `json:"accounts"`
}

// Periods are the period units of the reach metrics.
var Periods = []string{"day", "week", "month"}

// ReachOf returns, for every period (day, week — ISO, Monday — or month)
// overlapping [from, to], the share of accounts with an active member
// (overall, per segment and per plan) and every account's active members.
// Periods are counted whole.
func ReachOf(ctx context.Context, conn driver.Conn, community, period string, from, to time.Time) (Reach, error) {
	r := Reach{Community: community, Period: period, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly),
		Rows: []ReachRow{}, Accounts: []AccountPeriod{}}
	switch period {
	case "day", "week", "month":
	default:
		return r, fmt.Errorf("period: want day, week or month, got %q", period)
	}
	if from.After(to) {
		return r, fmt.Errorf("from: want a date not after to (%s), got %s", r.To, r.From)
	}
	p := map[string]string{"community": community, "period": period, "from": r.From, "to": r.To}
	rows, err := conn.Query(withParams(ctx, p), `SELECT period_start, dimension, value, accounts, active_accounts, share, active_members
		FROM account_reach(community = {community:String}, period = {period:String}, from = {from:Date}, to = {to:Date})`)
	if err != nil {
		return r, fmt.Errorf("accounts: reach: %w", err)
	}
	for rows.Next() {
		var x ReachRow
		if err := rows.Scan(&x.PeriodStart, &x.Dimension, &x.Value, &x.Accounts, &x.ActiveAccounts, &x.Share, &x.ActiveMembers); err != nil {
			rows.Close()
			return r, err
		}
		r.Rows = append(r.Rows, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	rows, err = conn.Query(withParams(ctx, p), `SELECT period_start, account_id, name, segment, plan, active_members, activities
		FROM account_periods(community = {community:String}, period = {period:String}, from = {from:Date}, to = {to:Date})
		ORDER BY period_start, active_members DESC, account_id`)
	if err != nil {
		return r, fmt.Errorf("accounts: reach: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x AccountPeriod
		if err := rows.Scan(&x.PeriodStart, &x.AccountID, &x.Name, &x.Segment, &x.Plan, &x.ActiveMembers, &x.Activities); err != nil {
			return r, err
		}
		r.Accounts = append(r.Accounts, x)
	}
	return r, rows.Err()
}

// DropRule says when an account's community activity dropped: the
// current window (Days whole days before today) against the mean of the
// Windows windows before it. Metric is active_members or activities. It
// dropped when the baseline is at least MinBaseline and the current
// value is at least MinDrop (a share) below it. The account_drop alert
// detector applies the same rule.
type DropRule struct {
	Metric      string  `json:"metric"`
	Days        int     `json:"days"`
	Windows     int     `json:"windows"`
	MinDrop     float64 `json:"min_drop"`
	MinBaseline float64 `json:"min_baseline"`
}

// WeeklyDropRule is the weekly report's rule: active members of the last
// 7 days against the 4 weeks before, down by half from at least 2.
var WeeklyDropRule = DropRule{Metric: "active_members", Days: 7, Windows: 4, MinDrop: 0.5, MinBaseline: 2}

// Validate reports the rule's first problem.
func (r DropRule) Validate() error {
	switch {
	case r.Metric != "active_members" && r.Metric != "activities":
		return fmt.Errorf("metric: want active_members or activities, got %q", r.Metric)
	case r.Days < 1 || r.Days > 366:
		return fmt.Errorf("days: want 1..366, got %d", r.Days)
	case r.Windows < 1 || r.Windows > 52:
		return fmt.Errorf("windows: want 1..52, got %d", r.Windows)
	case !(r.MinDrop > 0 && r.MinDrop <= 1):
		return fmt.Errorf("min_drop: want a share in (0, 1], got %g", r.MinDrop)
	case r.MinBaseline < 0 || math.IsNaN(r.MinBaseline):
		return fmt.Errorf("min_baseline: must not be negative, got %g", r.MinBaseline)
	}
	return nil
}

// Drop is one account's current window against its baseline.
type Drop struct {
	AccountID string    `json:"account_id"`
	Name      string    `json:"name"`
	Segment   string    `json:"segment"`
	Plan      string    `json:"plan"`
	Current   float64   `json:"current"`
	Baseline  float64   `json:"baseline"` // mean of the previous windows
	Previous  []float64 `json:"previous"` // the previous windows, the latest first
	Drop      float64   `json:"drop"`     // (baseline − current) / baseline; 0 without a baseline
	Dropped   bool      `json:"dropped"`
}

// Judge applies r to one account's current value and previous windows.
func (r DropRule) Judge(current float64, previous []float64) (baseline, drop float64, dropped bool) {
	for _, v := range previous {
		baseline += v
	}
	if len(previous) > 0 {
		baseline /= float64(len(previous))
	}
	if baseline > 0 {
		drop = (baseline - current) / baseline
	}
	return baseline, drop, baseline > 0 && baseline >= r.MinBaseline && drop >= r.MinDrop
}

// Windows returns every account's windows under r at today: the current
// value and the previous ones (latest first), judged. Accounts are in id
// order.
func Windows(ctx context.Context, conn driver.Conn, community string, today time.Time, r DropRule) ([]Drop, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	rows, err := conn.Query(withParams(ctx, map[string]string{"community": community, "today": today.UTC().Format(time.DateOnly),
		"days": strconv.Itoa(r.Days), "windows": strconv.Itoa(r.Windows)}), `
		SELECT account_id, name, segment, plan, window, active_members, activities
		FROM account_windows(community = {community:String}, today = {today:Date}, days = {days:UInt32}, windows = {windows:UInt32})
		ORDER BY account_id, window`)
	if err != nil {
		return nil, fmt.Errorf("accounts: windows: %w", err)
	}
	defer rows.Close()
	var out []Drop
	for rows.Next() {
		var d Drop
		var k, members, acts uint64
		if err := rows.Scan(&d.AccountID, &d.Name, &d.Segment, &d.Plan, &k, &members, &acts); err != nil {
			return nil, err
		}
		v := float64(members)
		if r.Metric == "activities" {
			v = float64(acts)
		}
		if k == 0 || len(out) == 0 || out[len(out)-1].AccountID != d.AccountID {
			d.Current, d.Previous = v, []float64{}
			out = append(out, d)
			continue
		}
		last := &out[len(out)-1]
		last.Previous = append(last.Previous, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Baseline, out[i].Drop, out[i].Dropped = r.Judge(out[i].Current, out[i].Previous)
	}
	return out, nil
}

// Dropped returns the accounts whose activity dropped under r at today,
// the largest drop first.
func Dropped(ctx context.Context, conn driver.Conn, community string, today time.Time, r DropRule) ([]Drop, error) {
	all, err := Windows(ctx, conn, community, today, r)
	if err != nil {
		return nil, err
	}
	out := []Drop{}
	for _, d := range all {
		if d.Dropped {
			out = append(out, d)
		}
	}
	sortDrops(out)
	return out, nil
}

func sortDrops(ds []Drop) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && (ds[j].Drop > ds[j-1].Drop || ds[j].Drop == ds[j-1].Drop && ds[j].AccountID < ds[j-1].AccountID); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

// Summary is the accounts section of the weekly report.
type Summary struct {
	Community string `json:"community"`
	// Week and Previous are the reach of the last whole ISO week before
	// now and of the week before it: overall, per segment, per plan.
	WeekStart string     `json:"week_start"`
	Week      []ReachRow `json:"week"`
	Previous  []ReachRow `json:"previous"`
	// Top are the accounts with the most active members in that week (at
	// most 10, only active ones).
	Top []AccountPeriod `json:"top"`
	// Dropped are the accounts whose active members dropped
	// (WeeklyDropRule, the 7 days before now's day against the 4 weeks
	// before).
	Dropped []Drop   `json:"dropped"`
	Rule    DropRule `json:"rule"`
}

// WeeklySummary returns the reach summary and the dropped accounts of
// community as of now, for the weekly report.
func WeeklySummary(ctx context.Context, conn driver.Conn, community string, now time.Time) (Summary, error) {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	week := day.AddDate(0, 0, -((int(day.Weekday())+6)%7)-7) // Monday of the last whole week
	s := Summary{Community: community, WeekStart: week.Format(time.DateOnly), Week: []ReachRow{}, Previous: []ReachRow{},
		Top: []AccountPeriod{}, Rule: WeeklyDropRule}
	r, err := ReachOf(ctx, conn, community, "week", week.AddDate(0, 0, -7), week.AddDate(0, 0, 6))
	if err != nil {
		return s, err
	}
	for _, x := range r.Rows {
		if x.PeriodStart.Equal(week) {
			s.Week = append(s.Week, x)
		} else {
			s.Previous = append(s.Previous, x)
		}
	}
	for _, a := range r.Accounts {
		if a.PeriodStart.Equal(week) && a.ActiveMembers > 0 && len(s.Top) < 10 {
			s.Top = append(s.Top, a)
		}
	}
	if s.Dropped, err = Dropped(ctx, conn, community, day, WeeklyDropRule); err != nil {
		return s, err
	}
	return s, nil
}
