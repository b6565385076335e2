package structure_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api/structure"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

func TestMain(m *testing.M) { kittest.Main(m) }

// Fixture loads two communities into a migrated database.
//
// "sx": a star, hub a tied to b, c, d and e (strength 10); f, a teammate,
// tied to b; g, a bot, tied to a; h, out of orbit (level 0), tied to c
// (strength 4); i in orbit without ties. b, c and h had activities naming
// organization acme, and h and i came from discourse.
//
// "bx": two triangles {m0, m1, m2} and {m4, m5, m6} and m3 tied to all
// six, every tie 10.
//
// Reach factors of 1 keep the strengths exact whatever the clock.
func Fixture(t *testing.T) driver.Conn {
	t.Helper()
	ch := kittest.ClickHouseConn(t)
	ctx := context.Background()
	_, err := store.Migrate(ctx, ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	type m struct {
		id            string
		level         int
		bot, teammate bool
	}
	var rows []string
	for _, x := range []m{{"a", 2, false, false}, {"b", 3, false, false}, {"c", 3, false, false}, {"d", 4, false, false},
		{"e", 4, false, false}, {"f", 1, false, true}, {"g", 4, true, false}, {"h", 0, false, false}, {"i", 4, false, false}} {
		rows = append(rows, fmt.Sprintf("('sx', '%s', 'Member %s', %d, %v, %v, 1, 1, 2592000000)", x.id, strings.ToUpper(x.id), x.level, x.bot, x.teammate))
	}
	for v := range 7 {
		rows = append(rows, fmt.Sprintf("('bx', 'm%d', 'M%d', 3, false, false, 1, 1, 2592000000)", v, v))
	}
	require.NoError(t, ch.Exec(ctx, `INSERT INTO members_raw (community, member_id, display_name, orbit_level, is_bot, is_teammate,
		stream_seq, reach_factor, reach_period_ms) VALUES `+strings.Join(rows, ", ")))
	rows = rows[:0]
	edge := func(c, a, b string, w float64) {
		rows = append(rows, fmt.Sprintf("('%s', '%s', '%s', 1, %g, now64(3), 1, 2592000000, 1)", c, min(a, b), max(a, b), w))
	}
	for _, v := range []string{"b", "c", "d", "e"} {
		edge("sx", "a", v, 10)
	}
	edge("sx", "f", "b", 10)
	edge("sx", "g", "a", 10)
	edge("sx", "h", "c", 4)
	for _, tri := range [][]string{{"m0", "m1", "m2"}, {"m4", "m5", "m6"}} {
		edge("bx", tri[0], tri[1], 10)
		edge("bx", tri[0], tri[2], 10)
		edge("bx", tri[1], tri[2], 10)
		for _, v := range tri {
			edge("bx", "m3", v, 10)
		}
	}
	require.NoError(t, ch.Exec(ctx, `INSERT INTO member_edges_raw (community, member_a, member_b, direct_interactions, strength, strength_at,
		reach_factor, reach_period_ms, stream_seq) VALUES `+strings.Join(rows, ", ")))
	rows = rows[:0]
	for k, a := range []struct{ identity, source, org string }{
		{"b", "github", "acme"}, {"c", "github", "acme"}, {"h", "discourse", "acme"}, {"i", "discourse", ""}, {"a", "github", "globex"},
	} {
		rows = append(rows, fmt.Sprintf("('e%d', 'sx', '%s', 'x.posted', '2026-11-02 10:00:00', '%s', '%s', 'general', 1, false, now64(3), map('organization', '%s'))",
			k, a.source, a.identity, a.identity, a.org))
	}
	// d and e asked about sso and help (the tags attribute, as Discourse sets it).
	rows = append(rows, `('t1', 'sx', 'discourse', 'x.posted', '2026-11-02 10:00:00', 'd', 'd', '', 1, false, now64(3), map('tags', 'sso, help'))`,
		`('t2', 'sx', 'discourse', 'x.posted', '2026-11-02 10:00:00', 'e', 'e', '', 1, false, now64(3), map('tags', 'sso'))`)
	require.NoError(t, ch.Exec(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
		channel, weight, is_bot, received_at, attributes) VALUES `+strings.Join(rows, ", ")))
	require.NoError(t, store.Settle(ctx, ch, telemetry.Nop().Logger))
	return ch
}

// The star is a hub, i (no tie) counting among its 6 members: 5/6
// connected, centralization 1 over the 5 connected, density 4/15; the
// teammate, the bot and the member out of orbit are not nodes.
func TestSummarizeAStar(t *testing.T) {
	ch := Fixture(t)
	ctx := context.Background()
	s, err := structure.Summarize(ctx, ch, "sx", nil)
	require.NoError(t, err)
	require.Equal(t, structure.Measures{Members: 6, Connected: 5, ConnectedShare: 5.0 / 6, Edges: 4, Density: 4.0 / 15,
		Centralization: 1, Top1EdgeShare: 1, Top5EdgeShare: 1, LargestComponent: 5, LargestComponentShare: 5.0 / 6,
		Class: "hub", Reason: "degree centralization 1.00 (hub from 0.50)"}, s.Measures)
	require.Len(t, s.BusRisk, 3)
	require.Equal(t, structure.BusRisk{K: 1, Removed: []structure.Member{{ID: "a", Name: "Member A"}}, PairsBefore: 10, PairsAfter: 0,
		PairShareLost: 1, EdgeShareLost: 1, LargestComponentAfter: 1, LargestComponentShareAfter: 0.2}, s.BusRisk[0])
	require.Empty(t, s.Trend)

	// The organization acme among community-level members: b and c, not
	// tied to each other: a pool of 2.
	seg, err := structure.ParseSegment("segment", "organization:acme")
	require.NoError(t, err)
	s, err = structure.Summarize(ctx, ch, "sx", &seg)
	require.NoError(t, err)
	require.Equal(t, "organization:acme", s.Segment)
	require.Equal(t, 2, s.Measures.Members)
	require.Equal(t, "pool", s.Measures.Class)

	// Tag sso: d and e, each tied only to a (not in the segment).
	s, err = structure.Summarize(ctx, ch, "sx", &structure.Segment{Kind: "tag", Value: "sso"})
	require.NoError(t, err)
	require.Equal(t, structure.Measures{Members: 2, LargestComponent: 1, LargestComponentShare: 0.5, Class: "pool",
		Reason: "no member is connected to another"}, s.Measures)
}

// The monthly view keeps the last week ending in each month; a week
// ending Monday 1 June 00:00 is May's.
func TestSummaryTrendIsMonthly(t *testing.T) {
	ch := Fixture(t)
	ctx := context.Background()
	for k, r := range []struct{ at, class string }{
		{"2026-06-01 00:00:00", "pool"}, {"2026-11-23 00:00:00", "pool"}, {"2026-11-30 00:00:00", "web"}, {"2026-12-07 00:00:00", "hub"},
	} {
		require.NoError(t, ch.Exec(ctx, fmt.Sprintf(`INSERT INTO community_structure (community, computed_at, members, class, centralization, stream_seq)
			VALUES ('sx', '%s', %d, '%s', 0.5, %d)`, r.at, 10+k, r.class, k+1)))
	}
	s, err := structure.Summarize(ctx, ch, "sx", nil)
	require.NoError(t, err)
	var got []string
	for _, p := range s.Trend {
		got = append(got, fmt.Sprintf("%s %s %s %d", p.Month, p.ComputedAt[:10], p.Class, p.Members))
	}
	require.Equal(t, []string{"2026-05-01 2026-06-01 pool 10", "2026-11-01 2026-11-30 web 12", "2026-12-01 2026-12-07 hub 13"}, got)
}

func TestSegmentsAreClassified(t *testing.T) {
	ch := Fixture(t)
	segs, err := structure.Segments(context.Background(), ch, "sx", 10, 1)
	require.NoError(t, err)
	var got []string
	for _, s := range segs {
		got = append(got, fmt.Sprintf("%s %d %s", s.Segment, s.Measures.Members, s.Measures.Class))
	}
	// github: a, b, c (a–b, a–c: a hub); discourse: d, e, i (h is out of
	// orbit; no ties among them); channel general: a, b, c, i (d and e
	// posted in no channel); tag sso: d, e; help: d; acme: b, c; globex: a.
	require.Equal(t, []string{"source:discourse 3 pool", "source:github 3 hub", "channel:general 4 hub",
		"tag:sso 2 pool", "tag:help 1 pool", "organization:acme 2 pool", "organization:globex 1 pool"}, got)
	segs, err = structure.Segments(context.Background(), ch, "sx", 1, 3)
	require.NoError(t, err)
	require.Len(t, segs, 2, "the largest of each kind with 3+ members: source:discourse, channel:general")
	_, err = structure.Segments(context.Background(), ch, "sx", 0, 1)
	require.EqualError(t, err, `limit: want an integer 1..200, got "0"`)
}

func TestBridgesOfTwoCliques(t *testing.T) {
	ch := Fixture(t)
	b, err := structure.FindBridges(context.Background(), ch, "bx", 5, 5)
	require.NoError(t, err)
	require.True(t, b.Exact)
	require.Equal(t, 7, b.Sources)
	require.Equal(t, []structure.Pocket{{Pocket: 0, Members: 4, Central: structure.Member{ID: "m3", Name: "M3"}},
		{Pocket: 1, Members: 3, Central: structure.Member{ID: "m4", Name: "M4"}}}, b.Pockets)
	require.Equal(t, []structure.PocketPair{{PocketA: 0, PocketB: 1, Bridges: []structure.Bridge{{Member: structure.Member{ID: "m3", Name: "M3"},
		Pocket: 0, Betweenness: 9, BetweennessShare: 0.6, PairBetweenness: 9, PairShare: 1, StrengthA: 30, StrengthB: 30}}}}, b.Pairs)
	require.True(t, b.PairsExact)
}

// From d, acme (b, c and h among every member not a bot) is two hops
// through a (strength 10) to b and c, three to h through c (its tie of 4
// is the weakest). i has no tie, and github:new is no member: both get
// a note and acme's best-connected members instead.
func TestIntroductions(t *testing.T) {
	ch := Fixture(t)
	ctx := context.Background()
	acme := structure.Segment{Kind: "organization", Value: "acme"}
	in, err := structure.Introduce(ctx, ch, "sx", "d", acme, 10)
	require.NoError(t, err)
	require.True(t, in.Known)
	require.True(t, in.Connected)
	require.Equal(t, 3, in.SegmentMembers)
	var got []string
	for _, p := range in.Paths {
		var path []string
		for _, s := range p.Path {
			path = append(path, fmt.Sprintf("%s(%g)", s.ID, s.Tie))
		}
		got = append(got, fmt.Sprintf("%s %d %g %s", p.Target.ID, p.Hops, p.Strength, strings.Join(path, " ")))
	}
	require.Equal(t, []string{"b 2 10 d(0) a(10) b(10)", "c 2 10 d(0) a(10) c(10)", "h 3 4 d(0) a(10) c(10) h(4)"}, got)
	require.Empty(t, in.Note)

	in, err = structure.Introduce(ctx, ch, "sx", "i", acme, 10)
	require.NoError(t, err)
	require.True(t, in.Known)
	require.False(t, in.Connected)
	require.Empty(t, in.Paths)
	require.Equal(t, "i has no connections in the reach graph yet: no one can introduce them along a path; the segment's best-connected members are listed to contact directly", in.Note)
	require.Equal(t, []string{"b", "c", "h"}, ids(in.Amplifiers))

	in, err = structure.Introduce(ctx, ch, "sx", "g", acme, 10)
	require.NoError(t, err)
	require.True(t, in.Known, "the bot is a member")
	require.False(t, in.Connected, "a bot's ties are not in the graph")
	require.Equal(t, "g has no connections in the reach graph yet: no one can introduce them along a path; the segment's best-connected members are listed to contact directly", in.Note)

	in, err = structure.Introduce(ctx, ch, "sx", "github:new", acme, 10)
	require.NoError(t, err)
	require.False(t, in.Known)
	require.Contains(t, in.Note, "github:new is not a member of sx yet (a new member?)")
}

// Amplifiers of acme among community-level members: b (reach 10: its
// teammate tie does not count) and c (10); of the community: a first.
func TestAmplifiers(t *testing.T) {
	ch := Fixture(t)
	ctx := context.Background()
	a, err := structure.Amplify(ctx, ch, "sx", &structure.Segment{Kind: "organization", Value: "acme"}, 10)
	require.NoError(t, err)
	require.Equal(t, 2, a.SegmentMembers)
	require.Equal(t, []structure.Amplifier{
		{Member: structure.Member{ID: "b", Name: "Member B"}, Reach: 10, Degree: 1},
		{Member: structure.Member{ID: "c", Name: "Member C"}, Reach: 10, Degree: 1},
	}, a.Amplifiers)
	a, err = structure.Amplify(ctx, ch, "sx", nil, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b"}, ids(a.Amplifiers))
	require.Equal(t, structure.Amplifier{Member: structure.Member{ID: "a", Name: "Member A"}, Reach: 40, Degree: 4, SegmentNeighbours: 4, SegmentReach: 40}, a.Amplifiers[0])
}

func ids(as []structure.Amplifier) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

func TestParseSegment(t *testing.T) {
	s, err := structure.ParseSegment("segment", "tag:help wanted")
	require.NoError(t, err)
	require.Equal(t, structure.Segment{Kind: "tag", Value: "help wanted"}, s)
	for _, bad := range []string{"", "tag", "tag:", "team:x", ":x", "tag:a\nb", "tag:" + strings.Repeat("x", 201)} {
		_, err := structure.ParseSegment("segment", bad)
		require.ErrorContains(t, err, "segment: want kind:value with kind one of source, channel, tag, organization", bad)
	}
}

func FuzzParseSegment(f *testing.F) {
	for _, s := range []string{"tag:x", "organization:acme", "source:", "x:y", "channel:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seg, err := structure.ParseSegment("segment", s)
		if err != nil {
			return
		}
		require.Equal(t, s, seg.String(), "a parsed segment prints as given")
		require.NotEmpty(t, seg.Value)
	})
}
