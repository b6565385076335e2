package csvimport

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

var testEnv = source.Env{Community: "acme", Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}

// outcome is the golden result of one row: an event summary or an error.
type outcome struct {
	ID, Type, Actor, Target, Thread, Parent, Title string
	Err                                            string
}

func summarize(t *testing.T, recs []ingest.Record) []outcome {
	t.Helper()
	reg := events.DefaultRegistry()
	var out []outcome
	for _, r := range recs {
		if r.Err != nil {
			require.NotNil(t, r.Raw, "%s: a row error keeps its bytes", r.Pos)
			var ie *source.InputError
			require.True(t, errors.As(r.Err, &ie), "%s: %T", r.Pos, r.Err)
			out = append(out, outcome{Err: r.Err.Error()})
			continue
		}
		ev := r.Event
		require.NoError(t, reg.Validate(&ev), r.Pos)
		b, err := events.Encode(&ev)
		require.NoError(t, err)
		require.NotContains(t, string(b), "@", "%s: an address in clear", r.Pos)
		o := outcome{ID: ev.ID, Type: ev.Type, Actor: ev.Actor.Identity(), Thread: ev.ThreadID, Parent: ev.ParentID, Title: ev.Title}
		if len(ev.Targets) > 0 {
			o.Target = ev.Targets[0].Identity() + "/" + ev.Targets[0].Kind
		}
		out = append(out, o)
	}
	return out
}

func readCSV(t *testing.T, f Format, in string) []ingest.Record {
	t.Helper()
	var recs []ingest.Record
	for r := range CSV(strings.NewReader(in), "in.csv", Options{Format: f, Env: testEnv}) {
		recs = append(recs, r)
	}
	return recs
}

func readJSONL(t *testing.T, f Format, in string) []ingest.Record {
	t.Helper()
	var recs []ingest.Record
	for r := range JSONL(strings.NewReader(in), "in.jsonl", Options{Format: f, Env: testEnv}) {
		recs = append(recs, r)
	}
	return recs
}

var hashJane = events.HashEmail("jane@example.org")

const eventsCSV = "\ufeffEvent_ID,event_name,event_url,date,member_id,username,display_name,email,role,channel\n" +
	"e1,Go Meetup #4,https://example.org/e1,2025-03-01,m1,jane,Jane Doe,,attended,berlin\n" +
	"e1,Go Meetup #4,,2025-03-01T18:00:00+01:00,,,,Jane@Example.org ,Spoke,\n" +
	"e1,\"Talk, with comma\",,2025-03-01,m2,,,,organized,\n" +
	"e1,x,,03/01/2025,m3,,,,attended,\n" +
	"e1,x,,2025-03-01,m3,,,,watched,\n" +
	"e1,x,,2025-03-01,,,,,registered,\n" +
	",x,,2025-03-01,m4,,,,registered,\n" +
	"e1,x,,2025-03-01,m5,bob@example.com,,,registered,\n" +
	"e1,x,not a url,2025-03-01,m5,,,,registered,\n" +
	"e1,x,,2025-03-01,m5,,,,registered\n"

const supportCSV = "ticket_id,subject,url,action,occurred_at,member_id,username,display_name,email,channel\n" +
	"T1,Cannot log in (jane@example.org),https://help.example.org/T1,opened,2025-04-01T10:00:00Z,u1,jane,,,web\n" +
	"T1,,,commented,2025-04-01T11:00:00Z,u2,agent,,,web\n" +
	"T1,,,Replied,2025-04-01T12:00:00Z,u1,jane,,,web\n" +
	"T1,,,resolved,2025-04-01T13:00:00Z,u2,agent,,,web\n" +
	"T2,,,commented,2025-04-01T11:00:00Z,u2,agent,,,web\n" +
	"T3,,,closed,2025-04-01T11:00:00Z,u2,agent,,,web\n" +
	"T3,,,opened,tomorrow,u2,agent,,,web\n"

