package accounts_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/api/accounts"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// customersCSV is the hand-made customer base: two enterprise and two
// smb accounts, two on pro and two on free.
const customersCSV = `account_id,name,domains,segment,plan,persona
acme,Acme Corp,acme.com;acme.io,enterprise,pro,platform
globex,Globex,globex.com,enterprise,free,
initech,Initech,Initech.com.,smb,pro,developer
umbrella,Umbrella,,smb,free,
`

// today is the evaluation day of the hand-made data (a Monday).
var today = time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)

type act struct {
	id, identity, domain string
	at                   time.Time
	bot, teammate        bool
}

func day(m time.Month, d int) time.Time { return time.Date(2026, m, d, 12, 0, 0, 0, time.UTC) }

// customerDB is a migrated database with the accounts of customersCSV
// and community c:
//
//	github:1 Ann   acme.com, Feb 10 ×2, Mar 2      → acme (domain)
//	discourse:7    globex.com, Jan 5; merged into github:1 (Ann keeps acme: the domain used last)
//	slack:2  Bo    acme.io, Mar 3                  → acme (domain)
//	github:3 Cy    gmail.com, Mar 4..6             → no account (free mail)
//	github:4 Di    globex.com, Feb 20; mapped to initech → initech (explicit beats domain)
//	github:5 Ed    initech.com, bot, Mar 9         → initech (domain), never active
//	slack:6  Fay   no domain, Mar 10; slack:6 mapped to umbrella → umbrella (explicit)
//	slack:8  Gus   globex.com, teammate, Mar 11    → globex (domain), never active
func customerDB(t *testing.T) driver.Conn {
	t.Helper()
	ctx := context.Background()
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	acts := []act{
		{"e1", "github:1", "acme.com", day(2, 10), false, false},
		{"e2", "github:1", "acme.com", day(2, 10).Add(time.Hour), false, false},
		{"e3", "github:1", "acme.com", day(3, 2), false, false},
		{"e4", "discourse:7", "globex.com", day(1, 5), false, false},
		{"e5", "slack:2", "acme.io", day(3, 3), false, false},
		{"e6", "github:3", "gmail.com", day(3, 4), false, false},
		{"e7", "github:3", "gmail.com", day(3, 5), false, false},
		{"e8", "github:3", "gmail.com", day(3, 6), false, false},
		{"e9", "github:4", "globex.com", day(2, 20), false, false},
		{"e10", "github:5", "initech.com", day(3, 9), true, false},
		{"e11", "slack:6", "", day(3, 10), false, false},
		{"e12", "slack:8", "globex.com", day(3, 11), false, true},
	}
	insertActs(t, ch, acts)
	require.NoError(t, ch.Exec(ctx, `INSERT INTO member_identities (community, identity, member_id, source, username, stream_seq) VALUES
		('c', 'github:1', 'github:1', 'github', 'ann', 1), ('c', 'discourse:7', 'discourse:7', 'discourse', 'ann', 2),
		('c', 'discourse:7', 'github:1', 'discourse', 'ann', 3)`))
	require.NoError(t, ch.Exec(ctx, `INSERT INTO members_raw (community, member_id, display_name, first_seen, last_seen, orbit_level, roles, is_bot, is_teammate, stream_seq)
		VALUES ('c', 'github:1', 'Ann', ?, ?, 2, [], false, false, 1), ('c', 'slack:2', 'Bo', ?, ?, 4, [], false, false, 1)`,
		day(1, 5), day(3, 2), day(3, 3), day(3, 3)))
	accts, err := accounts.Parse(strings.NewReader(customersCSV), accounts.FormatCSV)
	require.NoError(t, err)
	res, err := accounts.Import(ctx, ch, accts, false)
	require.NoError(t, err)
	require.Equal(t, accounts.ImportResult{Accounts: 4, Added: 4}, res)
	require.NoError(t, accounts.Map(ctx, ch, "c", "github:4", "initech", "test"))
	require.NoError(t, accounts.Map(ctx, ch, "c", "slack:6", "umbrella", "test"))
	return ch
}

