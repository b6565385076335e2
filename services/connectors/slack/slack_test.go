package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/connectors/source"
)

// TestJavaSDKSamples runs every payload sample of Slack's Java SDK. The
// samples blank every string, so each is run twice: as published (most
// have an empty envelope type, a bad input) and filled in (see fill), which
// exercises the mapping of each event type on its real structure.
func TestJavaSDKSamples(t *testing.T) {
	tests := []struct {
		file           string
		asIs, filledIn outcome
	}{
		{"AppHomeOpenedPayload.json", bad("type"), ignored("slack app_home_opened:")},
		{"AppMentionPayload.json", bad("type"), ignored("slack app_mention:")},
		{"AppRateLimitedPayload.json", bad("type"), ignored("slack app_rate_limited:")},
		{"AppRequestedPayload.json", bad("type"), ignored("slack app_requested:")},
		{"AppUninstalledPayload.json", bad("type"), ignored("slack app_uninstalled:")},
		{"CallRejectedPayload.json", bad("type"), ignored("slack call_rejected:")},
		{"ChannelArchivePayload.json", ignored("slack channel_archive:"), ignored("slack channel_archive:")},
		{"ChannelCreatedPayload.json", ignored("slack channel_created:"), ignored("slack channel_created:")},
		{"ChannelDeletedPayload.json", bad("type"), ignored("slack channel_deleted:")},
		{"ChannelHistoryChangedPayload.json", bad("type"), ignored("slack channel_history_changed:")},
		{"ChannelIdChangedPayload.json", bad("type"), ignored("slack channel_id_changed:")},
		{"ChannelLeftPayload.json", ignored("slack channel_left:"), ignored("slack channel_left:")},
		{"ChannelRenamePayload.json", ignored("slack channel_rename:"), ignored("slack channel_rename:")},
		{"ChannelSharedPayload.json", bad("type"), ignored("slack channel_shared:")},
		{"ChannelUnarchivePayload.json", ignored("slack channel_unarchive:"), ignored("slack channel_unarchive:")},
		{"ChannelUnsharedPayload.json", bad("type"), ignored("slack channel_unshared:")},
		{"DndUpdatedPayload.json", ignored("slack dnd_updated:"), ignored("slack dnd_updated:")},
		{"DndUpdatedUserPayload.json", ignored("slack dnd_updated_user:"), ignored("slack dnd_updated_user:")},
		{"EmailDomainChangedPayload.json", bad("type"), ignored("slack email_domain_changed:")},
		{"EmojiChangedPayload.json", ignored("slack emoji_changed:"), ignored("slack emoji_changed:")},
		{"FileChangePayload.json", bad("type"), ignored("slack file_change:")},
		{"FileCreatedPayload.json", ignored("slack file_created:"), ignored("slack file_created:")},
		{"FileDeletedPayload.json", ignored("slack file_deleted:"), ignored("slack file_deleted:")},
		{"FilePublicPayload.json", ignored("slack file_public:"), ignored("slack file_public:")},
		{"FileSharedPayload.json", ignored("slack file_shared:"), ignored("slack file_shared:")},
		{"FileUnsharedPayload.json", ignored("slack file_unshared:"), ignored("slack file_unshared:")},
		{"GoodbyePayload.json", bad("type"), ignored("slack goodbye:")},
		{"GridMigrationFinishedPayload.json", bad("type"), ignored("slack grid_migration_finished:")},
		{"GridMigrationStartedPayload.json", bad("type"), ignored("slack grid_migration_started:")},
		{"GroupArchivePayload.json", ignored("slack group_archive:"), ignored("slack group_archive:")},
		{"GroupClosePayload.json", bad("type"), ignored("slack group_close:")},
		{"GroupDeletedPayload.json", bad("type"), ignored("slack group_deleted:")},
		{"GroupHistoryChangedPayload.json", bad("type"), ignored("slack group_history_changed:")},
		{"GroupLeftPayload.json", ignored("slack group_left:"), ignored("slack group_left:")},
		{"GroupOpenPayload.json", bad("type"), ignored("slack group_open:")},
		{"GroupRenamePayload.json", ignored("slack group_rename:"), ignored("slack group_rename:")},
		{"GroupUnarchivePayload.json", ignored("slack group_unarchive:"), ignored("slack group_unarchive:")},
		{"ImClosePayload.json", bad("type"), ignored("slack im_close:")},
		{"ImCreatedPayload.json", bad("type"), ignored("slack im_created:")},
		{"ImHistoryChangedPayload.json", bad("type"), ignored("slack im_history_changed:")},
		{"ImOpenPayload.json", bad("type"), ignored("slack im_open:")},
		{"InviteRequestedPayload.json", bad("type"), ignored("slack invite_requested:")},
		{"LinkSharedPayload.json", bad("type"), ignored("slack link_shared:")},
		{"MemberJoinedChannelPayload.json", bad("team_id"), evs("slack.channel.joined")},
		{"MemberLeftChannelPayload.json", ignored("slack member_left_channel:"), ignored("slack member_left_channel:")},
		{"MessageBotPayload.json", bad("type"), evs("slack.thread.replied")},
		{"MessageChangedPayload.json", bad("type"), ignored("slack message message_changed:")},
		{"MessageChannelArchivePayload.json", bad("type"), ignored("slack message channel_archive:")},
		{"MessageChannelJoinPayload.json", bad("type"), ignored("slack message channel_join:")},
		{"MessageChannelLeavePayload.json", bad("type"), ignored("slack message channel_leave:")},
		{"MessageChannelNamePayload.json", bad("type"), ignored("slack message channel_name:")},
		{"MessageChannelPostingPermissionsPayload.json", bad("type"), ignored("slack message channel_posting_permissions:")},
		{"MessageChannelPurposePayload.json", bad("type"), ignored("slack message channel_purpose:")},
		{"MessageChannelTopicPayload.json", bad("type"), ignored("slack message channel_topic:")},
		{"MessageChannelUnarchivePayload.json", bad("type"), ignored("slack message channel_unarchive:")},
		{"MessageDeletedPayload.json", bad("type"), ignored("slack message message_deleted:")},
		{"MessageEkmAccessDeniedPayload.json", bad("type"), ignored("slack message ekm_access_denied:")},
		{"MessageFileSharePayload.json", bad("type"), evs("slack.thread.replied")},
		{"MessageGroupTopicPayload.json", bad("type"), ignored("slack message group_topic:")},
		{"MessageMePayload.json", bad("type"), evs("slack.message.posted")},
		{"MessagePayload.json", bad("type"), evs("slack.thread.replied")},
		{"MessageRepliedPayload.json", bad("type"), ignored("slack message message_replied:")},
		{"MessageThreadBroadcastPayload.json", bad("type"), evs("slack.thread.replied")},
		{"PinAddedPayload.json", ignored("slack pin_added:"), ignored("slack pin_added:")},
		{"PinRemovedPayload.json", ignored("slack pin_removed:"), ignored("slack pin_removed:")},
		{"ReactionAddedPayload.json", bad("team_id"), evs("slack.reaction.added")},
		{"ReactionRemovedPayload.json", ignored("slack reaction_removed:"), ignored("slack reaction_removed:")},
		{"ResourcesAddedPayload.json", bad("type"), ignored("slack resources_added:")},
		{"ResourcesRemovedPayload.json", bad("type"), ignored("slack resources_removed:")},
		{"ScopeDeniedPayload.json", bad("type"), ignored("slack scope_denied:")},
		{"ScopeGrantedPayload.json", bad("type"), ignored("slack scope_granted:")},
		{"StarAddedPayload.json", ignored("slack star_added:"), ignored("slack star_added:")},
		{"StarRemovedPayload.json", ignored("slack star_removed:"), ignored("slack star_removed:")},
		{"SubteamCreatedPayload.json", ignored("slack subteam_created:"), ignored("slack subteam_created:")},
		{"SubteamMembersChangedPayload.json", ignored("slack subteam_members_changed:"), ignored("slack subteam_members_changed:")},
		{"SubteamSelfAddedPayload.json", ignored("slack subteam_self_added:"), ignored("slack subteam_self_added:")},
		{"SubteamSelfRemovedPayload.json", ignored("slack subteam_self_removed:"), ignored("slack subteam_self_removed:")},
		{"SubteamUpdatedPayload.json", ignored("slack subteam_updated:"), ignored("slack subteam_updated:")},
		{"TeamAccessGrantedPayload.json", bad("type"), ignored("slack team_access_granted:")},
		{"TeamAccessRevokedPayload.json", bad("type"), ignored("slack team_access_revoked:")},
		{"TeamDomainChangePayload.json", bad("type"), ignored("slack team_domain_change:")},
		{"TeamJoinPayload.json", bad("type"), evs("slack.member.joined")},
		{"TeamRenamePayload.json", bad("type"), ignored("slack team_rename:")},
		{"TokensRevokedPayload.json", bad("type"), ignored("slack tokens_revoked:")},
		{"UserChangePayload.json", bad("type"), ignored("slack user_change:")},
		{"UserHuddleChangedPayload.json", bad("type"), ignored("slack user_huddle_changed:")},
		{"UserProfileChangedPayload.json", bad("type"), ignored("slack user_profile_changed:")},
		{"UserResourceDeniedPayload.json", bad("type"), ignored("slack user_resource_denied:")},
		{"UserResourceGrantedPayload.json", bad("type"), ignored("slack user_resource_granted:")},
		{"UserResourceRemovedPayload.json", bad("type"), ignored("slack user_resource_removed:")},
		{"UserStatusChangedPayload.json", bad("type"), ignored("slack user_status_changed:")},
		{"WorkflowDeletedPayload.json", bad("type"), ignored("slack workflow_deleted:")},
		{"WorkflowPublishedPayload.json", bad("type"), ignored("slack workflow_published:")},
		{"WorkflowStepDeletedPayload.json", bad("type"), ignored("slack workflow_step_deleted:")},
		{"WorkflowStepExecutePayload.json", bad("type"), ignored("slack workflow_step_execute:")},
		{"WorkflowUnpublishedPayload.json", bad("type"), ignored("slack workflow_unpublished:")},
	}
	dir := filepath.Join(realdata, "java_slack_sdk_event_samples")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 96, "fixture folder incomplete")
	var listed []string
	for _, tt := range tests {
		listed = append(listed, tt.file)
	}
	for _, f := range files {
		require.Contains(t, listed, filepath.Base(f), "sample without an expected outcome")
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFixture(t, "java_slack_sdk_event_samples", tt.file)
			requireOutcome(t, tt.asIs, run(t, body), "as published")
			requireOutcome(t, tt.filledIn, run(t, fill(t, body)), "filled in")
		})
	}
}

