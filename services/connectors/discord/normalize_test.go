package discord

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// expected builds the event a test expects, in the acme community,
// received at testNow.
func expected(id, typ, occurred string, a events.Actor, with func(*events.Event)) events.Event {
	at, err := time.Parse(time.RFC3339Nano, occurred)
	if err != nil {
		panic(err)
	}
	ev := testEnv().Event(id, typ, at)
	ev.Actor = a
	if with != nil {
		with(&ev)
	}
	return ev
}

const (
	testUserID = "230869302276784128" // author of the recorded messages
	reactorID  = "100000000000000000" // anonymised reacting user and thread owner
	guildID    = "438097571408379915"
	dmChannel  = "750023285147697282"
)

var author = events.Actor{Source: Source, SourceID: testUserID, Username: "TestUser", DisplayName: "Test User"}

// TestNormalizeRealPayloads asserts the exact outcome of every recorded
// dispatch of the fixture.
func TestNormalizeRealPayloads(t *testing.T) {
	dm := func(msg string) func(*events.Event) {
		return func(ev *events.Event) {
			ev.Channel = dmChannel
			ev.URL = "https://discord.com/channels/@me/" + dmChannel + "/" + msg
		}
	}
	reacted := func(msg, channel, guild, emoji string) func(*events.Event) {
		return func(ev *events.Event) {
			ev.Channel = channel
			ev.ParentID = "discord:message:" + msg
			ev.Targets = []events.Target{{Source: Source, SourceID: testUserID, Kind: events.KindReact}}
			ev.Attributes = map[string]string{"emoji": emoji}
			if guild != "" {
				ev.Attributes["guild_id"] = guild
				ev.URL = "https://discord.com/channels/" + guild + "/" + channel + "/" + msg
			}
		}
	}
	threadEv := func(id, parent, title string) func(*events.Event) {
		return func(ev *events.Event) {
			ev.Channel = parent
			ev.ThreadID = "discord:thread:" + id
			ev.Title = title
			ev.URL = "https://discord.com/channels/" + guildID + "/" + id
			ev.Attributes = map[string]string{"guild_id": guildID}
		}
	}
	reactor := events.Actor{Source: Source, SourceID: reactorID}
	now := testNow.Format(time.RFC3339Nano)

	cases := map[string]struct {
		event   *events.Event
		ignored string
	}{
		"ready_1": {ignored: "discord READY: gateway session handshake"},
		"message_create_1": {event: ptr(expected("discord:message:1467362417523687485", TypeMessagePosted,
			"2026-02-01T03:34:22.613Z", author, dm("1467362417523687485")))},
		"message_create_2": {event: ptr(expected("discord:message:1467362488365482145", TypeMessagePosted,
			"2026-02-01T03:34:39.503Z", author, dm("1467362488365482145")))},
		"message_create_3": {event: ptr(expected("discord:message:1467362561736577025", TypeMessagePosted,
			"2026-02-01T03:34:56.996Z", author, dm("1467362561736577025")))},
		"message_update_1": {ignored: "discord MESSAGE_UPDATE: message edit (the message was counted when posted)"},
		"message_update_2": {ignored: "discord MESSAGE_UPDATE: message edit (the message was counted when posted)"},
		"message_update_3": {ignored: "discord MESSAGE_UPDATE: message edit (the message was counted when posted)"},
		"message_delete_1": {ignored: "discord MESSAGE_DELETE: message deletion (activity history is append-only)"},
		"message_reaction_add_1": {event: ptr(expected("discord:reaction:1467362782411231273:100000000000000000:🔥",
			TypeReactionAdded, now, reactor, reacted("1467362782411231273", dmChannel, "", "🔥")))},
		// The member object of the recording belongs to another user than
		// user_id (anonymisation): its names are not taken.
		"message_reaction_add_2": {event: ptr(expected("discord:reaction:1467363183181303818:100000000000000000:🔥",
			TypeReactionAdded, now, reactor, reacted("1467363183181303818", "1105696638992916501", guildID, "🔥")))},
		"message_reaction_add_3": {event: ptr(expected("discord:reaction:1467363183181303818:100000000000000000:👍",
			TypeReactionAdded, now, reactor, reacted("1467363183181303818", "1105696638992916501", guildID, "👍")))},
		"message_reaction_remove_1": {ignored: "discord MESSAGE_REACTION_REMOVE: reaction removal (activity history is append-only)"},
		"message_reaction_remove_2": {ignored: "discord MESSAGE_REACTION_REMOVE: reaction removal (activity history is append-only)"},
		"channel_create_1":          {ignored: "discord CHANNEL_CREATE: channel administration"},
		"channel_update_1":          {ignored: "discord CHANNEL_UPDATE: channel administration"},
		"channel_pins_update_1":     {ignored: "discord CHANNEL_PINS_UPDATE: pin change (channel administration)"},
		"channel_delete_1":          {ignored: "discord CHANNEL_DELETE: channel administration"},
		"thread_create_1": {event: ptr(expected("discord:thread:1467363183181303818", TypeThreadCreated,
			"2026-02-01T03:37:39.429Z", reactor, threadEv("1467363183181303818", "1105696638992916501", "New thread now")))},
		"thread_create_2": {event: ptr(expected("discord:thread:1467363538212487230", TypeThreadCreated,
			"2026-02-01T03:38:49.806Z", reactor, threadEv("1467363538212487230", "1467284172627378391", "new Post here")))},
		"voice_channel_start_time_update_1": {ignored: "discord VOICE_CHANNEL_START_TIME_UPDATE: voice channel session timing"},
		"voice_channel_start_time_update_2": {ignored: "discord VOICE_CHANNEL_START_TIME_UPDATE: voice channel session timing"},
		"voice_channel_start_time_update_3": {ignored: "discord VOICE_CHANNEL_START_TIME_UPDATE: voice channel session timing"},
		"voice_channel_status_update_1":     {ignored: "discord VOICE_CHANNEL_STATUS_UPDATE: voice channel status text"},
		"voice_channel_status_update_2":     {ignored: "discord VOICE_CHANNEL_STATUS_UPDATE: voice channel status text"},
		"voice_channel_status_update_3":     {ignored: "discord VOICE_CHANNEL_STATUS_UPDATE: voice channel status text"},
		"voice_state_update_1":              {ignored: "discord VOICE_STATE_UPDATE: voice state (joining or leaving voice is not mapped)"},
		"voice_state_update_2":              {ignored: "discord VOICE_STATE_UPDATE: voice state (joining or leaving voice is not mapped)"},
		"voice_state_update_3":              {ignored: "discord VOICE_STATE_UPDATE: voice state (joining or leaving voice is not mapped)"},
		"typing_start_1":                    {ignored: "discord TYPING_START: typing indicator"},
		"typing_start_2":                    {ignored: "discord TYPING_START: typing indicator"},
		"typing_start_3":                    {ignored: "discord TYPING_START: typing indicator"},
		"presence_update_1":                 {ignored: "discord PRESENCE_UPDATE: presence change (online status, activity)"},
		"presence_update_2":                 {ignored: "discord PRESENCE_UPDATE: presence change (online status, activity)"},
		"presence_update_3":                 {ignored: "discord PRESENCE_UPDATE: presence change (online status, activity)"},
		"message_poll_vote_add_1":           {ignored: "discord MESSAGE_POLL_VOTE_ADD: poll vote (no activity type for poll votes)"},
		"message_poll_vote_add_2":           {ignored: "discord MESSAGE_POLL_VOTE_ADD: poll vote (no activity type for poll votes)"},
		"message_poll_vote_add_3":           {ignored: "discord MESSAGE_POLL_VOTE_ADD: poll vote (no activity type for poll votes)"},
		"message_poll_vote_remove_1":        {ignored: "discord MESSAGE_POLL_VOTE_REMOVE: poll vote removal (no activity type for poll votes)"},
		"guild_create_1":                    {ignored: "discord GUILD_CREATE: guild state snapshot (sent on connect and when the bot joins a guild)"},
		"guild_create_2":                    {ignored: "discord GUILD_CREATE: guild state snapshot (sent on connect and when the bot joins a guild)"},
	}
	payloads := loadPayloads(t)
	require.Len(t, cases, len(payloads), "one expectation per recorded payload")
	for _, p := range payloads {
		t.Run(p.ID, func(t *testing.T) {
			want, ok := cases[p.ID]
			require.True(t, ok, "no expectation for %s", p.ID)
			res, err := Normalize(testEnv(), p.Event, p.D)
			require.NoError(t, err)
			require.Empty(t, res.Unmapped)
			if want.event == nil {
				require.Equal(t, want.ignored, res.Ignored)
				require.Empty(t, res.Events)
				return
			}
			require.Empty(t, res.Ignored)
			require.Equal(t, []events.Event{*want.event}, res.Events)
			requireValid(t, res)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// messageD returns message_create_1 of the fixture with fields set (a
// nil value deletes the field).
func messageD(t *testing.T, set map[string]any) []byte {
	t.Helper()
	return patch(t, "message_create_1", set)
}

func patch(t *testing.T, id string, set map[string]any) []byte {
	t.Helper()
	for _, p := range loadPayloads(t) {
		if p.ID != id {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(p.D, &m))
		for k, v := range set {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b
	}
	t.Fatalf("no payload %s", id)
	return nil
}

// TestNormalizeMessageVariants covers what the recording lacks: replies,
// mentions, bots, webhooks, system messages, guild and thread channels.
func TestNormalizeMessageVariants(t *testing.T) {
	const msg = "1467362417523687485"
	replied := map[string]any{"id": "80351110224678912", "username": "Nelly", "global_name": "Nelly N"}
	other := map[string]any{"id": "41771983423143937", "username": "jake"}
	self := map[string]any{"id": testUserID, "username": "TestUser"}
	bot := map[string]any{"id": testUserID, "username": "helper", "bot": true}

	type want struct {
		ignored string
		check   func(t *testing.T, ev events.Event)
	}
	cases := []struct {
		name string
		set  map[string]any
		want want
	}{
		{"reply with referenced message", map[string]any{
			"type":               19,
			"message_reference":  map[string]any{"type": 0, "message_id": "1467362000000000000", "channel_id": dmChannel},
			"referenced_message": map[string]any{"id": "1467362000000000000", "author": replied},
			"mentions":           []any{replied, other},
		}, want{check: func(t *testing.T, ev events.Event) {
			require.Equal(t, "discord:message:1467362000000000000", ev.ParentID)
			require.Equal(t, []events.Target{
				{Source: Source, SourceID: "80351110224678912", Username: "Nelly", Kind: events.KindReply},
				{Source: Source, SourceID: "41771983423143937", Username: "jake", Kind: events.KindMention},
			}, ev.Targets, "the replied-to author is one reply edge, not also a mention")
		}}},
		{"reply to a deleted message", map[string]any{
			"type":               19,
			"message_reference":  map[string]any{"message_id": "1467362000000000000"},
			"referenced_message": nil,
		}, want{check: func(t *testing.T, ev events.Event) {
			require.Equal(t, "discord:message:1467362000000000000", ev.ParentID)
			require.Empty(t, ev.Targets)
		}}},
		{"forward is no reply", map[string]any{
			"message_reference": map[string]any{"type": 1, "message_id": "1467362000000000000"},
		}, want{check: func(t *testing.T, ev events.Event) {
			require.Empty(t, ev.ParentID)
		}}},
		{"self mention and self reply make no edge", map[string]any{
			"message_reference":  map[string]any{"message_id": "1467362000000000000"},
			"referenced_message": map[string]any{"id": "1467362000000000000", "author": self},
			"mentions":           []any{self},
		}, want{check: func(t *testing.T, ev events.Event) {
			require.Empty(t, ev.Targets)
			require.NotEmpty(t, ev.ParentID)
		}}},
		{"bot author", map[string]any{"author": bot}, want{check: func(t *testing.T, ev events.Event) {
			require.True(t, ev.Actor.IsBot)
			require.Equal(t, "helper", ev.Actor.Username)
		}}},
		{"slash command response", map[string]any{"type": 20, "author": bot}, want{check: func(t *testing.T, ev events.Event) {
			require.True(t, ev.Actor.IsBot)
		}}},
		{"guild thread message", map[string]any{"guild_id": guildID, "channel_type": 11, "channel_id": "1467363183181303818"},
			want{check: func(t *testing.T, ev events.Event) {
				require.Equal(t, "1467363183181303818", ev.Channel)
				require.Equal(t, "discord:thread:1467363183181303818", ev.ThreadID, "the thread_created event id")
				require.Equal(t, "https://discord.com/channels/"+guildID+"/1467363183181303818/"+msg, ev.URL)
				require.Equal(t, map[string]string{"guild_id": guildID}, ev.Attributes)
			}}},
		{"guild text channel message", map[string]any{"guild_id": guildID, "channel_type": 0},
			want{check: func(t *testing.T, ev events.Event) {
				require.Empty(t, ev.ThreadID)
			}}},
		{"webhook message", map[string]any{"webhook_id": "223704706495545344"},
			want{ignored: "discord message " + msg + ": posted by a webhook, not a member"}},
		{"member join notice", map[string]any{"type": 7},
			want{ignored: "discord message " + msg + ": system message USER_JOIN"}},
		{"pin notice", map[string]any{"type": 6},
			want{ignored: "discord message " + msg + ": system message CHANNEL_PINNED_MESSAGE"}},
		{"unknown system type", map[string]any{"type": 99},
			want{ignored: "discord message " + msg + ": system message type 99"}},
		{"Discord system user", map[string]any{"author": map[string]any{"id": "643945264868098049", "username": "Discord", "system": true}},
			want{ignored: "discord message " + msg + ": posted by the Discord system user"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Normalize(testEnv(), "MESSAGE_CREATE", messageD(t, tc.set))
			require.NoError(t, err)
			if tc.want.ignored != "" {
				require.Equal(t, tc.want.ignored, res.Ignored)
				require.Empty(t, res.Events)
				return
			}
			require.Len(t, res.Events, 1)
			requireValid(t, res)
			ev := res.Events[0]
			require.Equal(t, "discord:message:"+msg, ev.ID, "the id depends on the message id only")
			tc.want.check(t, ev)
		})
	}
}

func TestNormalizeMentionsBeyondTheTargetBound(t *testing.T) {
	var mentions []any
	for i := range 70 {
		mentions = append(mentions, map[string]any{"id": strconv.Itoa(1000 + i), "username": "u" + strconv.Itoa(i)})
	}
	res, err := Normalize(testEnv(), "MESSAGE_CREATE", messageD(t, map[string]any{"mentions": mentions}))
	require.NoError(t, err)
	requireValid(t, res)
	require.Len(t, res.Events[0].Targets, events.MaxTargets)
	require.Equal(t, "6", res.Events[0].Attributes["mentions_not_targeted"], "the edges left out are counted")
}

func TestNormalizeMemberJoined(t *testing.T) {
	d := []byte(`{"guild_id":"438097571408379915","joined_at":"2026-02-01T04:00:00.123000+00:00","nick":null,"roles":[],
		"deaf":false,"mute":false,"pending":false,"flags":0,
		"user":{"id":"80351110224678912","username":"nelly","global_name":"Nelly","discriminator":"0","avatar":null}}`)
	res, err := Normalize(testEnv(), "GUILD_MEMBER_ADD", d)
	require.NoError(t, err)
	want := expected("discord:member:438097571408379915:80351110224678912:joined:1769918400123", TypeMemberJoined,
		"2026-02-01T04:00:00.123Z", events.Actor{Source: Source, SourceID: "80351110224678912", Username: "nelly", DisplayName: "Nelly"},
		func(ev *events.Event) { ev.Attributes = map[string]string{"guild_id": guildID} })
	require.Equal(t, []events.Event{want}, res.Events)
	requireValid(t, res)

	res, err = Normalize(testEnv(), "GUILD_MEMBER_ADD", []byte(`{"guild_id":"1","joined_at":"2026-02-01T04:00:00Z","user":{"id":"2","username":"ci","bot":true}}`))
	require.NoError(t, err)
	require.True(t, res.Events[0].Actor.IsBot)
}

func TestNormalizeMessageWithoutTimestampIsDatedBySnowflake(t *testing.T) {
	res, err := Normalize(testEnv(), "MESSAGE_CREATE", messageD(t, map[string]any{"timestamp": nil}))
	require.NoError(t, err)
	requireValid(t, res)
	require.Equal(t, "2026-02-01T03:34:22.613Z", res.Events[0].OccurredAt.Format(events.TimestampLayout))
}

func TestNormalizeThreadVariants(t *testing.T) {
	res, err := Normalize(testEnv(), "THREAD_CREATE", patch(t, "thread_create_1", map[string]any{"newly_created": nil}))
	require.NoError(t, err)
	require.Equal(t, "discord THREAD_CREATE 1467363183181303818: an existing thread the bot was added to, not a new thread", res.Ignored)

	// Without create_timestamp (threads older than 2022-01-09) the
	// snowflake dates the thread.
	res, err = Normalize(testEnv(), "THREAD_CREATE", patch(t, "thread_create_1", map[string]any{"thread_metadata": map[string]any{"archived": false}}))
	require.NoError(t, err)
	requireValid(t, res)
	require.Equal(t, SnowflakeTime(1467363183181303818), res.Events[0].OccurredAt.Time)
}

// TestSnowflakeTimeMatchesMessageTimestamps checks the snowflake decoding
// against the timestamps Discord sent with the recorded messages.
func TestSnowflakeTimeMatchesMessageTimestamps(t *testing.T) {
	n := 0
	for _, p := range loadPayloads(t) {
		if p.Event != "MESSAGE_CREATE" {
			continue
		}
		var m struct{ ID, Timestamp string }
		require.NoError(t, json.Unmarshal(p.D, &m))
		id, err := strconv.ParseUint(m.ID, 10, 64)
		require.NoError(t, err)
		ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
		require.NoError(t, err)
		require.Equal(t, ts.UTC(), SnowflakeTime(id), p.ID)
		n++
	}
	require.Equal(t, 3, n)
}

func TestNormalizeReactionVariants(t *testing.T) {
	base := map[string]any{"user_id": "80351110224678912", "channel_id": "1105696638992916501", "message_id": "1467363183181303818",
		"guild_id": guildID, "emoji": map[string]any{"id": "41771983429993937", "name": "LUL"},
		"member": map[string]any{"user": map[string]any{"id": "80351110224678912", "username": "nelly", "global_name": "Nelly", "bot": true}}}
	d, err := json.Marshal(base)
	require.NoError(t, err)
	res, err := Normalize(testEnv(), "MESSAGE_REACTION_ADD", d)
	require.NoError(t, err)
	requireValid(t, res)
	ev := res.Events[0]
	require.Equal(t, "discord:reaction:1467363183181303818:80351110224678912:41771983429993937", ev.ID, "custom emoji by id")
	require.Equal(t, events.Actor{Source: Source, SourceID: "80351110224678912", Username: "nelly", DisplayName: "Nelly", IsBot: true}, ev.Actor)
	require.Empty(t, ev.Targets, "no message_author_id: no edge")

	base["burst"] = true
	base["message_author_id"] = "80351110224678912"
	d, err = json.Marshal(base)
	require.NoError(t, err)
	res, err = Normalize(testEnv(), "MESSAGE_REACTION_ADD", d)
	require.NoError(t, err)
	require.Equal(t, "discord:reaction:1467363183181303818:80351110224678912:41771983429993937:burst", res.Events[0].ID)
	require.Empty(t, res.Events[0].Targets, "reacting to one's own message makes no edge")
}

func TestNormalizeTeammatesAndConfiguredBots(t *testing.T) {
	env := testEnv()
	env.People = &source.People{Bots: []string{"discord:TestUser"}, Teammates: []string{"discord:testuser"}}
	res, err := Normalize(env, "MESSAGE_CREATE", messageD(t, nil))
	require.NoError(t, err)
	require.True(t, res.Events[0].Actor.IsBot)
	require.Equal(t, "true", res.Events[0].Attributes[source.AttrTeammate])
}

func TestNormalizeUnknownEventIsUnmapped(t *testing.T) {
	res, err := Normalize(testEnv(), "GUILD_FUTURE_THING", []byte(`{}`))
	require.NoError(t, err)
	require.Equal(t, source.Result{Unmapped: "discord:GUILD_FUTURE_THING"}, res)
}

func TestNormalizeBadInput(t *testing.T) {
	cases := []struct {
		name, event, d, field string
	}{
		{"no event name", "", `{}`, "t"},
		{"event name with control characters", "A\x00B", `{}`, "t"},
		{"not JSON", "MESSAGE_CREATE", `{`, "d"},
		{"empty", "MESSAGE_CREATE", ``, "d"},
		{"message without id", "MESSAGE_CREATE", `{"channel_id":"1","author":{"id":"2"},"timestamp":"2026-01-01T00:00:00Z"}`, "id"},
		{"message id not a snowflake", "MESSAGE_CREATE", `{"id":"x1","channel_id":"1","author":{"id":"2"},"timestamp":"2026-01-01T00:00:00Z"}`, "id"},
		{"message without author", "MESSAGE_CREATE", `{"id":"3","channel_id":"1","timestamp":"2026-01-01T00:00:00Z"}`, "author"},
		{"message with a bad timestamp", "MESSAGE_CREATE", `{"id":"3","channel_id":"1","author":{"id":"2"},"timestamp":"yesterday"}`, "timestamp"},
		{"message from the far future", "MESSAGE_CREATE", `{"id":"3","channel_id":"1","author":{"id":"2"},"timestamp":"2999-01-01T00:00:00Z"}`, "d"},
		{"mention without id", "MESSAGE_CREATE", `{"id":"3","channel_id":"1","author":{"id":"2"},"timestamp":"2026-01-01T00:00:00Z","mentions":[{}]}`, "mentions[0].id"},
		{"reaction without emoji", "MESSAGE_REACTION_ADD", `{"user_id":"1","channel_id":"2","message_id":"3","emoji":{}}`, "emoji"},
		{"reaction with a control character emoji", "MESSAGE_REACTION_ADD", `{"user_id":"1","channel_id":"2","message_id":"3","emoji":{"name":"\u0007"}}`, "emoji.name"},
		{"thread without owner", "THREAD_CREATE", `{"id":"1","newly_created":true}`, "owner_id"},
		{"member without user", "GUILD_MEMBER_ADD", `{"guild_id":"1","joined_at":"2026-01-01T00:00:00Z"}`, "user"},
		{"member without joined_at", "GUILD_MEMBER_ADD", `{"guild_id":"1","user":{"id":"2"}}`, "joined_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Normalize(testEnv(), tc.event, []byte(tc.d))
			var ie *source.InputError
			require.True(t, errors.As(err, &ie), "want *source.InputError, got %v", err)
			require.Equal(t, tc.field, ie.Field)
		})
	}
}

func TestCleanNames(t *testing.T) {
	require.Equal(t, "a b", clean("a\nb", 10))
	require.Equal(t, "ab\uFFFD", clean("ab\xff", 10))
	long := clean(strings.Repeat("é", 200), events.MaxNameLen)
	require.LessOrEqual(t, len(long), events.MaxNameLen)
	require.True(t, validText(long, events.MaxNameLen))
}
