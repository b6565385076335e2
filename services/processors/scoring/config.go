// Package scoring is the Orbit Model as this project computes it
// (../shared/guide/ORBIT-MODEL.md): love, presence, the 12 orbit steps with
// their milestones and scheduled downgrades, the reach graph and gravity.
//
// It is pure computation, with no bus and no clock: a Scorer applies
// activities in the order it is given them and answers for the times it is
// asked about. Scores are a function of (the activities in order, the
// config), so a replay with the same config gives the same numbers, bit for
// bit. Every constant is in Config, loaded from a YAML file
// (deploy/config/scoring.yaml); output rows carry ModelVersion and Hash.
package scoring

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/config"
)

// ModelVersion names the model this package implements; it changes when a
// formula changes, not when a constant does (constants change Hash).
const ModelVersion = "orbit-2026.1"

// Config holds every constant of the model.
type Config struct {
	Love     DecayConfig    `yaml:"love"`
	Levels   LevelsConfig   `yaml:"levels"`
	Reach    ReachConfig    `yaml:"reach"`
	Gravity  GravityConfig  `yaml:"gravity"`
	Members  MembersConfig  `yaml:"members"`
	Schedule ScheduleConfig `yaml:"schedule"`
	Roles    RolesConfig    `yaml:"roles"`
}

// DecayConfig is an exponential decay: a value keeps Factor of itself
// after each Period (love: 0.9 per 30 days).
type DecayConfig struct {
	Factor float64       `yaml:"factor"`
	Period time.Duration `yaml:"period"`
}

// LevelsConfig sets the 12-step orbit levels.
type LevelsConfig struct {
	// Lookback is how far back the highest weight and milestone count;
	// members with no activity in it are out of orbit.
	Lookback time.Duration `yaml:"lookback"`
	// WeekDays, MonthDays, QuarterDays are the active days a calendar
	// week, month, quarter needs to reach the Participating, Contributing,
	// Leading milestone (2, 7, 30).
	WeekDays    int `yaml:"week_days"`
	MonthDays   int `yaml:"month_days"`
	QuarterDays int `yaml:"quarter_days"`
}

// ReachConfig sets the reach graph.
type ReachConfig struct {
	Decay DecayConfig `yaml:"decay"`
	// Direct is the strength of one direct interaction by target kind
	// (reply, mention, review, assign, thank: 10; react: 2).
	Direct map[string]float64 `yaml:"direct"`
	// Indirect is the strength of being active in the same thread on the
	// same day, for threads with at most MaxThreadParticipants that day.
	Indirect              float64 `yaml:"indirect"`
	MaxThreadParticipants int     `yaml:"max_thread_participants"`
	// PageRankDamping is the weekly PageRank's damping factor (0.85).
	PageRankDamping float64 `yaml:"pagerank_damping"`
	// PocketMinStrength is the strength an edge needs to tie members into
	// a pocket (5: a direct interaction in the last ~6 months, decayed).
	PocketMinStrength float64 `yaml:"pocket_min_strength"`
}

// GravityConfig sets the level weights of weighted commitment.
type GravityConfig struct {
	// LevelWeights by level: leading, contributing, participating,
	// exploring (each level's entry step: 10, 7, 4, 1).
	Leading       float64 `yaml:"leading"`
	Contributing  float64 `yaml:"contributing"`
	Participating float64 `yaml:"participating"`
	Exploring     float64 `yaml:"exploring"`
}

// MembersConfig says whose activity is scored.
type MembersConfig struct {
	// ScoreBots scores bots too (default false: bots are excluded).
	ScoreBots bool `yaml:"score_bots"`
}

// ScheduleConfig sets the periodic jobs, in event time.
type ScheduleConfig struct {
	// Downgrades are evaluated when event time crosses a period boundary:
	// "monthly" (default), "weekly" or "daily".
	Downgrades string `yaml:"downgrades"`
	// ReachCut is when the reach a role's top share needs is recomputed
	// (a full pass over the members): "weekly" (default, on Mondays) or
	// "daily". Role windows are evaluated daily either way.
	ReachCut string `yaml:"reach_cut"`
}

