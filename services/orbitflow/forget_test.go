package main

// `orbitflow members forget` end to end, in process: the real NATS server
// and the real ClickHouse engine, the sink (with its health refresher) and
// the scoring processor as `orbitflow run` composes them, and the
// command's own code (forgetMember).

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/orbit"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
	"github.com/orbitflow/orbitflow/services/sink"
)

type forgetEnv struct {
	t    *testing.T
	js   jetstream.JetStream
	ch   driver.Conn
	salt *events.Salt
	proc *orbit.Processor
	sink *sink.Sink
	seq  uint64 // the last sequence published
}

func (e *forgetEnv) startSink() {
	e.t.Helper()
	cfg := sink.DefaultConfig()
	cfg.FlushInterval, cfg.RollupInterval = 100*time.Millisecond, time.Second
	e.sink = sink.New(cfg, sink.Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: e.salt}, telemetry.Nop())
	require.NoError(e.t, e.sink.Start(context.Background()))
	s := e.sink
	e.t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
}

// waitProcessor waits until the processor applied everything published.
func (e *forgetEnv) waitProcessor() {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.proc.Seq() >= e.seq }, time.Minute, 20*time.Millisecond,
		"the processor catches up to seq %d", e.seq)
	time.Sleep(300 * time.Millisecond) // the processor's next flush
}

func (e *forgetEnv) startProcessor() {
	e.t.Helper()
	cfg := orbit.DefaultConfig()
	cfg.FlushInterval, cfg.CheckpointInterval = 50*time.Millisecond, 200*time.Millisecond
	e.proc = orbit.New(cfg, scoring.DefaultConfig(), orbit.Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: e.salt},
		telemetry.Nop())
	require.NoError(e.t, e.proc.Start(context.Background()))
	p := e.proc
	e.t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
}

func (e *forgetEnv) publish(evs ...events.Event) {
	e.t.Helper()
	for _, ev := range evs {
		data, err := events.Encode(&ev)
		require.NoError(e.t, err)
		m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.ID)
		ack, err := e.js.PublishMsg(context.Background(), m)
		require.NoError(e.t, err)
		e.seq = ack.Sequence
	}
}

// settle waits until the sink has acknowledged and the processor applied
// everything published.
func (e *forgetEnv) settle() {
	e.t.Helper()
	ctx := context.Background()
	require.Eventually(e.t, func() bool {
		c, err := e.js.Consumer(ctx, subjects.ActivityStream, subjects.SinkActivities)
		require.NoError(e.t, err)
		info, err := c.Info(ctx)
		require.NoError(e.t, err)
		return info.AckFloor.Stream >= e.seq && e.proc.Seq() >= e.seq
	}, time.Minute, 50*time.Millisecond, "the sink and the processor catch up to seq %d", e.seq)
	time.Sleep(300 * time.Millisecond) // the processor's next flush
}

func (e *forgetEnv) count(q string, args ...any) uint64 {
	e.t.Helper()
	var n uint64
	require.NoError(e.t, e.ch.QueryRow(context.Background(), q, args...).Scan(&n), q)
	return n
}

var forgetStart = time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC) // a Monday

// act is an activity of the test community.
func act(id, actor, username, typ, thread string, day int, targets ...events.Target) events.Event {
	ev := events.Event{ID: id, SchemaVersion: 1, Community: "acme", Source: strings.Split(actor, ":")[0], Type: typ,
		OccurredAt: events.NewTimestamp(forgetStart.Add(time.Duration(day)*24*time.Hour + time.Duration(len(id))*time.Minute)),
		ReceivedAt: events.NewTimestamp(forgetStart.Add(60 * 24 * time.Hour)),
		Actor:      events.Actor{Source: strings.Split(actor, ":")[0], SourceID: strings.Split(actor, ":")[1], Username: username},
		ThreadID:   thread, Channel: "dev", Targets: targets,
		Attributes: map[string]string{"tags": "help,dev", "organization": "org-" + thread}}
	if ev.Source == "discourse" {
		ev.Type = strings.Replace(typ, "github.issue.opened", "discourse.topic.created", 1)
		ev.Type = strings.Replace(ev.Type, "github.issue.commented", "discourse.post.created", 1)
	}
	return ev
}

