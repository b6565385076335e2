package csvimport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
)

const meetupData = "../../../../shared/realdata/meetup/perceval_tests_data/meetup/"

func TestMeetupFixtures(t *testing.T) {
	type ev struct{ ID, Type, Actor, Thread, Channel string }
	tests := []struct {
		file    string
		want    []ev
		ignored int
	}{
		{"meetup_rsvps.json", []ev{
			{"meetup:rsvp:233964056:1", "meetup.event.rsvped", "meetup:1", "meetup:event:233964056", "sqlpass-es"},
			{"meetup:rsvp:233964056:184594357", "meetup.event.rsvped", "meetup:184594357", "meetup:event:233964056", "sqlpass-es"},
			{"meetup:rsvp:233964056:294594357", "meetup.event.rsvped", "meetup:294594357", "meetup:event:233964056", "sqlpass-es"},
		}, 0},
		{"meetup_comments.json", []ev{
			{"meetup:comment:470710161", "meetup.comment.posted", "meetup:4", "meetup:event:233964056", "sqlpass-es"},
			{"meetup:comment:470685627", "meetup.comment.posted", "meetup:5", "meetup:event:233964056", "sqlpass-es"},
		}, 0},
		{"meetup_events.json", []ev{
			{"meetup:event:1:host:1", "meetup.event.organized", "meetup:1", "meetup:event:1", "sqlpass-es"},
			{"meetup:event:2:host:2", "meetup.event.organized", "meetup:2", "meetup:event:2", "sqlpass-es"},
			{"meetup:event:2:host:1", "meetup.event.organized", "meetup:1", "meetup:event:2", "sqlpass-es"},
		}, 0},
		{"meetup_events_empty.json", nil, 0},
		{"meetup_events_next.json", []ev{
			{"meetup:event:3:host:2", "meetup.event.organized", "meetup:2", "meetup:event:3", "sqlpass-es"},
			{"meetup:event:3:host:1", "meetup.event.organized", "meetup:1", "meetup:event:3", "sqlpass-es"},
		}, 0},
		{"meetup_events_range.json", []ev{
			{"meetup:event:2:host:2", "meetup.event.organized", "meetup:2", "meetup:event:2", "sqlpass-es"},
			{"meetup:event:2:host:1", "meetup.event.organized", "meetup:1", "meetup:event:2", "sqlpass-es"},
		}, 0},
	}
	reg := events.DefaultRegistry()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(meetupData, tt.file))
			require.NoError(t, err)
			defer f.Close()
			var got []ev
			ignored := 0
			var recs []ingest.Record
			for r := range Meetup(f, tt.file, testEnv) {
				recs = append(recs, r)
			}
			for _, r := range recs {
				require.NoError(t, r.Err, r.Pos)
				if r.Ignored != "" {
					ignored++
					continue
				}
				e := r.Event
				require.NoError(t, reg.Validate(&e), r.Pos)
				got = append(got, ev{e.ID, e.Type, e.Actor.Identity(), e.ThreadID, e.Channel})
			}
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.ignored, ignored)
		})
	}
}

func TestMeetupEdgeCases(t *testing.T) {
	tests := []struct {
		name, in, err, ignored string
	}{
		{"upcoming event", `[{"id":"9","time":1900000000000,"event_hosts":[{"id":1}]}]`, "", "meetup event 9 has not happened yet (2030-03-17T17:46:40Z)"},
		{"rsvp no", `[{"response":"no","created":1,"event":{"id":"1"},"member":{"id":1}}]`, "", `meetup rsvp: response "no"`},
		{"unknown object", `[{"foo":1}]`, "not a Meetup event, RSVP or comment (no event_hosts/time, response or comment field)", ""},
		{"rsvp without member", `[{"response":"yes","created":1,"event":{"id":"1"}}]`, "member: required", ""},
		{"not an array", `{"id":1}`, "want a JSON array of Meetup API objects: json: cannot unmarshal object into Go value of type []json.RawMessage", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []ingest.Record
			for r := range Meetup(strings.NewReader(tt.in), "m.json", testEnv) {
				recs = append(recs, r)
			}
			require.Len(t, recs, 1)
			if tt.err != "" {
				require.EqualError(t, recs[0].Err, tt.err)
				require.NotNil(t, recs[0].Raw)
			} else {
				require.NoError(t, recs[0].Err)
				require.Equal(t, tt.ignored, recs[0].Ignored)
			}
		})
	}
}

func FuzzMeetup(f *testing.F) {
	for _, n := range []string{"meetup_rsvps.json", "meetup_comments.json"} {
		b, err := os.ReadFile(filepath.Join(meetupData, n))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(`[{"id":"1","time":1460046600000,"event_hosts":[{"id":1,"name":"A"}],"group":{"urlname":"g"},"link":"https://www.meetup.com/g/events/1/","name":"E"}]`))
	reg := events.DefaultRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		for r := range Meetup(strings.NewReader(string(data)), "f.json", testEnv) {
			if r.Err != nil {
				require.NotNil(t, r.Raw)
				continue
			}
			if r.Ignored != "" {
				continue
			}
			e := r.Event
			require.NoError(t, reg.Validate(&e))
		}
	})
}
