package events

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestGolden decodes each testdata/*.json, normalizes and validates it, and
// compares the encoding with testdata/*.golden (go test -update rewrites them).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 4)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			require.NoError(t, err)
			ev, err := Decode(in)
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
			require.Equal(t, string(bytes.TrimSuffix(want, []byte("\n"))), string(out))

			back, err := Decode(out)
			require.NoError(t, err)
			require.Equal(t, normalizeEmpty(ev), back, "Decode(Encode(e)) == e")
			again, err := Encode(&back)
			require.NoError(t, err)
			require.Equal(t, out, again, "the encoding is a fixed point")
		})
	}
}

func TestRoundTrip(t *testing.T) {
	e := valid()
	e.Actor = Actor{Source: "github", SourceID: "7", Username: "ann", DisplayName: "Ann \"A\" <b>", EmailSHA256: HashEmail("ann@example.com"),
		EmailDomainSHA256: HashEmailDomain("ann@example.com"), IsBot: true}
	e.Channel, e.ThreadID, e.ParentID = "acme/widgets", "github:acme/widgets#1", "github:2"
	e.Targets = []Target{{Source: "github", SourceID: "8", Username: "bob", Kind: KindReview}, {Source: "github", SourceID: "9", Kind: KindThank}}
	e.URL, e.Title = "https://github.com/acme/widgets/pull/1?x=1&y=2", "Fix\tthe \u2028 thing\n"
	e.Attributes = map[string]string{"b": "2", "a": "1", "ü": "\x7e"}
	out, err := Encode(&e)
	require.NoError(t, err)
	back, err := Decode(out)
	require.NoError(t, err)
	require.Equal(t, e, back)
	require.Contains(t, string(out), `"attributes":{"a":"1","b":"2","ü":"~"}`, "keys sorted")
	require.Contains(t, string(out), `<b>`, "no HTML escaping")

	buf := []byte("prefix ")
	buf, err = AppendEncode(buf, &e)
	require.NoError(t, err)
	require.Equal(t, "prefix "+string(out), string(buf))
}

func TestTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{`"2026-01-01T02:00:00.123987+02:00"`, time.Date(2026, 1, 1, 0, 0, 0, 123e6, time.UTC)},
		{`"2026-01-01T00:00:00Z"`, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{`"2025-12-31T23:30:00.5-00:45"`, time.Date(2026, 1, 1, 0, 15, 0, 500e6, time.UTC)},
		{`null`, time.Time{}},
	}
	for _, tc := range tests {
		var ts Timestamp
		require.NoError(t, ts.UnmarshalJSON([]byte(tc.in)), tc.in)
		require.True(t, tc.want.Equal(ts.Time), "%s: got %v", tc.in, ts.Time)
		require.Equal(t, time.UTC, ts.Location(), tc.in)
	}
	for _, bad := range []string{`"yesterday"`, `"2026-01-01"`, `"2026-01-01 00:00:00Z"`, `1735689600`, `"9999-12-31T23:00:00-02:00"`, `"`, `""`} {
		var ts Timestamp
		require.Error(t, ts.UnmarshalJSON([]byte(bad)), bad)
	}

	ev, err := Decode([]byte(`{"id":"a","schema_version":1,"community":"c","source":"s","type":"custom.x","occurred_at":"2026-01-01T02:00:00.123987+02:00","actor":{"source":"s","source_id":"1"}}`))
	require.NoError(t, err)
	out, err := Encode(&ev)
	require.NoError(t, err)
	require.Contains(t, string(out), `"occurred_at":"2026-01-01T00:00:00.123Z"`)
	require.Contains(t, string(out), `"received_at":null`, "absent received_at stays absent until Normalize")
	ev.Normalize(now.Add(1234567 * time.Nanosecond))
	require.Equal(t, now.Add(time.Millisecond), ev.ReceivedAt.Time, "Normalize: UTC, ms")
	require.Equal(t, SchemaVersion, ev.SchemaVersion)

	e := Event{ReceivedAt: NewTimestamp(now)}
	e.Normalize(now.Add(time.Hour))
	require.Equal(t, now, e.ReceivedAt.Time, "Normalize keeps a received_at that is set")
	require.Equal(t, 1, e.SchemaVersion)
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	tests := []struct {
		in, path, reason string
	}{
		{`{"id":"a","bogus":1}`, "bogus", "unknown field"},
		{`{"ID":"a"}`, "ID", "unknown field"},
		{`{"actor":{"source":"s","nickname":"x"}}`, "actor.nickname", "unknown field"},
		{`{"targets":[{"kind":"reply"},{"source":"s","z":1}]}`, "targets[1].z", "unknown field"},
		{`{"id":5}`, "id", "want a string"},
		{`{"schema_version":"1"}`, "schema_version", "want an integer"},
		{`{"schema_version":1.5}`, "schema_version", "want an integer"},
		{`{"actor":{"is_bot":"yes"}}`, "actor.is_bot", "want true or false"},
		{`{"occurred_at":"yesterday"}`, "occurred_at", "RFC 3339"},
		{`{"received_at":12}`, "received_at", "RFC 3339"},
		{`{"attributes":{"k":1}}`, `attributes["k"]`, "want a string"},
		{`{"attributes":[]}`, "attributes", "want an object"},
		{`{"targets":{}}`, "targets", "want an array"},
		{`[]`, "", "want an object"},
	}
	for _, tc := range tests {
		_, err := Decode([]byte(tc.in))
		var de *DecodeError
		require.True(t, errors.As(err, &de), "%s: want *DecodeError, got %v", tc.in, err)
		require.Equal(t, tc.path, de.Path, tc.in)
		require.Contains(t, de.Reason, tc.reason, tc.in)
	}

	where := map[string]string{
		`{"id":"a"`:                  "malformed JSON",
		`{"id":"a",}`:                "malformed JSON",
		`{"id":"a"} {"id":"b"}`:      "after the event object (at byte 11)",
		"{\"id\":\"\xff\"}":          "not valid UTF-8 (at byte 7)",
		``:                           "malformed JSON",
		`{"id":"a"}` + "\r\n \t":     "",
		`{"id":"a","id":"b"}`:        "",
		`{"id":null,"targets":null}`: "",
	}
	for in, want := range where {
		_, err := Decode([]byte(in))
		if want == "" {
			require.NoError(t, err, "%q", in)
			continue
		}
		require.ErrorContains(t, err, want, "%q", in)
	}
	_, err := Decode([]byte(`{"id":"a"`))
	require.ErrorContains(t, err, "byte ", "syntax errors say where")

	big := []byte(`{"id":"` + strings.Repeat("a", MaxEventBytes) + `"}`)
	_, err = Decode(big)
	require.ErrorContains(t, err, "more than the 65536 allowed")
}

// normalizeEmpty treats empty and nil collections alike (omitempty drops both).
func normalizeEmpty(e Event) Event {
	if len(e.Targets) == 0 {
		e.Targets = nil
	}
	if len(e.Attributes) == 0 {
		e.Attributes = nil
	}
	return e
}

// Regression: attributes were written in map order, so equal events gave
// different bytes (golden files flaked, demo output was not reproducible).
func TestEncodeAttributeOrderIsStable(t *testing.T) {
	e := valid()
	e.Attributes = map[string]string{}
	for _, k := range strings.Fields("q w e r t y u i o p a s d f g h j k l z x c v b n m") {
		e.Attributes[k] = k
	}
	first, err := Encode(&e)
	require.NoError(t, err)
	for range 50 {
		again, err := Encode(&e)
		require.NoError(t, err)
		require.Equal(t, first, again)
	}
}
