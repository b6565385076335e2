// Package discord is the Discord connector. Discord delivers messages,
// reactions and member joins only over its gateway, a websocket a bot keeps
// open; Client holds that connection and hands every dispatch to a handler,
// and Backfill pages a channel's history over the REST API. Both map their
// items with Normalize, so a message read from the gateway and the same
// message read by a backfill get the same event id.
//
// Mapping (gateway event name → activity type):
//
//	MESSAGE_CREATE        discord.message.posted  (webhook and system messages ignored)
//	THREAD_CREATE         discord.thread.created  (only newly created threads)
//	MESSAGE_REACTION_ADD  discord.reaction.added
//	GUILD_MEMBER_ADD      discord.member.joined
//
// Every other documented dispatch is ignored with a reason; an event name
// this package does not know is returned as unmapped, so it is dead-lettered
// and can be replayed once a mapping exists.
//
// Ids: discord:message:<id>, discord:thread:<id> (also the thread_id of the
// messages posted in the thread), discord:reaction:<message>:<user>:<emoji>,
// discord:member:<guild>:<user>:joined:<joined_at ms>. Times: a message's
// timestamp, a thread's create_timestamp (either falls back to the
// snowflake's time), a member's joined_at; a reaction carries no time of its
// own and is dated when received (env.Now).
package discord

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// Source is the platform name: the event source, the actor source and the
// first part of every event id.
const Source = "discord"

// Activity types produced by this package.
const (
	TypeMessagePosted = "discord.message.posted"
	TypeThreadCreated = "discord.thread.created"
	TypeReactionAdded = "discord.reaction.added"
	TypeMemberJoined  = "discord.member.joined"
)

// Epoch is the Discord epoch, the first second of 2015 in Unix
// milliseconds; a snowflake's top 42 bits count milliseconds since it.
const Epoch = 1420070400000

// SnowflakeTime returns the creation time encoded in a snowflake id.
func SnowflakeTime(id uint64) time.Time {
	return time.UnixMilli(int64(id>>22) + Epoch).UTC()
}

// SnowflakeAt is the smallest snowflake id of time t, for REST paging
// bounds ("after" t).
func SnowflakeAt(t time.Time) string {
	ms := max(t.UnixMilli()-Epoch, 0)
	return strconv.FormatUint(uint64(ms)<<22, 10)
}

// Channel types that matter to the mapping
// (https://discord.com/developers/docs/resources/channel#channel-object-channel-types).
const (
	channelDM                 = 1
	channelGroupDM            = 3
	channelAnnouncementThread = 10
	channelPublicThread       = 11
	channelPrivateThread      = 12
)

func isThread(channelType int) bool {
	return channelType == channelAnnouncementThread || channelType == channelPublicThread || channelType == channelPrivateThread
}

// Message types that are something a member wrote; every other type is a
// system message (join notice, pin notice, boost, thread starter, ...).
var memberMessageTypes = map[int]bool{
	0:  true, // DEFAULT
	19: true, // REPLY
	20: true, // CHAT_INPUT_COMMAND (the author is the application)
	23: true, // CONTEXT_MENU_COMMAND
}

// systemMessageNames names the system message types for ignore reasons.
var systemMessageNames = map[int]string{
	1: "RECIPIENT_ADD", 2: "RECIPIENT_REMOVE", 3: "CALL", 4: "CHANNEL_NAME_CHANGE",
	5: "CHANNEL_ICON_CHANGE", 6: "CHANNEL_PINNED_MESSAGE", 7: "USER_JOIN", 8: "GUILD_BOOST",
	9: "GUILD_BOOST_TIER_1", 10: "GUILD_BOOST_TIER_2", 11: "GUILD_BOOST_TIER_3",
	12: "CHANNEL_FOLLOW_ADD", 14: "GUILD_DISCOVERY_DISQUALIFIED", 15: "GUILD_DISCOVERY_REQUALIFIED",
	16: "GUILD_DISCOVERY_GRACE_PERIOD_INITIAL_WARNING", 17: "GUILD_DISCOVERY_GRACE_PERIOD_FINAL_WARNING",
	18: "THREAD_CREATED", 21: "THREAD_STARTER_MESSAGE", 22: "GUILD_INVITE_REMINDER",
	24: "AUTO_MODERATION_ACTION", 25: "ROLE_SUBSCRIPTION_PURCHASE", 26: "INTERACTION_PREMIUM_UPSELL",
	27: "STAGE_START", 28: "STAGE_END", 29: "STAGE_SPEAKER", 31: "STAGE_TOPIC",
	32: "GUILD_APPLICATION_PREMIUM_SUBSCRIPTION", 36: "GUILD_INCIDENT_ALERT_MODE_ENABLED",
	37: "GUILD_INCIDENT_ALERT_MODE_DISABLED", 38: "GUILD_INCIDENT_REPORT_RAID",
	39: "GUILD_INCIDENT_REPORT_FALSE_ALARM", 44: "PURCHASE_NOTIFICATION", 46: "POLL_RESULT",
}

