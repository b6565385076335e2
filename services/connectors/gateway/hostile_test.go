package gateway_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/gateway"
)

// Hostile bodies within the size bound get a clear 4xx, never an event,
// and leave a dead letter with the reason (the body as it came).
func TestHostileBodiesAre4xxAndNeverAnEvent(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxBodyBytes = 64 << 10 })
	for name, body := range map[string]string{
		"deeply nested":      strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		"nested objects":     strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000),
		"invalid UTF-8":      strings.Replace(event, `"u1"`, "\"u\xff1\"", 1),
		"not JSON":           "id=1&type=custom.x",
		"truncated":          event[:len(event)/2],
		"NUL in the id":      strings.Replace(event, "shop:order:1", "shop:\u0000", 1),
		"a number for a key": `{"id": 1}`,
	} {
		a := e.post("/hooks/generic", key, body)
		require.GreaterOrEqual(t, a.code, 400, name)
		require.Less(t, a.code, 500, name)
		require.NotEmpty(t, a.body["error"], name)
		if name == "invalid UTF-8" {
			require.Equal(t, "body", a.body["field"])
			require.Contains(t, a.body["error"], "not valid UTF-8 (byte")
		}
	}
	require.Zero(t, e.msgs(subjects.ActivityStream), "no hostile body became an event")
	require.NotZero(t, e.msgs(subjects.DeadLetterStream), "rejections are kept with their reason")
}