// RolesConfig sets the roles: appointed by people, or acquired by rules
// over activity (ORBIT-MODEL.md §7).
type RolesConfig struct {
	// Appointed gives roles to members by id (e.g. "github:583231"),
	// whatever they do; a member gains it when first seen.
	Appointed map[string][]string `yaml:"appointed"`
	// Rules are evaluated in the stream: on each activity of a member and
	// once a day of event time for everyone (roles are lost there too).
	Rules []RoleRule `yaml:"rules"`
}

// RoleRule is a role a member holds while every condition it sets holds.
type RoleRule struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Levels are the orbit levels that qualify (1 Leading … 4 Exploring).
	Levels []uint8 `yaml:"levels"`
	// ReachTop: the member's reach is in this top share of the members
	// with any reach (0.1: the top decile), as of the last daily evaluation.
	ReachTop float64 `yaml:"reach_top"`
	// Activities: a count of activities in a window.
	Activities *ActivityCount `yaml:"activities"`
	// Cadence is how often a holder is expected to qualify again (e.g.
	// 168h: weekly); alerts say when it lapses. 0: no expectation.
	Cadence time.Duration `yaml:"cadence"`
}

// ActivityCount holds when at least AtLeast activities of the types (a
// type ending in ".*" matches a prefix), and of the target kinds when
// set (the activity reaches another member that way), happened within the
// window ending at the stream's time.
type ActivityCount struct {
	Types       []string      `yaml:"types"`
	TargetKinds []string      `yaml:"target_kinds"`
	AtLeast     int           `yaml:"at_least"`
	Within      time.Duration `yaml:"within"`
}

// maxRoles bounds rules plus appointed roles (a member's roles are a bit set).
const maxRoles = 64

// DefaultConfig is the model's published defaults.
func DefaultConfig() Config {
	month := 30 * 24 * time.Hour
	return Config{
		Love:   DecayConfig{Factor: 0.9, Period: month},
		Levels: LevelsConfig{Lookback: 365 * 24 * time.Hour, WeekDays: 2, MonthDays: 7, QuarterDays: 30},
		Reach: ReachConfig{
			Decay: DecayConfig{Factor: 0.9, Period: month},
			Direct: map[string]float64{
				events.KindReply: 10, events.KindMention: 10, events.KindReview: 10,
				events.KindAssign: 10, events.KindThank: 10, events.KindReact: 2,
			},
			Indirect: 1, MaxThreadParticipants: 50, PageRankDamping: 0.85, PocketMinStrength: 5,
		},
		Gravity:  GravityConfig{Leading: 10, Contributing: 7, Participating: 4, Exploring: 1},
		Schedule: ScheduleConfig{Downgrades: "monthly", ReachCut: "weekly"},
		Roles:    RolesConfig{Rules: DefaultRoleRules()},
	}
}

// DefaultRoleRules are the roles of ORBIT-MODEL.md §7.
func DefaultRoleRules() []RoleRule {
	day := 24 * time.Hour
	return []RoleRule{
		{Name: "advocate", Description: "Leading or Contributing, with reach in the top decile",
			Levels: []uint8{1, 2}, ReachTop: 0.1},
		{Name: "educator", Description: "had at least 3 answers accepted in 90 days",
			Activities: &ActivityCount{Types: []string{"github.discussion.answered", "discourse.solution.accepted"}, AtLeast: 3, Within: 90 * day}},
		{Name: "high-touch-support", Description: "opened at least 3 support tickets in 30 days",
			Activities: &ActivityCount{Types: []string{"support.ticket.opened"}, AtLeast: 3, Within: 30 * day}},
		{Name: "code-contributor", Description: "opened a pull request in the last 30 days; expected weekly",
			Activities: &ActivityCount{Types: []string{"github.pull_request.opened"}, AtLeast: 1, Within: 30 * day}, Cadence: 7 * day},
	}
}