// ignoredEvents gives the reason each documented dispatch without
// community activity is ignored.
var ignoredEvents = map[string]string{
	"READY":   "gateway session handshake",
	"RESUMED": "gateway session resumed",

	"MESSAGE_UPDATE":                "message edit (the message was counted when posted)",
	"MESSAGE_DELETE":                "message deletion (activity history is append-only)",
	"MESSAGE_DELETE_BULK":           "bulk message deletion (activity history is append-only)",
	"MESSAGE_REACTION_REMOVE":       "reaction removal (activity history is append-only)",
	"MESSAGE_REACTION_REMOVE_ALL":   "removal of all reactions (activity history is append-only)",
	"MESSAGE_REACTION_REMOVE_EMOJI": "removal of an emoji's reactions (activity history is append-only)",
	"MESSAGE_POLL_VOTE_ADD":         "poll vote (no activity type for poll votes)",
	"MESSAGE_POLL_VOTE_REMOVE":      "poll vote removal (no activity type for poll votes)",
	"TYPING_START":                  "typing indicator",
	"PRESENCE_UPDATE":               "presence change (online status, activity)",

	"CHANNEL_CREATE":      "channel administration",
	"CHANNEL_UPDATE":      "channel administration",
	"CHANNEL_DELETE":      "channel administration",
	"CHANNEL_PINS_UPDATE": "pin change (channel administration)",

	"THREAD_UPDATE":         "thread settings change",
	"THREAD_DELETE":         "thread deletion (activity history is append-only)",
	"THREAD_LIST_SYNC":      "thread state sync",
	"THREAD_MEMBER_UPDATE":  "thread membership of the bot",
	"THREAD_MEMBERS_UPDATE": "thread membership change (joining a thread is not an activity)",

	"VOICE_STATE_UPDATE":                     "voice state (joining or leaving voice is not mapped)",
	"VOICE_SERVER_UPDATE":                    "voice server assignment",
	"VOICE_CHANNEL_EFFECT_SEND":              "voice channel effect",
	"VOICE_CHANNEL_STATUS_UPDATE":            "voice channel status text",
	"VOICE_CHANNEL_START_TIME_UPDATE":        "voice channel session timing",
	"GUILD_SOUNDBOARD_SOUND_CREATE":          "soundboard administration",
	"GUILD_SOUNDBOARD_SOUND_UPDATE":          "soundboard administration",
	"GUILD_SOUNDBOARD_SOUND_DELETE":          "soundboard administration",
	"GUILD_SOUNDBOARD_SOUNDS_UPDATE":         "soundboard administration",
	"SOUNDBOARD_SOUNDS":                      "soundboard listing",
	"STAGE_INSTANCE_CREATE":                  "stage administration",
	"STAGE_INSTANCE_UPDATE":                  "stage administration",
	"STAGE_INSTANCE_DELETE":                  "stage administration",
	"GUILD_CREATE":                           "guild state snapshot (sent on connect and when the bot joins a guild)",
	"GUILD_UPDATE":                           "guild settings change",
	"GUILD_DELETE":                           "guild unavailable or the bot was removed",
	"GUILD_MEMBER_UPDATE":                    "member profile or role change",
	"GUILD_MEMBER_REMOVE":                    "member left (leaving is not an activity)",
	"GUILD_MEMBERS_CHUNK":                    "member list chunk (a request's answer, not an activity)",
	"GUILD_ROLE_CREATE":                      "role administration",
	"GUILD_ROLE_UPDATE":                      "role administration",
	"GUILD_ROLE_DELETE":                      "role administration",
	"GUILD_EMOJIS_UPDATE":                    "emoji administration",
	"GUILD_STICKERS_UPDATE":                  "sticker administration",
	"GUILD_INTEGRATIONS_UPDATE":              "integration administration",
	"GUILD_BAN_ADD":                          "moderation (ban)",
	"GUILD_BAN_REMOVE":                       "moderation (unban)",
	"GUILD_AUDIT_LOG_ENTRY_CREATE":           "audit log entry",
	"GUILD_SCHEDULED_EVENT_CREATE":           "scheduled event administration",
	"GUILD_SCHEDULED_EVENT_UPDATE":           "scheduled event administration",
	"GUILD_SCHEDULED_EVENT_DELETE":           "scheduled event administration",
	"GUILD_SCHEDULED_EVENT_USER_ADD":         "scheduled event interest (no activity type for it)",
	"GUILD_SCHEDULED_EVENT_USER_REMOVE":      "scheduled event interest removal",
	"INTEGRATION_CREATE":                     "integration administration",
	"INTEGRATION_UPDATE":                     "integration administration",
	"INTEGRATION_DELETE":                     "integration administration",
	"INVITE_CREATE":                          "invite administration",
	"INVITE_DELETE":                          "invite administration",
	"WEBHOOKS_UPDATE":                        "webhook administration",
	"INTERACTION_CREATE":                     "application interaction (the bot's own commands)",
	"APPLICATION_COMMAND_PERMISSIONS_UPDATE": "application command administration",
	"AUTO_MODERATION_RULE_CREATE":            "auto moderation administration",
	"AUTO_MODERATION_RULE_UPDATE":            "auto moderation administration",
	"AUTO_MODERATION_RULE_DELETE":            "auto moderation administration",
	"AUTO_MODERATION_ACTION_EXECUTION":       "auto moderation action",
	"ENTITLEMENT_CREATE":                     "monetization entitlement",
	"ENTITLEMENT_UPDATE":                     "monetization entitlement",
	"ENTITLEMENT_DELETE":                     "monetization entitlement",
	"SUBSCRIPTION_CREATE":                    "monetization subscription",
	"SUBSCRIPTION_UPDATE":                    "monetization subscription",
	"SUBSCRIPTION_DELETE":                    "monetization subscription",
	"USER_UPDATE":                            "the bot's own user changed",
}