const genericCSV = "id,source,type,occurred_at,actor.source,actor.source_id,actor.username,actor.email,actor.is_bot,channel,thread_id,parent_id,targets,url,title,attributes,community,schema_version,received_at\n" +
	"forum:1,forum,generic.message.posted,2025-05-01T08:00:00Z,forum,42,kim,kim@example.org,false,general,forum:t1,,forum:7:reply;forum:8:mention,https://forum.example.org/1,Hello,tier=gold;lang=en,,1,\n" +
	"forum:2,forum,custom.forum.voted,2025-05-01,forum,43,,,,,,,,,,,acme,,2025-05-02T00:00:00Z\n" +
	"forum:3,forum,forum.post.made,2025-05-01,forum,43,,,,,,,,,,,,,\n" +
	"forum:4,Forum,generic.message.posted,2025-05-01,forum,43,,,maybe,,,,forum:7,,,k,,2,\n" +
	"forum:5,forum,generic.message.posted,2025-05-01,forum,43,,,,,,,forum:7:reply,,,a=1;a=2,,,\n" +
	"forum:6,forum,generic.message.posted,2025-05-01,forum,43,,,,,,,forum:7:wave,,,,,,\n"

func TestCSV(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		want   []outcome
	}{
		{"events", FormatEvents, eventsCSV, []outcome{
			{ID: "events:e1:m1:attended", Type: "events.event.attended", Actor: "events:m1", Thread: "events:e1", Title: "Go Meetup #4"},
			{ID: "events:e1:" + hashJane + ":spoke", Type: "events.event.spoke", Actor: "events:" + hashJane, Thread: "events:e1", Title: "Go Meetup #4"},
			{ID: "events:e1:m2:organized", Type: "events.event.organized", Actor: "events:m2", Thread: "events:e1", Title: "Talk, with comma"},
			{Err: `row 5, column date: want RFC 3339 (2026-03-01T18:00:00Z) or YYYY-MM-DD, got "03/01/2025"`},
			{Err: `row 6, column role: want one of registered, attended, spoke, organized, got "watched"`},
			{Err: `row 7, column member_id: required (or email)`},
			{Err: `row 8, column event_id: required`},
			{Err: `row 9, column username: holds an email address; put it in the email column, which is stored hashed`},
			{Err: `row 10, column event_url: want an absolute http(s) URL`},
			{Err: `row 11: want 10 fields like the header, got 9`},
		}},
		{"support", FormatSupport, supportCSV, []outcome{
			{ID: "support:T1:opened", Type: "support.ticket.opened", Actor: "support:u1", Thread: "support:T1", Title: "Cannot log in ([address])"},
			{ID: "support:T1:replied:u2:2025-04-01T11:00:00.000Z", Type: "support.ticket.replied", Actor: "support:u2", Thread: "support:T1", Parent: "support:T1:opened", Target: "support:u1/reply"},
			{ID: "support:T1:replied:u1:2025-04-01T12:00:00.000Z", Type: "support.ticket.replied", Actor: "support:u1", Thread: "support:T1", Parent: "support:T1:opened"},
			{ID: "support:T1:resolved:u2:2025-04-01T13:00:00.000Z", Type: "support.ticket.resolved", Actor: "support:u2", Thread: "support:T1", Parent: "support:T1:opened", Target: "support:u1/reply"},
			{ID: "support:T2:replied:u2:2025-04-01T11:00:00.000Z", Type: "support.ticket.replied", Actor: "support:u2", Thread: "support:T2"},
			{Err: `row 7, column action: want one of opened, commented, solved (or replied, resolved), got "closed"`},
			{Err: `row 8, column occurred_at: want RFC 3339 (2026-03-01T18:00:00Z) or YYYY-MM-DD, got "tomorrow"`},
		}},
		{"generic", FormatGeneric, genericCSV, []outcome{
			{ID: "forum:1", Type: "generic.message.posted", Actor: "forum:42", Target: "forum:7/reply", Thread: "forum:t1", Title: "Hello"},
			{ID: "forum:2", Type: "custom.forum.voted", Actor: "forum:43"},
			{Err: `row 4, column type: unknown type`},
			{Err: `row 5, column schema_version: want 1 or empty, got "2"; row 5, column actor.is_bot: want true, false or empty, got "maybe"; row 5, column targets: want source:source_id:kind items separated by ";", got "forum:7"; row 5, column attributes: want key=value items separated by ";", got "k"`},
			{Err: `row 6, column attributes: key "a" given twice`},
			{Err: `row 7, column targets: want one of reply, mention, review, assign, react, thank, got "wave"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := readCSV(t, tt.format, tt.in)
			require.Equal(t, tt.want, summarize(t, recs))
			// Re-importing yields the same ids.
			again := summarize(t, readCSV(t, tt.format, tt.in))
			require.Equal(t, tt.want, again)
		})
	}
}

func TestCSVFields(t *testing.T) {
	recs := readCSV(t, FormatEvents, eventsCSV)
	ev := recs[1].Event
	require.Equal(t, hashJane, ev.Actor.EmailSHA256, "the email, trimmed and lowercased, hashed")
	require.Equal(t, "events", ev.Source)
	require.Equal(t, time.Date(2025, 3, 1, 17, 0, 0, 0, time.UTC), ev.OccurredAt.Time)
	require.Equal(t, map[string]string{"event_id": "e1"}, ev.Attributes)
	require.Equal(t, "in.csv:3", recs[1].Pos)
	require.Equal(t, "\ufeffEvent_ID,event_name,event_url,date,member_id,username,display_name,email,role,channel\ne1,Go Meetup #4,,2025-03-01T18:00:00+01:00,,,,Jane@Example.org ,Spoke,", string(recs[1].Raw))
	first := recs[0].Event
	require.Equal(t, "berlin", first.Channel)
	require.Equal(t, "https://example.org/e1", first.URL)
	require.Equal(t, "jane", first.Actor.Username)
	require.Equal(t, "Jane Doe", first.Actor.DisplayName)

	g := readCSV(t, FormatGeneric, genericCSV)
	ge := g[0].Event
	require.Equal(t, events.HashEmail("kim@example.org"), ge.Actor.EmailSHA256)
	require.Equal(t, map[string]string{"tier": "gold", "lang": "en"}, ge.Attributes)
	require.Equal(t, []events.Target{{Source: "forum", SourceID: "7", Kind: "reply"}, {Source: "forum", SourceID: "8", Kind: "mention"}}, ge.Targets)
	require.Equal(t, "acme", ge.Community)
	require.Equal(t, time.Date(2025, 5, 2, 0, 0, 0, 0, time.UTC), g[1].Event.ReceivedAt.Time)
}

func TestHeaderErrors(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		want   string
	}{
		{"unknown column", FormatEvents, "event_id,date,role,venue\n", `header: unknown column "venue"`},
		{"missing column", FormatEvents, "event_id,role,member_id\ne1,attended,m1\n", `header: missing required column "date"`},
		{"duplicate and missing", FormatSupport, "ticket_id,Ticket_ID,action\n", `header: duplicate column "ticket_id"; header: missing required column "occurred_at"`},
		{"empty file", FormatSupport, "", `header: the file is empty (a header row is required)`},
		{"generic unknown", FormatGeneric, "id,source,type,occurred_at,actor.source,actor.source_id,actor.nickname\n", `header: unknown column "actor.nickname"`},
		{"unknown format", Format("tickets"), "a\n", `csvimport: unknown format "tickets" (want events, support or generic)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := readCSV(t, tt.format, tt.in)
			require.Len(t, recs, 1)
			require.Nil(t, recs[0].Raw, "a file-level error stops the import")
			require.EqualError(t, recs[0].Err, strings.ReplaceAll(tt.want, "; header: ", "; "))
		})
	}
}