func insertActs(t *testing.T, ch driver.Conn, acts []act) {
	t.Helper()
	ctx := context.Background()
	b, err := ch.PrepareBatch(ctx, "INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity, received_at, is_bot, attributes, email_domain_sha256)")
	require.NoError(t, err)
	for _, a := range acts {
		attrs := map[string]string{}
		if a.teammate {
			attrs["teammate"] = "true"
		}
		src, _, _ := strings.Cut(a.identity, ":")
		require.NoError(t, b.Append(a.id, "c", src, src+".message.posted", a.at, a.identity, a.identity, a.at, a.bot, attrs, events.HashDomain(a.domain)))
	}
	require.NoError(t, b.Send())
}

func memberAccounts(t *testing.T, ch driver.Conn) map[string]string {
	t.Helper()
	rows, err := ch.Query(context.Background(), "SELECT member_id, account_id, link FROM member_accounts WHERE community = 'c'")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var m, a, l string
		require.NoError(t, rows.Scan(&m, &a, &l))
		out[m] = a + "/" + l
	}
	require.NoError(t, rows.Err())
	return out
}

func TestMembersLinkByDomainHashAndExplicitMapping(t *testing.T) {
	ctx := context.Background()
	ch := customerDB(t)
	require.Equal(t, map[string]string{
		"github:1": "acme/domain",      // acme.com used last (Mar 2), not globex.com of the merged discourse:7 (Jan 5)
		"slack:2":  "acme/domain",      // the second domain of acme
		"github:4": "initech/explicit", // globex.com by domain, but mapped to initech
		"github:5": "initech/domain",   // Initech.com. in the file: normalized before hashing
		"slack:6":  "umbrella/explicit",
		"slack:8":  "globex/domain",
	}, memberAccounts(t, ch), "github:3 (gmail.com) is in no account")

	require.NoError(t, accounts.Unmap(ctx, ch, "c", "github:4", "test"))
	require.Equal(t, "globex/domain", memberAccounts(t, ch)["github:4"], "unmapped: the domain match applies again")
	require.NoError(t, accounts.Map(ctx, ch, "c", "github:4", "initech", "test"))

	// An explicit mapping by an identity of a merged member applies to the member.
	require.NoError(t, accounts.Map(ctx, ch, "c", "discourse:7", "umbrella", "test"))
	require.Equal(t, "umbrella/explicit", memberAccounts(t, ch)["github:1"])
	require.NoError(t, accounts.Unmap(ctx, ch, "c", "discourse:7", "test"))
	require.Equal(t, "acme/domain", memberAccounts(t, ch)["github:1"])

	err := accounts.Map(ctx, ch, "c", "github:4", "nosuch", "test")
	require.ErrorIs(t, err, accounts.ErrNoAccount)
	require.EqualError(t, accounts.Map(ctx, ch, "c", "ann", "acme", "test"),
		`member: want a member id or identity source:source_id (e.g. github:583231), got "ann"`)

	d, err := accounts.Show(ctx, ch, "c", "acme")
	require.NoError(t, err)
	require.Equal(t, []string{"acme.com", "acme.io"}, d.Domains)
	require.Len(t, d.Members, 2)
	require.Equal(t, accounts.LinkedMember{MemberID: "slack:2", DisplayName: "Bo", Link: "domain", LastSeen: day(3, 3)}, d.Members[0])
	require.Equal(t, "github:1", d.Members[1].MemberID)
}

