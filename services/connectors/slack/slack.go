// Package slack normalizes Slack Events API deliveries into activity events.
//
// Mapping (event type, or message subtype, → activity type):
//
//   - message (no subtype), me_message, file_share, bot_message →
//     slack.message.posted; a message whose thread_ts differs from its ts, and
//     thread_broadcast, → slack.thread.replied, with a reply target (the
//     parent's author, from parent_user_id or root.user) when the payload
//     names one. <@U123> mentions in the text are mention targets. Bot
//     messages (subtype bot_message or a bot_id) are flagged is_bot.
//   - reaction_added to a message → slack.reaction.added, target the
//     message's author (item_user), kind react.
//   - member_joined_channel → slack.channel.joined. The channel_join message
//     Slack posts for the same join is ignored, so a join counts once.
//   - team_join → slack.member.joined.
//   - direct messages (channel_type im, mpim) → ignored: private.
//   - url_verification → no event, Result.Reply holds the challenge.
//   - edits, deletions, channel settings and the other event types Slack
//     documents → ignored with a reason; event types and message subtypes
//     this package does not know → Unmapped ("slack:<type>",
//     "slack:message.<subtype>") so they can be replayed once mapped.
//
// Event ids are built from the message identity, not from the delivery's
// event_id, so that a retry and a backfill of the same message through
// conversations.history (see NormalizeMessage) give the same id:
// "slack:<team>:<channel>:<ts>" for a message,
// "slack:<team>:<channel>:<ts>:reaction:<user>:<name>" for a reaction.
//
// Slack message events carry user ids, not usernames: the bot and teammate
// lists of source.People match "slack:<username>" where the payload has one
// (bot_message, team_join) and "slack:<user id>" always.
package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// Source is the source token of Slack events and identities.
const Source = "slack"

// Headers of a signed Events API request.
const (
	HeaderTimestamp = "X-Slack-Request-Timestamp" // unix seconds, decimal
	HeaderSignature = "X-Slack-Signature"         // "v0=" + hex HMAC-SHA256
)

// MaxSkew is how far the request timestamp may lie from the verifier's
// clock, either way, before the delivery is refused as a possible replay.
const MaxSkew = 5 * time.Minute

// Webhook is the Slack Events API webhook. The zero value is ready; it is
// stateless and safe for concurrent use.
type Webhook struct{}

var _ source.Webhook = Webhook{}

// Verify checks Slack's v0 request signature: HeaderSignature must be
// "v0=" + hex(HMAC-SHA256(secret, "v0:<timestamp>:<body>")), compared in
// constant time, and HeaderTimestamp must be within MaxSkew of now. The
// error names the check that failed.
func (Webhook) Verify(secret []byte, h http.Header, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return errors.New("slack signature: no signing secret configured")
	}
	ts := h.Get(HeaderTimestamp)
	if ts == "" {
		return fmt.Errorf("slack signature: %s header missing", HeaderTimestamp)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		return fmt.Errorf("slack signature: %s: want unix seconds, got %q", HeaderTimestamp, source.Clip(ts))
	}
	// Compared in seconds: time.Unix of a huge value overflows Duration.
	if d := now.Unix() - sec; d > int64(MaxSkew/time.Second) || d < -int64(MaxSkew/time.Second) {
		return fmt.Errorf("slack signature: %s %d is more than %s from now (%d): stale or replayed", HeaderTimestamp, sec, MaxSkew, now.Unix())
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		return fmt.Errorf("slack signature: %s header missing", HeaderSignature)
	}
	hexSum, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return fmt.Errorf("slack signature: %s: want v0=<hex>, got an unknown version", HeaderSignature)
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("slack signature: %s: want %d hex digits after v0=", HeaderSignature, 2*sha256.Size)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:"))
	mac.Write([]byte(ts))
	mac.Write([]byte(":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("slack signature: mismatch (wrong signing secret or altered body)")
	}
	return nil
}

// envelope is the outer Events API payload; event is decoded per type.
type envelope struct {
	Type      string          `json:"type"`
	Challenge string          `json:"challenge"`
	TeamID    string          `json:"team_id"`
	EventTime int64           `json:"event_time"`
	Event     json.RawMessage `json:"event"`
}

