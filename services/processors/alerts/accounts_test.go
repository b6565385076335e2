package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/alerts"
	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// accountsDB is a migrated database with four customer accounts and the
// members of community c linked to them by e-mail domain. With 7-day
// windows before Mon 2026-03-16 (w0 Mar 9..15, w1 Mar 2..8, w2 Feb
// 23..Mar 1, w3 Feb 16..22) the active members are:
//
//	acme    3, 3, 3 before; 1 now        → fires (67% below 3)
//	globex  2, 2, 2 before; 2 now        → fine
//	hooli   4, 4, 4 before; 3 now        → 25% below: holds an open alert, opens none
//	initech 1 in w1 only; 0 now          → baseline 1/3 below min_baseline 2: no verdict
//
// plus a bot at acme.com active in every window (never counted).
func accountsDB(t *testing.T) driver.Conn {
	t.Helper()
	ctx := context.Background()
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	require.NoError(t, ch.Exec(ctx, `INSERT INTO accounts_raw (account_id, name, domains, domain_hashes, segment, plan, persona, imported_at, version) VALUES
		('acme', 'Acme', ['acme.com'], [?], 'enterprise', 'pro', '', now64(3), 1),
		('globex', 'Globex', ['globex.com'], [?], 'enterprise', 'free', '', now64(3), 1),
		('hooli', 'Hooli', ['hooli.com'], [?], 'smb', 'pro', '', now64(3), 1),
		('initech', 'Initech', ['initech.com'], [?], 'smb', 'free', '', now64(3), 1)`,
		events.HashDomain("acme.com"), events.HashDomain("globex.com"), events.HashDomain("hooli.com"), events.HashDomain("initech.com")))
	w := func(k int) time.Time { return time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC).AddDate(0, 0, -7*k) } // a day inside window k
	var acts []accountAct
	for k := 1; k <= 3; k++ {
		for _, m := range []string{"a1", "a2", "a3"} {
			acts = append(acts, accountAct{m, "acme.com", w(k), false})
		}
		for _, m := range []string{"h1", "h2", "h3", "h4"} {
			acts = append(acts, accountAct{m, "hooli.com", w(k), false})
		}
	}
	for k := 0; k <= 3; k++ {
		acts = append(acts, accountAct{"g1", "globex.com", w(k), false}, accountAct{"g2", "globex.com", w(k), false},
			accountAct{"bot", "acme.com", w(k), true})
	}
	acts = append(acts, accountAct{"a1", "acme.com", w(0), false}, accountAct{"a1", "acme.com", w(0).Add(time.Hour), false},
		accountAct{"h1", "hooli.com", w(0), false}, accountAct{"h2", "hooli.com", w(0), false}, accountAct{"h3", "hooli.com", w(0), false},
		accountAct{"i1", "initech.com", w(1), false})
	insertAccountActs(t, ch, acts)
	return ch
}

type accountAct struct {
	member, domain string
	at             time.Time
	bot            bool
}

var accountActSeq int

func insertAccountActs(t *testing.T, ch driver.Conn, acts []accountAct) {
	t.Helper()
	b, err := ch.PrepareBatch(context.Background(), "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at, is_bot, email_domain_sha256)")
	require.NoError(t, err)
	for _, a := range acts {
		accountActSeq++
		id := "github:" + a.member
		require.NoError(t, b.Append(fmt.Sprintf("acct-%d", accountActSeq), "c", "github", "github.issue.commented", a.at, id, id, a.at, a.bot, events.HashDomain(a.domain)))
	}
	require.NoError(t, b.Send())
}

func TestAccountDropDecidesPerAccountAndResolves(t *testing.T) {
	ctx := context.Background()
	ch := accountsDB(t)
	rd := Reader{CH: ch}
	now := time.Date(2026, 3, 16, 9, 30, 0, 0, time.UTC)
	rule := Rule{Name: "accounts-quiet", Community: "c", Window: Duration(7 * 24 * time.Hour),
		Detector: Detector{Type: AccountDrop, Windows: 3}}
	require.NoError(t, rule.Validate(nil))

	ev, err := Evaluate(ctx, rd, rule, now, Env{})
	require.NoError(t, err)
	require.Equal(t, "active_members", ev.Rule.Metric, "the default metric")
	type verdict struct {
		key             string
		firing, hold    bool
		value, baseline float64
		skipped         string
	}
	var got []verdict
	for _, d := range ev.Decisions {
		got = append(got, verdict{d.Key, d.Firing, d.Hold, d.Value, d.Baseline, d.Skipped})
	}
	require.Equal(t, []verdict{
		{"acme", true, true, 1, 3, ""},
		{"globex", false, false, 2, 2, ""},
		{"hooli", false, true, 3, 4, ""},
		{"initech", false, true, 0, 1.0 / 3, "baseline 0.333 is below min_baseline 2"},
	}, got)
	require.Equal(t, "Acme (acme), enterprise, pro: 1 active members in the last 7 days, 67% below the usual 3 (mean of the 3 windows before, latest first: 3, 3, 3; alerts at 50% below)",
		ev.Decisions[0].Summary)
	require.Equal(t, map[string]string{"account": "acme", "name": "Acme", "segment": "enterprise", "plan": "pro", "metric": "active_members"},
		ev.Decisions[0].Labels)

	// By activities: acme had 3 per window and 2 now (a1 twice): 33% below, no alert.
	byActs := rule
	byActs.Metric = "activities"
	ev2, err := Evaluate(ctx, rd, byActs, now, Env{})
	require.NoError(t, err)
	require.Equal(t, 2.0, ev2.Decisions[0].Value)
	require.Equal(t, 3.0, ev2.Decisions[0].Baseline)
	require.False(t, ev2.Decisions[0].Firing)

	// One alert per account, keyed by the account id; it resolves when the account is back.
	book := NewBook()
	ts := book.Apply(ev.Rule, "c", ev.Decisions, now, false, func(string) bool { return false })
	require.Len(t, ts, 1)
	require.Equal(t, "acme", ts[0].Alert.Key)
	require.Equal(t, alerts.StateFiring, ts[0].Alert.State)

	insertAccountActs(t, ch, []accountAct{{"a2", "acme.com", time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), false}})
	ev, err = Evaluate(ctx, rd, rule, now.Add(time.Hour), Env{Open: book.Keys(rule.Name, "c")})
	require.NoError(t, err)
	require.Equal(t, 2.0, ev.Decisions[0].Value)
	require.True(t, ev.Decisions[0].Hold, "2 of 3 is 33% below: at least half of min_drop, the alert holds")
	require.Empty(t, book.Apply(ev.Rule, "c", ev.Decisions, now.Add(time.Hour), false, func(string) bool { return false }))

	insertAccountActs(t, ch, []accountAct{{"a3", "acme.com", time.Date(2026, 3, 15, 8, 0, 0, 0, time.UTC), false}})
	ev, err = Evaluate(ctx, rd, rule, now.Add(2*time.Hour), Env{Open: book.Keys(rule.Name, "c")})
	require.NoError(t, err)
	require.Equal(t, 3.0, ev.Decisions[0].Value)
	ts = book.Apply(ev.Rule, "c", ev.Decisions, now.Add(2*time.Hour), false, func(string) bool { return false })
	require.Len(t, ts, 1)
	require.Equal(t, alerts.StateResolved, ts[0].Alert.State, "acme recovered")
}