// user is a Discord user object, as far as the mapping reads it.
type user struct {
	ID         string `json:"id"`
	Username   string `json:"username"`
	GlobalName string `json:"global_name"`
	Bot        bool   `json:"bot"`
	System     bool   `json:"system"`
}

type messageReference struct {
	Type      int    `json:"type"` // 0 DEFAULT (a reply), 1 FORWARD
	MessageID string `json:"message_id"`
	ChannelID string `json:"channel_id"`
}

// message is a Discord message object (gateway MESSAGE_CREATE or REST).
type message struct {
	ID                string            `json:"id"`
	ChannelID         string            `json:"channel_id"`
	GuildID           string            `json:"guild_id"`
	Author            *user             `json:"author"`
	Timestamp         string            `json:"timestamp"`
	Type              int               `json:"type"`
	WebhookID         string            `json:"webhook_id"`
	Mentions          []user            `json:"mentions"`
	MessageReference  *messageReference `json:"message_reference"`
	ReferencedMessage *struct {
		ID     string `json:"id"`
		Author *user  `json:"author"`
	} `json:"referenced_message"`
	// ChannelType is sent on gateway MESSAGE_CREATE only; a backfill fills
	// it from the channel it pages.
	ChannelType *int `json:"channel_type"`
}

type thread struct {
	ID             string `json:"id"`
	GuildID        string `json:"guild_id"`
	ParentID       string `json:"parent_id"`
	OwnerID        string `json:"owner_id"`
	Name           string `json:"name"`
	Type           int    `json:"type"`
	NewlyCreated   bool   `json:"newly_created"`
	ThreadMetadata *struct {
		CreateTimestamp string `json:"create_timestamp"`
	} `json:"thread_metadata"`
}

