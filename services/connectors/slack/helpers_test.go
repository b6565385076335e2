package slack

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// realdata is the shared folder of third-party fixtures; never copied here.
const realdata = "../../../../shared/realdata/slack"

// received is the fixed clock of the tests.
var received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testEnv() source.Env {
	return source.Env{Community: "acme", Now: func() time.Time { return received }}
}

// readFixture reads a shared fixture; a missing file fails the test.
func readFixture(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{realdata}, parts...)...))
	require.NoError(t, err, "fixture missing: the shared realdata folder is required")
	return b
}

// Outcome classes of a normalization.
const (
	classEvents   = "events"
	classIgnored  = "ignored"
	classUnmapped = "unmapped"
	classInput    = "input error"
)

// outcome is what a delivery is expected to normalize to: the class and a
// detail (events: the types joined by ","; ignored: a prefix of the reason;
// unmapped: the kind; input error: the field).
type outcome struct{ class, detail string }

func evs(types ...string) outcome   { return outcome{classEvents, strings.Join(types, ",")} }
func ignored(prefix string) outcome { return outcome{classIgnored, prefix} }
func unmapped(kind string) outcome  { return outcome{classUnmapped, kind} }
func bad(field string) outcome      { return outcome{classInput, field} }

// classify runs the result through the checks every result must pass and
// returns its outcome.
func classify(t testing.TB, res source.Result, err error) outcome {
	t.Helper()
	if err != nil {
		var ie *source.InputError
		require.True(t, errors.As(err, &ie), "error %v (%T) is not an *source.InputError", err, err)
		require.NotContains(t, ie.Reason, "normalized event is invalid", "a malformed input reached the safety net: %v", err)
		require.Zero(t, res.Events)
		return outcome{classInput, ie.Field}
	}
	set := 0
	for _, b := range []bool{len(res.Events) > 0, res.Ignored != "", res.Unmapped != ""} {
		if b {
			set++
		}
	}
	require.Equal(t, 1, set, "exactly one of Events, Ignored, Unmapped must be set: %+v", res)
	switch {
	case res.Ignored != "":
		return outcome{classIgnored, res.Ignored}
	case res.Unmapped != "":
		return outcome{classUnmapped, res.Unmapped}
	}
	types := make([]string, len(res.Events))
	for i := range res.Events {
		ev := res.Events[i]
		require.NoError(t, events.DefaultRegistry().Validate(&ev), "event %d", i)
		require.Equal(t, Source, ev.Source)
		require.Equal(t, Source, ev.Actor.Source)
		for _, tg := range ev.Targets {
			require.NotEqual(t, ev.Actor.SourceID, tg.SourceID, "self edge")
		}
		types[i] = ev.Type
	}
	return outcome{classEvents, strings.Join(types, ",")}
}

// requireOutcome asserts that got matches want (ignored reasons by prefix).
func requireOutcome(t testing.TB, want, got outcome, msg string) {
	t.Helper()
	require.Equal(t, want.class, got.class, "%s: got %q", msg, got.detail)
	if want.class == classIgnored {
		require.True(t, strings.HasPrefix(got.detail, want.detail), "%s: reason %q does not start with %q", msg, got.detail, want.detail)
		return
	}
	require.Equal(t, want.detail, got.detail, msg)
}

// fill returns the Slack SDK sample body with its blanked strings filled
// in (the samples keep the structure of real payloads but blank every
// string): the envelope becomes an event_callback, *ts fields become Slack
// timestamps, other strings become "X<KEY>". type and subtype are kept.
func fill(t testing.TB, body []byte) []byte {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(body, &v))
	if v["type"] == "" {
		v["type"] = "event_callback"
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, val := range x {
				if s, ok := val.(string); ok && s == "" && k != "type" && k != "subtype" {
					switch {
					case k == "thread_ts":
						x[k] = "1699999999.000200"
					case strings.HasSuffix(k, "ts") || k == "latest":
						x[k] = "1700000000.000100"
					default:
						x[k] = "X" + strings.ToUpper(k)
					}
					continue
				}
				walk(val)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// run normalizes body as a webhook delivery and classifies the result.
func run(t testing.TB, body []byte) outcome {
	t.Helper()
	res, err := Webhook{}.Normalize(testEnv(), nil, body)
	return classify(t, res, err)
}
