package orbit

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
	"github.com/orbitflow/orbitflow/services/processors/signals"
)

// signalEvents publishes the events of the signal tests and returns the
// last stream sequence.
func (e *env) signalEvents(now time.Time) uint64 {
	ctx := context.Background()
	type spec struct {
		id, actor, typ, title string
		ago                   time.Duration
		bot                   bool
		attrs                 map[string]string
	}
	specs := []spec{
		{"e0", "7", "github.issue.opened", "pricing for us?", 72 * time.Hour, false, nil}, // too old to deliver
		{"e1", "1", "github.pull_request.opened", "Add SSO pricing page", 6 * time.Hour, false, nil},
		{"e2", "2", "github.issue.opened", "pricing question", 5 * time.Hour, false, map[string]string{"teammate": "true"}},
		{"e3", "3", "github.issue.opened", "pricing", 5 * time.Hour, true, nil},
		{"e4", "4", "github.issue.opened", "pricing", 4 * time.Hour, false, nil},  // opted out in config
		{"e5", "5", "github.issue.opened", "pricing?", 4 * time.Hour, false, nil}, // opted out in the bucket
		{"e6", "6", "github.issue.opened", "Pricing for the team plan", 3 * time.Hour, false, map[string]string{"organization": "Initech"}},
		{"e7", "6", "github.issue.commented", "how do I cancel", 2 * time.Hour, false, nil},
		{"e8", "1", "github.issue.opened", "lasso pricings", time.Hour, false, nil},
	}
	var seq uint64
	for _, s := range specs {
		ev := events.Event{ID: s.id, SchemaVersion: 1, Community: "acme", Source: "github", Type: s.typ,
			OccurredAt: events.NewTimestamp(now.Add(-s.ago)), ReceivedAt: events.NewTimestamp(now),
			Actor:   events.Actor{Source: "github", SourceID: s.actor, Username: "user" + s.actor, IsBot: s.bot},
			Channel: "acme/widgets", Title: s.title, URL: "https://github.com/acme/widgets/issues/" + s.id, Attributes: s.attrs}
		require.NoError(e.t, events.DefaultRegistry().Validate(&ev))
		data, err := events.Encode(&ev)
		require.NoError(e.t, err)
		m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.ID)
		ack, err := e.js.PublishMsg(ctx, m)
		require.NoError(e.t, err)
		seq = ack.Sequence
	}
	return seq
}

type signalRowOut struct {
	Rule, EventID, Member, Org string
	Level, Step                uint8
	Keywords                   []string
	Delivered                  bool
}

func (e *env) signalRows(final bool) []signalRowOut {
	q := `SELECT rule, event_id, member_id, organization, orbit_level, orbit_step, keywords, delivered FROM signals`
	if final {
		q += ` FINAL`
	}
	rows, err := e.ch.Query(context.Background(), q+` WHERE community = 'acme' ORDER BY event_id, rule`)
	require.NoError(e.t, err)
	defer rows.Close()
	var out []signalRowOut
	for rows.Next() {
		var r signalRowOut
		require.NoError(e.t, rows.Scan(&r.Rule, &r.EventID, &r.Member, &r.Org, &r.Level, &r.Step, &r.Keywords, &r.Delivered))
		out = append(out, r)
	}
	require.NoError(e.t, rows.Err())
	return out
}

// deliveries are the signal deliveries on the ALERTS stream.
func (e *env) deliveries() []alerts.Delivery {
	ctx := context.Background()
	cons, err := e.js.OrderedConsumer(ctx, subjects.AlertStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.AlertDeliveryPrefix + ".>"}})
	require.NoError(e.t, err)
	var out []alerts.Delivery
	for {
		batch, err := cons.FetchNoWait(100)
		require.NoError(e.t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			var d alerts.Delivery
			require.NoError(e.t, json.Unmarshal(m.Data(), &d))
			out = append(out, d)
		}
		if n == 0 {
			return out
		}
	}
}

