package events

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed activity_types.yaml
var defaultTypes []byte

// Bounds of the Orbit weight scale (v3: 4 levels × 3 steps).
const (
	MinWeight = 1
	MaxWeight = 12
)

// ActivityType is one canonical activity type.
type ActivityType struct {
	Name        string  // <source>.<object>.<verb>, e.g. github.pull_request.opened
	Weight      float64 // default Orbit weight, MinWeight..MaxWeight
	Description string
	// Contribution marks types that count as contributions in health
	// metrics (new and inactive contributors, contributor absence factor).
	Contribution bool
	// Item is ItemOpens for types that open an item awaiting a response
	// (an issue, a pull request, a topic, a ticket), ItemResponds for the
	// responses in its thread, "" otherwise: time to first response.
	Item string
}

// Item roles of activity types.
const (
	ItemOpens    = "opens"
	ItemResponds = "responds"
)

// Registry holds the canonical activity types and the weight of custom.*
// types. It is immutable and safe for concurrent use.
type Registry struct {
	types        map[string]ActivityType
	sorted       []ActivityType
	customWeight float64
}

type registryFile struct {
	Version             int             `yaml:"version"`
	CustomDefaultWeight float64         `yaml:"custom_default_weight"`
	Types               []registryEntry `yaml:"types"`
}

type registryEntry struct {
	Name         string  `yaml:"name"`
	Weight       float64 `yaml:"weight"`
	Contribution bool    `yaml:"contribution"`
	Item         string  `yaml:"item"`
	Description  string  `yaml:"description"`
}

// RegistryVersion is the version of the activity types file format.
const RegistryVersion = 1

var (
	typeName   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_]*\.[a-z0-9][a-z0-9_]*$`)
	customName = regexp.MustCompile(`^custom(\.[a-z0-9][a-z0-9_-]{0,63})+$`)
)

// LoadRegistry decodes an activity types file (the format of the embedded
// activity_types.yaml) strictly: unknown keys are errors, and every problem
// is reported, each with its path (types[3].weight).
func LoadRegistry(data []byte) (*Registry, error) {
	var f registryFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty file")
		}
		return nil, fmt.Errorf("activity types: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("activity types: want one YAML document, got more")
	}
	var errs []error
	if f.Version != RegistryVersion {
		errs = append(errs, fmt.Errorf("version: want %d, got %d", RegistryVersion, f.Version))
	}
	if !validWeight(f.CustomDefaultWeight) {
		errs = append(errs, fmt.Errorf("custom_default_weight: want %d..%d, got %g", MinWeight, MaxWeight, f.CustomDefaultWeight))
	}
	if len(f.Types) == 0 {
		errs = append(errs, errors.New("types: want at least one type"))
	}
	r := &Registry{types: make(map[string]ActivityType, len(f.Types)), customWeight: f.CustomDefaultWeight}
	for i, t := range f.Types {
		path := fmt.Sprintf("types[%d]", i)
		switch {
		case strings.HasPrefix(t.Name, CustomTypePrefix):
			errs = append(errs, fmt.Errorf("%s.name: %q: the custom.* namespace is for users, not the registry", path, t.Name))
		case len(t.Name) > MaxTypeLen || !typeName.MatchString(t.Name):
			errs = append(errs, fmt.Errorf("%s.name: want <source>.<object>.<verb> in lowercase [a-z0-9_] (at most %d bytes), got %q", path, MaxTypeLen, t.Name))
		}
		if _, dup := r.types[t.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q is listed twice", path, t.Name))
		}
		if !validWeight(t.Weight) {
			errs = append(errs, fmt.Errorf("%s.weight: want %d..%d, got %g", path, MinWeight, MaxWeight, t.Weight))
		}
		if strings.TrimSpace(t.Description) == "" {
			errs = append(errs, fmt.Errorf("%s.description: required", path))
		}
		if t.Item != "" && t.Item != ItemOpens && t.Item != ItemResponds {
			errs = append(errs, fmt.Errorf("%s.item: want %s, %s or nothing, got %q", path, ItemOpens, ItemResponds, t.Item))
		}
		r.types[t.Name] = ActivityType{Name: t.Name, Weight: t.Weight, Description: t.Description, Contribution: t.Contribution, Item: t.Item}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("activity types:\n%w", err)
	}
	r.sorted = make([]ActivityType, 0, len(r.types))
	for _, t := range r.types {
		r.sorted = append(r.sorted, t)
	}
	slices.SortFunc(r.sorted, func(a, b ActivityType) int { return strings.Compare(a.Name, b.Name) })
	return r, nil
}

func validWeight(w float64) bool { return w >= MinWeight && w <= MaxWeight }

var defaultRegistry = mustLoad(defaultTypes)

func mustLoad(data []byte) *Registry {
	r, err := LoadRegistry(data)
	if err != nil {
		panic("events: the embedded activity_types.yaml is broken: " + err.Error())
	}
	return r
}

// DefaultRegistry returns the registry of the embedded activity_types.yaml.
// It is shared; it is immutable, so that is safe.
func DefaultRegistry() *Registry { return defaultRegistry }

// WithCustomWeight returns a copy of r in which custom.* types weigh w. It
// panics when w is outside MinWeight..MaxWeight: validate configuration
// before calling it. r is not changed.
func (r *Registry) WithCustomWeight(w float64) *Registry {
	if !validWeight(w) {
		panic(fmt.Sprintf("events: custom weight %g outside %d..%d", w, MinWeight, MaxWeight))
	}
	c := *r
	c.customWeight = w
	return &c
}

// Lookup returns the type. A well-formed custom.* name is found with the
// custom default weight and Contribution false; unknown names are not.
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

// CustomWeight returns the weight of custom.* types.
func (r *Registry) CustomWeight() float64 { return r.customWeight }

// Types returns the registered types sorted by name (a fresh slice; custom
// types are not listed).
func (r *Registry) Types() []ActivityType { return slices.Clone(r.sorted) }

// IsCustom reports whether typ is a well-formed custom type:
// custom.<token>[.<token>...], each token [a-z0-9][a-z0-9_-]{0,63}, at most
// MaxTypeLen bytes in all.
func IsCustom(typ string) bool {
	return len(typ) <= MaxTypeLen && strings.HasPrefix(typ, CustomTypePrefix) && customName.MatchString(typ)
}