// TestForgetMemberErasesEverything: a member with two identities (merged
// by their shared e-mail), active with others (replies both ways,
// mentions by username, items, rollups, an alert, a dead letter), is
// forgotten by one of its identities. Then no row of any table of the
// database names it (searched generically: every text, array, map and
// identity-key column of every table, so a new table is covered without
// editing this test); the others are intact; its later events are dropped
// and never dead-lettered; and a restart of the processor from its
// checkpoint does not bring it back.
func TestForgetMemberErasesEverything(t *testing.T) {
	ctx := context.Background()
	b := kittest.Bus(t)
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	e := &forgetEnv{t: t, js: b.JetStream(), ch: ch, salt: events.MustSalt("forget-test-salt-0123456789")}
	e.startSink()
	e.startProcessor()

	const zedGH, zedDC, name = "github:9001", "discourse:77", "zed-forgetme"
	email := events.HashEmail("zed@example.org")
	gh := func(ev events.Event) events.Event {
		ev.Actor.EmailSHA256, ev.Actor.DisplayName = email, "Zed Forgetme"
		ev.Actor.EmailDomainSHA256 = events.HashEmailDomain("zed@example.org")
		return ev
	}
	reply := func(id string) events.Target {
		src, sid, _ := strings.Cut(id, ":")
		return events.Target{Source: src, SourceID: sid, Kind: "reply"}
	}
	mention := events.Target{Source: "github", SourceID: "login:" + name, Kind: "mention"}
	var evs []events.Event
	for w := 0; w < 3; w++ { // three weeks: graph measures are written weekly
		d := 7 * w
		th := fmt.Sprintf("t%d", w)
		evs = append(evs,
			gh(act(fmt.Sprintf("z-open-%d", w), zedGH, name, "github.issue.opened", th, d)),
			act(fmt.Sprintf("a-re-%d", w), "github:1", "alice-x", "github.issue.commented", th, d, reply(zedGH), mention),
			act(fmt.Sprintf("b-re-%d", w), "github:2", "bob-y", "github.issue.commented", th, d+1, reply("github:1")),
			act(fmt.Sprintf("a-open-%d", w), "github:1", "alice-x", "github.issue.opened", "a"+th, d+1),
			gh(act(fmt.Sprintf("z-re-%d", w), zedGH, name, "github.issue.commented", "a"+th, d+2, reply("github:1"))),
			gh(act(fmt.Sprintf("zd-%d", w), zedDC, name, "github.issue.opened", "d"+th, d+3)),
			act(fmt.Sprintf("b-dc-%d", w), "discourse:5", "bob-y", "github.issue.commented", "d"+th, d+3, reply(zedDC)),
		)
	}
	evs = append(evs, act("a-late", "github:1", "alice-x", "github.issue.opened", "late", 30)) // a new month
	e.publish(evs...)
	// A rejected event of the member: the dead letter holds its payload.
	bad := gh(act("z-bad", zedGH, name, "github.unknown_kind", "t0", 3))
	e.publish(bad)
	e.settle()

	// The two identities are one member (same e-mail), its member id the
	// first seen identity; e-mail hashes are stored keyed.
	require.Equal(t, uint64(2), e.count(`SELECT count() FROM member_identities FINAL WHERE community = 'acme' AND member_id = ?`, zedGH))
	require.Equal(t, uint64(0), e.count(`SELECT count() FROM activities_raw WHERE email_sha256 = ?`, email))
	require.Positive(t, e.count(`SELECT count() FROM activities_raw WHERE email_sha256 = ?`, e.salt.Email(email)))
	require.Equal(t, uint64(1), e.count(`SELECT count() FROM dead_letters_raw WHERE position(payload, 'z-bad') > 0`))
	// Its e-mail domain and an explicit customer-account mapping (0026).
	require.Equal(t, uint64(2), e.count(`SELECT count() FROM identity_domains WHERE community = 'acme' AND domain_sha256 = ?`,
		events.HashDomain("example.org")))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO account_members_raw (community, member, account_id, mapped_by, mapped_at, version)
		VALUES ('acme', ?, 'acct-1', 'test', now64(3), 1)`, zedDC))
	// Alerts keyed by the member (and one of another member).
	for _, key := range []string{zedGH, zedGH + "/advocate", "github:1"} {
		require.NoError(t, ch.Exec(ctx, `INSERT INTO alerts (alert_id, fingerprint, rule, community, key, severity, state, version,
			started_at, value, baseline, summary, labels, updated_at) VALUES (?, 'f', 'silent', 'acme', ?, 'warning', 'firing', 1, now64(3), 0, 0, ?, map(), now64(3))`,
			"al-"+key, key, key+" went quiet"))
		require.NoError(t, ch.Exec(ctx, `INSERT INTO alert_events (event_id, alert_id, version, rule, community, key, severity, from_state,
			to_state, at, value, baseline, summary, by) VALUES (?, ?, 1, 'silent', 'acme', ?, 'warning', 'pending', 'firing', now64(3), 0, 0, '', '')`,
			"ae-"+key, "al-"+key, key))
	}
	require.NoError(t, ch.Exec(ctx, `INSERT INTO alert_notifications (notification_id, rule, community, at, status, targets, body)
		VALUES ('n1', 'silent', 'acme', now64(3), 'sent', ['hook'], ?)`, `{"alerts":[{"key":"`+zedGH+`"}]}`))
	// The refresher's rollups hold the member's identity keys.
	var keyHashes []uint64
	require.Eventually(t, func() bool {
		keyHashes = keyHashes[:0]
		rows, err := ch.Query(ctx, `SELECT DISTINCT cityHash64(community, identity) FROM identity_daily WHERE identity IN (?, ?)`, zedGH, zedDC)
		require.NoError(t, err)
		for rows.Next() {
			var h uint64
			require.NoError(t, rows.Scan(&h))
			keyHashes = append(keyHashes, h)
		}
		rows.Close()
		return len(keyHashes) == 2 && e.count(`SELECT count() FROM member_periods WHERE identity_key IN ?`, keyHashes) > 0 &&
			e.count(`SELECT count() FROM items WHERE opener = ?`, zedGH) > 0
	}, time.Minute, 200*time.Millisecond, "the health refresher writes the member's rollups")

	needles := []string{zedGH, zedDC, name, "Zed Forgetme", email, e.salt.Email(email)}
	before := findPerson(t, ch, needles, keyHashes)
	for _, table := range []string{"activities_raw", "members_raw", "member_identities", "member_edges_raw", "level_changes",
		"identity_daily", "identity_firsts", "thread_activity", "interactions_daily", "identity_tag_daily", "member_periods",
		"identity_lifetimes", "items", "member_graph", "dead_letters_raw", "alerts", "alert_events", "alert_notifications",
		"member_identity_dict", "role_changes"} {
		require.Contains(t, before, table, "before forgetting, the search finds the member in %s (found in %v)", table, before)
	}
	othersBefore := e.count(`SELECT count() FROM activities_raw WHERE identity NOT IN (?, ?)`, zedGH, zedDC)
	aliceLove := e.count(`SELECT count() FROM members WHERE member_id = 'github:1' AND love > 0`)
	require.Equal(t, uint64(1), aliceLove)

	// Forget, by the second identity: the whole member goes.
	var out bytes.Buffer
	require.NoError(t, forgetMember(ctx, ch, e.js, e.salt, "", zedDC, 2*time.Minute, &out))
	t.Log(out.String())
	require.Contains(t, out.String(), "member "+zedGH+" is forgotten")
	require.Empty(t, findPerson(t, ch, needles, keyHashes), "no row of any table names the forgotten member")
	require.NotContains(t, out.String(), "zed@", "the command prints no address")

	// The others are intact: their activities (an activity replying to
	// the member keeps its row, without the target), scores, rollups.
	require.Equal(t, othersBefore, e.count(`SELECT count() FROM activities_raw WHERE identity NOT IN (?, ?)`, zedGH, zedDC))
	require.Equal(t, uint64(3), e.count(`SELECT count() FROM activities_raw WHERE identity = 'github:1' AND type = 'github.issue.commented'
		AND length(target_member_ids) = 0 AND length(target_kinds) = 0`))
	require.Equal(t, uint64(1), e.count(`SELECT count() FROM members WHERE member_id = 'github:1' AND love > 0`))
	require.Equal(t, uint64(1), e.count(`SELECT count() FROM alerts WHERE key = 'github:1'`))
	require.Positive(t, e.count(`SELECT count() FROM identity_daily WHERE identity = 'github:2'`))
	require.Equal(t, uint64(2), e.count(`SELECT sum(identities > 0) FROM forget_log FINAL WHERE community = 'acme'`))

	// Later events of either identity are dropped: not stored, not
	// dead-lettered (even an invalid one), deleted from the stream; an
	// event naming the member as target loses the target. The sink is
	// down while they come, so the processor surely reads them (the sink
	// deletes them from the stream), and the next sink knows the
	// tombstones from ClickHouse alone.
	require.NoError(t, e.sink.Shutdown(ctx))
	dead := e.count(`SELECT count() FROM dead_letters_raw`)
	e.publish(gh(act("z-after-1", zedGH, name, "github.issue.opened", "t9", 40)),
		act("z-after-2", zedDC, name, "github.issue.opened", "t9", 40),
		gh(act("z-after-bad", zedGH, name, "github.unknown_kind", "t9", 40)),
		act("a-after", "github:1", "alice-x", "github.issue.commented", "t9", 40, reply(zedGH), mention))
	last := e.seq
	e.waitProcessor()
	// The invalid one is no activity to the processor: skipped before.
	require.Equal(t, int64(2), e.proc.Dropped(), "the processor drops and counts the forgotten identities' events")
	e.startSink()
	e.settle()
	time.Sleep(500 * time.Millisecond) // a dead letter would have come by now
	require.Equal(t, int64(3), e.sink.Dropped(), "the sink drops and counts them, the invalid one too")
	require.Empty(t, findPerson(t, ch, needles, keyHashes), "later events of the forgotten identities are dropped")
	require.Equal(t, dead, e.count(`SELECT count() FROM dead_letters_raw`), "nothing of theirs is dead-lettered")
	require.Equal(t, uint64(1), e.count(`SELECT count() FROM activities_raw WHERE event_id = 'a-after' AND length(target_member_ids) = 0`))
	st, err := e.js.Stream(ctx, subjects.ActivityStream)
	require.NoError(t, err)
	for seq := last - 3; seq < last; seq++ {
		_, err := st.GetMsg(ctx, seq)
		require.ErrorIs(t, err, jetstream.ErrMsgNotFound, "the dropped event at seq %d is deleted from the stream", seq)
	}
	_, err = st.GetMsg(ctx, last)
	require.NoError(t, err, "another member's event stays in the stream")

	// A restart of the processor from its checkpoint: the checkpoint holds
	// no trace of the member, and the member stays gone.
	require.NoError(t, e.sink.Shutdown(ctx))
	require.NoError(t, e.proc.Shutdown(ctx))
	obs, err := e.js.ObjectStore(ctx, orbit.Bucket)
	require.NoError(t, err)
	cp, err := obs.GetBytes(ctx, "checkpoint")
	require.NoError(t, err)
	require.Greater(t, len(cp), 100)
	require.True(t, bytes.Contains(cp, []byte("alice-x")), "the checkpoint holds the other members")
	for _, n := range needles {
		require.False(t, bytes.Contains(cp, []byte(n)), "the checkpoint holds %q", n)
	}
	e.startProcessor()
	e.publish(gh(act("z-after-restart", zedGH, name, "github.issue.commented", "t9", 41, reply("github:1"))),
		act("a-after-restart", "github:1", "alice-x", "github.issue.commented", "t9", 41, reply(zedDC)))
	e.waitProcessor()
	require.Equal(t, int64(1), e.proc.Dropped(), "the restarted processor drops the member's event")
	e.startSink()
	e.settle()
	require.Equal(t, int64(1), e.sink.Dropped())
	require.Empty(t, findPerson(t, ch, needles, keyHashes), "the restart does not bring the member back")
	require.Equal(t, uint64(1), e.count(`SELECT count() FROM members WHERE member_id = 'github:1' AND love > 0`))
	require.Equal(t, uint64(1), e.count(`SELECT count() FROM activities_raw WHERE event_id = 'a-after-restart' AND length(target_member_ids) = 0`))
}

// findPerson searches every table of the database (not views, which
// hold nothing) for the needles: as a substring of every String column,
// of every element of an Array(String) column, of every key and value of
// a Map(String, String) column; and for the identity-key hashes in every
// UInt64 column named *_key. It returns "table.column (rows)" for each
// hit.
func findPerson(t *testing.T, ch driver.Conn, needles []string, keyHashes []uint64) map[string]string {
	t.Helper()
	ctx := clickhouse.Context(context.Background(), clickhouse.WithParameters(clickhouse.Parameters{
		"needles": "['" + strings.Join(needles, "','") + "']"}))
	rows, err := ch.Query(ctx, `SELECT c.table, c.name, c.type FROM system.columns AS c
		INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table
		WHERE c.database = currentDatabase() AND t.engine NOT IN ('View', 'MaterializedView')
		ORDER BY c.table, c.name`)
	require.NoError(t, err)
	type col struct{ table, name, typ string }
	var cols []col
	for rows.Next() {
		var c col
		require.NoError(t, rows.Scan(&c.table, &c.name, &c.typ))
		cols = append(cols, c)
	}
	rows.Close()
	require.NotEmpty(t, cols)
	has := func(x string) string { return "arrayExists(n -> position(" + x + ", n) > 0, {needles:Array(String)})" }
	hits := map[string]string{}
	searched := 0
	for _, c := range cols {
		id := "`" + c.name + "`"
		typ := strings.TrimSuffix(strings.TrimPrefix(c.typ, "LowCardinality("), ")")
		typ = strings.TrimSuffix(strings.TrimPrefix(typ, "Nullable("), ")")
		var cond string
		switch {
		case typ == "String" || strings.HasPrefix(typ, "FixedString"):
			cond = has("toString(" + id + ")")
		case strings.HasPrefix(c.typ, "Array(") && strings.Contains(c.typ, "String"):
			cond = "arrayExists(x -> " + has("toString(x)") + ", " + id + ")"
		case strings.HasPrefix(c.typ, "Map("):
			cond = "arrayExists(x -> " + has("toString(x)") + ", arrayConcat(arrayMap(k -> toString(k), mapKeys(" + id + ")), arrayMap(v -> toString(v), mapValues(" + id + "))))"
		case c.typ == "UInt64" && strings.HasSuffix(c.name, "_key") && len(keyHashes) > 0:
			cond = id + " IN (" + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(keyHashes)), ","), "[]") + ")"
		default:
			continue
		}
		searched++
		var n uint64
		q := "SELECT count() FROM `" + c.table + "` WHERE " + cond
		require.NoError(t, ch.QueryRow(ctx, q).Scan(&n), q)
		if n > 0 {
			hits[c.table] += fmt.Sprintf("%s (%d) ", c.name, n)
		}
	}
	require.Greater(t, searched, 50, "the search covers the columns of every table")
	return hits
}
