// Package signals turns activities into community-qualified signals: rules
// (data, in the `signals:` section of the alert rules file) match an
// activity by its source, type, channel and keywords in its title, and its
// member by orbit level, role and organization. A match is a signal that
// carries its evidence (schemas/alerts.Signal) and is delivered to the
// rules file's targets through the alert notifier.
//
// The scoring processor (services/processors/orbit) evaluates the rules
// right after it applies each activity, so the member's level and roles
// are those of that moment, the same on every replay. Teammates and bots
// never produce signals, nor do members who opted out (OptOuts).
package signals

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/orbitflow/orbitflow/services/processors/alerts/notify"
)

// Rule is one signal rule. Every condition that is set must hold; within
// one condition any listed value will do. A rule needs at least one
// condition on the activity (sources, types, channels or keywords).
type Rule struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Community   string `yaml:"community" json:"community"`
	// Sources, Types and Channels match the activity's fields exactly.
	Sources  []string `yaml:"sources,omitempty" json:"sources,omitempty"`
	Types    []string `yaml:"types,omitempty" json:"types,omitempty"`
	Channels []string `yaml:"channels,omitempty" json:"channels,omitempty"`
	// Keywords match whole words or phrases of the title, case-insensitive
	// ("SSO" matches "SSO login?" but not "lasso"; "single sign-on"
	// matches "Single sign on"): words are runs of letters and digits.
	Keywords []string `yaml:"keywords,omitempty" json:"keywords,omitempty"`
	// Levels are orbit levels, 1 (Leading) .. 4 (Exploring), the member
	// holds right after the activity.
	Levels []int `yaml:"levels,omitempty" json:"levels,omitempty"`
	// Roles: the member holds one of them (the scoring config's roles).
	Roles []string `yaml:"roles,omitempty" json:"roles,omitempty"`
	// Organizations match the activity's "organization" attribute,
	// case-insensitive.
	Organizations []string `yaml:"organizations,omitempty" json:"organizations,omitempty"`
	// Targets are names under the file's targets:; none records the
	// signals without delivering them.
	Targets  []string `yaml:"targets,omitempty" json:"targets,omitempty"`
	Disabled bool     `yaml:"disabled,omitempty" json:"disabled,omitempty"`
}

// Limits of a rule.
const (
	maxValues  = 100 // per list
	maxValue   = 256 // bytes per value
	maxKeyword = 100 // bytes per keyword
)

// Validate reports every problem of the rules, each with its path
// ("signals[2] (sales-pricing).keywords[1]: ..."), against the file's
// targets. taken are names the file's alert rules already use: a signal
// rule's name must differ (rules are found by name).
func Validate(rules []Rule, targets map[string]notify.Target, taken func(string) bool) error {
	var errs []error
	seen := map[string]int{}
	for i, r := range rules {
		path := fmt.Sprintf("signals[%d]", i)
		if r.Name != "" {
			path = fmt.Sprintf("signals[%d] (%s)", i, r.Name)
		}
		if j, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q is also signals[%d]; names are unique", path, r.Name, j))
		} else if r.Name != "" && taken != nil && taken(r.Name) {
			errs = append(errs, fmt.Errorf("%s.name: %q is also an alert rule's name; names are unique", path, r.Name))
		}
		seen[r.Name] = i
		errs = append(errs, r.validate(path, targets)...)
	}
	return errors.Join(errs...)
}

// Validate reports every problem of one rule against the targets.
func (r Rule) Validate(targets map[string]notify.Target) error {
	return errors.Join(r.validate("signal", targets)...)
}

func (r Rule) validate(path string, targets map[string]notify.Target) []error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, a...)))
	}
	if !IsName(r.Name) {
		add("name", "want a-z, 0-9, _ and - (at most 64 characters), got %q", r.Name)
	}
	if !IsName(r.Community) {
		add("community", "want a community name (a-z, 0-9, _ and -), got %q", r.Community)
	}
	if len(r.Sources)+len(r.Types)+len(r.Channels)+len(r.Keywords) == 0 {
		add("keywords", "want at least one condition on the activity (sources, types, channels or keywords), got none")
	}
	list := func(field string, vs []string, maxLen int) {
		if len(vs) > maxValues {
			add(field, "want at most %d values, got %d", maxValues, len(vs))
			return
		}
		for i, v := range vs {
			if strings.TrimSpace(v) == "" || len(v) > maxLen {
				add(fmt.Sprintf("%s[%d]", field, i), "want a non-empty value of at most %d bytes, got %q", maxLen, v)
			} else if j := slices.Index(vs, v); j < i {
				add(fmt.Sprintf("%s[%d]", field, i), "%q is also %s[%d]", v, field, j)
			}
		}
	}
	list("sources", r.Sources, maxValue)
	list("types", r.Types, maxValue)
	list("channels", r.Channels, maxValue)
	list("roles", r.Roles, maxValue)
	list("organizations", r.Organizations, maxValue)
	list("keywords", r.Keywords, maxKeyword)
	for i, k := range r.Keywords {
		if strings.TrimSpace(k) != "" && len(words(k)) == 0 {
			add(fmt.Sprintf("keywords[%d]", i), "want letters or digits (a word or a phrase), got %q", k)
		}
	}
	for i, l := range r.Levels {
		if l < 1 || l > 4 {
			add(fmt.Sprintf("levels[%d]", i), "want 1 (Leading) .. 4 (Exploring), got %d", l)
		}
	}
	for i, t := range r.Targets {
		if _, ok := targets[t]; !ok {
			add(fmt.Sprintf("targets[%d]", i), "no target %q under targets: (have %s)", t, strings.Join(sortedKeys(targets), ", "))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// IsName reports whether s is a rule, target or community name: a-z, 0-9,
// _ and - (not first), at most 64 bytes.
func IsName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || i > 0 && (b == '_' || b == '-')) {
			return false
		}
	}
	return true
}
