package discord

import (
	"errors"
	"testing"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// FuzzNormalize feeds gateway dispatches, seeded with every recorded
// payload: Normalize never panics, fails only with *source.InputError, sets
// exactly one of Events, Ignored and Unmapped, yields valid events and is
// deterministic (a redelivery gets the same ids).
func FuzzNormalize(f *testing.F) {
	for _, p := range loadPayloads(f) {
		f.Add(p.Event, p.D)
	}
	f.Add("GUILD_MEMBER_ADD", []byte(`{"guild_id":"1","joined_at":"2026-02-01T04:00:00Z","user":{"id":"2","username":"u"}}`))
	f.Add("MESSAGE_CREATE", []byte(`{"id":"3","channel_id":"1","type":19,"author":{"id":"2"},"timestamp":"2026-01-01T00:00:00Z",`+
		`"message_reference":{"message_id":"4"},"referenced_message":{"author":{"id":"5"}},"mentions":[{"id":"6"}]}`))
	f.Fuzz(func(t *testing.T, event string, d []byte) {
		res, err := Normalize(testEnv(), event, d)
		if err != nil {
			var ie *source.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T %v is not a *source.InputError", err, err)
			}
			return
		}
		set := 0
		for _, ok := range []bool{len(res.Events) > 0, res.Ignored != "", res.Unmapped != ""} {
			if ok {
				set++
			}
		}
		if set != 1 {
			t.Fatalf("want exactly one of events, ignored, unmapped: %+v", res)
		}
		for i := range res.Events {
			if err := events.DefaultRegistry().Validate(&res.Events[i]); err != nil {
				t.Fatalf("event %d invalid: %v\n%+v", i, err, res.Events[i])
			}
		}
		again, err := Normalize(testEnv(), event, d)
		if err != nil || len(again.Events) != len(res.Events) {
			t.Fatalf("not deterministic: %v", err)
		}
		for i := range res.Events {
			if again.Events[i].ID != res.Events[i].ID {
				t.Fatalf("id not stable: %s vs %s", res.Events[i].ID, again.Events[i].ID)
			}
		}
	})
}
