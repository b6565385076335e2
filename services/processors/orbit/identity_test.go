package orbit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
	"github.com/orbitflow/orbitflow/services/sink"
)

// identityStream publishes activities of github:0..19, slack:U1 and
// slack:U2 replying to each other in threads over 60 days, with three
// identity changes on the way: slack:U2 starts sending the e-mail hash of
// github:5 (an automatic merge, both with scores by then), a command
// merges slack:U1 into github:3, and a later command unmerges it again.
// It returns the activities as the final identities see them.
func (e *env) identityStream() []events.Event {
	ctx := context.Background()
	p := bus.NewPublisher(e.js)
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	email := events.HashEmail("five@example.org")
	var final []events.Event
	publish := func(subject string, data []byte, id string) {
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, id)
		require.NoError(e.t, p.Publish(ctx, m, nil))
	}
	command := func(i int, kind string, ids ...string) {
		c := events.IdentityCommand{ID: fmt.Sprintf("cmd-%d", i), Community: "acme", Kind: kind, Identities: ids,
			Reason: "test", RequestedBy: "identity_test", At: events.NewTimestamp(start)}
		data, err := json.Marshal(c)
		require.NoError(e.t, err)
		publish(subjects.Identity("acme"), data, c.ID)
	}
	// Two identities with one e-mail hash in a row (one fetched batch):
	// merged as the second is first seen.
	pair := events.HashEmail("pair@example.org")
	for i, actor := range []events.Actor{{Source: "github", SourceID: "77", EmailSHA256: pair}, {Source: "slack", SourceID: "U77", EmailSHA256: pair}} {
		ev := events.Event{ID: fmt.Sprintf("p-%d", i), SchemaVersion: 1, Community: "acme", Source: actor.Source, Type: "slack.message.posted",
			OccurredAt: events.NewTimestamp(start.Add(-time.Hour)), ReceivedAt: events.NewTimestamp(start), Actor: actor,
			Targets: []events.Target{{Source: "github", SourceID: "3", Kind: "reply"}}}
		data, err := events.Encode(&ev)
		require.NoError(e.t, err)
		publish(subjects.Activity(ev.Community, ev.Source), data, ev.ID)
		final = append(final, ev)
	}
	const n = 3000
	for i := range n {
		switch i {
		case 1000:
			command(i, events.IdentityMerge, "github:3", "slack:U1")
		case 2200:
			command(i, events.IdentityUnmerge, "slack:U1")
		}
		actor := events.Actor{Source: "github", SourceID: fmt.Sprint(i * 7 % 20), Username: fmt.Sprintf("user%d", i*7%20)}
		switch i % 9 {
		case 4:
			actor = events.Actor{Source: "slack", SourceID: "U1", Username: "uno"}
		case 7:
			actor = events.Actor{Source: "slack", SourceID: "U2", Username: "user9"} // same name as github:9: a suggestion
			if i > 1500 {
				actor.EmailSHA256 = email
			}
		}
		if actor.SourceID == "5" {
			actor.EmailSHA256 = email
		}
		ev := events.Event{ID: fmt.Sprintf("e-%d", i), SchemaVersion: 1, Community: "acme", Source: actor.Source,
			Type: "slack.message.posted", OccurredAt: events.NewTimestamp(start.Add(time.Duration(i) * (60 * 24 * time.Hour / n))),
			ReceivedAt: events.NewTimestamp(start.Add(90 * 24 * time.Hour)), Actor: actor, ThreadID: fmt.Sprintf("t%d", i%15),
			Channel: "general"}
		if actor.Source == "github" {
			ev.Type = "github.issue.commented"
		}
		if i%2 == 0 {
			target := []string{"github:5", "slack:U2", "slack:U1", "github:3", "github:11"}[i%5]
			src, id, _ := cut(target)
			ev.Targets = []events.Target{{Source: src, SourceID: id, Kind: "reply"}}
		}
		data, err := events.Encode(&ev)
		require.NoError(e.t, err)
		publish(subjects.Activity(ev.Community, ev.Source), data, ev.ID)
		final = append(final, ev)
	}
	require.NoError(e.t, p.Flush(ctx))
	return final
}

