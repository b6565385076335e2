package alerts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

// File is the alert rules file: targets by name, then rules. It is
// decoded strictly (an unknown key is an error naming its line) and
// validated as a whole; the evaluator reloads it when it changes and the
// API edits it through the evaluator.
type File struct {
	// ExternalURL is the base URL of the API (or dashboard) that
	// notifications link to; "" sends no link.
	ExternalURL string                   `yaml:"external_url,omitempty" json:"external_url,omitempty"`
	Targets     map[string]notify.Target `yaml:"targets,omitempty" json:"targets,omitempty"`
	Rules       []Rule                   `yaml:"rules" json:"rules"`
	// Signals are the community-qualified signal rules (package signals),
	// delivered to the same targets.
	Signals []signals.Rule `yaml:"signals,omitempty" json:"signals,omitempty"`
	// Reports are the weekly reports e-mailed to targets (reports.go).
	Reports []Report `yaml:"reports,omitempty" json:"reports,omitempty"`
}

// Rule is one alert rule: a metric of a community (or of one segment of
// it), a detector, and who hears about it.
type Rule struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Community   string `yaml:"community" json:"community"`
	// Segment narrows event metrics to one source, channel or type.
	Segment *Segment `yaml:"segment,omitempty" json:"segment,omitempty"`
	// Metric is what the detector watches (see Metrics); member and
	// source detectors need none.
	Metric   string   `yaml:"metric,omitempty" json:"metric,omitempty"`
	Detector Detector `yaml:"detector" json:"detector"`
	// Window is the span an event metric counts (e.g. 1h: the activities
	// of the last hour), at least 1m. Period metrics use Period instead.
	Window Duration `yaml:"window,omitempty" json:"window,omitempty"`
	// Period is day, week or month for period metrics (gravity,
	// retention, time to first response).
	Period string `yaml:"period,omitempty" json:"period,omitempty"`
	// SLOHours is the time to first response ttfr_within_slo counts
	// within (default 24).
	SLOHours int    `yaml:"slo_hours,omitempty" json:"slo_hours,omitempty"`
	Severity string `yaml:"severity,omitempty" json:"severity,omitempty"` // info, warning (default), critical
	// MinVolume: no alert while the baseline (or, for thresholds, the
	// value) is below it: a drop from 3 to 1 is noise.
	MinVolume float64 `yaml:"min_volume,omitempty" json:"min_volume,omitempty"`
	// For is how long the condition must hold before the alert fires
	// (pending until then); 0 fires at once.
	For Duration `yaml:"for,omitempty" json:"for,omitempty"`
	// Cooldown is the least time between two notifications of one alert
	// (a flapping metric notifies once per cooldown). Default 1h.
	Cooldown Duration `yaml:"cooldown,omitempty" json:"cooldown,omitempty"`
	// Targets are names under targets:; none records the alert without
	// notifying anyone.
	Targets  []string `yaml:"targets,omitempty" json:"targets,omitempty"`
	Disabled bool     `yaml:"disabled,omitempty" json:"disabled,omitempty"`
}

// Segment is one value of a dimension of activities.
type Segment struct {
	Dimension string `yaml:"dimension" json:"dimension"` // source, channel or type
	Value     string `yaml:"value" json:"value"`
}