func TestReachPerSegmentAndPlan(t *testing.T) {
	ctx := context.Background()
	ch := customerDB(t)
	r, err := accounts.ReachOf(ctx, ch, "c", "month", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	type row struct {
		month, dim, value         string
		accounts, active, members uint64
		share                     float64
	}
	var got []row
	for _, x := range r.Rows {
		got = append(got, row{x.PeriodStart.Format("2006-01"), x.Dimension, x.Value, x.Accounts, x.ActiveAccounts, x.ActiveMembers, x.Share})
	}
	// February: Ann (acme) and Di (initech) active. March: Ann and Bo
	// (acme), Fay (umbrella); Ed is a bot, Gus a teammate, Cy in no account.
	require.Equal(t, []row{
		{"2026-02", "", "", 4, 2, 2, 0.5},
		{"2026-02", "plan", "free", 2, 0, 0, 0},
		{"2026-02", "plan", "pro", 2, 2, 2, 1},
		{"2026-02", "segment", "enterprise", 2, 1, 1, 0.5},
		{"2026-02", "segment", "smb", 2, 1, 1, 0.5},
		{"2026-03", "", "", 4, 2, 3, 0.5},
		{"2026-03", "plan", "free", 2, 1, 1, 0.5},
		{"2026-03", "plan", "pro", 2, 1, 2, 0.5},
		{"2026-03", "segment", "enterprise", 2, 1, 2, 0.5},
		{"2026-03", "segment", "smb", 2, 1, 1, 0.5},
	}, got)

	per := map[string][2]uint64{}
	for _, a := range r.Accounts {
		per[a.PeriodStart.Format("2006-01")+" "+a.AccountID] = [2]uint64{a.ActiveMembers, a.Activities}
	}
	require.Equal(t, map[string][2]uint64{
		"2026-02 acme": {1, 2}, "2026-02 globex": {0, 0}, "2026-02 initech": {1, 1}, "2026-02 umbrella": {0, 0},
		"2026-03 acme": {2, 2}, "2026-03 globex": {0, 0}, "2026-03 initech": {0, 0}, "2026-03 umbrella": {1, 1},
	}, per, "active members and activities per account and month")

	_, err = accounts.ReachOf(ctx, ch, "c", "year", today, today)
	require.EqualError(t, err, `period: want day, week or month, got "year"`)
}

func TestListAndDroppedAccounts(t *testing.T) {
	ctx := context.Background()
	ch := customerDB(t)
	list, err := accounts.List(ctx, ch, "c", today, 30)
	require.NoError(t, err)
	var got []string
	for _, a := range list {
		got = append(got, a.ID+" "+strings.Join([]string{u(a.LinkedMembers), u(a.ActiveMembers), u(a.Activities)}, "/"))
	}
	// The 30 days Feb 14 .. Mar 15: linked / active / activities.
	require.Equal(t, []string{"acme 2/2/2", "initech 2/1/1", "umbrella 1/1/1", "globex 1/0/0"}, got)

	// 7-day windows before Mar 16: w0 Mar 9..15, w1 Mar 2..8, w2 Feb 23..Mar 1, w3 Feb 16..22.
	rule := accounts.DropRule{Metric: "active_members", Days: 7, Windows: 3, MinDrop: 0.5, MinBaseline: 0.5}
	all, err := accounts.Windows(ctx, ch, "c", today, rule)
	require.NoError(t, err)
	require.Len(t, all, 4)
	byID := map[string]accounts.Drop{}
	for _, d := range all {
		byID[d.AccountID] = d
	}
	require.Equal(t, []float64{2, 0, 0}, byID["acme"].Previous)
	require.Equal(t, 0.0, byID["acme"].Current)
	require.InDelta(t, 2.0/3, byID["acme"].Baseline, 1e-12)
	require.Equal(t, 1.0, byID["acme"].Drop)
	require.True(t, byID["acme"].Dropped)
	require.Equal(t, []float64{0, 0, 1}, byID["initech"].Previous)
	require.False(t, byID["initech"].Dropped, "baseline 1/3 is below min_baseline 0.5")
	require.Equal(t, 1.0, byID["umbrella"].Current)
	require.False(t, byID["umbrella"].Dropped, "no baseline")

	dropped, err := accounts.Dropped(ctx, ch, "c", today, rule)
	require.NoError(t, err)
	require.Len(t, dropped, 1)
	require.Equal(t, "acme", dropped[0].AccountID)

	rule.Metric = "activities"
	rule.MinBaseline = 0.3
	dropped, err = accounts.Dropped(ctx, ch, "c", today, rule)
	require.NoError(t, err)
	require.Len(t, dropped, 2, "by activities with min_baseline 0.3: acme (2/3) and initech (1/3)")

	s, err := accounts.WeeklySummary(ctx, ch, "c", today.Add(10*time.Hour))
	require.NoError(t, err)
	require.Equal(t, "2026-03-09", s.WeekStart)
	require.Equal(t, uint64(1), s.Week[0].ActiveAccounts, "the week of Mar 9: Fay (umbrella)")
	require.Equal(t, uint64(1), s.Previous[0].ActiveAccounts, "the week of Mar 2: acme")
	require.Len(t, s.Top, 1)
	require.Equal(t, "umbrella", s.Top[0].AccountID)
	require.Empty(t, s.Dropped, "acme's baseline over 4 weeks is 0.5, below the weekly rule's 2")
}

func TestImportIsIdempotentAndRefusesConflicts(t *testing.T) {
	ctx := context.Background()
	ch := customerDB(t)
	accts, err := accounts.Parse(strings.NewReader(customersCSV), accounts.FormatCSV)
	require.NoError(t, err)
	res, err := accounts.Import(ctx, ch, accts, false)
	require.NoError(t, err)
	require.Equal(t, accounts.ImportResult{Accounts: 4, Unchanged: 4}, res)

	upd, err := accounts.Parse(strings.NewReader(`{"account_id":"globex","name":"Globex Inc","domains":["globex.com"],"segment":"smb","plan":"free"}`+"\n"), accounts.FormatJSONL)
	require.NoError(t, err)
	res, err = accounts.Import(ctx, ch, upd, true)
	require.NoError(t, err)
	require.Equal(t, accounts.ImportResult{Accounts: 1, Updated: 1, DryRun: true}, res)
	a, err := accounts.Get(ctx, ch, "globex")
	require.NoError(t, err)
	require.Equal(t, "Globex", a.Name, "a dry run writes nothing")
	_, err = accounts.Import(ctx, ch, upd, false)
	require.NoError(t, err)
	a, err = accounts.Get(ctx, ch, "globex")
	require.NoError(t, err)
	require.Equal(t, "Globex Inc", a.Name)
	require.Equal(t, "smb", a.Segment)
	var n uint64
	require.NoError(t, ch.QueryRow(ctx, "SELECT count() FROM accounts").Scan(&n))
	require.Equal(t, uint64(4), n)

	stealing, err := accounts.Parse(strings.NewReader("account_id,name,domains\nnewco,NewCo,acme.io\n"), accounts.FormatCSV)
	require.NoError(t, err)
	_, err = accounts.Import(ctx, ch, stealing, false)
	var ce *accounts.ConflictError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, []accounts.Problem{{Line: 2, Field: "domains",
		Reason: `acme.io already belongs to account "acme", which this file does not list: a domain belongs to one account (remove it there first, or import both)`}}, ce.Problems)
	_, err = accounts.Get(ctx, ch, "newco")
	require.ErrorIs(t, err, accounts.ErrNoAccount, "a refused import writes nothing")

	// Replacing the customer base: globex, initech and umbrella leave it,
	// and globex.com is free for newco.
	base, err := accounts.Parse(strings.NewReader("account_id,name,domains,segment,plan,persona\n"+
		"acme,Acme Corp,acme.com;acme.io,enterprise,pro,platform\nnewco,NewCo,globex.com,smb,pro,\n"), accounts.FormatCSV)
	require.NoError(t, err)
	res, err = accounts.Replace(ctx, ch, base, true)
	require.NoError(t, err)
	require.Equal(t, accounts.ImportResult{Accounts: 2, Added: 1, Unchanged: 1, Deleted: 3, DryRun: true}, res)
	res, err = accounts.Replace(ctx, ch, base, false)
	require.NoError(t, err)
	require.Equal(t, accounts.ImportResult{Accounts: 2, Added: 1, Unchanged: 1, Deleted: 3}, res)
	require.NoError(t, ch.QueryRow(ctx, "SELECT count() FROM accounts").Scan(&n))
	require.Equal(t, uint64(2), n)
	require.Equal(t, map[string]string{
		"github:1": "acme/domain",
		"slack:2":  "acme/domain",
		"github:4": "newco/domain", // its mapping to initech is void: initech is gone
		"slack:8":  "newco/domain",
	}, memberAccounts(t, ch))
	res, err = accounts.Replace(ctx, ch, base, false)
	require.NoError(t, err)
	require.Equal(t, accounts.ImportResult{Accounts: 2, Unchanged: 2}, res, "the same base again changes nothing")
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }
