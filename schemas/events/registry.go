package events

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed activity_types.yaml
var defaultTypes []byte

// ActivityType is one canonical activity type.
type ActivityType struct {
	Name        string
	Weight      float64 // default Orbit weight, 1–12
	Description string
	// Contribution marks types that count as contributions in health metrics.
	Contribution bool
}

// Registry holds the canonical activity types. It is immutable and safe for
// concurrent use.
type Registry struct {
	types        map[string]ActivityType
	customWeight float64
}

type registryFile struct {
	Version             int     `yaml:"version"`
	CustomDefaultWeight float64 `yaml:"custom_default_weight"`
	Types               []struct {
		Name         string  `yaml:"name"`
		Weight       float64 `yaml:"weight"`
		Contribution bool    `yaml:"contribution"`
		Description  string  `yaml:"description"`
	} `yaml:"types"`
}

var (
	typeName   = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	customName = regexp.MustCompile(`^custom(\.[a-z0-9_]+)+$`)
)

// LoadRegistry decodes a registry file strictly (unknown keys are errors)
// and reports every problem.
func LoadRegistry(data []byte) (*Registry, error) {
	var f registryFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("activity types: %w", err)
	}
	var errs []error
	if f.Version != 1 {
		errs = append(errs, fmt.Errorf("version: want 1, got %d", f.Version))
	}
	if f.CustomDefaultWeight < 1 || f.CustomDefaultWeight > 12 {
		errs = append(errs, fmt.Errorf("custom_default_weight: must be 1..12, got %g", f.CustomDefaultWeight))
	}
	if len(f.Types) == 0 {
		errs = append(errs, errors.New("types: at least one type is required"))
	}
	r := &Registry{types: map[string]ActivityType{}, customWeight: f.CustomDefaultWeight}
	for i, t := range f.Types {
		path := fmt.Sprintf("types[%d]", i)
		switch {
		case !typeName.MatchString(t.Name) || len(t.Name) > MaxTypeLen:
			errs = append(errs, fmt.Errorf("%s.name: want <source>.<object>.<verb> in lowercase, got %q", path, t.Name))
		case strings.HasPrefix(t.Name, customTypePrefix):
			errs = append(errs, fmt.Errorf("%s.name: %q: the custom.* namespace is for users, not the registry", path, t.Name))
		}
		if _, dup := r.types[t.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q listed twice", path, t.Name))
		}
		if t.Weight < 1 || t.Weight > 12 {
			errs = append(errs, fmt.Errorf("%s.weight: must be 1..12, got %g", path, t.Weight))
		}
		r.types[t.Name] = ActivityType{Name: t.Name, Weight: t.Weight, Description: t.Description, Contribution: t.Contribution}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("activity types:\n%w", err)
	}
	return r, nil
}

var defaultRegistry = func() *Registry {
	r, err := LoadRegistry(defaultTypes)
	if err != nil {
		panic("events: the embedded activity_types.yaml is broken: " + err.Error())
	}
	return r
}()

// DefaultRegistry returns the registry of the embedded activity_types.yaml.
func DefaultRegistry() *Registry { return defaultRegistry }

// WithCustomWeight returns a copy whose custom.* types weigh w (1..12;
// other values keep the current weight).
func (r *Registry) WithCustomWeight(w float64) *Registry {
	c := *r
	if w >= 1 && w <= 12 {
		c.customWeight = w
	}
	return &c
}

// Lookup returns the type; custom.* names get the custom default weight.
func (r *Registry) Lookup(typ string) (ActivityType, bool) {
	if t, ok := r.types[typ]; ok {
		return t, true
	}
	if IsCustom(typ) {
		return ActivityType{Name: typ, Weight: r.customWeight, Description: "user-defined activity"}, true
	}
	return ActivityType{}, false
}

// Weight returns the default Orbit weight of typ.
func (r *Registry) Weight(typ string) (float64, bool) {
	t, ok := r.Lookup(typ)
	return t.Weight, ok
}

// Types returns the registered types sorted by name.
func (r *Registry) Types() []ActivityType {
	out := make([]ActivityType, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// IsCustom reports whether typ is a well-formed custom.* type.
func IsCustom(typ string) bool {
	return len(typ) <= maxCustomTypeName && customName.MatchString(typ)
}
