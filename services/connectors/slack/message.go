package slack

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// Message is one Slack message as the Events API (an inner event of type
// message) and the Web API (conversations.history, conversations.replies)
// serialize it. Only the fields the mapping reads are listed.
type Message struct {
	Type    string `json:"type"`
	Subtype string `json:"subtype"`
	// Channel is set in Events API messages; Web API history leaves it out
	// (the channel is the request's).
	Channel string `json:"channel"`
	// ChannelType is "channel", "group" (private channel), "im" or "mpim"
	// (direct messages); Events API only.
	ChannelType string `json:"channel_type"`
	User        string `json:"user"`
	BotID       string `json:"bot_id"`
	// Username is the display name a bot or me_message was posted under.
	Username string `json:"username"`
	Text     string `json:"text"`
	// TS identifies the message within its channel ("1355517523.000005":
	// unix seconds and microseconds); it is also its post time.
	TS string `json:"ts"`
	// ThreadTS is the ts of the thread's parent; equal to TS on the parent.
	ThreadTS string `json:"thread_ts"`
	// ParentUserID is the author of the thread's parent, on replies.
	ParentUserID string `json:"parent_user_id"`
	// Root is the thread's parent, on thread_broadcast messages.
	Root struct {
		User string `json:"user"`
	} `json:"root"`
}

// NormalizeMessage maps one message of channel in workspace team (the
// T… id). The webhook and a conversations.history backfill both use it, so
// the same message gets the same event id ("slack:<team>:<channel>:<ts>")
// either way. Field names in an *source.InputError are the message's own
// ("user", "ts") or "team"/"channel" for the arguments.
func NormalizeMessage(env source.Env, team, channel string, m Message) (source.Result, error) {
	return normalizeMessage(env, team, "team", channel, m, "")
}

// ignoredSubtypes are the message subtypes that carry no new community
// activity, with the reason.
var ignoredSubtypes = map[string]string{
	"message_changed":             "an edit, the message was counted when posted",
	"message_deleted":             "a deletion, activity already counted is kept",
	"message_replied":             "notice that a thread got a reply; the reply arrives as its own message",
	"channel_join":                "the join is counted from member_joined_channel",
	"group_join":                  "the join is counted from member_joined_channel",
	"channel_leave":               "leaving a channel is not counted",
	"group_leave":                 "leaving a channel is not counted",
	"channel_topic":               whyNotice,
	"channel_purpose":             whyNotice,
	"channel_name":                whyNotice,
	"channel_archive":             whyNotice,
	"channel_unarchive":           whyNotice,
	"channel_posting_permissions": whyNotice,
	"channel_convert_to_private":  whyNotice,
	"channel_convert_to_public":   whyNotice,
	"group_topic":                 whyNotice,
	"group_purpose":               whyNotice,
	"group_name":                  whyNotice,
	"group_archive":               whyNotice,
	"group_unarchive":             whyNotice,
	"pinned_item":                 "pin notice, pinning is not counted",
	"unpinned_item":               "pin notice, pinning is not counted",
	"ekm_access_denied":           "placeholder of a message hidden by Enterprise Key Management",
	"file_comment":                "legacy file comment notice (retired by Slack in 2018)",
	"file_mention":                "legacy file notice (retired by Slack in 2018)",
	"bot_add":                     "app installation notice",
	"bot_remove":                  "app installation notice",
	"reminder_add":                "reminder notice, not member activity",
	"slackbot_response":           "Slackbot's automatic answer",
	"tombstone":                   "placeholder of a deleted thread parent",
	"huddle_thread":               "huddle notice, calls are not counted",
}

const whyNotice = "channel settings notice, not member activity"

// mention is a user mention in message text: <@U123> or the older
// <@U123|name>.
var mention = regexp.MustCompile(`<@([A-Z0-9]{1,64})(?:\|[^>]*)?>`)