// TestZulipFixtures checks the real deliveries captured by Zulip exactly.
func TestZulipFixtures(t *testing.T) {
	t.Run("challenge", func(t *testing.T) {
		res, err := Webhook{}.Normalize(testEnv(), nil, readFixture(t, "zulip_fixtures", "challenge_handshake_payload.json"))
		require.NoError(t, err)
		require.Equal(t, "slack url_verification: endpoint check", res.Ignored)
		require.Equal(t, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", string(res.Reply))
		require.Empty(t, res.Events)
	})
	t.Run("bot message", func(t *testing.T) {
		ev := one(t, readFixture(t, "zulip_fixtures", "message_from_slack_integration_bot.json"))
		require.Equal(t, "slack:T06NRA6HM3P:C06P6T3QGD7:1723609070.703489", ev.ID)
		require.Equal(t, "slack.message.posted", ev.Type)
		require.Equal(t, events.Actor{Source: "slack", SourceID: "B06NWMNUQ3W", Username: "ClickUp", IsBot: true}, ev.Actor)
		require.Equal(t, time.Date(2024, 8, 14, 4, 17, 50, 703e6, time.UTC), ev.OccurredAt.Time)
		require.Equal(t, received, ev.ReceivedAt.Time)
		require.Equal(t, "C06P6T3QGD7", ev.Channel)
		require.Equal(t, "acme", ev.Community)
		require.Empty(t, ev.ThreadID)
		require.Empty(t, ev.Targets)
		require.Equal(t, map[string]string{"subtype": "bot_message"}, ev.Attributes)
	})
	t.Run("mentions", func(t *testing.T) {
		ev := one(t, readFixture(t, "zulip_fixtures", "message_with_user_mentions.json"))
		require.Equal(t, "slack:T06NRA6HM3P:C06NRA6JLER:1719209649.631399", ev.ID)
		require.Equal(t, "slack.message.posted", ev.Type)
		require.Equal(t, events.Actor{Source: "slack", SourceID: "U06NU4E26M9"}, ev.Actor)
		require.Equal(t, time.Date(2024, 6, 24, 6, 14, 9, 631e6, time.UTC), ev.OccurredAt.Time)
		// The author mentions themselves too: no self edge.
		require.Equal(t, []events.Target{
			{Source: "slack", SourceID: "U074VRHQ11T", Kind: events.KindMention},
			{Source: "slack", SourceID: "U074G5E1ANR", Kind: events.KindMention},
		}, ev.Targets)
		require.Empty(t, ev.Attributes)
	})
}

// one normalizes a delivery that must give exactly one valid event.
func one(t *testing.T, body []byte) events.Event {
	t.Helper()
	res, err := Webhook{}.Normalize(testEnv(), nil, body)
	require.NoError(t, err)
	require.Equal(t, classEvents, classify(t, res, err).class, "%+v", res)
	require.Len(t, res.Events, 1)
	return res.Events[0]
}

// callbackBody wraps an inner event in an event_callback envelope of team T1.
func callbackBody(event string) []byte {
	return []byte(`{"type":"event_callback","team_id":"T1","event_id":"Ev1","event_time":1700000000,"event":` + event + `}`)
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name, event string
		want        outcome
		check       func(t *testing.T, ev events.Event)
	}{
		{"plain", `{"type":"message","user":"U1","channel":"C1","ts":"1700000000.000100","text":"hi <@U2> and <@U3|jane> and <@U2>"}`,
			evs("slack.message.posted"), func(t *testing.T, ev events.Event) {
				require.Equal(t, "slack:T1:C1:1700000000.000100", ev.ID)
				require.Equal(t, time.Unix(1700000000, 0).UTC(), ev.OccurredAt.Time)
				require.Equal(t, []events.Target{
					{Source: "slack", SourceID: "U2", Kind: events.KindMention},
					{Source: "slack", SourceID: "U3", Kind: events.KindMention},
				}, ev.Targets)
				require.Empty(t, ev.ThreadID)
				require.False(t, ev.Actor.IsBot)
			}},
		{"thread reply", `{"type":"message","user":"U1","channel":"C1","ts":"1700000100.000200","thread_ts":"1700000000.000100","parent_user_id":"U9","text":"<@U9> yes"}`,
			evs("slack.thread.replied"), func(t *testing.T, ev events.Event) {
				require.Equal(t, "slack:T1:C1:1700000100.000200", ev.ID)
				require.Equal(t, "slack:T1:C1:1700000000.000100", ev.ThreadID)
				require.Equal(t, ev.ThreadID, ev.ParentID)
				// The parent's author is mentioned too: one edge, the reply.
				require.Equal(t, []events.Target{{Source: "slack", SourceID: "U9", Kind: events.KindReply}}, ev.Targets)
			}},
		{"reply to own thread", `{"type":"message","user":"U1","channel":"C1","ts":"1700000100.000200","thread_ts":"1700000000.000100","parent_user_id":"U1"}`,
			evs("slack.thread.replied"), func(t *testing.T, ev events.Event) { require.Empty(t, ev.Targets) }},
		{"reply without parent author", `{"type":"message","user":"U1","channel":"C1","ts":"1700000100.000200","thread_ts":"1700000000.000100"}`,
			evs("slack.thread.replied"), func(t *testing.T, ev events.Event) {
				require.Empty(t, ev.Targets)
				require.Equal(t, "slack:T1:C1:1700000000.000100", ev.ParentID)
			}},
		{"thread parent", `{"type":"message","user":"U1","channel":"C1","ts":"1700000000.000100","thread_ts":"1700000000.000100"}`,
			evs("slack.message.posted"), func(t *testing.T, ev events.Event) {
				require.Equal(t, ev.ID, ev.ThreadID)
				require.Empty(t, ev.ParentID)
			}},
		{"thread broadcast", `{"type":"message","subtype":"thread_broadcast","user":"U1","channel":"C1","ts":"1700000100.000200","thread_ts":"1700000000.000100","root":{"user":"U7","ts":"1700000000.000100"}}`,
			evs("slack.thread.replied"), func(t *testing.T, ev events.Event) {
				require.Equal(t, []events.Target{{Source: "slack", SourceID: "U7", Kind: events.KindReply}}, ev.Targets)
				require.Equal(t, "thread_broadcast", ev.Attributes["subtype"])
			}},
		{"bot_id on a user message", `{"type":"message","user":"U1","bot_id":"B1","channel":"C1","ts":"1700000000.000100"}`,
			evs("slack.message.posted"), func(t *testing.T, ev events.Event) {
				require.Equal(t, "U1", ev.Actor.SourceID)
				require.True(t, ev.Actor.IsBot)
			}},
		{"me_message", `{"type":"message","subtype":"me_message","user":"U1","channel":"C1","ts":"1700000000.000100"}`,
			evs("slack.message.posted"), nil},
		{"file_share", `{"type":"message","subtype":"file_share","user":"U1","channel":"C1","ts":"1700000000.000100"}`,
			evs("slack.message.posted"), nil},
		{"ms precision", `{"type":"message","user":"U1","channel":"C1","ts":"1355517523.000005"}`,
			evs("slack.message.posted"), func(t *testing.T, ev events.Event) {
				require.Equal(t, time.Unix(1355517523, 0).UTC(), ev.OccurredAt.Time)
			}},
		{"ts without fraction", `{"type":"message","user":"U1","channel":"C1","ts":"1355517523"}`, evs("slack.message.posted"), nil},
		{"channel_join", `{"type":"message","subtype":"channel_join","user":"U1","channel":"C1","ts":"1700000000.000100"}`,
			ignored("slack message channel_join: the join is counted from member_joined_channel"), nil},
		{"edit", `{"type":"message","subtype":"message_changed","channel":"C1","message":{},"ts":"1"}`, ignored("slack message message_changed:"), nil},
		{"direct message", `{"type":"message","user":"U1","channel":"D1","channel_type":"im","ts":"1700000000.000100"}`,
			ignored("slack message: a direct message"), nil},
		{"unknown subtype", `{"type":"message","subtype":"new_thing","user":"U1","channel":"C1","ts":"1700000000.000100"}`,
			unmapped("slack:message.new_thing"), nil},
		{"no user", `{"type":"message","channel":"C1","ts":"1700000000.000100"}`, bad("event.user"), nil},
		{"no channel", `{"type":"message","user":"U1","ts":"1700000000.000100"}`, bad("event.channel"), nil},
		{"no ts", `{"type":"message","user":"U1","channel":"C1"}`, bad("event.ts"), nil},
		{"float ts", `{"type":"message","user":"U1","channel":"C1","ts":"1.5e9"}`, bad("event.ts"), nil},
		{"future ts", `{"type":"message","user":"U1","channel":"C1","ts":"99999999999.000000"}`, bad("event.ts"), nil},
		{"bad thread_ts", `{"type":"message","user":"U1","channel":"C1","ts":"1700000000.000100","thread_ts":"x"}`, bad("event.thread_ts"), nil},
		{"control character in user", `{"type":"message","user":"U\u0000","channel":"C1","ts":"1700000000.000100"}`, bad("event.user"), nil},
		{"user of the wrong type", `{"type":"message","user":5,"channel":"C1","ts":"1700000000.000100"}`, bad("event.user"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Webhook{}.Normalize(testEnv(), nil, callbackBody(tt.event))
			requireOutcome(t, tt.want, classify(t, res, err), tt.event)
			if tt.check != nil {
				tt.check(t, res.Events[0])
			}
		})
	}
}

