package alerts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The account_drop detector: customer accounts (schemas/clickhouse
// 0026_accounts.sql, imported with `orbitflow accounts import`) whose
// community activity dropped. Each account is one alert (key: the
// account id); it resolves when the account recovers.

// AccountWindows is one account's metric in the current window and the
// windows before it (the latest first).
type AccountWindows struct {
	Account, Name, Segment, Plan string
	Current                      float64
	Previous                     []float64
}

// AccountSource reads accounts' windows; Reader is one. A Source that is
// not one cannot evaluate account_drop rules.
type AccountSource interface {
	Accounts(ctx context.Context, r Rule, now time.Time) ([]AccountWindows, error)
}

// accountDay is the unit of account_drop windows.
const accountDay = 24 * time.Hour

func (r Rule) validateAccountDrop(path string) []error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	d := r.Detector
	if r.Metric != "" && r.Metric != "active_members" && r.Metric != "activities" {
		add("metric", "account_drop counts active_members (default) or activities per account, got %q", r.Metric)
	}
	if w := r.Window.D(); w != 0 && (w%accountDay != 0 || w < accountDay || w > 90*accountDay) {
		add("window", "account_drop counts whole days: want 1d..90d (default 7d), got %s", r.Window)
	}
	if r.Period != "" {
		add("period", "account_drop counts over window (whole days), not period; remove period")
	}
	if r.Segment != nil {
		add("segment", "account_drop judges every account; remove segment")
	}
	if d.Windows != 0 && (d.Windows < 1 || d.Windows > 52) {
		add("detector.windows", "want 1..52 windows of baseline (default 4), got %d", d.Windows)
	}
	if d.MinDrop < 0 || d.MinDrop > 1 {
		add("detector.min_drop", "want a share of the baseline in (0, 1] (default 0.5), got %g", d.MinDrop)
	}
	if d.MinBaseline < 0 || math.IsNaN(d.MinBaseline) {
		add("detector.min_baseline", "must not be negative (default 2), got %g", d.MinBaseline)
	}
	return errs
}

// accountDropDefaults fills an account_drop rule's defaults.
func (r Rule) accountDropDefaults() Rule {
	d := &r.Detector
	if r.Metric == "" {
		r.Metric = "active_members"
	}
	if r.Window == 0 {
		r.Window = Duration(7 * accountDay)
	}
	if d.Windows == 0 {
		d.Windows = 4
	}
	if d.MinDrop == 0 {
		d.MinDrop = 0.5
	}
	if d.MinBaseline == 0 {
		d.MinBaseline = 2
	}
	return r
}

func evaluateAccounts(ctx context.Context, src Source, r Rule, now time.Time) ([]Decision, error) {
	as, ok := src.(AccountSource)
	if !ok {
		return nil, errors.New("alerts: this source cannot read customer accounts")
	}
	accts, err := as.Accounts(ctx, r, now)
	if err != nil {
		return nil, err
	}
	out := make([]Decision, 0, len(accts))
	for _, a := range accts {
		out = append(out, accountDrop(a, r))
	}
	return out, nil
}

// accountDrop judges one account: the current window against the mean
// of the previous ones. It fires when that mean is at least min_baseline
// and the current value at least min_drop below it; an open alert holds
// while the drop is at least half of min_drop (hysteresis). With a
// baseline below min_baseline there is no verdict, and an open alert
// stays open while the account has nothing at all in the window.
func accountDrop(a AccountWindows, r Rule) Decision {
	d := r.Detector
	baseline := mean(a.Previous)
	drop := 0.0
	if baseline > 0 {
		drop = (baseline - a.Current) / baseline
	}
	dec := Decision{Key: a.Account, Value: a.Current, Baseline: baseline, Score: drop,
		Labels: map[string]string{"account": a.Account, "name": a.Name, "segment": a.Segment, "plan": a.Plan, "metric": r.Metric}}
	who := a.Account
	if a.Name != "" && a.Name != a.Account {
		who = a.Name + " (" + a.Account + ")"
	}
	if extra := strings.Trim(a.Segment+", "+a.Plan, ", "); extra != "" {
		who += ", " + extra
	}
	prev := make([]string, len(a.Previous))
	for i, v := range a.Previous {
		prev[i] = num(v)
	}
	what := strings.ReplaceAll(r.Metric, "_", " ")
	window := strconv.Itoa(int(r.Window.D()/accountDay)) + " days"
	if baseline == 0 || baseline < d.MinBaseline {
		dec.Hold = a.Current == 0
		dec.Skipped = fmt.Sprintf("baseline %s is below min_baseline %g", num(baseline), d.MinBaseline)
		dec.Summary = fmt.Sprintf("%s: %s %s in the last %s; %s", who, num(a.Current), what, window, dec.Skipped)
		return dec
	}
	dec.Firing = drop >= d.MinDrop
	dec.Hold = drop >= d.MinDrop/2
	dec.Summary = fmt.Sprintf("%s: %s %s in the last %s, %.0f%% %s the usual %s (mean of the %d windows before, latest first: %s; alerts at %.0f%% below)",
		who, num(a.Current), what, window, math.Abs(drop)*100, belowAbove(drop), num(baseline), len(a.Previous),
		strings.Join(prev, ", "), d.MinDrop*100)
	return dec
}

// Accounts reads every account's windows from account_windows: the
// rule's window in whole days before now's day (UTC; today is not over)
// and detector.windows windows before it, bots and teammates left out.
func (rd Reader) Accounts(ctx context.Context, r Rule, now time.Time) ([]AccountWindows, error) {
	p := map[string]string{"community": r.Community, "today": now.UTC().Format(time.DateOnly),
		"days": strconv.Itoa(int(r.Window.D() / accountDay)), "windows": strconv.Itoa(r.Detector.Windows)}
	col := "active_members"
	if r.Metric == "activities" {
		col = "activities"
	}
	rows, err := rd.CH.Query(withParams(ctx, p), `
		SELECT account_id, name, segment, plan, window, active_members, activities
		FROM account_windows(community = {community:String}, today = {today:Date}, days = {days:UInt32}, windows = {windows:UInt32})
		ORDER BY account_id, window`)
	if err != nil {
		return nil, fmt.Errorf("alerts: accounts of %s: %w", r.Community, err)
	}
	defer rows.Close()
	var out []AccountWindows
	for rows.Next() {
		var a AccountWindows
		var k, members, acts uint64
		if err := rows.Scan(&a.Account, &a.Name, &a.Segment, &a.Plan, &k, &members, &acts); err != nil {
			return nil, err
		}
		v := float64(members)
		if col == "activities" {
			v = float64(acts)
		}
		if k == 0 || len(out) == 0 || out[len(out)-1].Account != a.Account {
			a.Current, a.Previous = v, []float64{}
			out = append(out, a)
			continue
		}
		last := &out[len(out)-1]
		last.Previous = append(last.Previous, v)
	}
	return out, rows.Err()
}
