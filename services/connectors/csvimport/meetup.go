package csvimport

import (
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/ingest"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// SourceMeetup is the source of events read from the Meetup API.
const SourceMeetup = "meetup"

// MaxMeetupBytes bounds one Meetup API response read by Meetup.
const MaxMeetupBytes = 64 << 20

// meetupItem is the part of a Meetup API v3 event, RSVP or comment that
// is mapped. The kind is told by the fields present: "response" for an
// RSVP, "comment" for a comment, "event_hosts" or "time" for an event.
type meetupItem struct {
	ID       json.RawMessage `json:"id"`
	Created  *int64          `json:"created"`
	Time     *int64          `json:"time"`
	Name     string          `json:"name"`
	Link     string          `json:"link"`
	Status   string          `json:"status"`
	Response *string         `json:"response"`
	Comment  *string         `json:"comment"`
	Hosts    []meetupMember  `json:"event_hosts"`
	Member   *meetupMember   `json:"member"`
	Event    *struct {
		ID   json.RawMessage `json:"id"`
		Name string          `json:"name"`
	} `json:"event"`
	Group *struct {
		URLName string `json:"urlname"`
	} `json:"group"`
}

type meetupMember struct {
	ID   json.RawMessage `json:"id"`
	Name string          `json:"name"`
}

// Meetup reads one Meetup API v3 response, a JSON array of events
// (/:urlname/events), RSVPs (/:urlname/events/:id/rsvps) or comments
// (/:urlname/events/:id/comments), and yields records per element:
//
//   - an event: one meetup.event.organized per host (event_hosts), at the
//     event's time; id source.ID("meetup", "event", <event>, "host",
//     <member>). An event that has not happened yet is ignored (its hosts
//     are counted once it has: re-read it later, the ids are the same); an
//     event without hosts is ignored.
//   - an RSVP with response "yes": meetup.event.rsvped at its creation
//     time; id source.ID("meetup", "rsvp", <event>, <member>). Other
//     responses are ignored. The v3 RSVP list does not say who attended, so
//     no meetup.event.attended is derived from it.
//   - a comment: meetup.comment.posted; id source.ID("meetup", "comment",
//     <comment>); the event and group are read from its link.
//
// Every event's thread_id is source.ID("meetup", "event", <event>), its
// channel the group's urlname; actors are source "meetup" with the member
// id. An element that is none of these, or lacks a field the mapping needs,
// is a rejected record; a response that is not a JSON array is one rejected
// record.
func Meetup(r io.Reader, name string, env source.Env) iter.Seq[ingest.Record] {
	return func(yield func(ingest.Record) bool) {
		data, err := io.ReadAll(io.LimitReader(r, MaxMeetupBytes+1))
		if err != nil {
			yield(ingest.Record{Pos: name, Err: fmt.Errorf("read: %w", err)})
			return
		}
		if len(data) > MaxMeetupBytes {
			yield(ingest.Record{Pos: name, Raw: data[:MaxMeetupBytes], Err: &source.InputError{Reason: fmt.Sprintf("response longer than %d bytes", MaxMeetupBytes)}})
			return
		}
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			yield(ingest.Record{Pos: name, Raw: data, Err: &source.InputError{Reason: "want a JSON array of Meetup API objects: " + err.Error()}})
			return
		}
		for i, raw := range items {
			res, err := meetupNormalize(env, raw)
			for _, rec := range ingest.FromResult(res, err, raw, fmt.Sprintf("%s[%d]", name, i)) {
				if !yield(rec) {
					return
				}
			}
		}
	}
}

