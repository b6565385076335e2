package topics_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/api/topics"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestMain(m *testing.M) { kittest.Main(m) }

// act is one activity of the hand-made data set.
type act struct {
	id, identity, typ, at, thread, title, labels string
	bot                                          bool
	community                                    string // "pp" when empty
}

// Fixture loads community "pp" into the embedded engine and settles the
// health rollups (the items table). The period is the week of Monday
// 2026-03-09; the previous one the week of 2026-03-02.
//
// This week, question-like:
//
//	T1 forum topic  "How do I configure SSO with Okta?"   answered after 1 h
//	T2 ticket       "SSO login fails after upgrade"       answered after 2 h
//	T3 issue, label "type: question", "Configuring SSO for Azure AD", unanswered
//	T4 discussion   "Webhook retries?"                    answered after 30 min
//	T7 forum topic  "Webhook signature mismatch"          only the opener and a bot replied: unanswered
//	T8 ticket       "Password reset email never arrives"  unanswered
//
// and not: T5 an issue labelled "bug" without "?", T6 an issue labelled
// "help wanted", T9 a pull request "SSO?" (not a question type). The
// week before: "SSO with Okta", "Webhook retries", "Webhook timeout",
// "Password reset"; before that (ignored) "SSO broken" on 2026-03-01, and
// after the period (ignored) "SSO again" on 2026-03-16.
func fixture(t *testing.T) driver.Conn {
	t.Helper()
	ch := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	types, err := ch.PrepareBatch(ctx, "INSERT INTO activity_types (type, weight, contribution, item, description)")
	require.NoError(t, err)
	for _, ty := range events.DefaultRegistry().Types() {
		require.NoError(t, types.Append(ty.Name, ty.Weight, ty.Contribution, ty.Item, ty.Description))
	}
	require.NoError(t, types.Send())

	acts := []act{
		{"a1", "discourse:1", "discourse.topic.created", "2026-03-09 10:00:00", "T1", "How do I configure SSO with Okta?", "", false, ""},
		{"a1r", "discourse:2", "discourse.post.created", "2026-03-09 11:00:00", "T1", "How do I configure SSO with Okta?", "", false, ""},
		{"a2", "support:c1", "support.ticket.opened", "2026-03-10 09:00:00", "T2", "SSO login fails after upgrade", "", false, ""},
		{"a2r", "support:agent", "support.ticket.replied", "2026-03-10 11:00:00", "T2", "SSO login fails after upgrade", "", false, ""},
		{"a3", "github:3", "github.issue.opened", "2026-03-11 08:00:00", "T3", "Configuring SSO for Azure AD", "enhancement,type: question", false, ""},
		{"a4", "github:4", "github.discussion.created", "2026-03-12 12:00:00", "T4", "Webhook retries?", "", false, ""},
		{"a4r", "github:5", "github.discussion.commented", "2026-03-12 12:30:00", "T4", "Webhook retries?", "", false, ""},
		{"a5", "github:4", "github.issue.opened", "2026-03-12 13:00:00", "T5", "Webhook payload truncated", "bug", false, ""},
		{"a6", "github:4", "github.issue.opened", "2026-03-12 14:00:00", "T6", "Webhook signature docs", "help wanted", false, ""},
		{"a7", "discourse:7", "discourse.topic.created", "2026-03-13 09:00:00", "T7", "Webhook signature mismatch", "", false, ""},
		{"a7s", "discourse:7", "discourse.post.created", "2026-03-13 09:10:00", "T7", "Webhook signature mismatch", "", false, ""},
		{"a7b", "discourse:bot", "discourse.post.created", "2026-03-13 09:20:00", "T7", "Webhook signature mismatch", "", true, ""},
		{"a8", "support:c8", "support.ticket.opened", "2026-03-14 16:00:00", "T8", "Password reset email never arrives", "", false, ""},
		{"a9", "github:4", "github.pull_request.opened", "2026-03-14 17:00:00", "T9", "SSO?", "", false, ""},
		// the week before
		{"p1", "discourse:1", "discourse.topic.created", "2026-03-03 10:00:00", "P1", "SSO with Okta", "", false, ""},
		{"p2", "discourse:2", "discourse.topic.created", "2026-03-04 10:00:00", "P2", "Webhook retries", "", false, ""},
		{"p3", "discourse:3", "discourse.topic.created", "2026-03-05 10:00:00", "P3", "Webhook timeout", "", false, ""},
		{"p4", "support:c4", "support.ticket.opened", "2026-03-08 23:59:59", "P4", "Password reset", "", false, ""},
		// outside both periods
		{"o1", "discourse:1", "discourse.topic.created", "2026-03-01 23:00:00", "O1", "SSO broken", "", false, ""},
		{"o2", "discourse:1", "discourse.topic.created", "2026-03-16 00:00:00", "O2", "SSO again", "", false, ""},
		// Community "cc", Discord threads: D1 answered after 20 min (the
		// opener's and a bot's messages do not count), D2 unanswered, D3
		// opened by a bot (left out); D4 the week before.
		{"d1", "discord:1", "discord.thread.created", "2026-03-09 10:00:00", "D1", "Webhook retries with a Discord bot", "", false, "cc"},
		{"d1a", "discord:1", "discord.message.posted", "2026-03-09 10:01:00", "D1", "", "", false, "cc"},
		{"d1b", "discord:bot", "discord.message.posted", "2026-03-09 10:02:00", "D1", "", "", true, "cc"},
		{"d1c", "discord:2", "discord.message.posted", "2026-03-09 10:20:00", "D1", "", "", false, "cc"},
		{"d1d", "discord:3", "discord.message.posted", "2026-03-09 11:00:00", "D1", "", "", false, "cc"},
		{"d2", "discord:3", "discord.thread.created", "2026-03-10 10:00:00", "D2", "Webhook signature", "", false, "cc"},
		{"d3", "discord:bot", "discord.thread.created", "2026-03-11 10:00:00", "D3", "Webhook digest", "", true, "cc"},
		{"d4", "discord:4", "discord.thread.created", "2026-03-02 10:00:00", "D4", "Webhook URL changed", "", false, "cc"},
		{"d4a", "discord:5", "discord.message.posted", "2026-03-02 10:00:30", "D4", "", "", false, "cc"},
	}
	batch, err := ch.PrepareBatch(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
		thread_id, channel, weight, is_bot, received_at, title, url, attributes)`)
	require.NoError(t, err)
	for _, a := range acts {
		at, err := time.Parse(time.DateTime, a.at)
		require.NoError(t, err)
		attrs := map[string]string{}
		if a.labels != "" {
			attrs["labels"] = a.labels
		}
		src, _, _ := strings.Cut(a.typ, ".")
		community := a.community
		if community == "" {
			community = "pp"
		}
		require.NoError(t, batch.Append(a.id, community, src, a.typ, at, a.identity, a.identity, a.thread, "c", float32(1), a.bot, at,
			a.title, "https://example.com/"+a.thread, attrs))
	}
	require.NoError(t, batch.Send())
	require.NoError(t, store.Settle(ctx, ch, telemetry.Nop().Logger))
	return ch
}

func ptr(f float64) *float64 { return &f }

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func at(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestComputeOnAHandMadeCommunity(t *testing.T) {
	ch := fixture(t)
	ctx := context.Background()
	r, err := topics.Compute(ctx, ch, topics.Options{Community: "pp", From: day("2026-03-09"), To: day("2026-03-15")})
	require.NoError(t, err)

	require.Equal(t, day("2026-03-02"), r.PreviousFrom)
	require.Equal(t, day("2026-03-08"), r.PreviousTo)
	require.Equal(t, 6, r.Questions, "T1 T2 T3 T4 T7 T8")
	require.Equal(t, 4, r.PreviousQuestions)
	require.Equal(t, 3, r.Unanswered, "T3 T7 T8")
	require.Equal(t, 0.5, r.UnansweredShare)
	require.Equal(t, ptr(3600), r.MedianResponseSeconds, "median of 3600, 7200, 1800")

	// "configur" is left out: its items are those of "configur sso".
	require.Equal(t, []topics.Topic{
		{Key: "sso", Label: "sso", Items: 3, PreviousItems: 1, Growth: 2, GrowthRatio: 2, Unanswered: 1,
			UnansweredShare: 1.0 / 3, MedianResponseSeconds: ptr(5400), Examples: []topics.Example{
				{ID: "T3", Type: "github.issue.opened", URL: "https://example.com/T3", Title: "Configuring SSO for Azure AD", OpenedAt: at("2026-03-11 08:00:00")},
				{ID: "T2", Type: "support.ticket.opened", URL: "https://example.com/T2", Title: "SSO login fails after upgrade", OpenedAt: at("2026-03-10 09:00:00"), Answered: true},
				{ID: "T1", Type: "discourse.topic.created", URL: "https://example.com/T1", Title: "How do I configure SSO with Okta?", OpenedAt: at("2026-03-09 10:00:00"), Answered: true},
			}},
		{Key: "configur sso", Label: "configure sso", Items: 2, PreviousItems: 0, Growth: 2, GrowthRatio: 2, New: true, Unanswered: 1,
			UnansweredShare: 0.5, MedianResponseSeconds: ptr(3600), Examples: []topics.Example{
				{ID: "T3", Type: "github.issue.opened", URL: "https://example.com/T3", Title: "Configuring SSO for Azure AD", OpenedAt: at("2026-03-11 08:00:00")},
				{ID: "T1", Type: "discourse.topic.created", URL: "https://example.com/T1", Title: "How do I configure SSO with Okta?", OpenedAt: at("2026-03-09 10:00:00"), Answered: true},
			}},
		{Key: "webhook", Label: "webhook", Items: 2, PreviousItems: 2, Growth: 0, GrowthRatio: 0, Unanswered: 1,
			UnansweredShare: 0.5, MedianResponseSeconds: ptr(1800), Examples: []topics.Example{
				{ID: "T7", Type: "discourse.topic.created", URL: "https://example.com/T7", Title: "Webhook signature mismatch", OpenedAt: at("2026-03-13 09:00:00")},
				{ID: "T4", Type: "github.discussion.created", URL: "https://example.com/T4", Title: "Webhook retries?", OpenedAt: at("2026-03-12 12:00:00"), Answered: true},
			}},
	}, r.Topics)

	// limit, min_items and examples
	r, err = topics.Compute(ctx, ch, topics.Options{Community: "pp", From: day("2026-03-09"), To: day("2026-03-15"), MinItems: 3, Examples: 1})
	require.NoError(t, err)
	require.Len(t, r.Topics, 1)
	require.Equal(t, "sso", r.Topics[0].Key)
	require.Len(t, r.Topics[0].Examples, 1)
	r, err = topics.Compute(ctx, ch, topics.Options{Community: "pp", From: day("2026-03-09"), To: day("2026-03-15"), Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"sso", "configur sso"}, []string{r.Topics[0].Key, r.Topics[1].Key})

	// A period of one day, 2026-03-09, against 2026-03-08: T1 only, and
	// P4 (23:59:59 on the 8th) is the previous period's one item.
	r, err = topics.Compute(ctx, ch, topics.Options{Community: "pp", From: day("2026-03-09"), To: day("2026-03-09"), MinItems: 1})
	require.NoError(t, err)
	require.Equal(t, 1, r.Questions)
	require.Equal(t, 1, r.PreviousQuestions)
	keys := []string{}
	for _, tp := range r.Topics {
		keys = append(keys, tp.Key)
	}
	require.Equal(t, []string{"configur sso", "sso okta"}, keys[:2], "pairs hide the stems with the same items; then by key")
	require.Len(t, keys, 2)

	// the default period is the last full week
	r, err = topics.Compute(ctx, ch, topics.Options{Community: "pp", Now: func() time.Time { return at("2026-03-18 12:00:00") }})
	require.NoError(t, err)
	require.Equal(t, day("2026-03-09"), r.From)
	require.Equal(t, 6, r.Questions)

	// another community has nothing
	r, err = topics.Compute(ctx, ch, topics.Options{Community: "other", From: day("2026-03-09"), To: day("2026-03-15")})
	require.NoError(t, err)
	require.Zero(t, r.Questions)
	require.Nil(t, r.MedianResponseSeconds)
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.JSONEq(t, `{"community":"other","from":"2026-03-09","to":"2026-03-15","previous_from":"2026-03-02","previous_to":"2026-03-08",
		"questions":0,"previous_questions":0,"unanswered":0,"unanswered_share":0,"median_response_seconds":null,"topics":[]}`, string(b))
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []topics.Options{
		{},
		{Community: "pp", From: day("2026-03-09")},
		{Community: "pp", From: day("2026-03-10"), To: day("2026-03-09")},
		{Community: "pp", From: day("2025-01-01"), To: day("2026-03-09")},
		{Community: "pp", Limit: -1},
		{Community: "pp", Limit: topics.MaxLimit + 1},
		{Community: "pp", Examples: topics.MaxExamples + 1},
	} {
		_, err := topics.Rank(nil, o)
		require.Error(t, err, "%+v", o)
	}
}

func TestLastFullWeek(t *testing.T) {
	for now, want := range map[string]string{
		"2026-03-16 00:00:00": "2026-03-09", // a Monday: the week before
		"2026-03-15 23:59:59": "2026-03-02", // a Sunday: its week has not ended
		"2026-03-18 12:00:00": "2026-03-09",
	} {
		from, to := topics.LastFullWeek(at(now))
		require.Equal(t, day(want), from, now)
		require.Equal(t, day(want).AddDate(0, 0, 6), to, now)
	}
}

func TestIsQuestion(t *testing.T) {
	for _, c := range []struct {
		typ, title, labels string
		want               bool
	}{
		{"discourse.topic.created", "Anything", "", true},
		{"support.ticket.opened", "Refund", "", true},
		{"github.discussion.created", "Idea", "", true},
		{"github.issue.opened", "Crash on start", "bug", false},
		{"github.issue.opened", "Crash on start", "help wanted", false},
		{"github.issue.opened", "Crash on start", "bug,Question", true},
		{"github.issue.opened", "Crash on start", "kind/support", true},
		{"github.issue.opened", "Crash on start", "needs-help", true},
		{"github.issue.opened", "Crash on start", "❓ usage", true},
		{"github.issue.opened", "Why does it crash?", "", true},
		{"github.issue.opened", `Does "x" work?)`, "", true},
		{"mailinglist.message.posted", "Release vote", "", false},
		{"mailinglist.message.posted", "Is 2.0 out?", "", true},
		{"github.pull_request.opened", "Fix?", "question", false},
		{"slack.message.posted", "", "", false},
	} {
		require.Equal(t, c.want, topics.IsQuestion(c.typ, c.title, c.labels), "%+v", c)
	}
}

// Every question type but the chat threads opens an item in the default
// activity types: the items table has them.
func TestQuestionTypesOpenItems(t *testing.T) {
	reg := events.DefaultRegistry()
	for _, name := range topics.QuestionTypes() {
		ty, ok := reg.Lookup(name)
		require.True(t, ok, name)
		if name != "discord.thread.created" {
			require.Equal(t, "opens", ty.Item, name)
		}
	}
}

func TestComputeOnChatThreads(t *testing.T) {
	ch := fixture(t)
	r, err := topics.Compute(context.Background(), ch, topics.Options{Community: "cc", From: day("2026-03-09"), To: day("2026-03-15")})
	require.NoError(t, err)
	require.Equal(t, 2, r.Questions, "D1 D2; D3 was opened by a bot")
	require.Equal(t, 1, r.PreviousQuestions)
	require.Equal(t, 1, r.Unanswered)
	require.Equal(t, ptr(1200), r.MedianResponseSeconds, "D1: the first reply by another member, not a bot")
	require.Equal(t, []topics.Topic{{Key: "webhook", Label: "webhook", Items: 2, PreviousItems: 1, Growth: 1, GrowthRatio: 1,
		Unanswered: 1, UnansweredShare: 0.5, MedianResponseSeconds: ptr(1200), Examples: []topics.Example{
			{ID: "D2", Type: "discord.thread.created", URL: "https://example.com/D2", Title: "Webhook signature", OpenedAt: at("2026-03-10 10:00:00")},
			{ID: "D1", Type: "discord.thread.created", URL: "https://example.com/D1", Title: "Webhook retries with a Discord bot",
				OpenedAt: at("2026-03-09 10:00:00"), Answered: true},
		}}}, r.Topics)
}
