package events

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonSchema is the part of JSON Schema event.schema.json uses.
type jsonSchema struct {
	Ref                  string                 `json:"$ref"`
	Type                 any                    `json:"type"`
	Required             []string               `json:"required"`
	Properties           map[string]*jsonSchema `json:"properties"`
	AdditionalProperties any                    `json:"additionalProperties"`
	Items                *jsonSchema            `json:"items"`
	PropertyNames        *jsonSchema            `json:"propertyNames"`
	OneOf                []*jsonSchema          `json:"oneOf"`
	Defs                 map[string]*jsonSchema `json:"$defs"`
	Const                any                    `json:"const"`
	Enum                 []string               `json:"enum"`
	Pattern              string                 `json:"pattern"`
	MinLength            *int                   `json:"minLength"`
	MaxLength            *int                   `json:"maxLength"`
	MaxItems             *int                   `json:"maxItems"`
	MaxProperties        *int                   `json:"maxProperties"`
}

func loadSchema(t *testing.T) *jsonSchema {
	t.Helper()
	var s jsonSchema
	require.NoError(t, json.Unmarshal(JSONSchema, &s))
	return &s
}

// at returns the schema at a dotted path of property names ("actor.source",
// "targets[].kind", "attributes{}" for the values, "attributes<>" for the
// keys), following $ref.
func (s *jsonSchema) at(t *testing.T, root *jsonSchema, path string) *jsonSchema {
	t.Helper()
	cur := s
	for _, part := range strings.Split(path, ".") {
		name, suffix := strings.TrimRight(part, "[]{}<>"), part[len(strings.TrimRight(part, "[]{}<>")):]
		cur = cur.Properties[name]
		require.NotNil(t, cur, "schema lacks %s", path)
		switch suffix {
		case "[]":
			cur = cur.Items
		case "{}":
			cur = (&jsonSchema{}).fromAny(t, cur.AdditionalProperties)
		case "<>":
			cur = cur.PropertyNames
		}
		if cur.Ref != "" {
			cur = root.Defs[strings.TrimPrefix(cur.Ref, "#/$defs/")]
		}
	}
	return cur
}

func (*jsonSchema) fromAny(t *testing.T, v any) *jsonSchema {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var s jsonSchema
	require.NoError(t, json.Unmarshal(b, &s))
	return &s
}

func jsonNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		names = append(names, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	slices.Sort(names)
	return names
}

func keys(m map[string]*jsonSchema) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The JSON Schema is the published contract: its property names, required
// fields and limits must be those of the Go type and constants.
func TestJSONSchemaMatchesGo(t *testing.T) {
	root := loadSchema(t)
	require.Equal(t, "https://json-schema.org/draft/2020-12/schema", regexp.MustCompile(`"\$schema": "([^"]+)"`).FindStringSubmatch(string(JSONSchema))[1])

	// Property names and closed objects.
	actor, target := root.Properties["actor"], root.Properties["targets"].Items
	for _, c := range []struct {
		s    *jsonSchema
		typ  reflect.Type
		reqd []string
	}{
		{root, reflect.TypeFor[Event](), []string{"id", "schema_version", "community", "source", "type", "occurred_at", "actor"}},
		{actor, reflect.TypeFor[Actor](), []string{"source", "source_id"}},
		{target, reflect.TypeFor[Target](), []string{"source", "source_id", "kind"}},
	} {
		require.Equal(t, jsonNames(c.typ), keys(c.s.Properties), "properties of %s", c.typ)
		require.ElementsMatch(t, c.reqd, c.s.Required, "required of %s", c.typ)
		require.Equal(t, false, c.s.AdditionalProperties, "%s is closed: unknown fields are errors", c.typ)
		// Required in the schema means required in Go: the zero value fails.
		for f := range c.typ.Fields() {
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			require.Equal(t, slices.Contains(c.reqd, name), !strings.Contains(f.Tag.Get("json"), "omitempty") && name != "received_at",
				"%s.%s: omitempty exactly on optional fields", c.typ, name)
		}
	}
	require.Equal(t, float64(SchemaVersion), root.Properties["schema_version"].Const)

	limits := map[string]int{
		"id": MaxIDLen, "thread_id": MaxIDLen, "parent_id": MaxIDLen,
		"community": MaxTokenLen, "source": MaxTokenLen, "actor.source": MaxTokenLen, "targets[].source": MaxTokenLen,
		"type":            MaxTypeLen,
		"actor.source_id": MaxSourceIDLen, "targets[].source_id": MaxSourceIDLen,
		"actor.username": MaxNameLen, "actor.display_name": MaxNameLen, "targets[].username": MaxNameLen, "channel": MaxNameLen,
		"title": MaxTextLen, "url": MaxURLLen,
		"attributes<>": MaxAttrKeyLen, "attributes{}": MaxAttrValueLen,
	}
	for path, want := range limits {
		s := root.at(t, root, path)
		require.NotNil(t, s.MaxLength, "%s has no maxLength", path)
		require.Equal(t, want, *s.MaxLength, "%s maxLength", path)
	}
	for _, path := range []string{"id", "actor.source_id", "targets[].source_id", "attributes<>"} {
		s := root.at(t, root, path)
		require.NotNil(t, s.MinLength, "%s is required non-empty", path)
		require.Equal(t, 1, *s.MinLength, path)
	}
	require.Equal(t, MaxTargets, *root.Properties["targets"].MaxItems)
	require.Equal(t, MaxAttributes, *root.Properties["attributes"].MaxProperties)
	require.Equal(t, TargetKinds, root.at(t, root, "targets[].kind").Enum)
	require.Contains(t, string(JSONSchema), "at most "+strconv.Itoa(MaxEventBytes)+" bytes")

	// Patterns: the token pattern is the Go one and agrees with MaxTokenLen.
	for _, path := range []string{"community", "source", "actor.source", "targets[].source"} {
		require.Equal(t, TokenPattern, root.at(t, root, path).Pattern, path)
	}
	require.Contains(t, TokenPattern, "{0,"+strconv.Itoa(MaxTokenLen-1)+"}")
	require.Equal(t, HexSHA256Pattern, root.at(t, root, "actor.email_sha256").Pattern)

	// The type pattern accepts every registered and well-formed custom type
	// and rejects malformed custom types.
	typePattern := regexp.MustCompile(root.Properties["type"].Pattern)
	for _, ty := range DefaultRegistry().Types() {
		require.Regexp(t, typePattern, ty.Name)
	}
	for _, name := range []string{"custom.signed_up", "custom.product.trial-started"} {
		require.True(t, IsCustom(name))
		require.Regexp(t, typePattern, name)
	}
	for _, name := range []string{"custom.", "custom.A", "custom..x", "github.issue"} {
		require.NotRegexp(t, typePattern, name)
	}
	// The URL pattern agrees with the Go check on a few cases.
	urlPattern := regexp.MustCompile(root.Properties["url"].Pattern)
	for u, want := range map[string]bool{"https://a.b/c": true, "HTTP://a": true, "ftp://a": false, "/x": false, "https:///x": false} {
		require.Equal(t, want, urlPattern.MatchString(u), u)
		e := valid()
		e.URL = u
		require.Equal(t, want, len(problems(t, e)) == 0, u)
	}
}