type reaction struct {
	UserID          string `json:"user_id"`
	ChannelID       string `json:"channel_id"`
	MessageID       string `json:"message_id"`
	GuildID         string `json:"guild_id"`
	MessageAuthorID string `json:"message_author_id"`
	Burst           bool   `json:"burst"`
	Member          *struct {
		User *user `json:"user"`
	} `json:"member"`
	Emoji struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"emoji"`
}

type memberAdd struct {
	GuildID  string `json:"guild_id"`
	User     *user  `json:"user"`
	JoinedAt string `json:"joined_at"`
}

// Normalize maps the d payload of one gateway dispatch named eventName (the
// dispatch's t) to its Result. Ids are stable: a redelivered or replayed
// dispatch, and a backfilled copy of the same message, yield the same ids.
// Malformed input is an *source.InputError. Safe for concurrent use.
func Normalize(env source.Env, eventName string, d []byte) (source.Result, error) {
	switch eventName {
	case "":
		return source.Result{}, source.Missing("t")
	case "MESSAGE_CREATE":
		return normalizeMessage(env, d, channelHint{})
	case "THREAD_CREATE":
		return normalizeThread(env, d)
	case "MESSAGE_REACTION_ADD":
		return normalizeReaction(env, d)
	case "GUILD_MEMBER_ADD":
		return normalizeMemberAdd(env, d)
	}
	if reason, ok := ignoredEvents[eventName]; ok {
		return source.Ignore("discord %s: %s", eventName, reason), nil
	}
	if !validText(eventName, 128) {
		return source.Result{}, &source.InputError{Field: "t", Reason: "not a gateway event name"}
	}
	return source.Unmapped(Source, eventName), nil
}

// channelHint is what a backfill knows about the channel it pages and a
// REST message does not carry.
type channelHint struct {
	guildID     string
	channelType *int
}

func normalizeMessage(env source.Env, d []byte, hint channelHint) (source.Result, error) {
	var m message
	if err := decode(d, &m); err != nil {
		return source.Result{}, err
	}
	if m.GuildID == "" {
		m.GuildID = hint.guildID
	}
	if m.ChannelType == nil {
		m.ChannelType = hint.channelType
	}
	if err := snowflake("id", m.ID); err != nil {
		return source.Result{}, err
	}
	if err := snowflake("channel_id", m.ChannelID); err != nil {
		return source.Result{}, err
	}
	if m.WebhookID != "" {
		return source.Ignore("discord message %s: posted by a webhook, not a member", m.ID), nil
	}
	if !memberMessageTypes[m.Type] {
		name := systemMessageNames[m.Type]
		if name == "" {
			name = "type " + strconv.Itoa(m.Type)
		}
		return source.Ignore("discord message %s: system message %s", m.ID, name), nil
	}
	if m.Author == nil {
		return source.Result{}, source.Missing("author")
	}
	if err := snowflake("author.id", m.Author.ID); err != nil {
		return source.Result{}, err
	}
	if m.Author.System {
		return source.Ignore("discord message %s: posted by the Discord system user", m.ID), nil
	}
	if m.GuildID != "" {
		if err := snowflake("guild_id", m.GuildID); err != nil {
			return source.Result{}, err
		}
	}
	occurred := snowflakeTime(m.ID) // the message's creation, when no timestamp came
	if m.Timestamp != "" {
		var err error
		if occurred, err = timestamp("timestamp", m.Timestamp); err != nil {
			return source.Result{}, err
		}
	}

	ev := env.Event(source.ID(Source, "message", m.ID), TypeMessagePosted, occurred)
	ev.Actor = actor(env, m.Author)
	ev.Channel = m.ChannelID
	if m.ChannelType != nil && isThread(*m.ChannelType) {
		ev.ThreadID = source.ID(Source, "thread", m.ChannelID)
	}
	ev.URL = messageURL(m.GuildID, m.ChannelType, m.ChannelID, m.ID)
	if m.GuildID != "" {
		ev.Attributes = map[string]string{"guild_id": m.GuildID}
	}

	seen := map[string]bool{m.Author.ID: true} // no edges to oneself, one edge per member
	if ref := m.MessageReference; ref != nil && ref.Type == 0 && ref.MessageID != "" {
		if err := snowflake("message_reference.message_id", ref.MessageID); err != nil {
			return source.Result{}, err
		}
		ev.ParentID = source.ID(Source, "message", ref.MessageID)
		if rm := m.ReferencedMessage; rm != nil && rm.Author != nil && rm.Author.ID != "" {
			if err := snowflake("referenced_message.author.id", rm.Author.ID); err != nil {
				return source.Result{}, err
			}
			if !seen[rm.Author.ID] {
				seen[rm.Author.ID] = true
				ev.Targets = append(ev.Targets, target(rm.Author.ID, rm.Author.Username, events.KindReply))
			}
		}
	}
	dropped := 0
	for i, u := range m.Mentions {
		if err := snowflake("mentions["+strconv.Itoa(i)+"].id", u.ID); err != nil {
			return source.Result{}, err
		}
		if seen[u.ID] {
			continue
		}
		seen[u.ID] = true
		if len(ev.Targets) == events.MaxTargets {
			dropped++
			continue
		}
		ev.Targets = append(ev.Targets, target(u.ID, u.Username, events.KindMention))
	}
	if dropped > 0 {
		// The schema bounds targets; say how many edges were left out.
		if ev.Attributes == nil {
			ev.Attributes = map[string]string{}
		}
		ev.Attributes["mentions_not_targeted"] = strconv.Itoa(dropped)
	}
	return finish(env, ev)
}

func normalizeThread(env source.Env, d []byte) (source.Result, error) {
	var t thread
	if err := decode(d, &t); err != nil {
		return source.Result{}, err
	}
	if err := snowflake("id", t.ID); err != nil {
		return source.Result{}, err
	}
	if !t.NewlyCreated {
		return source.Ignore("discord THREAD_CREATE %s: an existing thread the bot was added to, not a new thread", t.ID), nil
	}
	if err := snowflake("owner_id", t.OwnerID); err != nil {
		return source.Result{}, err
	}
	if t.ParentID != "" {
		if err := snowflake("parent_id", t.ParentID); err != nil {
			return source.Result{}, err
		}
	}
	if t.GuildID != "" {
		if err := snowflake("guild_id", t.GuildID); err != nil {
			return source.Result{}, err
		}
	}
	var occurred time.Time
	if t.ThreadMetadata != nil && t.ThreadMetadata.CreateTimestamp != "" {
		var err error
		if occurred, err = timestamp("thread_metadata.create_timestamp", t.ThreadMetadata.CreateTimestamp); err != nil {
			return source.Result{}, err
		}
	} else {
		// Threads created before 2022-01-09 carry no create_timestamp.
		occurred = snowflakeTime(t.ID)
	}
	id := source.ID(Source, "thread", t.ID)
	ev := env.Event(id, TypeThreadCreated, occurred)
	ev.Actor = env.Actor(Source, t.OwnerID, "", "")
	ev.Channel = t.ParentID
	ev.ThreadID = id
	ev.Title = clean(t.Name, events.MaxTextLen)
	if t.GuildID != "" {
		ev.URL = "https://discord.com/channels/" + t.GuildID + "/" + t.ID
		ev.Attributes = map[string]string{"guild_id": t.GuildID}
	}
	return finish(env, ev)
}

func normalizeReaction(env source.Env, d []byte) (source.Result, error) {
	var r reaction
	if err := decode(d, &r); err != nil {
		return source.Result{}, err
	}
	for _, f := range [][2]string{{"user_id", r.UserID}, {"channel_id", r.ChannelID}, {"message_id", r.MessageID}} {
		if err := snowflake(f[0], f[1]); err != nil {
			return source.Result{}, err
		}
	}
	if r.GuildID != "" {
		if err := snowflake("guild_id", r.GuildID); err != nil {
			return source.Result{}, err
		}
	}
	emoji := r.Emoji.ID // custom emoji: its id; unicode emoji: the character
	if emoji != "" {
		if err := snowflake("emoji.id", emoji); err != nil {
			return source.Result{}, err
		}
	} else {
		emoji = r.Emoji.Name
		if emoji == "" {
			return source.Result{}, source.Missing("emoji")
		}
		if !validText(emoji, 64) {
			return source.Result{}, &source.InputError{Field: "emoji.name", Reason: "want at most 64 bytes of UTF-8 text without control characters"}
		}
	}
	parts := []string{"reaction", r.MessageID, r.UserID, emoji}
	if r.Burst {
		parts = append(parts, "burst") // a super reaction is a reaction of its own
	}
	// A reaction carries no time of its own: it happened when the gateway
	// delivered it (its message's snowflake would date it to the message).
	ev := env.Event(source.ID(Source, parts...), TypeReactionAdded, now(env))
	u := &user{ID: r.UserID}
	if r.Member != nil && r.Member.User != nil && r.Member.User.ID == r.UserID {
		u = r.Member.User
	}
	ev.Actor = actor(env, u)
	ev.Channel = r.ChannelID
	ev.ParentID = source.ID(Source, "message", r.MessageID)
	ev.URL = messageURL(r.GuildID, nil, r.ChannelID, r.MessageID)
	ev.Attributes = map[string]string{"emoji": emoji}
	if r.GuildID != "" {
		ev.Attributes["guild_id"] = r.GuildID
	}
	if r.MessageAuthorID != "" {
		if err := snowflake("message_author_id", r.MessageAuthorID); err != nil {
			return source.Result{}, err
		}
		if r.MessageAuthorID != r.UserID {
			ev.Targets = []events.Target{target(r.MessageAuthorID, "", events.KindReact)}
		}
	}
	return finish(env, ev)
}

func normalizeMemberAdd(env source.Env, d []byte) (source.Result, error) {
	var m memberAdd
	if err := decode(d, &m); err != nil {
		return source.Result{}, err
	}
	if err := snowflake("guild_id", m.GuildID); err != nil {
		return source.Result{}, err
	}
	if m.User == nil {
		return source.Result{}, source.Missing("user")
	}
	if err := snowflake("user.id", m.User.ID); err != nil {
		return source.Result{}, err
	}
	joined, err := timestamp("joined_at", m.JoinedAt)
	if err != nil {
		return source.Result{}, err
	}
	// A member who leaves and comes back joins again: joined_at tells the
	// joins apart, and a redelivery of one join keeps its id.
	ev := env.Event(source.ID(Source, "member", m.GuildID, m.User.ID, "joined", strconv.FormatInt(joined.UnixMilli(), 10)),
		TypeMemberJoined, joined)
	ev.Actor = actor(env, m.User)
	ev.Attributes = map[string]string{"guild_id": m.GuildID}
	return finish(env, ev)
}

// finish marks teammates and checks the event against the schema: a field
// the schema refuses (a timestamp far in the future, say) is bad input.
func finish(env source.Env, ev events.Event) (source.Result, error) {
	env.Mark(&ev)
	if err := events.DefaultRegistry().Validate(&ev); err != nil {
		return source.Result{}, &source.InputError{Field: "d", Reason: "maps to an invalid event: " + err.Error()}
	}
	return source.One(ev), nil
}

func actor(env source.Env, u *user) events.Actor {
	a := env.Actor(Source, u.ID, clean(u.Username, events.MaxNameLen), clean(u.GlobalName, events.MaxNameLen))
	a.IsBot = a.IsBot || u.Bot
	return a
}

func target(id, username, kind string) events.Target {
	return events.Target{Source: Source, SourceID: id, Username: clean(username, events.MaxNameLen), Kind: kind}
}

// messageURL links to a message, or returns "" when the guild is unknown
// and the channel is not known to be a DM.
func messageURL(guildID string, channelType *int, channelID, messageID string) string {
	switch {
	case guildID != "":
	case channelType != nil && (*channelType == channelDM || *channelType == channelGroupDM):
		guildID = "@me"
	default:
		return ""
	}
	return "https://discord.com/channels/" + guildID + "/" + channelID + "/" + messageID
}

func now(env source.Env) time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}

// decode reads a JSON object; any decoding problem is bad input.
func decode(d []byte, v any) error {
	if len(d) == 0 {
		return source.Missing("d")
	}
	if err := json.Unmarshal(d, v); err != nil {
		return &source.InputError{Field: "d", Reason: "malformed JSON: " + err.Error()}
	}
	return nil
}

// snowflake checks that s is a snowflake id: a decimal uint64.
func snowflake(field, s string) error {
	if s == "" {
		return source.Missing(field)
	}
	if _, err := parseSnowflake(s); err != nil {
		return &source.InputError{Field: field, Reason: "want a snowflake id (decimal, at most 20 digits), got " + strconv.Quote(clip(s))}
	}
	return nil
}

func parseSnowflake(s string) (uint64, error) {
	if s == "" || s[0] == '+' || s[0] == '-' || len(s) > 20 {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(s, 10, 64)
}

// snowflakeTime is the time of a snowflake already checked by snowflake.
func snowflakeTime(s string) time.Time {
	n, _ := parseSnowflake(s)
	return SnowflakeTime(n)
}

// compareSnowflakes orders two snowflakes already checked by snowflake.
func compareSnowflakes(a, b string) int {
	x, _ := parseSnowflake(a)
	y, _ := parseSnowflake(b)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func timestamp(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, source.Missing(field)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &source.InputError{Field: field, Reason: "want an ISO 8601 timestamp, got " + strconv.Quote(clip(s))}
	}
	return t, nil
}

// clean makes a display string fit the schema: valid UTF-8, no control
// characters, at most limit bytes (cut at a rune boundary). Names and
// titles are display data; cleaning them loses nothing an id depends on.
func clean(s string, limit int) string {
	if validText(s, limit) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// validText reports whether s is at most limit bytes of valid UTF-8
// without control characters.
func validText(s string, limit int) bool {
	if len(s) > limit || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