// Normalize maps one Events API delivery. For url_verification, Reply is
// the challenge as plain text: Slack's url_verification documentation
// (https://api.slack.com/events/url_verification) asks first for the value
// in a text/plain 200 response (it also accepts {"challenge":"..."} JSON,
// not used here), so the gateway writes Reply verbatim.
func (Webhook) Normalize(env source.Env, _ http.Header, body []byte) (source.Result, error) {
	var e envelope
	if err := decode(body, &e, ""); err != nil {
		return source.Result{}, err
	}
	switch e.Type {
	case "":
		return source.Result{}, source.Missing("type")
	case "url_verification":
		if e.Challenge == "" {
			return source.Result{}, source.Missing("challenge")
		}
		res := source.Ignore("slack url_verification: endpoint check")
		res.Reply = []byte(e.Challenge)
		return res, nil
	case "app_rate_limited":
		return source.Ignore("slack app_rate_limited: Slack stopped deliveries for a minute, no activity"), nil
	case "event_callback":
		return callback(env, e)
	}
	return source.Result{}, &source.InputError{Field: "type",
		Reason: fmt.Sprintf("want url_verification, event_callback or app_rate_limited, got %q", source.Clip(e.Type))}
}

// eventHead is what every inner event has.
type eventHead struct {
	Type    string `json:"type"`
	Subtype string `json:"subtype"`
}

func callback(env source.Env, e envelope) (source.Result, error) {
	if len(e.Event) == 0 || string(e.Event) == "null" {
		return source.Result{}, source.Missing("event")
	}
	var head eventHead
	if err := decode(e.Event, &head, "event"); err != nil {
		return source.Result{}, err
	}
	if head.Type == "" {
		return source.Result{}, source.Missing("event.type")
	}
	if why, ok := ignoredTypes[head.Type]; ok {
		return source.Ignore("slack %s: %s", head.Type, why), nil
	}
	switch head.Type {
	case "message":
		return message(env, e)
	case "reaction_added":
		return reactionAdded(env, e)
	case "member_joined_channel":
		return memberJoinedChannel(env, e)
	case "team_join":
		return teamJoin(env, e)
	}
	return source.Unmapped(Source, source.Clip(head.Type)), nil
}

// Reasons shared by several ignored event types.
const (
	whyAdmin   = "workspace or channel administration, not member activity"
	whyApp     = "app lifecycle or permissions, not member activity"
	whyProfile = "profile or presence change, not member activity"
	whyFile    = "file bookkeeping; a shared file is counted from its file_share message"
	whyPrivate = "personal bookkeeping, not visible to the community"
	whyUndo    = "an undo, the original activity stays counted"
)

// ignoredTypes are the documented event types that carry no community
// activity, with the reason.
var ignoredTypes = map[string]string{
	"app_mention":             "the mentioning message is counted from its message event",
	"app_home_opened":         "a user opened the app's home tab, not community activity",
	"app_rate_limited":        whyApp,
	"app_requested":           whyApp,
	"app_uninstalled":         whyApp,
	"scope_denied":            whyApp,
	"scope_granted":           whyApp,
	"tokens_revoked":          whyApp,
	"resources_added":         whyApp,
	"resources_removed":       whyApp,
	"user_resource_denied":    whyApp,
	"user_resource_granted":   whyApp,
	"user_resource_removed":   whyApp,
	"grid_migration_started":  whyAdmin,
	"grid_migration_finished": whyAdmin,
	"call_rejected":           "a declined call, no activity",
	"goodbye":                 "connection notice, no activity",
	"channel_archive":         whyAdmin,
	"channel_created":         whyAdmin,
	"channel_deleted":         whyAdmin,
	"channel_history_changed": whyAdmin,
	"channel_id_changed":      whyAdmin,
	"channel_left":            "the app left a channel, not member activity",
	"channel_rename":          whyAdmin,
	"channel_shared":          whyAdmin,
	"channel_unarchive":       whyAdmin,
	"channel_unshared":        whyAdmin,
	"group_archive":           whyAdmin,
	"group_close":             whyPrivate,
	"group_deleted":           whyAdmin,
	"group_history_changed":   whyAdmin,
	"group_left":              "the app left a private channel, not member activity",
	"group_open":              whyPrivate,
	"group_rename":            whyAdmin,
	"group_unarchive":         whyAdmin,
	"im_close":                whyPrivate,
	"im_created":              whyPrivate,
	"im_history_changed":      whyPrivate,
	"im_open":                 whyPrivate,
	"email_domain_changed":    whyAdmin,
	"emoji_changed":           whyAdmin,
	"team_access_granted":     whyAdmin,
	"team_access_revoked":     whyAdmin,
	"team_domain_change":      whyAdmin,
	"team_rename":             whyAdmin,
	"invite_requested":        "an invitation request, the member is counted when they join (team_join)",
	"subteam_created":         whyAdmin,
	"subteam_members_changed": whyAdmin,
	"subteam_self_added":      whyAdmin,
	"subteam_self_removed":    whyAdmin,
	"subteam_updated":         whyAdmin,
	"workflow_deleted":        whyAdmin,
	"workflow_published":      whyAdmin,
	"workflow_step_deleted":   whyAdmin,
	"workflow_step_execute":   whyApp,
	"workflow_unpublished":    whyAdmin,
	"dnd_updated":             whyProfile,
	"dnd_updated_user":        whyProfile,
	"user_change":             whyProfile,
	"user_huddle_changed":     whyProfile,
	"user_profile_changed":    whyProfile,
	"user_status_changed":     whyProfile,
	"file_change":             whyFile,
	"file_created":            whyFile,
	"file_deleted":            whyFile,
	"file_public":             whyFile,
	"file_shared":             whyFile,
	"file_unshared":           whyFile,
	"link_shared":             "link unfurl request; the message holding the link is counted",
	"member_left_channel":     "leaving a channel is not counted",
	"reaction_removed":        whyUndo,
	"pin_added":               "pinning is moderation, not counted",
	"pin_removed":             whyUndo,
	"star_added":              whyPrivate,
	"star_removed":            whyPrivate,
}