func TestAccountDropRuleValidation(t *testing.T) {
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{Name: "a", Community: "c", Metric: "gravity", Detector: Detector{Type: AccountDrop}},
			`rule.metric: account_drop counts active_members (default) or activities per account, got "gravity"`},
		{Rule{Name: "a", Community: "c", Window: Duration(36 * time.Hour), Detector: Detector{Type: AccountDrop}},
			"rule.window: account_drop counts whole days: want 1d..90d (default 7d), got 36h"},
		{Rule{Name: "a", Community: "c", Detector: Detector{Type: AccountDrop, Windows: 60}},
			"rule.detector.windows: want 1..52 windows of baseline (default 4), got 60"},
		{Rule{Name: "a", Community: "c", Detector: Detector{Type: AccountDrop, MinDrop: 1.5, MinBaseline: -1}},
			"rule.detector.min_drop: want a share of the baseline in (0, 1] (default 0.5), got 1.5\nrule.detector.min_baseline: must not be negative (default 2), got -1"},
		{Rule{Name: "a", Community: "c", Segment: &Segment{Dimension: "source", Value: "github"}, Detector: Detector{Type: AccountDrop}},
			"rule.segment: account_drop judges every account; remove segment"},
	} {
		require.EqualError(t, tc.rule.Validate(nil), tc.want)
	}
	f, err := DecodeFile([]byte(`rules:
  - name: customer-accounts-quiet
    community: acme
    metric: active_members
    window: 7d
    detector: {type: account_drop, windows: 4, min_drop: 0.5, min_baseline: 2}
`))
	require.NoError(t, err)
	r := f.Rules[0].withDefaults()
	require.Equal(t, Detector{Type: AccountDrop, Windows: 4, MinDrop: 0.5, MinBaseline: 2}, Detector{Type: r.Detector.Type,
		Windows: r.Detector.Windows, MinDrop: r.Detector.MinDrop, MinBaseline: r.Detector.MinBaseline})
	d := Rule{Name: "b", Community: "c", Detector: Detector{Type: AccountDrop}}.withDefaults()
	require.Equal(t, "active_members", d.Metric)
	require.Equal(t, Duration(7*24*time.Hour), d.Window)
	require.Equal(t, 4, d.Detector.Windows)
	require.Equal(t, 0.5, d.Detector.MinDrop)
	require.Equal(t, 2.0, d.Detector.MinBaseline)
}

// FuzzAccountDropRule: account_drop rules from the API decode without
// panics; one that validates survives a JSON round trip and evaluates
// its defaults without panics.
func FuzzAccountDropRule(f *testing.F) {
	for _, seed := range []string{
		"name: a\ncommunity: c\nwindow: 7d\ndetector: {type: account_drop, windows: 4, min_drop: 0.5, min_baseline: 2}\n",
		`{"name":"b","community":"c","metric":"activities","window":"30d","detector":{"type":"account_drop"}}`,
		"name: c\ncommunity: c\nwindow: -7d\ndetector: {type: account_drop, windows: -1}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRule(data)
		if err != nil || r.Validate(nil) != nil {
			return
		}
		b, err := json.Marshal(r)
		require.NoError(t, err)
		back, err := DecodeRule(b)
		require.NoError(t, err, "%s", b)
		require.Equal(t, r, back)
		if r.Detector.Type == AccountDrop {
			d := r.withDefaults()
			require.GreaterOrEqual(t, d.Window.D(), accountDay)
			_ = accountDrop(AccountWindows{Account: "a", Current: 1, Previous: make([]float64, d.Detector.Windows)}, d)
		}
	})
}
