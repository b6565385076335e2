package events

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func valid() Event {
	return Event{
		ID: "github:1", SchemaVersion: 1, Community: "acme", Source: "github", Type: "github.issue.opened",
		OccurredAt: NewTimestamp(now.Add(-time.Hour)), ReceivedAt: NewTimestamp(now),
		Actor: Actor{Source: "github", SourceID: "7", Username: "ann"},
	}
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			require.NoError(t, err)
			ev, err := Decode([]byte(strings.TrimSpace(string(in))))
			require.NoError(t, err)
			ev.Normalize(now)
			require.NoError(t, DefaultRegistry().validateAt(&ev, now))
			out, err := Encode(&ev)
			require.NoError(t, err)
			golden := strings.TrimSuffix(f, ".json") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, append(out, '\n'), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create %s", golden)
			require.Equal(t, strings.TrimSpace(string(want)), string(out))
			back, err := Decode(out)
			require.NoError(t, err)
			require.Equal(t, ev, back, "decode(encode(e)) == e")
		})
	}
}

func TestTimestampNormalization(t *testing.T) {
	ev, err := Decode([]byte(`{"id":"a","schema_version":1,"community":"c","source":"s","type":"custom.x","occurred_at":"2026-01-01T02:00:00.123987+02:00","actor":{"source":"s","source_id":"1"}}`))
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 123000000, time.UTC), ev.OccurredAt.Time)
	out, err := Encode(&ev)
	require.NoError(t, err)
	require.Contains(t, string(out), `"occurred_at":"2026-01-01T00:00:00.123Z"`)
	require.Contains(t, string(out), `"received_at":null`, "absent received_at stays absent until Normalize")
	ev.Normalize(now)
	require.Equal(t, now, ev.ReceivedAt.Time)
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		`{"id":"a","bogus":1}`:                          "bogus",
		`{"id":5}`:                                      "id",
		`{"id":"a","occurred_at":"yesterday"}`:          "RFC 3339",
		`{"id":"a"`:                                     "malformed JSON",
		`{"id":"a"} {"id":"b"}`:                         "after the JSON object",
		`{"ID":"a"}`:                                    "ID",
		`{"actor":{"source":"s","nickname":"x"}}`:       "nickname",
		"{\"id\":\"\xff\"}":                             "UTF-8",
		`{"targets":[{"source":"s","kind":"x","z":1}]}`: "z",
	}
	for in, want := range cases {
		_, err := Decode([]byte(in))
		require.Error(t, err, in)
		require.Contains(t, err.Error(), want, in)
	}
	_, err := Decode([]byte(`{"id":"` + strings.Repeat("a", MaxEventBytes) + `"}`))
	require.ErrorContains(t, err, "bytes")
}

func problems(t *testing.T, e Event) map[string]string {
	t.Helper()
	err := DefaultRegistry().validateAt(&e, now)
	out := map[string]string{}
	if err == nil {
		return out
	}
	ve, ok := err.(*ValidationError)
	require.True(t, ok, "want *ValidationError, got %T", err)
	for _, p := range ve.Problems {
		out[p.Path] = p.Reason
	}
	return out
}

func TestValidateRules(t *testing.T) {
	require.Empty(t, problems(t, valid()))
	tests := []struct {
		name   string
		mutate func(*Event)
		path   string
		reason string
	}{
		{"id required", func(e *Event) { e.ID = "" }, "id", "required"},
		{"id bound", func(e *Event) { e.ID = strings.Repeat("i", MaxIDLen+1) }, "id", "longer than"},
		{"version", func(e *Event) { e.SchemaVersion = 2 }, "schema_version", "want 1"},
		{"community token", func(e *Event) { e.Community = "Acme Corp" }, "community", "lowercase token"},
		{"community dots", func(e *Event) { e.Community = "a.b" }, "community", "lowercase token"},
		{"source required", func(e *Event) { e.Source = "" }, "source", "required"},
		{"unknown type", func(e *Event) { e.Type = "github.issue.exploded" }, "type", "unknown type"},
		{"bad custom", func(e *Event) { e.Type = "custom.Bad Name" }, "type", "custom types"},
		{"occurred required", func(e *Event) { e.OccurredAt = Timestamp{} }, "occurred_at", "required"},
		{"before 1970", func(e *Event) { e.OccurredAt = NewTimestamp(time.Unix(-10, 0)) }, "occurred_at", "before 1970"},
		{"future", func(e *Event) { e.OccurredAt = NewTimestamp(now.Add(25 * time.Hour)) }, "occurred_at", "after received_at"},
		{"actor source", func(e *Event) { e.Actor.Source = "" }, "actor.source", "required"},
		{"actor id", func(e *Event) { e.Actor.SourceID = "" }, "actor.source_id", "required"},
		{"username bound", func(e *Event) { e.Actor.Username = strings.Repeat("u", MaxNameLen+1) }, "actor.username", "longer than"},
		{"control char", func(e *Event) { e.Actor.DisplayName = "a\x00b" }, "actor.display_name", "control character"},
		{"email plain", func(e *Event) { e.Actor.EmailSHA256 = "ann@example.com" }, "actor.email_sha256", "never the address"},
		{"target kind", func(e *Event) { e.Targets = []Target{{Source: "github", SourceID: "1", Kind: "poke"}} }, "targets[0].kind", "want one of"},
		{"target id", func(e *Event) { e.Targets = []Target{{Source: "github", Kind: "reply"}} }, "targets[0].source_id", "required"},
		{"targets bound", func(e *Event) { e.Targets = make([]Target, MaxTargets+1) }, "targets", "more than"},
		{"url scheme", func(e *Event) { e.URL = "javascript:alert(1)" }, "url", "absolute http(s)"},
		{"url relative", func(e *Event) { e.URL = "/x" }, "url", "absolute http(s)"},
		{"title bound", func(e *Event) { e.Title = strings.Repeat("t", MaxTextLen+1) }, "title", "longer than"},
		{"attr value", func(e *Event) { e.Attributes = map[string]string{"k": strings.Repeat("v", MaxAttrValueLen+1)} }, `attributes["k"]`, "longer than"},
		{"attr count", func(e *Event) {
			e.Attributes = map[string]string{}
			for i := 0; i <= MaxAttributes; i++ {
				e.Attributes[strings.Repeat("k", i+1)] = "v"
			}
		}, "attributes", "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := valid()
			tc.mutate(&e)
			got := problems(t, e)
			require.Contains(t, got, tc.path, "problems: %v", got)
			require.Contains(t, got[tc.path], tc.reason)
		})
	}
	// At the bound is fine.
	e := valid()
	e.ID = strings.Repeat("i", MaxIDLen)
	e.Title = strings.Repeat("t", MaxTextLen)
	e.Targets = make([]Target, MaxTargets)
	for i := range e.Targets {
		e.Targets[i] = Target{Source: "github", SourceID: "1", Kind: "mention"}
	}
	require.Empty(t, problems(t, e))
}

func TestValidateReportsEveryProblem(t *testing.T) {
	e := Event{Type: "nope.nope", Targets: []Target{{Kind: "x"}}}
	got := problems(t, e)
	for _, p := range []string{"id", "schema_version", "community", "source", "type", "occurred_at", "actor.source", "actor.source_id", "targets[0].source", "targets[0].source_id", "targets[0].kind"} {
		require.Contains(t, got, p)
	}
	err := DefaultRegistry().validateAt(&e, now)
	require.Contains(t, err.Error(), "type: unknown type")
}

func TestRegistry(t *testing.T) {
	r := DefaultRegistry()
	for name, w := range map[string]float64{"meetup.event.organized": 11, "github.pull_request.opened": 8, "meetup.event.attended": 5, "newsletter.issue.read": 1} {
		got, ok := r.Weight(name)
		require.True(t, ok, name)
		require.Equal(t, w, got, name)
	}
	w, ok := r.Weight("custom.signed_up")
	require.True(t, ok)
	require.Equal(t, 2.0, w)
	w, _ = r.WithCustomWeight(9).Weight("custom.signed_up")
	require.Equal(t, 9.0, w)
	w, _ = r.Weight("custom.signed_up")
	require.Equal(t, 2.0, w, "WithCustomWeight returns a copy")
	_, ok = r.Lookup("github.nothing")
	require.False(t, ok)
	types := r.Types()
	require.True(t, len(types) > 30)
	for i := 1; i < len(types); i++ {
		require.Less(t, types[i-1].Name, types[i].Name)
	}

	_, err := LoadRegistry([]byte("version: 1\ncustom_default_weight: 2\ntypes:\n  - {name: a.b, weight: 13}\n  - {name: a.b, weight: 2}\n  - {name: Bad, weight: 2}\n  - {name: custom.x, weight: 2}\n"))
	require.Error(t, err)
	for _, want := range []string{"types[0].weight", "types[1].name", "types[2].name", "types[3].name"} {
		require.Contains(t, err.Error(), want)
	}
	_, err = LoadRegistry([]byte("version: 1\ncustom_default_weight: 2\nextra: 1\ntypes: []\n"))
	require.ErrorContains(t, err, "extra")
}

func TestHashEmail(t *testing.T) {
	h := HashEmail("  Ann@Example.COM ")
	require.Equal(t, HashEmail("ann@example.com"), h)
	require.Len(t, h, 64)
	e := valid()
	e.Actor.EmailSHA256 = h
	require.Empty(t, problems(t, e))
}

// The JSON Schema is the published contract: keep it in step with the Go
// type and limits.
func TestJSONSchemaMatchesGo(t *testing.T) {
	var s struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(JSONSchema, &s))
	var names []string
	rt := reflect.TypeOf(Event{})
	for i := 0; i < rt.NumField(); i++ {
		names = append(names, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	for _, n := range names {
		require.Contains(t, s.Properties, n, "schema lacks %s", n)
	}
	require.Len(t, s.Properties, len(names), "schema has properties the Go type lacks")
	require.ElementsMatch(t, []string{"id", "schema_version", "community", "source", "type", "occurred_at", "actor"}, s.Required)
	raw := string(JSONSchema)
	for _, want := range []string{
		`"maxLength": 256`, `"maxItems": 64`, `"maxProperties": 32`, `"maxLength": 2048`, `"maxLength": 1024`,
		`"enum": ["` + strings.Join(TargetKinds, `", "`) + `"]`,
	} {
		require.Contains(t, raw, want)
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"id":"a","targets":[{}],"attributes":{"":""}}`))
	f.Add([]byte(`{"occurred_at":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err != nil {
			return
		}
		_ = DefaultRegistry().Validate(&ev)
		out, err := Encode(&ev)
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		back, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", out, err)
		}
		if !reflect.DeepEqual(normalizeNil(ev), normalizeNil(back)) {
			t.Fatalf("round trip changed the event:\n%#v\n%#v", ev, back)
		}
	})
}

// normalizeNil treats empty and nil collections alike (omitempty drops both).
func normalizeNil(e Event) Event {
	if len(e.Targets) == 0 {
		e.Targets = nil
	}
	if len(e.Attributes) == 0 {
		e.Attributes = nil
	}
	return e
}

func BenchmarkDecode(b *testing.B) {
	data, _ := os.ReadFile("testdata/full.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	data, _ := os.ReadFile("testdata/full.json")
	ev, _ := Decode(data)
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = AppendEncode(buf[:0], &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	data, _ := os.ReadFile("testdata/full.json")
	ev, _ := Decode(data)
	r := DefaultRegistry()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = r.validateAt(&ev, now)
	}
}
