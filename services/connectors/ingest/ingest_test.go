package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/jsonl"
	"github.com/orbitflow/orbitflow/services/connectors/source"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
)

const input = `{"id":"a","schema_version":1,"source":"github","type":"github.issue.opened","occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"github","source_id":"1"}}
{"id":"b","schema_version":1,"community":"acme","source":"slack","type":"slack.message.posted","occurred_at":"2026-01-01T00:00:01.000Z","actor":{"source":"slack","source_id":"U1"}}
{"id":"c","schema_version":1,"community":"other","source":"slack","type":"slack.message.posted","occurred_at":"2026-01-01T00:00:01.000Z","actor":{"source":"slack","source_id":"U1"}}
{"id":"d","schema_version":1,"community":"acme","source":"github","type":"github.made_up","occurred_at":"2026-01-01T00:00:01.000Z","actor":{"source":"github","source_id":"1"}}
not json at all
{"id":"a","schema_version":1,"source":"github","type":"github.issue.opened","occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"github","source_id":"1"}}
`

func TestRunPublishesValidAndDeadLettersTheRest(t *testing.T) {
	b := kittest.Bus(t)
	js := b.JetStream()
	ctx := context.Background()
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var progress []ingest.Stats
	st, err := ingest.Run(ctx, js, jsonl.Read(strings.NewReader(input), "in.jsonl"), ingest.Options{
		Community: "acme", Format: "jsonl", Registry: events.DefaultRegistry(),
		Now: func() time.Time { return now }, Progress: func(s ingest.Stats) { progress = append(progress, s) }, ProgressEvery: 2,
	})
	require.NoError(t, err)
	require.EqualValues(t, 6, st.Read)
	require.EqualValues(t, 2, st.Published)
	require.EqualValues(t, 1, st.Duplicates, "the repeated id a is dropped by the stream")
	require.EqualValues(t, 3, st.Rejected)
	require.NotEmpty(t, progress)
	require.Contains(t, st.Summary(), "read 6, published 2, duplicates 1, rejected 3")
	require.Contains(t, st.Summary(), "unknown type")

	// The published event got the ingest's community and a received_at.
	acts, err := js.Stream(ctx, subjects.ActivityStream)
	require.NoError(t, err)
	raw, err := acts.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "activities.acme.github", raw.Subject)
	ev, err := events.Decode(raw.Data)
	require.NoError(t, err)
	require.Equal(t, "acme", ev.Community)
	require.True(t, ev.ReceivedAt.Time.Equal(now))
	require.Equal(t, "a", raw.Header.Get("Nats-Msg-Id"))

	// Every rejection is in the dead-letter stream with its position and reason.
	dl, err := js.Stream(ctx, subjects.DeadLetterStream)
	require.NoError(t, err)
	info, err := dl.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 3, info.State.Msgs)
	reasons := ""
	for seq := uint64(1); seq <= 3; seq++ {
		m, err := dl.GetMsg(ctx, seq)
		require.NoError(t, err)
		require.Equal(t, "deadletter.ingest.jsonl", m.Subject)
		reasons += m.Header.Get(subjects.HeaderReason) + "\n"
	}
	require.Contains(t, reasons, "in.jsonl:3: community")
	require.Contains(t, reasons, "in.jsonl:4: ")
	require.Contains(t, reasons, "unknown type")
	require.Contains(t, reasons, "in.jsonl:5: ")
	require.EqualValues(t, 3, st.DeadMaxSeq)
	require.EqualValues(t, 2, st.MaxSeq)
}

func TestRunStopsOnIOError(t *testing.T) {
	b := kittest.Bus(t)
	src := func(yield func(ingest.Record) bool) {
		yield(ingest.Record{Pos: "gone.jsonl", Err: errors.New("no such file")})
	}
	_, err := ingest.Run(context.Background(), b.JetStream(), src, ingest.Options{Format: "jsonl", Registry: events.DefaultRegistry()})
	require.ErrorContains(t, err, "gone.jsonl")
}