func TestSignalsFireOnceWithEvidenceAcrossReplays(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	opt, err := signals.OpenOptOuts(ctx, e.js)
	require.NoError(t, err)
	require.NoError(t, opt.Add(ctx, signals.OptOut{Community: "acme", Member: "github:5", By: "test"}))

	w := signals.NewWatcher("", nil, signals.Config{OptOut: map[string][]string{"acme": {"github:4"}}}, e.js, telemetry.Nop().Logger)
	w.SetRules([]signals.Rule{
		{Name: "sales", Community: "acme", Keywords: []string{"pricing", "SSO"}, Levels: []int{2, 3}, Targets: []string{"crm"}},
		{Name: "churn", Community: "acme", Types: []string{"github.issue.commented"}, Keywords: []string{"cancel"}},
	})
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() { _ = w.Shutdown(ctx) })
	last := e.signalEvents(now)

	cfg := DefaultConfig()
	cfg.CheckpointInterval = time.Hour // no checkpoint: every start replays from the first activity
	run := func() {
		p := New(cfg, scoring.DefaultConfig(), Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt, Signals: w}, telemetry.Nop())
		require.NoError(t, p.Start(ctx))
		e.waitFor(p, last)
		require.Eventually(t, func() bool { return len(e.signalRows(true)) == 4 }, 30*time.Second, 50*time.Millisecond)
		time.Sleep(2 * cfg.FlushInterval)
		require.NoError(t, p.Abort(ctx)) // a crash: no checkpoint
	}
	want := []signalRowOut{
		{Rule: "sales", EventID: "e0", Member: "github:7", Level: 3, Step: 5, Keywords: []string{"pricing"}, Delivered: false},
		{Rule: "sales", EventID: "e1", Member: "github:1", Level: 2, Step: 8, Keywords: []string{"pricing", "SSO"}, Delivered: true},
		{Rule: "sales", EventID: "e6", Member: "github:6", Org: "Initech", Level: 3, Step: 5, Keywords: []string{"pricing"}, Delivered: true},
		{Rule: "churn", EventID: "e7", Member: "github:6", Level: 3, Step: 5, Keywords: []string{"cancel"}, Delivered: false},
	}
	wantDeliveries := func() {
		ds := e.deliveries()
		var ids []string
		for _, d := range ds {
			require.Equal(t, alerts.KindSignal, d.Kind)
			require.Equal(t, "crm", d.Target)
			ids = append(ids, d.Signal.Activity.EventID+"/"+d.Target)
		}
		require.Equal(t, []string{"e1/crm", "e6/crm"}, ids)
		require.Equal(t, alerts.SignalID("acme", "sales", "e1")+"/crm", ds[0].ID)
		s := ds[0].Signal
		require.Equal(t, []string{`title has ["pricing", "SSO"]`, "level 2 (Contributing II) is one of [2, 3]",
			"not a teammate or a bot, and not opted out of signals"}, s.Reasons)
		require.Equal(t, "Add SSO pricing page", s.Activity.Title)
		require.Equal(t, "https://github.com/acme/widgets/issues/e1", s.Activity.URL)
		require.Equal(t, now.Add(-6*time.Hour), s.At)
	}

	run()
	require.Equal(t, want, e.signalRows(false))
	wantDeliveries()

	// A replay from the start finds every signal recorded: nothing is
	// delivered or written again.
	run()
	require.Equal(t, want, e.signalRows(false), "no second copy, not even before a merge")
	wantDeliveries()

	// A crash after the deliveries were queued but before the rows were
	// written: the replay queues them again and the stream drops the copies.
	require.NoError(t, e.ch.Exec(ctx, `ALTER TABLE signals DELETE WHERE event_id IN ('e1', 'e6') SETTINGS mutations_sync = 2`))
	run()
	require.Equal(t, want, e.signalRows(true))
	wantDeliveries()

	// Forgetting a member erases its signals.
	cmd := events.IdentityCommand{ID: "forget-6", Community: "acme", Kind: events.IdentityForget, RequestedBy: "test",
		At: events.NewTimestamp(now), Tombstones: []string{testSalt.Tombstone("acme", "github:6")}}
	require.NoError(t, cmd.Validate())
	data, err := json.Marshal(cmd)
	require.NoError(t, err)
	ack, err := e.js.Publish(ctx, subjects.Identity("acme"), data, jetstream.WithMsgID(cmd.ID))
	require.NoError(t, err)
	p := New(cfg, scoring.DefaultConfig(), Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt, Signals: w}, telemetry.Nop())
	require.NoError(t, p.Start(ctx))
	e.waitFor(p, ack.Sequence)
	require.NoError(t, p.Shutdown(ctx))
	require.Equal(t, []signalRowOut{want[0], want[1]}, e.signalRows(true))
}

func TestSignalsOptOutInTheBucketAppliesWhileRunning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w := signals.NewWatcher("", nil, signals.Config{}, e.js, telemetry.Nop().Logger)
	w.SetRules([]signals.Rule{{Name: "sales", Community: "acme", Keywords: []string{"pricing"}}})
	require.NoError(t, w.Start(ctx))
	t.Cleanup(func() { _ = w.Shutdown(ctx) })
	require.False(t, w.OptedOut("acme", "github:9"))
	opt, err := signals.OpenOptOuts(ctx, e.js)
	require.NoError(t, err)
	require.NoError(t, opt.Add(ctx, signals.OptOut{Community: "acme", Member: "github:9"}))
	require.Eventually(t, func() bool { return w.OptedOut("acme", "m", "github:9") }, 5*time.Second, 10*time.Millisecond)
	require.False(t, w.OptedOut("beta", "github:9"), "an opt-out is per community")
	list, err := opt.List(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "github:9", list[0].Member)
	require.NoError(t, opt.Remove(ctx, "acme", "github:9"))
	require.ErrorIs(t, opt.Remove(ctx, "acme", "github:9"), signals.ErrNotOptedOut)
	require.Eventually(t, func() bool { return !w.OptedOut("acme", "github:9") }, 5*time.Second, 10*time.Millisecond)
}