func TestOtherEvents(t *testing.T) {
	t.Run("reaction", func(t *testing.T) {
		ev := one(t, callbackBody(`{"type":"reaction_added","user":"U1","reaction":"thumbsup","item_user":"U2",`+
			`"item":{"type":"message","channel":"C1","ts":"1700000000.000100"},"event_ts":"1700000500.000300"}`))
		require.Equal(t, "slack:T1:C1:1700000000.000100:reaction:U1:thumbsup", ev.ID)
		require.Equal(t, "slack.reaction.added", ev.Type)
		require.Equal(t, "slack:T1:C1:1700000000.000100", ev.ParentID)
		require.Equal(t, "C1", ev.Channel)
		require.Equal(t, time.Unix(1700000500, 0).UTC(), ev.OccurredAt.Time)
		require.Equal(t, []events.Target{{Source: "slack", SourceID: "U2", Kind: events.KindReact}}, ev.Targets)
	})
	t.Run("reaction to own message", func(t *testing.T) {
		ev := one(t, callbackBody(`{"type":"reaction_added","user":"U1","reaction":"eyes","item_user":"U1",`+
			`"item":{"type":"message","channel":"C1","ts":"1700000000.000100"},"event_ts":"1700000500.000300"}`))
		require.Empty(t, ev.Targets)
	})
	t.Run("reaction to a file", func(t *testing.T) {
		requireOutcome(t, ignored("slack reaction_added: a reaction to a file"),
			run(t, callbackBody(`{"type":"reaction_added","user":"U1","reaction":"eyes","item":{"type":"file","file":"F1"},"event_ts":"1700000500.000300"}`)), "file")
	})
	t.Run("member joined channel", func(t *testing.T) {
		ev := one(t, callbackBody(`{"type":"member_joined_channel","user":"U1","channel":"C1","channel_type":"C","inviter":"U2","event_ts":"1700000500.000300"}`))
		require.Equal(t, "slack:T1:C1:joined:U1:1700000500.000300", ev.ID)
		require.Equal(t, "slack.channel.joined", ev.Type)
		require.Equal(t, "C1", ev.Channel)
		require.Equal(t, "U2", ev.Attributes["inviter"])
	})
	t.Run("team join", func(t *testing.T) {
		ev := one(t, callbackBody(`{"type":"team_join","user":{"id":"U5","name":"jane","real_name":"Jane Doe",`+
			`"profile":{"display_name":"","real_name":"Jane Doe","email":" Jane@Example.com "}}}`))
		require.Equal(t, "slack:T1:member:U5", ev.ID)
		require.Equal(t, "slack.member.joined", ev.Type)
		require.Equal(t, time.Unix(1700000000, 0).UTC(), ev.OccurredAt.Time, "from event_time")
		require.Equal(t, events.Actor{Source: "slack", SourceID: "U5", Username: "jane", DisplayName: "Jane Doe",
			EmailSHA256: events.HashEmail("jane@example.com"), EmailDomainSHA256: events.HashDomain("example.com")}, ev.Actor)
		b, err := events.Encode(&ev)
		require.NoError(t, err)
		require.NotContains(t, strings.ToLower(string(b)), "example.com", "address in clear")
	})
	t.Run("bot joins", func(t *testing.T) {
		ev := one(t, callbackBody(`{"type":"team_join","event_ts":"1700000001.000000","user":{"id":"U6","name":"ci","is_bot":true}}`))
		require.True(t, ev.Actor.IsBot)
		require.Equal(t, time.Unix(1700000001, 0).UTC(), ev.OccurredAt.Time)
	})
	t.Run("unknown event type", func(t *testing.T) {
		requireOutcome(t, unmapped("slack:brand_new_event"), run(t, callbackBody(`{"type":"brand_new_event"}`)), "unknown")
	})
	for name, tt := range map[string]struct {
		body  string
		field string
	}{
		"not JSON":         {`{"type":`, "body"},
		"no type":          {`{"team_id":"T1"}`, "type"},
		"unknown envelope": {`{"type":"block_actions"}`, "type"},
		"no event":         {`{"type":"event_callback","team_id":"T1"}`, "event"},
		"no event type":    {`{"type":"event_callback","team_id":"T1","event":{}}`, "event.type"},
		"no challenge":     {`{"type":"url_verification"}`, "challenge"},
		"no team":          {`{"type":"event_callback","event":{"type":"message","user":"U1","channel":"C1","ts":"1.1"}}`, "team_id"},
		"no join time":     {`{"type":"event_callback","team_id":"T1","event":{"type":"team_join","user":{"id":"U1"}}}`, "event_time"},
	} {
		t.Run(name, func(t *testing.T) {
			requireOutcome(t, bad(tt.field), run(t, []byte(tt.body)), tt.body)
		})
	}
}