func meetupNormalize(env source.Env, raw []byte) (source.Result, error) {
	var it meetupItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return source.Result{}, &source.InputError{Reason: "want a Meetup API object: " + err.Error()}
	}
	group := ""
	if it.Group != nil {
		group = it.Group.URLName
	}
	actor := func(m *meetupMember, field string) (events.Actor, error) {
		if m == nil {
			return events.Actor{}, source.Missing(field)
		}
		id := jsonID(m.ID)
		if id == "" {
			return events.Actor{}, source.Missing(field + ".id")
		}
		return env.Actor(SourceMeetup, id, "", m.Name), nil
	}
	var evs []events.Event
	switch {
	case it.Response != nil:
		if *it.Response != "yes" {
			return source.Ignore("meetup rsvp: response %q", *it.Response), nil
		}
		if it.Event == nil || jsonID(it.Event.ID) == "" {
			return source.Result{}, source.Missing("event.id")
		}
		if it.Created == nil {
			return source.Result{}, source.Missing("created")
		}
		a, err := actor(it.Member, "member")
		if err != nil {
			return source.Result{}, err
		}
		eventID := jsonID(it.Event.ID)
		ev := env.Event(source.ID(SourceMeetup, "rsvp", eventID, a.SourceID), "meetup.event.rsvped", time.UnixMilli(*it.Created))
		ev.Actor, ev.ThreadID, ev.Channel, ev.Title = a, source.ID(SourceMeetup, "event", eventID), group, it.Event.Name
		evs = append(evs, ev)
	case it.Comment != nil:
		id := jsonID(it.ID)
		if id == "" {
			return source.Result{}, source.Missing("id")
		}
		if it.Created == nil {
			return source.Result{}, source.Missing("created")
		}
		a, err := actor(it.Member, "member")
		if err != nil {
			return source.Result{}, err
		}
		ev := env.Event(source.ID(SourceMeetup, "comment", id), "meetup.comment.posted", time.UnixMilli(*it.Created))
		ev.Actor, ev.URL = a, it.Link
		// https://www.meetup.com/<group>/events/<event>/comments/<id>/
		if u, err := url.Parse(it.Link); err == nil {
			parts := strings.Split(strings.Trim(u.Path, "/"), "/")
			if len(parts) >= 3 && parts[1] == "events" {
				ev.Channel, ev.ThreadID = parts[0], source.ID(SourceMeetup, "event", parts[2])
			}
		}
		evs = append(evs, ev)
	case it.Hosts != nil || it.Time != nil:
		id := jsonID(it.ID)
		if id == "" {
			return source.Result{}, source.Missing("id")
		}
		if it.Time == nil {
			return source.Result{}, source.Missing("time")
		}
		at := time.UnixMilli(*it.Time)
		now := time.Now
		if env.Now != nil {
			now = env.Now
		}
		if at.After(now()) {
			return source.Ignore("meetup event %s has not happened yet (%s)", id, at.UTC().Format(time.RFC3339)), nil
		}
		if len(it.Hosts) == 0 {
			return source.Ignore("meetup event %s has no hosts", id), nil
		}
		for i := range it.Hosts {
			a, err := actor(&it.Hosts[i], fmt.Sprintf("event_hosts[%d]", i))
			if err != nil {
				return source.Result{}, err
			}
			ev := env.Event(source.ID(SourceMeetup, "event", id, "host", a.SourceID), "meetup.event.organized", at)
			ev.Actor, ev.ThreadID, ev.Channel, ev.URL, ev.Title = a, source.ID(SourceMeetup, "event", id), group, it.Link, it.Name
			evs = append(evs, ev)
		}
	default:
		return source.Result{}, &source.InputError{Reason: "not a Meetup event, RSVP or comment (no event_hosts/time, response or comment field)"}
	}
	reg := events.DefaultRegistry()
	for i := range evs {
		env.Mark(&evs[i])
		if err := reg.Validate(&evs[i]); err != nil {
			return source.Result{}, &source.InputError{Reason: "maps to an invalid event: " + err.Error()}
		}
	}
	return source.Result{Events: evs}, nil
}

// jsonID reads an id written as a JSON string or number; "" otherwise.
func jsonID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
