package events

import (
	"errors"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// now is the fixed clock of these tests.
var now = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func valid() Event {
	return Event{
		ID: "github:1", SchemaVersion: 1, Community: "acme", Source: "github", Type: "github.issue.opened",
		OccurredAt: NewTimestamp(now.Add(-time.Hour)), ReceivedAt: NewTimestamp(now),
		Actor: Actor{Source: "github", SourceID: "7", Username: "ann"},
	}
}

// problems validates e at now and returns its problems by path.
func problems(t *testing.T, e Event) map[string]string {
	t.Helper()
	err := DefaultRegistry().validateAt(&e, now)
	out := map[string]string{}
	if err == nil {
		return out
	}
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "want *ValidationError, got %T", err)
	for _, p := range ve.Problems {
		_, dup := out[p.Path]
		require.False(t, dup, "one problem per path, got two for %s: %v", p.Path, ve)
		out[p.Path] = p.Reason
	}
	return out
}
