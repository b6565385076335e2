package report_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/api/accounts"
	"github.com/orbitflow/orbitflow/services/api/report"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestMain(m *testing.M) { kittest.Main(m) }

var (
	week     = time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC) // a Monday
	previous = week.AddDate(0, 0, -7)
)

// fixture is community "wk" over two weeks:
//
//	week before (Mar 2–8): github:1 opens issue T1, github:2 answers it 2 h
//	later; github:3 opens a pull request (nobody answers).
//	the week (Mar 9–15): github:1 opens issue T2, github:3 answers it 1 h
//	later; github:1 opens issue T3 (never answered); github:2 opens a pull
//	request; github:4 (new) stars the repository; the bot github:9 comments
//	on T3 (left out everywhere); teammate github:8 comments on T3 (left
//	out of the figures, but it is a response).
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
	// Customers: Acme (github:1 and github:2 write from acme.example),
	// Globex (github:3), Initech (nobody in the community).
	accts, err := accounts.Parse(strings.NewReader(`{"account_id": "a1", "name": "Acme", "domains": ["acme.example"], "segment": "enterprise", "plan": "business"}
{"account_id": "a2", "name": "Globex", "domains": ["globex.example"], "segment": "smb", "plan": "team"}
{"account_id": "a3", "name": "Initech", "domains": ["initech.example"], "segment": "enterprise", "plan": "enterprise"}
`), accounts.FormatJSONL)
	require.NoError(t, err)
	_, err = accounts.Import(ctx, ch, accts, false)
	require.NoError(t, err)
	domains := map[string]string{"github:1": events.HashDomain("acme.example"), "github:2": events.HashDomain("acme.example"),
		"github:3": events.HashDomain("globex.example")}
	acts, err := ch.PrepareBatch(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
		thread_id, channel, weight, is_bot, received_at, attributes, title, email_domain_sha256)`)
	require.NoError(t, err)
	for _, a := range []struct {
		id, identity, typ, at, thread, title string
		bot, mate                            bool
	}{
		{"p1", "github:1", "github.issue.opened", "2026-03-02 10:00:00", "T1", "How do I configure retries?", false, false},
		{"p2", "github:2", "github.issue.commented", "2026-03-02 12:00:00", "T1", "", false, false},
		{"p3", "github:3", "github.pull_request.opened", "2026-03-03 09:00:00", "P1", "Faster retries", false, false},
		{"w1", "github:1", "github.issue.opened", "2026-03-09 10:00:00", "T2", "How do I configure SSO?", false, false},
		{"w2", "github:3", "github.issue.commented", "2026-03-09 11:00:00", "T2", "", false, false},
		{"w3", "github:1", "github.issue.opened", "2026-03-10 08:00:00", "T3", "SSO login fails?", false, false},
		{"w4", "github:2", "github.pull_request.opened", "2026-03-10 09:00:00", "P2", "SSO docs", false, false},
		{"w5", "github:4", "github.star.created", "2026-03-11 09:00:00", "", "", false, false},
		{"w6", "github:9", "github.issue.commented", "2026-03-11 10:00:00", "T3", "", true, false},
		{"w7", "github:8", "github.pull_request.review_commented", "2026-03-12 10:00:00", "P2", "", false, true},
	} {
		at, err := time.Parse(time.DateTime, a.at)
		require.NoError(t, err)
		attrs := map[string]string{}
		if a.mate {
			attrs["teammate"] = "true"
		}
		require.NoError(t, acts.Append(a.id, "wk", "github", a.typ, at, a.identity, a.identity, a.thread, "repo", float32(4), a.bot, at, attrs, a.title,
			domains[a.identity]))
	}
	require.NoError(t, acts.Send())
	require.NoError(t, ch.Exec(ctx, `INSERT INTO member_identities (community, identity, member_id, source, username, stream_seq) VALUES
		('wk', 'github:1', 'github:1', 'github', 'one', 1), ('wk', 'github:2', 'github:2', 'github', 'two', 1),
		('wk', 'github:3', 'github:3', 'github', 'three', 1), ('wk', 'github:4', 'github:4', 'github', 'four', 1),
		('wk', 'github:8', 'github:8', 'github', 'mate', 1), ('wk', 'github:9', 'github:9', 'github', 'bot', 1)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO members_raw (community, member_id, display_name, love, love_at, love_factor, love_period_ms,
		orbit_level, orbit_step, reach, reach_at, reach_factor, reach_period_ms, roles, is_bot, is_teammate, stream_seq) VALUES
		('wk', 'github:1', 'One', 9, now64(3), 1, 2592000000, 3, 5, 0, now64(3), 1, 2592000000, [], false, false, 1),
		('wk', 'github:2', 'Two', 4, now64(3), 1, 2592000000, 3, 4, 0, now64(3), 1, 2592000000, ['educator'], false, false, 1),
		('wk', 'github:3', 'Three', 11, now64(3), 1, 2592000000, 1, 10, 0, now64(3), 1, 2592000000, [], false, false, 1),
		('wk', 'github:4', '', 1, now64(3), 1, 2592000000, 4, 1, 0, now64(3), 1, 2592000000, [], false, false, 1),
		('wk', 'github:8', 'Mate', 2, now64(3), 1, 2592000000, 1, 10, 0, now64(3), 1, 2592000000, [], false, true, 1),
		('wk', 'github:9', 'Bot', 0, now64(3), 1, 2592000000, 1, 10, 0, now64(3), 1, 2592000000, [], true, false, 1)`))
	// The reach graph is a star around github:3.
	require.NoError(t, ch.Exec(ctx, `INSERT INTO member_edges_raw (community, member_a, member_b, direct_interactions, strength, strength_at,
		reach_factor, reach_period_ms, stream_seq) VALUES
		('wk', 'github:1', 'github:3', 1, 10, now64(3), 1, 2592000000, 1), ('wk', 'github:2', 'github:3', 1, 10, now64(3), 1, 2592000000, 1),
		('wk', 'github:3', 'github:4', 1, 10, now64(3), 1, 2592000000, 1)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO community_gravity (community, period, period_start, members, leading, contributing,
		participating, exploring, weighted_commitment, gravity, stream_seq) VALUES
		('wk', 'week', '2026-03-02', 3, 0, 1, 2, 0, 81, 1.5, 1), ('wk', 'week', '2026-03-09', 4, 1, 0, 2, 1, 133, -0.5, 2),
		('wk', 'month', '2026-03-01', 4, 1, 0, 2, 1, 133, 9, 2)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO level_movement (community, period_start, level, members, moved_up, held, moved_down, stream_seq) VALUES
		('wk', '2026-02-01', 0, 2, 2, 0, 0, 1), ('wk', '2026-02-01', 3, 1, 0, 1, 0, 1), ('wk', '2026-02-01', 2, 1, 0, 0, 1, 1),
		('wk', '2026-03-01', 3, 9, 9, 0, 0, 1)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO level_changes (community, member_id, changed_at, from_step, to_step, from_level, to_level,
		reason, stream_seq) VALUES
		('wk', 'github:3', '2026-03-12 09:30:00', 7, 10, 2, 1, 'activity', 1),
		('wk', 'github:3', '2026-03-13 09:30:00', 10, 11, 1, 1, 'activity', 2),
		('wk', 'github:1', '2026-03-01 09:30:00', 7, 10, 2, 1, 'activity', 3),
		('wk', 'github:8', '2026-03-12 10:00:00', 7, 10, 2, 1, 'activity', 4),
		('wk', 'github:9', '2026-03-11 10:00:00', 7, 10, 2, 1, 'activity', 5)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO role_changes (community, member_id, role, changed_at, change, reason, stream_seq) VALUES
		('wk', 'github:2', 'educator', '2026-03-13 12:00:00', 'gained', 'answered 3 questions', 1),
		('wk', 'github:1', 'advocate', '2026-03-13 12:00:00', 'lost', 'reach fell', 2),
		('wk', 'github:2', 'advocate', '2026-03-16 00:00:00', 'gained', 'next week', 3)`))
	// Signals: two in the week (w1 asks about SSO, w4's docs mention it),
	// one the week before and one the week after (not listed).
	require.NoError(t, ch.Exec(ctx, `INSERT INTO signals (community, signal_id, rule, event_id, occurred_at, member_id, identity, display_name,
		orbit_level, orbit_step, organization, source, type, title, keywords, reasons, stream_seq) VALUES
		('wk', 's0', 'sales', 'p1', '2026-03-02 10:00:00', 'github:1', 'github:1', 'One', 3, 5, 'Acme', 'github', 'github.issue.opened', 'Old', ['SSO'], ['r'], 1),
		('wk', 's1', 'sales', 'w1', '2026-03-09 10:00:00', 'github:1', 'github:1', 'One', 3, 5, 'Acme', 'github', 'github.issue.opened',
			'How do I configure SSO?', ['SSO'], ['title has ["SSO"]', 'not a teammate or a bot, and not opted out of signals'], 2),
		('wk', 's2', 'sales', 'w4', '2026-03-10 09:00:00', 'github:2', 'github:2', 'Two', 3, 4, '', 'github', 'github.pull_request.opened',
			'SSO docs', ['SSO'], ['title has ["SSO"]'], 3),
		('wk', 's3', 'sales', 'x1', '2026-03-16 09:00:00', 'github:2', 'github:2', 'Two', 3, 4, '', 'github', 'github.issue.opened', 'Later', ['SSO'], ['r'], 4)`))
	require.NoError(t, store.Settle(ctx, ch, telemetry.Nop().Logger))
	return ch
}

func ptr(v float64) *float64 { return &v }

func TestWeeklyReportOfAHandMadeCommunity(t *testing.T) {
	ch := fixture(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 18, 15, 0, 0, 0, time.UTC) // a Wednesday: the last full week is Mar 9–15
	r, err := report.Build(ctx, ch, report.Options{Community: "wk", Now: now, URL: "https://orbitflow.example/reports/wk"})
	require.NoError(t, err)
	require.Equal(t, week, r.WeekStart)
	require.Equal(t, previous, r.Previous)

	require.Equal(t, []report.Figure{
		{Name: "active_members", Label: "Active members", Value: 4, Previous: 3, Change: ptr(1.0 / 3)},
		{Name: "activities", Label: "Activities", Value: 5, Previous: 3, Change: ptr(2.0 / 3)},
		{Name: "contributors", Label: "Contributors", Value: 3, Previous: 3, Change: ptr(0)},
		{Name: "contributions", Label: "Contributions", Value: 4, Previous: 3, Change: ptr(1.0 / 3)},
		{Name: "new_members", Label: "New members", Value: 1, Previous: 3, Change: ptr(-2.0 / 3)},
		{Name: "new_contributors", Label: "New contributors", Value: 0, Previous: 3, Change: ptr(-1)},
		{Name: "retention", Label: "Retention (of the week before's active members)", Value: 1, Previous: 0, Unit: "share"},
	}, r.Health)

	// Issues: T2 answered after 1 h, T3 only by the bot (no response);
	// pull requests: P2 answered by the teammate after 2 days and 1 h.
	require.Len(t, r.Response, 2)
	byType := map[string]report.Response{}
	for _, x := range r.Response {
		byType[x.ItemType] = x
	}
	var issue, pr report.Response
	for k, x := range byType {
		switch {
		case strings.Contains(k, "issue"):
			issue = x
		case strings.Contains(k, "pull"):
			pr = x
		}
	}
	require.Equal(t, int64(2), issue.Opened, r.Response)
	require.Equal(t, int64(1), issue.Responded)
	require.Equal(t, 0.5, issue.ResponseRate)
	require.Equal(t, ptr(1), issue.MedianHours)
	require.Equal(t, ptr(2), issue.PreviousMedian)
	require.Equal(t, int64(1), pr.Opened)
	require.Equal(t, ptr(49), pr.MedianHours)
	require.Nil(t, pr.PreviousMedian, "the week before's pull request was never answered")

	require.Equal(t, &report.Gravity{Gravity: -0.5, Previous: ptr(1.5), Members: 4, Leading: 1, Participating: 2, Exploring: 1,
		WeightedCommitment: 133}, r.Gravity)
	require.Equal(t, &report.Movement{Month: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Levels: []report.LevelMoves{
		{Level: 0, Members: 2, Up: 2}, {Level: 2, Members: 1, Down: 1}, {Level: 3, Members: 1, Held: 1},
	}}, r.Movement, "February: the latest month that ended by the week's end")

	require.Equal(t, []report.Contributor{
		{MemberID: "github:1", Name: "One", Activities: 2, Contributions: 2, Level: 3, Love: 9},
		{MemberID: "github:2", Name: "Two", Activities: 1, Contributions: 1, Level: 3, Love: 4},
		{MemberID: "github:3", Name: "Three", Activities: 1, Contributions: 1, Level: 1, Love: 11},
		{MemberID: "github:4", Activities: 1, Level: 4, Love: 1},
	}, r.Top)
	require.Equal(t, []report.Leader{{MemberID: "github:3", Name: "Three", At: time.Date(2026, 3, 12, 9, 30, 0, 0, time.UTC), FromLevel: 2, Reason: "activity"}},
		r.Leaders, "the teammate, the bot and a leader from before the week are left out")
	require.Equal(t, []report.RoleChange{{MemberID: "github:2", Name: "Two", Role: "educator", At: time.Date(2026, 3, 13, 12, 0, 0, 0, time.UTC)}}, r.Roles)

	require.Equal(t, []string{
		"4 members were active in the week of 9 Mar 2026, 33% more than the week before.",
		"1 person showed up for the first time (67% fewer than the week before).",
		"Gravity was -0.50: involvement is falling, members are drifting to lower orbit levels.",
		"Of 3 questions, issues and tickets opened, 67% got a first response.",
		"The community is a hub: degree centralization 1.00 (hub from 0.50).",
		"If its best connector, Three, left, 100% of the connected pairs of members would lose their path.",
		`The most asked-about topic was "sso": 2 questions (new this week), 50% unanswered.`,
		`2 community-qualified signals fired (for sales and customer success); the latest: Two asked "SSO docs".`,
		"67% of customer accounts (2 of 3) had an active member in the community (67% the week before).",
		"1 member reached Leading: Three.",
	}, r.Story)

	require.Equal(t, 2, r.SignalsTotal)
	require.Equal(t, []string{"s2", "s1"}, []string{r.Signals[0].ID, r.Signals[1].ID}, "the week's, newest first")
	require.Equal(t, []string{"Participating III", "Participating II"}, []string{r.Signals[0].Member.LevelName, r.Signals[1].Member.LevelName}, "steps 4 and 5")

	// Accounts: Acme (2 active members) and Globex (1), not Initech;
	// enterprise 1 of 2, smb 1 of 1.
	require.NotNil(t, r.Accounts)
	var reach []string
	for _, x := range r.Accounts.Week {
		reach = append(reach, fmt.Sprintf("%s=%s %d/%d %d", x.Dimension, x.Value, x.ActiveAccounts, x.Accounts, x.ActiveMembers))
	}
	require.ElementsMatch(t, []string{"= 2/3 3", "segment=enterprise 1/2 2", "segment=smb 1/1 1", "plan=business 1/1 2", "plan=team 1/1 1",
		"plan=enterprise 0/1 0"}, reach)
	require.Equal(t, []string{"Acme", "Globex"}, []string{r.Accounts.Top[0].Name, r.Accounts.Top[1].Name})

	// The star around github:3 (bots and teammates are not in the graph).
	m := r.Structure.Measures
	require.Equal(t, []any{"hub", 4, 4, 3, 1.0, 1.0}, []any{m.Class, m.Members, m.Connected, m.Edges, m.Centralization, m.Top1EdgeShare})
	require.Equal(t, "github:3", r.Structure.BusRisk[0].Removed[0].ID)
	require.Equal(t, 1.0, r.Structure.BusRisk[0].PairShareLost)
	// Questions: T2 (answered after 1 h) and T3 (only the bot answered)
	// this week, T1 the week before; "sso" is in both of this week's.
	p := r.PainPoints
	require.Equal(t, []int{2, 1, 1}, []int{p.Questions, p.PreviousQuestions, p.Unanswered})
	require.Len(t, p.Topics, 1)
	require.Equal(t, []any{"sso", 2, 0, true, 1, 0.5, ptr(3600)}, []any{p.Topics[0].Key, p.Topics[0].Items, p.Topics[0].PreviousItems,
		p.Topics[0].New, p.Topics[0].Unanswered, p.Topics[0].UnansweredShare, p.Topics[0].MedianResponseSeconds})

	html, err := report.HTML(r)
	require.NoError(t, err)
	page := string(html)
	for _, want := range []string{"<title>Weekly report: wk, week of Mon 9 Mar 2026</title>", "Mon 9 Mar 2026 – Sun 15 Mar 2026",
		">&#43;33%<", ">-67%<", "<td>Retention (of the week before&#39;s active members)</td><td style=\"text-align:right;font-weight:600;\">100%</td><td style=\"text-align:right;color:#52606d;\">–</td>", "Level movement in February 2026", "<strong>Three</strong> reached Leading on Thu 12 Mar 09:30 UTC",
		"<em>educator</em>", `href="https://orbitflow.example/reports/wk"`, "49.0 h",
		`<strong style="text-transform:capitalize;">hub</strong>: degree centralization 1.00`, "If the top 1 connector leaves (Three)",
		"<strong>sso</strong>", "How do I configure SSO?"} {
		require.Contains(t, page, want)
	}
	require.NotContains(t, page, "<script")
	text := report.Text(r)
	require.Contains(t, text, "Weekly report: wk, Mon 9 Mar 2026 – Sun 15 Mar 2026")
	require.Contains(t, text, "Active members")
	require.Contains(t, text, "The full report: https://orbitflow.example/reports/wk")
	require.Contains(t, text, "Hub: degree centralization 1.00 (hub from 0.50)")
	require.Contains(t, page, `<td style="text-transform:capitalize;">segment enterprise</td><td style="text-align:right;">1 of 2</td>`)
	require.Contains(t, text, "Acme (enterprise, business): 2 active members")
	require.Contains(t, page, `<strong>One</strong> (Participating II, Acme) — sales:`)
	require.Contains(t, text, "why: title has [\"SSO\"]; not a teammate or a bot, and not opted out of signals")
	require.Contains(t, text, "2 questions opened (week before 1), 50% unanswered, median first response 1.0 h")

	// Asking for a week by any day in it gives the same week.
	again, err := report.Build(ctx, ch, report.Options{Community: "wk", Week: week.AddDate(0, 0, 4), Now: now})
	require.NoError(t, err)
	require.Equal(t, r.Health, again.Health)

	_, err = report.Build(ctx, ch, report.Options{Community: "nope", Now: now})
	require.ErrorIs(t, err, report.ErrNoData)
}

func TestWeekOf(t *testing.T) {
	for in, want := range map[string]string{
		"2026-03-09T00:00:00Z": "2026-03-09", "2026-03-15T23:59:59Z": "2026-03-09", "2026-03-16T00:00:00Z": "2026-03-16",
		"2026-03-11T12:00:00+09:00": "2026-03-09",
	} {
		at, err := time.Parse(time.RFC3339, in)
		require.NoError(t, err)
		require.Equal(t, want, report.WeekOf(at).Format(time.DateOnly), in)
	}
}