// normalizeMessage maps m; prefix goes before the message's field names in
// errors ("event." in a webhook), teamField names the team's field.
func normalizeMessage(env source.Env, team, teamField, channel string, m Message, prefix string) (source.Result, error) {
	switch m.Subtype {
	case "", "me_message", "file_share", "bot_message", "thread_broadcast":
	default:
		if why, ok := ignoredSubtypes[m.Subtype]; ok {
			return source.Ignore("slack message %s: %s", m.Subtype, why), nil
		}
		return source.Unmapped(Source, "message."+source.Clip(m.Subtype)), nil
	}
	if m.ChannelType == "im" || m.ChannelType == "mpim" {
		return source.Ignore("slack message: a direct message, private to its members"), nil
	}
	if err := ident(teamField, team); err != nil {
		return source.Result{}, err
	}
	if err := ident(prefix+"channel", channel); err != nil {
		return source.Result{}, err
	}
	if err := ident(prefix+"ts", m.TS); err != nil {
		return source.Result{}, err
	}
	at, err := parseTS(prefix+"ts", m.TS, env)
	if err != nil {
		return source.Result{}, err
	}
	isBot := m.Subtype == "bot_message" || m.BotID != ""
	who, whoField := m.User, prefix+"user"
	if who == "" && isBot {
		// bot_message has no user: the bot is the author.
		who, whoField = m.BotID, prefix+"bot_id"
	}
	if err := ident(whoField, who); err != nil {
		return source.Result{}, err
	}
	if err := name(prefix+"username", m.Username); err != nil {
		return source.Result{}, err
	}

	id := source.ID(Source, team, channel, m.TS)
	typ := "slack.message.posted"
	var parentAuthor string
	reply := m.ThreadTS != "" && m.ThreadTS != m.TS
	if m.Subtype == "thread_broadcast" {
		if m.ThreadTS == "" {
			return source.Result{}, source.Missing(prefix + "thread_ts")
		}
		reply = true
	}
	if m.ThreadTS != "" {
		if _, err := parseTS(prefix+"thread_ts", m.ThreadTS, env); err != nil {
			return source.Result{}, err
		}
	}
	if reply {
		typ = "slack.thread.replied"
		parentField := prefix + "parent_user_id"
		parentAuthor = m.ParentUserID
		if parentAuthor == "" {
			parentAuthor, parentField = m.Root.User, prefix+"root.user"
		}
		if err := name(parentField, parentAuthor); err != nil {
			return source.Result{}, err
		}
	}

	ev := env.Event(id, typ, at)
	ev.Actor = actor(env, who, m.Username, "")
	ev.Actor.IsBot = ev.Actor.IsBot || isBot
	ev.Channel = channel
	switch {
	case reply:
		ev.ThreadID = source.ID(Source, team, channel, m.ThreadTS)
		ev.ParentID = ev.ThreadID
	case m.ThreadTS == m.TS:
		ev.ThreadID = id // the parent of a thread
	}
	seen := map[string]bool{who: true} // no edge from a member to themselves
	if parentAuthor != "" && !seen[parentAuthor] {
		seen[parentAuthor] = true
		ev.Targets = append(ev.Targets, events.Target{Source: Source, SourceID: parentAuthor, Kind: events.KindReply})
	}
	for _, sm := range mention.FindAllStringSubmatch(m.Text, -1) {
		if len(ev.Targets) == events.MaxTargets {
			break
		}
		if u := sm[1]; !seen[u] {
			seen[u] = true
			ev.Targets = append(ev.Targets, events.Target{Source: Source, SourceID: u, Kind: events.KindMention})
		}
	}
	if m.Subtype != "" {
		ev.Attributes = map[string]string{"subtype": m.Subtype}
	}
	return finish(env, ev)
}

// parseTS reads a Slack timestamp ("1355517523.000005", seconds and
// microseconds; the fraction may be absent) without going through a float,
// which would lose the microseconds.
func parseTS(field, ts string, env source.Env) (time.Time, error) {
	secs, frac, hasFrac := strings.Cut(ts, ".")
	if secs == "" || len(secs) > 11 || !digits(secs) || hasFrac && (frac == "" || len(frac) > 6 || !digits(frac)) {
		return time.Time{}, &source.InputError{Field: field,
			Reason: `want a Slack timestamp "<unix seconds>.<microseconds>", got "` + source.Clip(ts) + `"`}
	}
	s, _ := strconv.ParseInt(secs, 10, 64)
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	t := time.Unix(s, us*1000).UTC()
	if limit := now(env).Add(events.MaxFutureSkew); t.After(limit) {
		return time.Time{}, &source.InputError{Field: field, Reason: "more than " + events.MaxFutureSkew.String() + " in the future"}
	}
	return t, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// now is env's clock.
func now(env source.Env) time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}