// message decodes a message event and maps it with the envelope's team.
func message(env source.Env, e envelope) (source.Result, error) {
	var m Message
	if err := decode(e.Event, &m, "event"); err != nil {
		return source.Result{}, err
	}
	return normalizeMessage(env, e.TeamID, "team_id", m.Channel, m, "event.")
}

// reaction is a reaction_added event.
type reaction struct {
	User     string `json:"user"`
	Reaction string `json:"reaction"`
	ItemUser string `json:"item_user"`
	Item     struct {
		Type    string `json:"type"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	} `json:"item"`
	EventTS string `json:"event_ts"`
}

func reactionAdded(env source.Env, e envelope) (source.Result, error) {
	var r reaction
	if err := decode(e.Event, &r, "event"); err != nil {
		return source.Result{}, err
	}
	if r.Item.Type != "message" {
		if r.Item.Type == "" {
			return source.Result{}, source.Missing("event.item.type")
		}
		return source.Ignore("slack reaction_added: a reaction to a %s, not to a message", source.Clip(r.Item.Type)), nil
	}
	for _, f := range []struct{ name, v string }{
		{"team_id", e.TeamID}, {"event.user", r.User}, {"event.reaction", r.Reaction},
		{"event.item.channel", r.Item.Channel}, {"event.item.ts", r.Item.TS},
	} {
		if err := ident(f.name, f.v); err != nil {
			return source.Result{}, err
		}
	}
	if err := ident("event.item_user", r.ItemUser); err != nil && r.ItemUser != "" {
		return source.Result{}, err
	}
	if _, err := parseTS("event.item.ts", r.Item.TS, env); err != nil {
		return source.Result{}, err
	}
	at, err := parseTS("event.event_ts", r.EventTS, env)
	if err != nil {
		return source.Result{}, err
	}
	msgID := source.ID(Source, e.TeamID, r.Item.Channel, r.Item.TS)
	ev := env.Event(source.ID(Source, e.TeamID, r.Item.Channel, r.Item.TS, "reaction", r.User, r.Reaction),
		"slack.reaction.added", at)
	ev.Actor = actor(env, r.User, "", "")
	ev.Channel = r.Item.Channel
	ev.ParentID = msgID
	if r.ItemUser != "" && r.ItemUser != r.User {
		ev.Targets = []events.Target{{Source: Source, SourceID: r.ItemUser, Kind: events.KindReact}}
	}
	ev.Attributes = map[string]string{"reaction": source.Clean(r.Reaction, events.MaxAttrValueLen)}
	return finish(env, ev)
}

// joined is a member_joined_channel event.
type joined struct {
	User        string `json:"user"`
	Channel     string `json:"channel"`
	ChannelType string `json:"channel_type"`
	Inviter     string `json:"inviter"`
	EventTS     string `json:"event_ts"`
}

func memberJoinedChannel(env source.Env, e envelope) (source.Result, error) {
	var j joined
	if err := decode(e.Event, &j, "event"); err != nil {
		return source.Result{}, err
	}
	for _, f := range []struct{ name, v string }{
		{"team_id", e.TeamID}, {"event.user", j.User}, {"event.channel", j.Channel}, {"event.event_ts", j.EventTS},
	} {
		if err := ident(f.name, f.v); err != nil {
			return source.Result{}, err
		}
	}
	at, err := parseTS("event.event_ts", j.EventTS, env)
	if err != nil {
		return source.Result{}, err
	}
	// A member may leave and join again: the join's own time tells them apart.
	ev := env.Event(source.ID(Source, e.TeamID, j.Channel, "joined", j.User, j.EventTS), "slack.channel.joined", at)
	ev.Actor = actor(env, j.User, "", "")
	ev.Channel = j.Channel
	if j.Inviter != "" && j.Inviter != j.User {
		ev.Attributes = map[string]string{"inviter": source.Clean(j.Inviter, events.MaxAttrValueLen)}
	}
	return finish(env, ev)
}

// newMember is a team_join event; its user is a full user object.
type newMember struct {
	User struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		RealName string `json:"real_name"`
		IsBot    bool   `json:"is_bot"`
		Deleted  bool   `json:"deleted"`
		Profile  struct {
			DisplayName string `json:"display_name"`
			RealName    string `json:"real_name"`
			Email       string `json:"email"`
		} `json:"profile"`
	} `json:"user"`
	EventTS string `json:"event_ts"`
}

func teamJoin(env source.Env, e envelope) (source.Result, error) {
	var n newMember
	if err := decode(e.Event, &n, "event"); err != nil {
		return source.Result{}, err
	}
	if err := ident("team_id", e.TeamID); err != nil {
		return source.Result{}, err
	}
	if err := ident("event.user.id", n.User.ID); err != nil {
		return source.Result{}, err
	}
	if err := name("event.user.name", n.User.Name); err != nil {
		return source.Result{}, err
	}
	// team_join has no event_ts in Slack's samples: the envelope's
	// event_time (unix seconds) is the join time then.
	var at time.Time
	switch {
	case n.EventTS != "":
		t, err := parseTS("event.event_ts", n.EventTS, env)
		if err != nil {
			return source.Result{}, err
		}
		at = t
	case e.EventTime > 0:
		t, err := parseTS("event_time", strconv.FormatInt(e.EventTime, 10), env)
		if err != nil {
			return source.Result{}, err
		}
		at = t
	default:
		return source.Result{}, source.Missing("event_time")
	}
	ev := env.Event(source.ID(Source, e.TeamID, "member", n.User.ID), "slack.member.joined", at)
	display := n.User.Profile.DisplayName
	if display == "" {
		display = n.User.Profile.RealName
	}
	if display == "" {
		display = n.User.RealName
	}
	ev.Actor = actor(env, n.User.ID, n.User.Name, display)
	ev.Actor.IsBot = ev.Actor.IsBot || n.User.IsBot
	if n.User.Profile.Email != "" {
		ev.Actor.EmailSHA256 = events.HashEmail(n.User.Profile.Email)
		ev.Actor.EmailDomainSHA256 = events.HashEmailDomain(n.User.Profile.Email)
	}
	return finish(env, ev)
}

// actor is the Slack identity id, a bot when People lists its username or
// its id.
func actor(env source.Env, id, username, display string) events.Actor {
	a := env.Actor(Source, id, username, source.Clean(display, events.MaxNameLen))
	a.IsBot = a.IsBot || env.People.IsBot(Source, id)
	return a
}

// finish marks teammates (by username or id) and checks the event against
// the schema; a problem left is reported as bad input, never published.
func finish(env source.Env, ev events.Event) (source.Result, error) {
	env.Mark(&ev)
	if env.People.IsTeammate(Source, ev.Actor.SourceID) {
		if ev.Attributes == nil {
			ev.Attributes = map[string]string{}
		}
		ev.Attributes[source.AttrTeammate] = "true"
	}
	if err := events.DefaultRegistry().Validate(&ev); err != nil {
		return source.Result{}, &source.InputError{Reason: "normalized event is invalid: " + err.Error()}
	}
	return source.One(ev), nil
}

// decode unmarshals b into v; a failure is an InputError on field (or on
// the JSON path the decoder names under it).
func decode(b []byte, v any, field string) error {
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	f := field
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		f = strings.TrimPrefix(field+"."+te.Field, ".")
	}
	if f == "" {
		f = "body"
	}
	return &source.InputError{Field: f, Reason: "malformed JSON: " + source.Clip(err.Error())}
}

// ident checks a required identifier that becomes part of an event id or
// identity: present, bounded, printable UTF-8.
func ident(field, s string) error {
	if s == "" {
		return source.Missing(field)
	}
	return name(field, s)
}

// name checks an optional identifier (a username): bounded, printable UTF-8.
func name(field, s string) error {
	switch {
	case len(s) > events.MaxSourceIDLen:
		return &source.InputError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", events.MaxSourceIDLen)}
	case !source.Printable(s):
		return &source.InputError{Field: field, Reason: "want printable UTF-8 text"}
	}
	return nil
}