// An event the stream refuses for good (here: over its message size limit)
// is dead-lettered with the reason, counted as rejected, and the run goes on.
func TestRunDeadLettersWhatTheStreamRefuses(t *testing.T) {
	b := kittest.Bus(t, func(c *bus.Config) { c.Streams.MaxMsgSize = 2048 })
	js := b.JetStream()
	ctx := context.Background()
	big := strings.Repeat("v", events.MaxAttrValueLen)
	lines := `{"id":"small","schema_version":1,"source":"github","type":"github.issue.opened","occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"github","source_id":"1"}}
{"id":"big","schema_version":1,"source":"github","type":"github.issue.opened","occurred_at":"2026-01-01T00:00:00.000Z","actor":{"source":"github","source_id":"1"},"attributes":{"a":"` + big + `","b":"` + big + `"}}
{"id":"after","schema_version":1,"source":"github","type":"github.issue.opened","occurred_at":"2026-01-01T00:00:01.000Z","actor":{"source":"github","source_id":"1"}}
`
	st, err := ingest.Run(ctx, js, jsonl.Read(strings.NewReader(lines), "in.jsonl"), ingest.Options{
		Community: "acme", Format: "jsonl", Registry: events.DefaultRegistry(),
		Now: func() time.Time { return time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC) },
	})
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Read)
	require.EqualValues(t, 2, st.Published)
	require.EqualValues(t, 1, st.Rejected)
	require.Contains(t, st.Summary(), "the stream refused the event")

	dl, err := js.Stream(ctx, subjects.DeadLetterStream)
	require.NoError(t, err)
	m, err := dl.GetMsg(ctx, st.DeadMaxSeq)
	require.NoError(t, err)
	require.Contains(t, m.Header.Get(subjects.HeaderReason), "in.jsonl:2: publish: the stream refused the event")
	require.NotEmpty(t, m.Header.Get(subjects.HeaderTruncated), "the line is larger than the dead-letter stream takes whole")
}

func TestRunCountsIgnoredAndDeadLettersUnmapped(t *testing.T) {
	b := kittest.Bus(t)
	js := b.JetStream()
	env := source.Env{Community: "acme"}
	ev := env.Event("github:issue:1:opened", "github.issue.opened", time.Now().Add(-time.Hour))
	ev.Actor = env.Actor("github", "1", "jane", "")
	var recs []ingest.Record
	recs = append(recs, ingest.FromResult(source.One(ev), nil, []byte(`{"issue":1}`), "a:1")...)
	recs = append(recs, ingest.FromResult(source.Ignore("github ping: configuration check"), nil, []byte(`{"zen":"x"}`), "a:2")...)
	recs = append(recs, ingest.FromResult(source.Unmapped("github", "sponsorship.created"), nil, []byte(`{"sponsorship":{}}`), "a:3")...)
	recs = append(recs, ingest.FromResult(source.Result{}, &source.InputError{Field: "issue.user.id", Reason: "want a number"}, nil, "a:4")...)
	st, err := ingest.Run(context.Background(), js, slices.Values(recs), ingest.Options{Community: "acme", Format: "github", Registry: events.DefaultRegistry()})
	require.NoError(t, err)
	require.EqualValues(t, 4, st.Read)
	require.EqualValues(t, 1, st.Published)
	require.EqualValues(t, 1, st.Ignored)
	require.EqualValues(t, 1, st.IgnoredReasons["github ping: configuration check"])
	require.EqualValues(t, 2, st.Rejected)
	require.EqualValues(t, 1, st.Reasons["unmapped type: github:sponsorship.created"])
	require.EqualValues(t, 1, st.Reasons["issue.user.id: want a number"])
	require.Contains(t, st.Summary(), "ignored 1")
	info, err := js.Stream(context.Background(), subjects.DeadLetterStream)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.CachedInfo().State.Msgs, "both rejections are dead-lettered")
}