// LoadConfig decodes a scoring config strictly (unknown keys are errors)
// over the defaults, and validates it.
func LoadConfig(data []byte) (Config, error) {
	c := DefaultConfig()
	c.Reach.Direct = nil // a file that lists direct strengths lists them all
	c.Roles.Rules = nil  // and one that lists roles lists them all
	if err := config.DecodeYAML(data, &c); err != nil {
		return Config{}, err
	}
	if c.Roles.Rules == nil {
		c.Roles.Rules = DefaultRoleRules()
	}
	if len(c.Roles.Appointed) == 0 {
		c.Roles.Appointed = nil // "appointed: {}" is the default: the same hash
	}
	if c.Reach.Direct == nil {
		c.Reach.Direct = DefaultConfig().Reach.Direct
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// maxLookbackDays is what the active-day bitmap can answer for: a
// three-quarter milestone ending inside the lookback began up to 274 days
// before it.
const maxLookbackDays = bitmapDays - 274

// Validate reports every problem with its path.
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, a...)))
	}
	decay := func(path string, d DecayConfig) {
		if !(d.Factor > 0 && d.Factor <= 1) {
			add(path+".factor", "must be in (0, 1], got %g", d.Factor)
		}
		if d.Period < time.Hour {
			add(path+".period", "must be at least 1h, got %s", d.Period)
		}
	}
	decay("love", c.Love)
	decay("reach.decay", c.Reach.Decay)
	days := c.Levels.Lookback / (24 * time.Hour)
	if c.Levels.Lookback%(24*time.Hour) != 0 || days < 7 || days > maxLookbackDays {
		add("levels.lookback", "must be whole days, 7d..%dd, got %s", maxLookbackDays, c.Levels.Lookback)
	}
	if c.Levels.WeekDays < 1 || c.Levels.WeekDays > 7 {
		add("levels.week_days", "must be 1..7, got %d", c.Levels.WeekDays)
	}
	if c.Levels.MonthDays < 1 || c.Levels.MonthDays > 28 {
		add("levels.month_days", "must be 1..28, got %d", c.Levels.MonthDays)
	}
	if c.Levels.QuarterDays < 1 || c.Levels.QuarterDays > 90 {
		add("levels.quarter_days", "must be 1..90, got %d", c.Levels.QuarterDays)
	}
	for _, k := range events.TargetKinds {
		if _, ok := c.Reach.Direct[k]; !ok {
			add("reach.direct."+k, "required (the strength of one %s)", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Reach.Direct)) {
		v := c.Reach.Direct[k]
		if !slices.Contains(events.TargetKinds, k) {
			add("reach.direct."+k, "unknown kind; want one of %v", events.TargetKinds)
		}
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			add("reach.direct."+k, "must be a non-negative number, got %g", v)
		}
	}
	if c.Reach.Indirect < 0 {
		add("reach.indirect", "must be non-negative, got %g", c.Reach.Indirect)
	}
	if c.Reach.MaxThreadParticipants < 2 || c.Reach.MaxThreadParticipants > 1000 {
		add("reach.max_thread_participants", "must be 2..1000, got %d", c.Reach.MaxThreadParticipants)
	}
	if !(c.Reach.PageRankDamping >= 0 && c.Reach.PageRankDamping < 1) {
		add("reach.pagerank_damping", "must be in [0, 1), got %g", c.Reach.PageRankDamping)
	}
	if !(c.Reach.PocketMinStrength > 0) || math.IsInf(c.Reach.PocketMinStrength, 0) {
		add("reach.pocket_min_strength", "must be a positive number, got %g", c.Reach.PocketMinStrength)
	}
	for path, w := range map[string]float64{"gravity.leading": c.Gravity.Leading, "gravity.contributing": c.Gravity.Contributing,
		"gravity.participating": c.Gravity.Participating, "gravity.exploring": c.Gravity.Exploring} {
		if w < 0 || math.IsNaN(w) {
			add(path, "must be non-negative, got %g", w)
		}
	}
	switch c.Schedule.Downgrades {
	case "monthly", "weekly", "daily":
	default:
		add("schedule.downgrades", "want monthly, weekly or daily, got %q", c.Schedule.Downgrades)
	}
	c.Roles.validate(add)
	if c.Schedule.ReachCut != "weekly" && c.Schedule.ReachCut != "daily" {
		add("schedule.reach_cut", "want weekly or daily, got %q", c.Schedule.ReachCut)
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Hash identifies the config: equal configs hash equal. Output rows carry
// it, so numbers from different configs are never mixed silently.
func (c Config) Hash() string {
	// encoding/json sorts map keys: the encoding is canonical.
	b, err := json.Marshal(struct {
		Model string
		C     Config
	}{ModelVersion, c})
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func (r RolesConfig) validate(add func(path, format string, a ...any)) {
	names := map[string]string{} // name → where it is defined
	define := func(path, name string) {
		if !isRoleName(name) {
			add(path, "want a name of a-z, 0-9, - and _ (1–64), got %q", name)
		} else if prev, ok := names[name]; ok {
			add(path, "role %q is already defined at %s", name, prev)
		}
		names[name] = path
	}
	for i, rule := range r.Rules {
		path := fmt.Sprintf("roles.rules[%d]", i)
		define(path+".name", rule.Name)
		if rule.Levels == nil && rule.ReachTop == 0 && rule.Activities == nil {
			add(path, "needs a condition: levels, reach_top or activities")
		}
		for j, l := range rule.Levels {
			if l < 1 || l > 4 {
				add(fmt.Sprintf("%s.levels[%d]", path, j), "want 1 (Leading) … 4 (Exploring), got %d", l)
			}
		}
		if rule.ReachTop < 0 || rule.ReachTop > 1 || math.IsNaN(rule.ReachTop) {
			add(path+".reach_top", "want a share in (0, 1], got %g", rule.ReachTop)
		}
		if rule.Cadence < 0 {
			add(path+".cadence", "must not be negative, got %s", rule.Cadence)
		}
		if a := rule.Activities; a != nil {
			if len(a.Types) == 0 {
				add(path+".activities.types", "required: the activity types that count")
			}
			for j, t := range a.Types {
				if strings.TrimSuffix(t, ".*") == "" || strings.ContainsAny(t, " *?") && !strings.HasSuffix(t, ".*") {
					add(fmt.Sprintf("%s.activities.types[%d]", path, j), "want a type (github.pull_request.opened) or a prefix (github.*), got %q", t)
				}
			}
			for j, k := range a.TargetKinds {
				if !slices.Contains(events.TargetKinds, k) {
					add(fmt.Sprintf("%s.activities.target_kinds[%d]", path, j), "want one of %v, got %q", events.TargetKinds, k)
				}
			}
			if a.AtLeast < 1 || a.AtLeast > 64 {
				add(path+".activities.at_least", "must be 1..64, got %d", a.AtLeast)
			}
			if a.Within < time.Hour {
				add(path+".activities.within", "must be at least 1h, got %s", a.Within)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Appointed)) {
		path := "roles.appointed." + name
		define(path, name)
		if len(r.Appointed[name]) == 0 {
			add(path, "lists no members")
		}
		for j, id := range r.Appointed[name] {
			if id == "" {
				add(fmt.Sprintf("%s[%d]", path, j), "empty member id")
			}
		}
	}
	if len(names) > maxRoles {
		add("roles", "at most %d roles, got %d", maxRoles, len(names))
	}
}

func isRoleName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