func TestJSONL(t *testing.T) {
	in := `{"event_id":"e1","date":"2025-03-01","member_id":7,"role":"attended","Event_Name":"Go Meetup"}
{"event_id":"e1","date":"2025-03-01","member_id":"m2","role":"spoke","venue":"x"}

{"event_id":"e1","member_id":"m2","role":"spoke"}
not json
{"event_id":"e1","date":"2025-03-01","member_id":{"id":1},"role":"spoke"}
`
	require.Equal(t, []outcome{
		{ID: "events:e1:7:attended", Type: "events.event.attended", Actor: "events:7", Thread: "events:e1", Title: "Go Meetup"},
		{Err: `line 2, field venue: unknown field`},
		{Err: `line 4, field date: required`},
		{Err: `line 5: want a JSON object: invalid character 'o' in literal null (expecting 'u')`},
		{Err: `line 6, field member_id: want a string, number, boolean or null`},
	}, summarize(t, readJSONL(t, FormatEvents, in)))

	support := `{"ticket_id":"T1","action":"opened","occurred_at":"2025-04-01T10:00:00Z","member_id":"u1"}
{"ticket_id":"T1","action":"solved","occurred_at":"2025-04-01T11:00:00Z","member_id":"u2"}
`
	require.Equal(t, []outcome{
		{ID: "support:T1:opened", Type: "support.ticket.opened", Actor: "support:u1", Thread: "support:T1"},
		{ID: "support:T1:resolved:u2:2025-04-01T11:00:00.000Z", Type: "support.ticket.resolved", Actor: "support:u2", Thread: "support:T1", Parent: "support:T1:opened", Target: "support:u1/reply"},
	}, summarize(t, readJSONL(t, FormatSupport, support)))

	recs := readJSONL(t, FormatGeneric, "{}\n")
	require.Len(t, recs, 1)
	require.Nil(t, recs[0].Raw)
	require.Error(t, recs[0].Err)
}