// Detector decides from a metric's series (or from members' and sources'
// activity) whether something dropped. Type selects the fields that apply.
type Detector struct {
	// Type: seasonal, bollinger, threshold, change, member_silence,
	// role_cadence, source_absence, account_drop.
	Type string `yaml:"type" json:"type"`

	// seasonal: the window against the same weekday and hour of the last
	// Weeks weeks (median and MAD); fires when the relative drop is at
	// least MinDrop (0.3: 30% below the median) and the robust z-score
	// at most -MinZ.
	Weeks   int     `yaml:"weeks,omitempty" json:"weeks,omitempty"`
	MinDrop float64 `yaml:"min_drop,omitempty" json:"min_drop,omitempty"`
	MinZ    float64 `yaml:"min_z,omitempty" json:"min_z,omitempty"`

	// bollinger: the last value against the mean ± K standard deviations
	// of the Periods values before it; Direction below (default), above
	// or both.
	Periods   int     `yaml:"periods,omitempty" json:"periods,omitempty"`
	K         float64 `yaml:"k,omitempty" json:"k,omitempty"`
	Direction string  `yaml:"direction,omitempty" json:"direction,omitempty"`

	// threshold: the value Op Value (e.g. "<" 0) for ForPeriods periods
	// (or windows) in a row.
	Op         string   `yaml:"op,omitempty" json:"op,omitempty"`
	Value      *float64 `yaml:"value,omitempty" json:"value,omitempty"`
	ForPeriods int      `yaml:"for_periods,omitempty" json:"for_periods,omitempty"`

	// change: the value minus the previous period's is at most Change
	// (e.g. -0.05: retention down more than 5 points); Relative divides
	// by the previous value first (-0.2: down 20%).
	Change   *float64 `yaml:"change,omitempty" json:"change,omitempty"`
	Relative bool     `yaml:"relative,omitempty" json:"relative,omitempty"`

	// member_silence: members at Levels (default 1, 2: Leading and
	// Contributing) or holding one of Roles, silent longer than GapFactor
	// (default 3) times their own median gap between active days, and at
	// least MinSilence (default 14d). Lookback (default 180d) is the
	// history their cadence is learned from.
	Levels     []int    `yaml:"levels,omitempty" json:"levels,omitempty"`
	Roles      []string `yaml:"roles,omitempty" json:"roles,omitempty"`
	GapFactor  float64  `yaml:"gap_factor,omitempty" json:"gap_factor,omitempty"`
	MinSilence Duration `yaml:"min_silence,omitempty" json:"min_silence,omitempty"`
	Lookback   Duration `yaml:"lookback,omitempty" json:"lookback,omitempty"`

	// role_cadence: holders of Roles (default every role with a
	// cadence) whose last activity of the role's types is older than the
	// role's cadence times Grace (default 1).
	Grace float64 `yaml:"grace,omitempty" json:"grace,omitempty"`

	// source_absence: a source that delivered events in at least
	// MinActiveShare (default 0.8) of the Lookback's (default 7d) windows
	// has delivered none for Window; Sources limits it (default: every
	// source of the community).
	Sources        []string `yaml:"sources,omitempty" json:"sources,omitempty"`
	MinActiveShare float64  `yaml:"min_active_share,omitempty" json:"min_active_share,omitempty"`

	// account_drop (accounts.go): per customer account, metric
	// (active_members or activities of its linked members) over the
	// window (whole days) against the mean of the Windows (default 4)
	// windows before it; fires when that mean is at least MinBaseline
	// (default 2) and the drop at least MinDrop (default 0.5).
	Windows     int     `yaml:"windows,omitempty" json:"windows,omitempty"`
	MinBaseline float64 `yaml:"min_baseline,omitempty" json:"min_baseline,omitempty"`
}

// Detector types.
const (
	Seasonal      = "seasonal"
	Bollinger     = "bollinger"
	Threshold     = "threshold"
	Change        = "change"
	MemberSilence = "member_silence"
	RoleCadence   = "role_cadence"
	SourceAbsence = "source_absence"
	AccountDrop   = "account_drop"
)

var detectorTypes = []string{Seasonal, Bollinger, Threshold, Change, MemberSilence, RoleCadence, SourceAbsence, AccountDrop}

// Metric kinds: an event metric counts activities in any window ending
// now; a period metric is one number per whole day, week or month.
const (
	eventMetric  = "event"
	periodMetric = "period"
)

// Metrics are what rules can watch, with their kind.
var Metrics = map[string]string{
	"activities":        eventMetric,
	"active_members":    eventMetric,
	"contributions":     eventMetric,
	"contributors":      eventMetric,
	"gravity":           periodMetric,
	"retention":         periodMetric,
	"ttfr_median_hours": periodMetric,
	"ttfr_p90_hours":    periodMetric,
	"ttfr_within_slo":   periodMetric, // share of items answered within slo_hours (default 24)
	"response_rate":     periodMetric,
}

