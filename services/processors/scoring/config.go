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
}

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
			Indirect: 1, MaxThreadParticipants: 50,
		},
		Gravity:  GravityConfig{Leading: 10, Contributing: 7, Participating: 4, Exploring: 1},
		Schedule: ScheduleConfig{Downgrades: "monthly"},
	}
}

// LoadConfig decodes a scoring config strictly (unknown keys are errors)
// over the defaults, and validates it.
func LoadConfig(data []byte) (Config, error) {
	c := DefaultConfig()
	c.Reach.Direct = nil // a file that lists direct strengths lists them all
	if err := config.DecodeYAML(data, &c); err != nil {
		return Config{}, err
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