func cut(key string) (string, string, bool) {
	for i := range key {
		if key[i] == ':' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// Merges and unmerges, automatic and commanded, rebuild the members from
// their activities: at the end, every member's love and reach are those of
// a run that knew the final identities from the start, the merged-away
// member is gone from the members view, and the identity changes and the
// merge suggestion are recorded.
func TestIdentityChangesRebuildScores(t *testing.T) {
	e := newEnv(t)
	evs := e.identityStream()
	set := telemetry.Nop()
	s := sink.New(sink.DefaultConfig(), sink.Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt}, set)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	deps := Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt}
	p := New(testConfig(2), scoring.DefaultConfig(), deps, set)
	require.NoError(t, p.Start(context.Background()))
	// Crash between the merges, and go on with another partition count.
	e.waitFor(p, 1700)
	crash(t, p)
	p = New(testConfig(3), scoring.DefaultConfig(), deps, set)
	require.NoError(t, p.Start(context.Background()))
	e.waitFor(p, uint64(len(evs)+2))
	require.NoError(t, p.Shutdown(context.Background()))

	// The final identities from the start: github:5 is part of slack:U2
	// (the member keeps the id of the identity seen first), slack:U77 of
	// github:77.
	final := map[string]string{"github:5": "slack:U2", "slack:U77": "github:77"}
	want := scoring.NewScorer(scoring.DefaultConfig())
	reg := events.DefaultRegistry()
	for _, ev := range evs {
		w, _ := reg.Weight(ev.Type)
		m := cmp.Or(final[ev.Actor.Identity()], ev.Actor.Identity())
		a := scoring.Activity{Member: m, At: ev.OccurredAt.UnixMilli(), Type: ev.Type, Weight: w, Thread: ev.ThreadID}
		for _, tg := range ev.Targets {
			id := cmp.Or(final[tg.Identity()], tg.Identity())
			a.Targets = append(a.Targets, scoring.Target{Member: id, Kind: tg.Kind})
		}
		want.Apply(a)
	}
	ctx := context.Background()
	// The view decays love and reach to its now64(): the expectation is
	// taken at the same instant (a few milliseconds apart is ~1e-9).
	rows, err := e.ch.Query(ctx, "SELECT member_id, love, love_at, reach, orbit_step, toUnixTimestamp64Milli(now64(3)) FROM members WHERE community = 'acme'")
	require.NoError(t, err)
	seen := 0
	for rows.Next() {
		var id string
		var love, reach float64
		var loveAt time.Time
		var step uint8
		var now int64
		require.NoError(t, rows.Scan(&id, &love, &loveAt, &reach, &step, &now))
		m := want.Lookup(id)
		require.NotNil(t, m, id)
		require.InDelta(t, want.LoveAt(m, now), love, 1e-9*math.Max(1, love), "love of %s", id)
		require.InDelta(t, want.ReachAt(m, now), reach, 1e-9*math.Max(1, reach), "reach of %s", id)
		require.LessOrEqual(t, step, m.Step, id)
		seen++
	}
	rows.Close()
	require.Equal(t, want.Len(), seen, "one row per member; github:5 is part of slack:U2, slack:U77 of github:77")

	var into string
	require.NoError(t, e.ch.QueryRow(ctx, "SELECT merged_into FROM members_raw FINAL WHERE member_id = 'github:5'").Scan(&into))
	require.Equal(t, "slack:U2", into)
	for identity, member := range map[string]string{"github:5": "slack:U2", "slack:U2": "slack:U2", "slack:U77": "github:77",
		"slack:U1": "slack:U1", "github:3": "github:3", "github:11": "github:11"} {
		var got string
		require.NoError(t, e.ch.QueryRow(ctx, "SELECT member_id FROM member_identities FINAL WHERE community = 'acme' AND identity = ?", identity).Scan(&got))
		require.Equal(t, member, got, "member_identities of %s", identity)
	}
	var identities uint64
	require.NoError(t, e.ch.QueryRow(ctx, "SELECT count() FROM member_identities FINAL WHERE community = 'acme'").Scan(&identities))
	require.EqualValues(t, 24, identities, "github:0..19, slack:U1, slack:U2, github:77, slack:U77")
	var edges uint64
	require.NoError(t, e.ch.QueryRow(ctx, "SELECT count() FROM member_edges WHERE community = 'acme'").Scan(&edges))
	require.EqualValues(t, want.Edges(), edges)
	require.NoError(t, e.ch.QueryRow(ctx, "SELECT count() FROM member_edges WHERE member_a = 'github:5' OR member_b = 'github:5'").Scan(&edges))
	require.Zero(t, edges, "no edge keeps the merged-away member")

	var kinds []string
	rows, err = e.ch.Query(ctx, "SELECT toString(kind) || ' ' || arrayStringConcat(members, ',') FROM identity_changes FINAL ORDER BY stream_seq")
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		kinds = append(kinds, k)
	}
	rows.Close()
	require.Equal(t, []string{"merge slack:U1,github:3", "merge slack:U2,github:5", "unmerge github:3,slack:U1"}, kinds)

	var evidence string
	var confidence float64
	require.NoError(t, e.ch.QueryRow(ctx, "SELECT evidence, confidence FROM merge_suggestions FINAL WHERE active AND member_a = 'github:9'").
		Scan(&evidence, &confidence))
	require.Contains(t, evidence, `same username "user9" on `)
	require.Equal(t, 0.6, confidence)
}
