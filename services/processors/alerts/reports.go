package alerts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

// Report is one weekly report subscription of the rules file (YAML under
// `reports:`): the community's report of the week that just ended, sent to
// e-mail targets at a weekday and hour (UTC).
type Report struct {
	Community string   `yaml:"community" json:"community"`
	Targets   []string `yaml:"targets" json:"targets"`
	// Weekday is the day it goes out (monday … sunday; default monday).
	Weekday string `yaml:"weekday,omitempty" json:"weekday,omitempty"`
	// Hour is the hour (UTC, 0–23) from which it goes out that day
	// (default 8).
	Hour *int `yaml:"hour,omitempty" json:"hour,omitempty"`
}

var weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// Due reports whether, at now, the report of the last full week is due:
// from the configured weekday and hour on, until the week ends.
func (r Report) Due(now time.Time) bool {
	now = now.UTC()
	day := slices.Index(weekdays, strings.ToLower(r.Weekday))
	if day < 0 {
		day = int(time.Monday)
	}
	hour := 8
	if r.Hour != nil {
		hour = *r.Hour
	}
	// Days since this week's Monday for now and for the send day.
	since := func(d int) int { return (d + 6) % 7 }
	n, s := since(int(now.Weekday())), since(day)
	return n > s || (n == s && now.Hour() >= hour)
}

func validateReports(reports []Report, targets map[string]notify.Target) []error {
	var errs []error
	seen := map[string]int{}
	for i, r := range reports {
		path := fmt.Sprintf("reports[%d]", i)
		if !signals.IsName(r.Community) {
			errs = append(errs, fmt.Errorf("%s.community: want a community name (a-z, 0-9, _ and -), got %q", path, r.Community))
		}
		if j, dup := seen[r.Community]; dup {
			errs = append(errs, fmt.Errorf("%s.community: %q is also reports[%d]; list its targets once", path, r.Community, j))
		}
		seen[r.Community] = i
		if r.Weekday != "" && !slices.Contains(weekdays, strings.ToLower(r.Weekday)) {
			errs = append(errs, fmt.Errorf("%s.weekday: want monday … sunday, got %q", path, r.Weekday))
		}
		if r.Hour != nil && (*r.Hour < 0 || *r.Hour > 23) {
			errs = append(errs, fmt.Errorf("%s.hour: want 0–23 (UTC), got %d", path, *r.Hour))
		}
		if len(r.Targets) == 0 {
			errs = append(errs, fmt.Errorf("%s.targets: want at least one e-mail target", path))
		}
		for j, name := range r.Targets {
			t, ok := targets[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s.targets[%d]: no target %q under targets:", path, j, name))
			case t.Type != notify.TypeEmail:
				errs = append(errs, fmt.Errorf("%s.targets[%d]: %q is a %s target; the report goes to e-mail targets", path, j, name, t.Type))
			}
		}
	}
	return errs
}