// TestBackfillGivesWebhookIDs maps conversations.history messages (as
// perceval recorded them) and checks that the same message delivered by
// the Events API gets the same event id.
func TestBackfillGivesWebhookIDs(t *testing.T) {
	var page struct {
		Messages []json.RawMessage `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(readFixture(t, "perceval_tests_data", "slack", "slack_history.json"), &page))
	require.Len(t, page.Messages, 7)
	want := []outcome{
		ignored("slack message file_comment:"),
		evs("slack.message.posted"), // bot_message
		ignored("slack message channel_join:"),
		evs("slack.message.posted"), evs("slack.message.posted"), evs("slack.message.posted"), evs("slack.message.posted"),
	}
	for i, raw := range page.Messages {
		var m Message
		require.NoError(t, json.Unmarshal(raw, &m))
		res, err := NormalizeMessage(testEnv(), "T1", "C1", m)
		requireOutcome(t, want[i], classify(t, res, err), string(raw))
		if len(res.Events) == 0 {
			continue
		}
		// The same message as an Events API delivery: the channel moves in.
		var inner map[string]any
		require.NoError(t, json.Unmarshal(raw, &inner))
		inner["channel"] = "C1"
		b, err := json.Marshal(inner)
		require.NoError(t, err)
		hook := one(t, callbackBody(string(b)))
		require.Equal(t, res.Events[0].ID, hook.ID)
		require.Equal(t, "slack:T1:C1:"+m.TS, hook.ID)
		require.Equal(t, res.Events[0], hook)
	}
	_, err := NormalizeMessage(testEnv(), "", "C1", Message{User: "U1", TS: "1.1"})
	requireOutcome(t, bad("team"), classify(t, source.Result{}, err), "no team")
}

func TestPeopleMatchUserIDs(t *testing.T) {
	env := testEnv()
	env.People = &source.People{Bots: []string{"slack:U0BOT"}, Teammates: []string{"slack:U0TEAM"}}
	res, err := Webhook{}.Normalize(env, nil, callbackBody(`{"type":"message","user":"U0BOT","channel":"C1","ts":"1700000000.000100"}`))
	require.NoError(t, err)
	require.True(t, res.Events[0].Actor.IsBot)
	res, err = Webhook{}.Normalize(env, nil, callbackBody(`{"type":"message","user":"U0TEAM","channel":"C1","ts":"1700000000.000100"}`))
	require.NoError(t, err)
	require.Equal(t, "true", res.Events[0].Attributes[source.AttrTeammate])
	require.False(t, res.Events[0].Actor.IsBot)
}

// sign returns the headers of a delivery signed with secret at ts.
func sign(secret, body []byte, ts int64) http.Header {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + strconv.FormatInt(ts, 10) + ":"))
	mac.Write(body)
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

func TestVerify(t *testing.T) {
	secret := []byte("8f742231b10e8888abcd99yyyzzz85a5")
	body := readFixture(t, "zulip_fixtures", "message_with_user_mentions.json")
	now := time.Unix(1719209650, 0)
	ok := sign(secret, body, now.Unix())
	require.NoError(t, Webhook{}.Verify(secret, ok, body, now))
	require.NoError(t, Webhook{}.Verify(secret, sign(secret, body, now.Unix()-299), body, now), "within the window")

	without := func(key string) http.Header {
		h := ok.Clone()
		h.Del(key)
		return h
	}
	with := func(key, v string) http.Header {
		h := ok.Clone()
		h.Set(key, v)
		return h
	}
	tampered := slices.Clone(body)
	tampered[len(tampered)/2] ^= 1
	tests := []struct {
		name   string
		secret []byte
		h      http.Header
		body   []byte
		want   string
	}{
		{"wrong secret", []byte("another secret"), ok, body, "mismatch"},
		{"tampered body", secret, ok, tampered, "mismatch"},
		{"no secret", nil, ok, body, "no signing secret"},
		{"no signature", secret, without(HeaderSignature), body, HeaderSignature + " header missing"},
		{"no timestamp", secret, without(HeaderTimestamp), body, HeaderTimestamp + " header missing"},
		{"stale", secret, sign(secret, body, now.Unix()-301), body, "stale or replayed"},
		{"from the future", secret, sign(secret, body, now.Unix()+301), body, "stale or replayed"},
		{"timestamp not a number", secret, with(HeaderTimestamp, "yesterday"), body, "want unix seconds"},
		{"timestamp of another signature", secret, with(HeaderTimestamp, strconv.FormatInt(now.Unix()-1, 10)), body, "mismatch"},
		{"huge timestamp", secret, with(HeaderTimestamp, "9223372036854775807"), body, "stale"},
		{"unknown version", secret, with(HeaderSignature, "v1="+strings.Repeat("0", 64)), body, "unknown version"},
		{"not hex", secret, with(HeaderSignature, "v0=zz"), body, "hex digits"},
		{"short", secret, with(HeaderSignature, "v0=abcd"), body, "hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Webhook{}.Verify(tt.secret, tt.h, tt.body, now)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