func TestBadCSVRowIsKept(t *testing.T) {
	in := "event_id,date,role,member_id\ne1,2025-03-01,attended,m1\ne1,2025-03-01,\"attended,m2\ne2,2025-03-02,attended,m3\n"
	recs := readCSV(t, FormatEvents, in)
	require.NotEmpty(t, recs)
	require.NoError(t, recs[0].Err)
	require.Error(t, recs[len(recs)-1].Err, "the unterminated quote swallows the rest and is rejected, not dropped")
	require.Contains(t, recs[len(recs)-1].Err.Error(), "row 3: csv: ")
}

func TestBotsAndTeammates(t *testing.T) {
	env := testEnv
	env.People = &source.People{Bots: []string{"support:helpbot"}, Teammates: []string{"support:agent"}}
	in := "ticket_id,action,occurred_at,member_id,username\nT1,opened,2025-04-01,u1,helpbot\nT1,commented,2025-04-01,u2,agent\n"
	var recs []ingest.Record
	for r := range CSV(strings.NewReader(in), "in.csv", Options{Format: FormatSupport, Env: env}) {
		recs = append(recs, r)
	}
	require.True(t, recs[0].Event.Actor.IsBot)
	require.Equal(t, "true", recs[1].Event.Attributes[source.AttrTeammate])
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{eventsCSV, supportCSV, genericCSV, "event_id,date,role\n", "a,b\n\"x"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	reg := events.DefaultRegistry()
	fs := []Format{FormatEvents, FormatSupport, FormatGeneric}
	f.Fuzz(func(t *testing.T, in string, which uint8) {
		opts := Options{Format: fs[int(which)%len(fs)], Env: testEnv}
		for _, seq := range []func() []ingest.Record{
			func() (r []ingest.Record) {
				for rec := range CSV(strings.NewReader(in), "f.csv", opts) {
					r = append(r, rec)
				}
				return r
			},
			func() (r []ingest.Record) {
				for rec := range JSONL(strings.NewReader(in), "f.jsonl", opts) {
					r = append(r, rec)
				}
				return r
			},
		} {
			for _, rec := range seq() {
				if rec.Err != nil {
					continue
				}
				ev := rec.Event
				require.NoError(t, reg.Validate(&ev))
				b, err := events.Encode(&ev)
				require.NoError(t, err)
				if strings.Contains(string(b), "@") {
					// Only the generic format carries free fields through;
					// identity and title columns never hold an address.
					for _, v := range []string{ev.Actor.Username, ev.Actor.DisplayName, ev.Actor.SourceID, ev.Title} {
						require.NotRegexp(t, anyAddr, v)
					}
				}
			}
		}
	})
}