func TestCheckpointRunsAfterEverythingBeforeItIsAcknowledged(t *testing.T) {
	b := kittest.Bus(t)
	js := b.JetStream()
	env := source.Env{Community: "acme"}
	var recs []ingest.Record
	var atCheckpoint []uint64
	stream := func() uint64 {
		s, err := js.Stream(context.Background(), subjects.ActivityStream)
		require.NoError(t, err)
		info, err := s.Info(context.Background())
		require.NoError(t, err)
		return info.State.Msgs
	}
	for page := range 3 {
		for i := range 500 {
			ev := env.Event(fmt.Sprintf("github:issue:%d:%d:opened", page, i), "github.issue.opened", time.Now().Add(-time.Hour))
			ev.Actor = env.Actor("github", "1", "jane", "")
			recs = append(recs, ingest.FromResult(source.One(ev), nil, []byte("{}"), "page")...)
		}
		recs = append(recs, ingest.CheckpointRecord(func() error {
			atCheckpoint = append(atCheckpoint, stream())
			return nil
		}))
	}
	st, err := ingest.Run(context.Background(), js, slices.Values(recs), ingest.Options{Community: "acme", Format: "test", Registry: events.DefaultRegistry(), Window: 64})
	require.NoError(t, err)
	require.EqualValues(t, 1500, st.Read, "checkpoints are not records")
	require.Equal(t, []uint64{500, 1000, 1500}, atCheckpoint, "each checkpoint saw every record before it stored")

	_, err = ingest.Run(context.Background(), js, slices.Values([]ingest.Record{ingest.CheckpointRecord(func() error { return errors.New("disk full") })}),
		ingest.Options{Community: "acme", Format: "test", Registry: events.DefaultRegistry()})
	require.ErrorContains(t, err, "checkpoint: disk full")
}

// A source whose checkpoints touch its own state (a backfill cursor) is not
// raced by the prefetching: it waits at each checkpoint until it has run.
func TestCheckpointsDoNotRaceTheSource(t *testing.T) {
	b := kittest.Bus(t)
	env := source.Env{Community: "acme"}
	state := map[string]int{}
	src := func(yield func(ingest.Record) bool) {
		for page := range 20 {
			state["reading"] = page // the source's own state, read and written here
			for i := range 50 {
				ev := env.Event(fmt.Sprintf("x:%d:%d", page, i), "github.issue.opened", time.Now().Add(-time.Hour))
				ev.Actor = env.Actor("github", "1", "jane", "")
				if !yield(ingest.FromResult(source.One(ev), nil, []byte("{}"), "p")[0]) {
					return
				}
			}
			if !yield(ingest.CheckpointRecord(func() error { state["saved"] = state["reading"]; return nil })) {
				return
			}
		}
	}
	st, err := ingest.Run(context.Background(), b.JetStream(), src, ingest.Options{Community: "acme", Format: "t", Registry: events.DefaultRegistry()})
	require.NoError(t, err)
	require.EqualValues(t, 1000, st.Published)
	require.Equal(t, 19, state["saved"])
}

// Stopping early (a cancelled ingest) ends the source's goroutine too.
func TestRunStopsTheSourceWhenCancelled(t *testing.T) {
	b := kittest.Bus(t)
	env := source.Env{Community: "acme"}
	ctx, cancel := context.WithCancel(context.Background())
	produced := 0
	src := func(yield func(ingest.Record) bool) {
		for i := 0; ; i++ {
			produced++
			if i == 100 {
				cancel()
			}
			ev := env.Event(fmt.Sprintf("y:%d", i), "github.issue.opened", time.Now().Add(-time.Hour))
			ev.Actor = env.Actor("github", "1", "jane", "")
			if !yield(ingest.FromResult(source.One(ev), nil, []byte("{}"), "p")[0]) {
				return
			}
		}
	}
	_, err := ingest.Run(ctx, b.JetStream(), src, ingest.Options{Community: "acme", Format: "t", Registry: events.DefaultRegistry()})
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, produced, 100000, "the source kept running after the ingest stopped")
}

func TestMain(m *testing.M) { kittest.Main(m) }