// Duration is a time.Duration that YAML and JSON write as "90m", "36h",
// "14d" or "2w" (days and weeks are 24 h and 7 d).
type Duration time.Duration

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration reads Go durations plus a whole number of days (d) or weeks (w).
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("want a duration like 90m, 36h, 14d or 2w, got %q", s)
			}
			return Duration(v * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("want a duration like 90m, 36h, 14d or 2w, got %q", s)
	}
	return Duration(d), nil
}

func (d Duration) String() string {
	x := time.Duration(d)
	switch {
	case x == 0:
		return "0s"
	case x%(7*24*time.Hour) == 0:
		return strconv.FormatInt(int64(x/(7*24*time.Hour)), 10) + "w"
	case x%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(x/(24*time.Hour)), 10) + "d"
	case x%time.Hour == 0:
		return strconv.FormatInt(int64(x/time.Hour), 10) + "h"
	case x%time.Minute == 0:
		return strconv.FormatInt(int64(x/time.Minute), 10) + "m"
	}
	return x.String()
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(d.String())), nil }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("want a duration string like \"14d\", got %s", b)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// DecodeFile decodes a rules file strictly and validates it.
func DecodeFile(data []byte) (File, error) {
	var f File
	if err := decodeStrict(data, &f); err != nil {
		return File{}, err
	}
	return f, f.Validate()
}

// DecodeRule decodes one rule strictly (YAML, or JSON: JSON is YAML).
func DecodeRule(data []byte) (Rule, error) {
	var r Rule
	err := decodeStrict(data, &r)
	return r, err
}

func decodeStrict(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document; use one")
	}
	return nil
}

// LoadFile reads and validates the rules file at path. A missing file is
// an empty one.
func LoadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return File{}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("alerts: %w", err)
	}
	f, err := DecodeFile(data)
	if err != nil {
		return File{}, fmt.Errorf("alerts: %s: %w", path, err)
	}
	return f, nil
}

// header starts every rules file the evaluator writes.
const header = `# Orbitflow alert rules (services/processors/alerts/README.md).
# Edited by hand or through the API (PUT /api/v1/alerts/rules/{name});
# orbitflow reloads this file when it changes. Secrets: env:NAME or file:PATH.
`

// Save writes the file atomically (a temporary file renamed over path),
// so a reader never sees half of it.
func (f File) Save(path string) error {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".alerts-*.yaml")
	if err != nil {
		return fmt.Errorf("alerts: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("alerts: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Validate reports every problem of the file, each with its path.
func (f File) Validate() error {
	var errs []error
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range f.Targets {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		if !signals.IsName(n) {
			errs = append(errs, fmt.Errorf("targets.%s: a target name is a-z, 0-9, _ and - (at most 64)", n))
		}
		errs = append(errs, f.Targets[n].Validate("targets."+n)...)
	}
	if f.ExternalURL != "" && !strings.HasPrefix(f.ExternalURL, "http://") && !strings.HasPrefix(f.ExternalURL, "https://") {
		errs = append(errs, fmt.Errorf("external_url: want an http(s) URL, got %q", f.ExternalURL))
	}
	seen := map[string]int{}
	for i, r := range f.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		if r.Name != "" {
			path = fmt.Sprintf("rules[%d] (%s)", i, r.Name)
		}
		if j, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is also rules[%d]; names are unique", path, r.Name, j))
		}
		seen[r.Name] = i
		errs = append(errs, r.validate(path, f.Targets)...)
	}
	errs = append(errs, signals.Validate(f.Signals, f.Targets, func(n string) bool { _, ok := seen[n]; return ok }))
	errs = append(errs, validateReports(f.Reports, f.Targets)...)
	return errors.Join(errs...)
}

// Validate reports every problem of one rule against the targets.
func (r Rule) Validate(targets map[string]notify.Target) error {
	return errors.Join(r.validate("rule", targets)...)
}

