package orbit

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
)

// TestEventsTheSinkDeadLettersAreNotScored: the processor scored every
// message that decoded with a known type, also those the sink
// dead-letters: an invalid event (a title past its limit) and a valid event
// on another community's subject became members that no activity in
// ClickHouse accounts for (found by the fault test of internal/app).
func TestEventsTheSinkDeadLettersAreNotScored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.publish(600)
	bad := func(subject string, mutate func(*events.Event)) {
		ev := e.evs[0]
		ev.ID = "poison-" + subject
		ev.Actor = events.Actor{Source: "github", SourceID: "poisoner", Username: "poisoner"}
		mutate(&ev)
		data, err := events.Encode(&ev)
		require.NoError(t, err)
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.ID)
		_, err = e.js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	bad(subjects.Activity("acme", "github"), func(ev *events.Event) { ev.Title = strings.Repeat("t", events.MaxTextLen+1) })
	bad(subjects.Activity("beta", "github"), func(ev *events.Event) { ev.Community = "acme" })
	p := e.start(testConfig(2))
	e.waitFor(p, 602)
	require.NoError(t, p.Shutdown(context.Background()))
	var n uint64
	require.NoError(t, e.ch.QueryRow(ctx, "SELECT count() FROM members_raw WHERE member_id LIKE '%poisoner%'").Scan(&n))
	require.Zero(t, n, "a member made of dead-lettered messages")
	e.check()
}
