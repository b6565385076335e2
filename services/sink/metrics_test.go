package sink_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/sink"
)

// TestSinkCountsWhatCameInAndWhatWasRejected: a scrape after the sink wrote
// a known mix shows the activities by source and type (custom.* types as
// one label), every stage's rejections by reason kind, and the batch sizes.
func TestSinkCountsWhatCameInAndWhatWasRejected(t *testing.T) {
	e := newEnv(t)
	e.publishEvents(0, 30)
	custom := event(30)
	custom.Type = "custom.signup"
	data, err := events.Encode(&custom)
	require.NoError(t, err)
	e.publish(subjects.Activity("acme", "github"), data, custom.ID)
	e.publish(subjects.Activity("acme", "github"), []byte(`{"id":`), "broken-1")
	e.publish(subjects.Activity("acme", "github"), []byte(`{"id":`), "broken-2")

	m, err := telemetry.NewMetrics()
	require.NoError(t, err)
	defer m.Shutdown(context.Background())
	set := telemetry.Nop()
	set.MeterProvider = m.Provider()
	s := sink.New(testConfig(), sink.Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt}, set)
	require.NoError(t, s.Start(context.Background()))
	defer s.Shutdown(context.Background())
	e.eventually("SELECT count() FROM activities", 31)
	e.eventually("SELECT count() FROM dead_letters", 2)

	scrape := func() string { return kittest.Scrape(m) }
	want := []string{
		`orbitflow_activities_total{source="github",type="github.issue.opened"} 30`,
		`orbitflow_activities_total{source="github",type="custom"} 1`,
		`orbitflow_rejected_total{reason="decode",source="github",stage="sink"} 2`,
		`orbitflow_sink_dead_lettered_total{reason="decode"} 2`,
		`orbitflow_sink_rows_total{table="dead_letters_raw"} 2`,
	}
	// The dead letters' counter moves after their insert, a moment after
	// the rows are queryable.
	require.Eventually(t, func() bool {
		body := scrape()
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "scrape lacks one of %q:\n%s", want, scrape())
	body := scrape()
	require.Contains(t, body, `orbitflow_sink_batch_size_count{table="activities_raw"}`)
	require.Contains(t, body, `orbitflow_sink_batch_size_sum{table="activities_raw"} 31`)
}

func TestReasonKindKeepsTheKindNotTheValues(t *testing.T) {
	for reason, want := range map[string]string{
		"invalid event: occurred_at: want RFC 3339":   "invalid event",
		"decode: unexpected end of JSON input":        "decode",
		"line 17: too long":                           "line",
		"discord message 123456: posted by a webhook": "discord message",
		"":                      "other",
		"42: what":              "other",
		"no colons":             "no colons",
		"first line\nsecond: x": "first line",
	} {
		require.Equal(t, want, sink.ReasonKind(reason), reason)
	}
}