func (r Rule) validate(path string, targets map[string]notify.Target) []error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	if !signals.IsName(r.Name) {
		add("name", "want a-z, 0-9, _ and - (at most 64 characters), got %q", r.Name)
	}
	if !signals.IsName(r.Community) {
		add("community", "want a community name (a-z, 0-9, _ and -), got %q", r.Community)
	}
	if r.Severity != "" && !slices.Contains(alerts.Severities, r.Severity) {
		add("severity", "want one of %s, got %q", strings.Join(alerts.Severities, ", "), r.Severity)
	}
	if r.MinVolume < 0 {
		add("min_volume", "must not be negative, got %g", r.MinVolume)
	}
	if r.For < 0 || r.Cooldown < 0 {
		add("for", "for and cooldown must not be negative")
	}
	for i, t := range r.Targets {
		if _, ok := targets[t]; !ok {
			add(fmt.Sprintf("targets[%d]", i), "no target %q under targets: (have %s)", t, strings.Join(slices.Sorted(maps.Keys(targets)), ", "))
		}
	}
	d := r.Detector
	if !slices.Contains(detectorTypes, d.Type) {
		add("detector.type", "want one of %s, got %q", strings.Join(detectorTypes, ", "), d.Type)
		return errs
	}
	if d.Type == AccountDrop {
		return append(errs, r.validateAccountDrop(path)...)
	}
	memberLevel := d.Type == MemberSilence || d.Type == RoleCadence || d.Type == SourceAbsence
	kind, known := Metrics[r.Metric]
	switch {
	case memberLevel && r.Metric != "":
		add("metric", "%s watches members or sources, not a metric; remove metric", d.Type)
	case !memberLevel && !known:
		add("metric", "want one of %s, got %q", strings.Join(slices.Sorted(maps.Keys(Metrics)), ", "), r.Metric)
	}
	needsWindow := kind == eventMetric || d.Type == SourceAbsence
	switch {
	case needsWindow && (r.Window.D() < time.Minute || r.Window.D() > 7*24*time.Hour):
		add("window", "want a duration from 1m to 7d (e.g. 1h), got %s", r.Window)
	case needsWindow && r.Period != "":
		add("period", "%s counts over window, not period; remove period", r.Metric+d.Type)
	case kind == periodMetric && !slices.Contains([]string{"day", "week", "month"}, r.Period):
		add("period", "want day, week or month for %s, got %q", r.Metric, r.Period)
	case kind == periodMetric && r.Window != 0:
		add("window", "%s is a period metric: set period, not window", r.Metric)
	}
	if r.SLOHours != 0 && (r.Metric != "ttfr_within_slo" || r.SLOHours < 1 || r.SLOHours > 24*365) {
		add("slo_hours", "only ttfr_within_slo takes it, as 1..8760 hours; got %d for %s", r.SLOHours, r.Metric)
	}
	if r.Segment != nil {
		switch {
		case kind != eventMetric:
			add("segment", "only event metrics (%s) take a segment", strings.Join(eventMetrics(), ", "))
		case !slices.Contains([]string{"source", "channel", "type"}, r.Segment.Dimension):
			add("segment.dimension", "want source, channel or type, got %q", r.Segment.Dimension)
		case r.Segment.Value == "" || len(r.Segment.Value) > 256:
			add("segment.value", "want a non-empty value of at most 256 bytes")
		}
	}
	switch d.Type {
	case Seasonal:
		if kind == periodMetric {
			add("detector.type", "seasonal compares hours of the week: use an event metric (%s)", strings.Join(eventMetrics(), ", "))
		}
		if d.Weeks != 0 && (d.Weeks < 3 || d.Weeks > 26) {
			add("detector.weeks", "want 3..26 weeks of history, got %d", d.Weeks)
		}
		if d.MinDrop < 0 || d.MinDrop >= 1 {
			add("detector.min_drop", "want a share of the baseline in [0, 1), got %g", d.MinDrop)
		}
		if d.MinZ < 0 {
			add("detector.min_z", "must not be negative, got %g", d.MinZ)
		}
	case Bollinger:
		if d.Periods != 0 && (d.Periods < 5 || d.Periods > 200) {
			add("detector.periods", "want 5..200, got %d", d.Periods)
		}
		if d.K < 0 {
			add("detector.k", "must not be negative, got %g", d.K)
		}
		if d.Direction != "" && !slices.Contains([]string{"below", "above", "both"}, d.Direction) {
			add("detector.direction", "want below, above or both, got %q", d.Direction)
		}
	case Threshold:
		if !slices.Contains([]string{"<", "<=", ">", ">="}, d.Op) {
			add("detector.op", "want <, <=, > or >=, got %q", d.Op)
		}
		if d.Value == nil {
			add("detector.value", "required for threshold")
		}
		if d.ForPeriods < 0 || d.ForPeriods > 100 {
			add("detector.for_periods", "want 1..100, got %d", d.ForPeriods)
		}
	case Change:
		if d.Change == nil || *d.Change >= 0 {
			add("detector.change", "want a negative change (a drop), e.g. -0.05")
		}
	case MemberSilence:
		for i, l := range d.Levels {
			if l < 1 || l > 4 {
				add(fmt.Sprintf("detector.levels[%d]", i), "want 1 (Leading) .. 4 (Exploring), got %d", l)
			}
		}
		if d.GapFactor != 0 && d.GapFactor < 1 {
			add("detector.gap_factor", "want at least 1, got %g", d.GapFactor)
		}
		if d.MinSilence < 0 || d.Lookback < 0 {
			add("detector.min_silence", "min_silence and lookback must not be negative")
		}
	case RoleCadence:
		if d.Grace != 0 && d.Grace < 1 {
			add("detector.grace", "want at least 1, got %g", d.Grace)
		}
	case SourceAbsence:
		if d.MinActiveShare < 0 || d.MinActiveShare > 1 {
			add("detector.min_active_share", "want 0..1, got %g", d.MinActiveShare)
		}
		if d.Lookback != 0 && (d.Lookback.D() < 2*r.Window.D() || d.Lookback.D() > 90*24*time.Hour) {
			add("detector.lookback", "want from twice the window to 90d, got %s", d.Lookback)
		}
	}
	return errs
}

