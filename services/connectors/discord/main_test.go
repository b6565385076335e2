package discord

import (
	"bytes"
	stdjson "encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

func TestMain(m *testing.M) { kittest.Main(m) }

// fixturePath is the shared real-data fixture: 40 gateway dispatch
// payloads (d only) grouped by event name. A missing file fails the tests.
const fixturePath = "../../../../shared/realdata/discord/real-payloads.json"

// payload is one recorded dispatch.
type payload struct {
	ID    string // the fixture's id, e.g. "message_create_1"
	Event string // the dispatch name (t)
	D     []byte
}

// loadPayloads reads the fixture in file order (READY first).
func loadPayloads(t testing.TB) []payload {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	require.NoError(t, err, "the Discord fixture is required (never skipped)")
	dec := stdjson.NewDecoder(bytes.NewReader(b))
	var out []payload
	// {group: {EVENT: [{id, payload}, ...]}}: walk the objects with
	// tokens so that the order of the file is kept.
	expectDelim := func(want stdjson.Delim) {
		tok, err := dec.Token()
		require.NoError(t, err)
		require.Equal(t, want, tok)
	}
	expectDelim('{')
	for dec.More() {
		_, err := dec.Token() // group
		require.NoError(t, err)
		expectDelim('{')
		for dec.More() {
			tok, err := dec.Token()
			require.NoError(t, err)
			event := tok.(string)
			var items []struct {
				ID      string             `json:"id"`
				Payload stdjson.RawMessage `json:"payload"`
			}
			require.NoError(t, dec.Decode(&items))
			for _, it := range items {
				out = append(out, payload{ID: it.ID, Event: event, D: it.Payload})
			}
		}
		expectDelim('}')
	}
	expectDelim('}')
	require.Len(t, out, 40, "the fixture holds 40 payloads")
	return out
}

// testNow is the receipt time of every test: after every fixture timestamp.
var testNow = time.Date(2026, 2, 2, 12, 0, 0, 0, time.UTC)

func testEnv() source.Env {
	return source.Env{Community: "acme", Now: func() time.Time { return testNow }}
}

// requireValid asserts that every event of res validates.
func requireValid(t testing.TB, res source.Result) {
	t.Helper()
	for i := range res.Events {
		require.NoError(t, events.DefaultRegistry().Validate(&res.Events[i]), "event %d: %+v", i, res.Events[i])
	}
}
