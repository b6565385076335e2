package demo

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
)

var end = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func TestDefaultRunIsValidAndRealistic(t *testing.T) {
	reg := events.DefaultRegistry()
	cfg := DefaultConfig()
	cfg.End = end
	ids := map[string]bool{}
	perMember := map[string]int{}
	types := map[string]int{}
	kinds := map[string]int{}
	var last time.Time
	var weekday, weekend [7]int
	replies, bots, teammates, custom, emails := 0, 0, 0, 0, 0
	st, err := Generate(cfg, func(ev events.Event) error {
		if err := reg.Validate(&ev); err != nil {
			t.Fatalf("%s: %v", ev.ID, err)
		}
		require.Equal(t, "demo:"+itoa(len(ids)), ev.ID, "ids demo:<n> in order")
		ids[ev.ID] = true
		require.False(t, ev.OccurredAt.Before(last), "time order")
		last = ev.OccurredAt.Time
		require.True(t, !ev.OccurredAt.Before(end.AddDate(0, 0, -90)) && ev.OccurredAt.Before(end), ev.OccurredAt)
		require.True(t, ev.ReceivedAt.After(ev.OccurredAt.Time))
		perMember[ev.Actor.Identity()]++
		types[ev.Type]++
		if ev.ParentID != "" {
			require.True(t, ids[ev.ParentID], "a reply follows what it answers")
			require.Equal(t, ev.ParentID, ev.ThreadID)
			replies++
		}
		for _, tg := range ev.Targets {
			kinds[tg.Kind]++
			require.NotEqual(t, ev.Actor.Identity(), tg.Identity(), "no self-edges")
		}
		if ev.Actor.IsBot {
			bots++
			require.Empty(t, ev.Actor.EmailSHA256)
		} else {
			require.Len(t, ev.Actor.EmailSHA256, 64)
			emails++
		}
		if ev.Attributes["teammate"] == "true" {
			teammates++
		}
		if strings.HasPrefix(ev.Type, events.CustomTypePrefix) {
			custom++
		}
		if wd := ev.OccurredAt.Weekday(); wd == time.Saturday || wd == time.Sunday {
			weekend[wd]++
		} else {
			weekday[wd]++
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, cfg.Events, st.Events)
	require.Len(t, ids, cfg.Events)
	require.Equal(t, len(perMember) > 0, st.Members > 0)
	require.Greater(t, st.Members, cfg.Members/2, "most members show up")
	require.LessOrEqual(t, st.Members, cfg.Members)
	for _, s := range []string{"github", "discourse", "slack", "discord", "mailinglist", "meetup", "support", "product"} {
		require.Greater(t, st.BySource[s], 300, s)
	}
	require.Greater(t, replies, cfg.Events/5, "replies make threads")
	for _, k := range []string{events.KindReply, events.KindMention, events.KindReview, events.KindReact, events.KindThank} {
		require.Greater(t, kinds[k], 100, "targets of kind %s make a reach graph", k)
	}
	require.Greater(t, bots, 100)
	require.Greater(t, teammates, 100)
	require.Greater(t, custom, 500)
	require.Greater(t, len(types), 40)
	for _, typ := range []string{"meetup.event.organized", "github.release.published", "discourse.solution.accepted"} {
		require.Positive(t, types[typ], typ)
	}
	// Seasonality: an average weekday is busier than an average weekend day.
	require.Greater(t, sum(weekday[:])/5, 1.5*sum(weekend[:])/2)
	// Skew: the busiest 10% of identities make most of the activity.
	counts := make([]int, 0, len(perMember))
	for _, c := range perMember {
		counts = append(counts, c)
	}
	slices.SortFunc(counts, func(a, b int) int { return b - a })
	top := 0
	for _, c := range counts[:len(counts)/10] {
		top += c
	}
	require.Greater(t, top, cfg.Events/2)
}

func TestSameSeedSameBytes(t *testing.T) {
	cfg := Config{Community: "x", Seed: 7, Days: 30, End: end, Members: 300, Events: 5000}
	var a, b bytes.Buffer
	sa, err := WriteJSONL(&a, cfg)
	require.NoError(t, err)
	sb, err := WriteJSONL(&b, cfg)
	require.NoError(t, err)
	require.Equal(t, a.Bytes(), b.Bytes())
	require.Equal(t, sa, sb)
	require.Equal(t, 5000, bytes.Count(a.Bytes(), []byte("\n")))

	cfg.Seed = 8
	var c bytes.Buffer
	_, err = WriteJSONL(&c, cfg)
	require.NoError(t, err)
	require.NotEqual(t, a.Bytes(), c.Bytes())

	// Every line decodes to a valid event.
	for line := range bytes.Lines(a.Bytes()) {
		ev, err := events.Decode(bytes.TrimSuffix(line, []byte("\n")))
		require.NoError(t, err)
		require.NoError(t, events.DefaultRegistry().Validate(&ev))
	}
}

func TestDefaultsAndBadConfig(t *testing.T) {
	n := 0
	st, err := Generate(Config{End: end, Events: 100}, func(ev events.Event) error {
		require.Equal(t, "demo", ev.Community)
		n++
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 100, n)
	require.Equal(t, 100, st.Events)

	for _, cfg := range []Config{{Members: 5}, {Events: -1}, {Days: -1}, {Community: "Not OK"}} {
		_, err := Generate(cfg, func(events.Event) error { return nil })
		require.Error(t, err, "%+v", cfg)
	}
}

func TestEmitErrorStops(t *testing.T) {
	stop := errTest("stop")
	n := 0
	st, err := Generate(Config{End: end, Events: 1000}, func(events.Event) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 10, n)
	require.Equal(t, 9, st.Events)
}

type errTest string

func (e errTest) Error() string { return string(e) }

func sum(xs []int) float64 {
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s)
}

func itoa(i int) string { return strconv.Itoa(i) }

// BenchmarkGenerate reports events/s of the generator alone; a run of b.N
// events over the default community.
func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig()
	cfg.End = end
	cfg.Events = b.N
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := Generate(cfg, func(events.Event) error { return nil }); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWriteJSONL includes encoding.
func BenchmarkWriteJSONL(b *testing.B) {
	cfg := DefaultConfig()
	cfg.End = end
	cfg.Events = b.N
	b.ReportAllocs()
	b.ResetTimer()
	st, err := WriteJSONL(io.Discard, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Events)/b.Elapsed().Seconds(), "events/s")
}

func TestLiveCatchesUpThenFollowsTheClock(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	cfg := LiveConfig{Community: "demo", Seed: 42, Members: 200, PerHour: 600, Sources: []string{"github", "slack"},
		From: now.Add(-2 * time.Hour), Now: func() time.Time { return now }}
	ctx, cancel := context.WithCancel(context.Background())
	var got []events.Event
	err := Live(ctx, cfg, func(ev events.Event) error {
		if ev.OccurredAt.Time.After(now) { // the first event to wait for: stop
			cancel()
			return ctx.Err()
		}
		got = append(got, ev)
		return nil
	})
	require.NoError(t, err)
	// About 2 hours at 600/h, of which github and slack have about half;
	// only those two, all valid, ids of the day.
	require.InDelta(t, 650, len(got), 200)
	reg := events.DefaultRegistry()
	for _, ev := range got {
		require.Contains(t, []string{"github", "slack"}, ev.Source)
		require.True(t, strings.HasPrefix(ev.ID, "demo-live-20260304-600:"), ev.ID)
		require.False(t, ev.OccurredAt.Time.Before(cfg.From))
		require.NoError(t, reg.Validate(&ev))
	}
	// The same day and config: the same events (a restarted feed repeats ids).
	var again []string
	ctx2, cancel2 := context.WithCancel(context.Background())
	_ = Live(ctx2, cfg, func(ev events.Event) error {
		if len(again) == len(got) {
			cancel2()
			return ctx2.Err()
		}
		again = append(again, ev.ID)
		return nil
	})
	require.Equal(t, got[0].ID, again[0])
	require.Equal(t, got[len(got)-1].ID, again[len(again)-1])

	_, err = func() (int, error) {
		return 0, Live(context.Background(), LiveConfig{PerHour: 1, Sources: []string{"nope"}}, nil)
	}()
	require.ErrorContains(t, err, `no source "nope"`)
}

// The demo carries what the impact reports need: members of customer
// organizations (with the organization's name and address domain) next to
// people with personal addresses, and a pain point that only appears in
// the last quarter of the span and grows.
func TestOrganizationsAndANewPainPoint(t *testing.T) {
	cfg := DefaultConfig()
	cfg.End = end
	orgs := Organizations()
	require.Len(t, orgs, 120)
	byName := map[string]Organization{}
	for _, o := range orgs {
		require.NotContains(t, byName, o.Name, "unique names")
		require.Equal(t, strings.ToLower(o.Name)+".example", o.Domain)
		require.Contains(t, []string{"enterprise", "mid-market", "smb"}, o.Segment)
		byName[o.Name] = o
	}
	require.Equal(t, "enterprise", orgs[0].Segment)
	require.Equal(t, "smb", orgs[119].Segment)

	late := map[string]bool{}
	for _, s := range sources {
		for _, title := range s.late {
			late[title] = true
		}
	}
	start := end.AddDate(0, 0, -90)
	lastQuarter := start.Add(time.Duration(0.75 * float64(end.Sub(start))))
	present := map[string]bool{}
	withOrg, people := 0, 0
	var lateByWeek [13]int
	_, err := Generate(cfg, func(ev events.Event) error {
		if org := ev.Attributes["organization"]; org != "" {
			require.Contains(t, byName, org)
			require.Equal(t, events.HashDomain(byName[org].Domain), ev.Actor.EmailDomainSHA256, "the address is at the organization's domain")
			require.NotEqual(t, "true", ev.Attributes["teammate"], "teammates are not customers")
			present[org] = true
			withOrg++
		}
		if !ev.Actor.IsBot {
			people++
		}
		if ev.ParentID == "" && late[ev.Title] {
			require.False(t, ev.OccurredAt.Before(lastQuarter), "%s: a late title at %s", ev.ID, ev.OccurredAt)
			lateByWeek[int(ev.OccurredAt.Sub(start)/(7*24*time.Hour))]++
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, len(present), 30, "many accounts are in the community")
	var accounts bytes.Buffer
	require.NoError(t, WriteAccounts(&accounts))
	lines := strings.Split(strings.TrimSpace(accounts.String()), "\n")
	require.Len(t, lines, 120)
	require.Equal(t, `{"account_id":"acct-001","domains":["northwind.example"],"name":"Northwind","persona":"developer","plan":"enterprise","segment":"enterprise"}`, lines[0])
	require.Less(t, len(present), 110, "and some are not")
	require.Greater(t, withOrg, people/10)
	require.Greater(t, lateByWeek[12], lateByWeek[10], "the pain point grows: %v", lateByWeek)
	require.Positive(t, lateByWeek[10])
}