// withDefaults fills what the rule leaves out.
func (r Rule) withDefaults() Rule {
	d := &r.Detector
	if d.Type == AccountDrop {
		r = r.accountDropDefaults()
	}
	if r.Severity == "" {
		r.Severity = "warning"
	}
	if r.Cooldown == 0 {
		r.Cooldown = Duration(time.Hour)
	}
	if r.SLOHours == 0 {
		r.SLOHours = 24
	}
	setIf := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	if d.Weeks == 0 {
		d.Weeks = 8
	}
	setIf(&d.MinDrop, 0.3)
	setIf(&d.MinZ, 2.5)
	if d.Periods == 0 {
		d.Periods = 20
	}
	setIf(&d.K, 2)
	if d.Direction == "" {
		d.Direction = "below"
	}
	if d.ForPeriods == 0 {
		d.ForPeriods = 1
	}
	if len(d.Levels) == 0 && len(d.Roles) == 0 && d.Type == MemberSilence {
		d.Levels = []int{1, 2}
	}
	setIf(&d.GapFactor, 3)
	if d.MinSilence == 0 {
		d.MinSilence = Duration(14 * 24 * time.Hour)
	}
	if d.Lookback == 0 {
		if d.Type == SourceAbsence {
			d.Lookback = Duration(7 * 24 * time.Hour)
		} else {
			d.Lookback = Duration(180 * 24 * time.Hour)
		}
	}
	setIf(&d.Grace, 1)
	setIf(&d.MinActiveShare, 0.8)
	return r
}

func eventMetrics() []string {
	var out []string
	for m, k := range Metrics {
		if k == eventMetric {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}
