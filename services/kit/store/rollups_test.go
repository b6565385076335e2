package store_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// rollupEvent is one generated activity.
type rollupEvent struct {
	id, community, identity, typ, channel, thread string
	target                                        string // "": no direct interaction
	tags                                          string // the attribute tags
	at                                            time.Time
	bot                                           bool
}

func (e rollupEvent) source() string { s, _, _ := strings.Cut(e.identity, ":"); return s }

// The refresher's rollups equal what the activities say, computed here in
// Go, after incremental refreshes with a redelivered batch, a backfill of
// older days, an item whose opening arrives a second time earlier, and an
// identity merge; and a first build (full) gives the same rows.
func TestRollupsMatchTheActivities(t *testing.T) {
	conn, ctx := migrated(t)
	writeTypes(t, conn)
	reg := events.DefaultRegistry()
	types := map[string]events.ActivityType{}
	for _, ty := range reg.Types() {
		types[ty.Name] = ty
	}
	names := []string{"github.issue.opened", "github.issue.commented", "github.pull_request.opened", "github.pull_request.reviewed",
		"github.star.created", "discourse.topic.created", "discourse.post.created", "slack.message.posted"}
	for _, n := range names {
		require.Contains(t, types, n)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	day0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	gen := func(prefix string, n int, from, days int) []rollupEvent {
		var out []rollupEvent
		for i := range n {
			ty := names[rng.IntN(len(names))]
			src, _, _ := strings.Cut(ty, ".")
			e := rollupEvent{
				id: fmt.Sprintf("%s%d", prefix, i), community: []string{"a", "b"}[rng.IntN(2)],
				identity: fmt.Sprintf("%s:%d", src, rng.IntN(25)), typ: ty, channel: fmt.Sprintf("ch%d", rng.IntN(3)),
				at: day0.AddDate(0, 0, from+rng.IntN(days)).Add(time.Duration(rng.IntN(86400)) * time.Second),
			}
			e.bot = strings.HasSuffix(e.identity, ":24") // a bot is a bot in every activity
			if types[ty].Item != "" {
				e.thread = fmt.Sprintf("T%d", rng.IntN(40))
			}
			if rng.IntN(2) == 0 {
				e.target = fmt.Sprintf("%s:%d", src, rng.IntN(25)) // a reply or mention
			}
			e.tags = []string{"", "", "help", "help, ideas", "ideas,,"}[rng.IntN(5)]
			out = append(out, e)
		}
		return out
	}
	insert := func(evs []rollupEvent) {
		b, err := conn.PrepareBatch(ctx, `INSERT INTO activities_raw (event_id, community, source, type, occurred_at, member_id, identity,
			channel, thread_id, is_bot, target_member_ids, target_kinds, attributes, received_at)`)
		require.NoError(t, err)
		for _, e := range evs {
			targets, kinds := []string{}, []string{}
			if e.target != "" {
				targets, kinds = []string{e.target}, []string{"reply"}
			}
			attrs := map[string]string{}
			if e.tags != "" {
				attrs["tags"] = e.tags
			}
			require.NoError(t, b.Append(e.id, e.community, e.source(), e.typ, e.at, e.identity, e.identity, e.channel, e.thread, e.bot,
				targets, kinds, attrs, e.at))
		}
		require.NoError(t, b.Send())
	}
	// No overlap: each refresh sees only what arrived since the last, so
	// the test shows what a refresh must recompute beyond the new days.
	rr := store.NewRollups(conn, telemetry.Nop().Logger)
	rr.Overlap = 0
	refresh := func() {
		_, err := rr.Refresh(ctx)
		require.NoError(t, err)
	}

	b1, b2 := gen("x", 400, 40, 30), gen("y", 400, 50, 30)
	// Thread M is opened on day 60 by github:1, answered by github:2; a
	// backfill later brings an earlier opening (day 45) by github:3.
	late := rollupEvent{id: "m-open", community: "a", identity: "github:1", typ: "github.issue.opened", channel: "ch0", thread: "M", at: day0.AddDate(0, 0, 60)}
	answer := rollupEvent{id: "m-answer", community: "a", identity: "github:2", typ: "github.issue.commented", channel: "ch0", thread: "M", at: day0.AddDate(0, 0, 61)}
	early := rollupEvent{id: "m-early", community: "a", identity: "github:3", typ: "github.issue.opened", channel: "ch0", thread: "M", at: day0.AddDate(0, 0, 45)}
	backfill := append(gen("z", 300, 0, 40), early)
	// In community c, github:7 starts in March and is back in April; a
	// backfill brings a February star: April, with nothing new, must
	// count it in the February cohort.
	star := func(id string, day int) rollupEvent {
		return rollupEvent{id: id, community: "c", identity: "github:7", typ: "github.star.created", channel: "ch0", at: day0.AddDate(0, 0, day)}
	}
	cStars := []rollupEvent{star("c-march", 35), star("c-april", 65)}
	backfill = append(backfill, star("c-february", 10))
	insert(slices.Concat(b1, []rollupEvent{late, answer}, cStars))
	refresh()
	insert(b2)
	insert(b1) // redelivered: inserted twice, counted once
	refresh()
	insert(backfill)
	refresh()
	// The backfill moved first activities to earlier days and months: the
	// next refresh recomputes the periods that counted them, cohorts of
	// months with no new activity too.
	refresh()
	all := slices.Concat(b1, b2, backfill, []rollupEvent{late, answer}, cStars)
	self := func(_, identity string) string { return identity }
	require.Equal(t, expectedRollups(all, types, self), actualRollups(t, conn))
	require.Contains(t, actualRollups(t, conn), "cohort c 2026-04-01 2026-02-01 active=1")
	// slack:1 turns out to be github:1.
	require.NoError(t, conn.Exec(ctx, `INSERT INTO member_identities (community, identity, member_id, source, username, stream_seq)
		VALUES ('a', 'slack:1', 'github:1', 'slack', '', 1), ('a', 'github:1', 'github:1', 'github', '', 1)`))
	require.NoError(t, conn.Exec(ctx, `INSERT INTO identity_changes (community, changed_at, kind, members, identities, reason, requested_by, stream_seq)
		VALUES ('a', now64(3), 'merge', ['github:1', 'slack:1'], ['slack:1'], 'test', 'test', 1)`))
	// The merge is seen by the next refresh; the days it marks (and the old
	// first days moved by the backfill) by the one after.
	refresh()
	refresh()

	memberOf := func(community, identity string) string {
		if community == "a" && identity == "slack:1" {
			return "github:1"
		}
		return identity
	}
	want := expectedRollups(all, types, memberOf)
	got := actualRollups(t, conn)
	require.Equal(t, want, got)
	require.Contains(t, want, "item a M github.issue.opened github:3 2026-03-18 answered=true by github:2 after 1382400s")

	// A first build from scratch gives the same rows.
	for _, tbl := range []string{"member_periods", "identity_lifetimes", "identity_type_firsts", "items", "community_periods",
		"community_retention", "community_rolling", "community_cohorts", "item_periods", "community_connections", "rollup_state"} {
		require.NoError(t, conn.Exec(ctx, "TRUNCATE TABLE "+tbl))
	}
	st, err := store.NewRollups(conn, telemetry.Nop().Logger).Refresh(ctx)
	require.NoError(t, err)
	require.True(t, st.Full)
	require.Equal(t, want, actualRollups(t, conn))
}

// expectedRollups computes, from the events, the lines actualRollups reads.
func expectedRollups(evs []rollupEvent, types map[string]events.ActivityType, memberOf func(c, id string) string) []string {
	seen := map[string]bool{}
	type pkey struct{ community, unit, dim, period, segment, member string }
	type pval struct {
		members            map[string]bool
		acts, contribs     int
		contributorMembers map[string]bool
		contribOf          map[string]int
	}
	periods := map[pkey]*pval{}
	type life struct{ first, last, firstC, lastC time.Time }
	lives := map[[2]string]*life{}
	typeFirsts := map[[3]string]time.Time{} // community, member, type
	threads := map[[2]string][]rollupEvent{}
	type pair struct{ community, unit, period, x, y string }
	pairs := map[pair]bool{}
	for _, e := range evs {
		if seen[e.id] {
			continue
		}
		seen[e.id] = true
		if e.thread != "" {
			threads[[2]string{e.community, e.thread}] = append(threads[[2]string{e.community, e.thread}], e)
		}
		contrib := types[e.typ].Contribution
		lk := [2]string{e.community, memberOf(e.community, e.identity)}
		l := lives[lk]
		if l == nil {
			l = &life{first: e.at, last: e.at}
			lives[lk] = l
		}
		l.first, l.last = minTime(l.first, e.at), maxTime(l.last, e.at)
		tk := [3]string{e.community, lk[1], e.typ}
		if f, ok := typeFirsts[tk]; !ok || e.at.Before(f) {
			typeFirsts[tk] = e.at
		}
		if contrib {
			if l.firstC.IsZero() {
				l.firstC, l.lastC = e.at, e.at
			}
			l.firstC, l.lastC = minTime(l.firstC, e.at), maxTime(l.lastC, e.at)
		}
		if e.bot {
			continue
		}
		d := time.Date(e.at.Year(), e.at.Month(), e.at.Day(), 0, 0, 0, 0, time.UTC)
		starts := map[string]time.Time{"day": d, "week": d.AddDate(0, 0, -(int(d.Weekday())+6)%7), "month": d.AddDate(0, 0, 1-d.Day())}
		if a, b := memberOf(e.community, e.identity), memberOf(e.community, e.target); e.target != "" && e.target != e.identity && a != b {
			for unit, p := range starts {
				pairs[pair{e.community, unit, p.Format(time.DateOnly), min(a, b), max(a, b)}] = true
			}
		}
		for unit, p := range starts {
			segs := [][2]string{{"", ""}, {"source", e.source()}, {"channel", e.channel}, {"type", e.typ}}
			for _, tag := range strings.Split(e.tags, ",") {
				if tag = strings.TrimSpace(tag); tag != "" {
					segs = append(segs, [2]string{"tag", tag})
				}
			}
			for _, ds := range segs {
				dim, seg := ds[0], ds[1]
				k := pkey{e.community, unit, dim, p.Format(time.DateOnly), seg, ""}
				v := periods[k]
				if v == nil {
					v = &pval{members: map[string]bool{}, contributorMembers: map[string]bool{}, contribOf: map[string]int{}}
					periods[k] = v
				}
				m := memberOf(e.community, e.identity)
				v.members[m] = true
				v.acts++
				if contrib {
					v.contribs++
					v.contributorMembers[m] = true
					v.contribOf[m]++
				}
			}
		}
	}
	var out []string
	trunc := func(unit string, t time.Time) string {
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		switch unit {
		case "week":
			d = d.AddDate(0, 0, -(int(d.Weekday())+6)%7)
		case "month":
			d = d.AddDate(0, 0, 1-d.Day())
		}
		return d.Format(time.DateOnly)
	}
	for k, v := range periods {
		out = append(out, fmt.Sprintf("period %s %s %s %s %q members=%d activities=%d contributors=%d contributions=%d",
			k.community, k.unit, k.dim, k.period, k.segment, len(v.members), v.acts, len(v.contributorMembers), v.contribs))
		newMembers, newContributors, lastContributors, newOfType := 0, 0, 0, 0
		for m := range v.members {
			l := lives[[2]string{k.community, m}]
			if trunc(k.unit, l.first) == k.period {
				newMembers++
			}
			if !l.firstC.IsZero() && trunc(k.unit, l.firstC) == k.period {
				newContributors++
			}
			if !l.lastC.IsZero() && trunc(k.unit, l.lastC) == k.period {
				lastContributors++
			}
			if k.dim == "type" && trunc(k.unit, typeFirsts[[3]string{k.community, m, k.segment}]) == k.period {
				newOfType++
			}
		}
		// Absence factor: the fewest members making half the contributions.
		var cs []int
		for _, c := range v.contribOf {
			cs = append(cs, c)
		}
		slices.Sort(cs)
		slices.Reverse(cs)
		absence, cum := 0, 0
		for _, c := range cs {
			if cum*2 < v.contribs {
				absence++
			}
			cum += c
		}
		out = append(out, fmt.Sprintf("community %s %s %s %s %q members=%d activities=%d contributors=%d contributions=%d new=%d new_contributors=%d"+
			" absence=%d last_contributors=%d new_of_type=%d", k.community, k.unit, k.dim, k.period, k.segment, len(v.members), v.acts,
			len(v.contributorMembers), v.contribs, newMembers, newContributors, absence, lastContributors, newOfType))
		if k.unit == "month" && k.dim == "" {
			cohorts := map[string]int{}
			for m := range v.members {
				cohorts[trunc("month", lives[[2]string{k.community, m}].first)]++
			}
			for c, n := range cohorts {
				out = append(out, fmt.Sprintf("cohort %s %s %s active=%d", k.community, k.period, c, n))
			}
		}
		if k.dim != "" {
			continue
		}
		// Retention into the period after, and the rolling windows.
		p, _ := time.Parse(time.DateOnly, k.period)
		next := map[string]time.Time{"day": p.AddDate(0, 0, 1), "week": p.AddDate(0, 0, 7), "month": p.AddDate(0, 1, 0)}[k.unit]
		retained := 0
		if nv := periods[pkey{k.community, k.unit, "", next.Format(time.DateOnly), "", ""}]; nv != nil {
			for m := range v.members {
				if nv.members[m] {
					retained++
				}
			}
		}
		out = append(out, fmt.Sprintf("retention %s %s %s previous=%d retained=%d", k.community, k.unit, next.Format(time.DateOnly), len(v.members), retained))
		if k.unit == "day" {
			window := func(days int) int {
				ms := map[string]bool{}
				for i := range days {
					if dv := periods[pkey{k.community, "day", "", p.AddDate(0, 0, -i).Format(time.DateOnly), "", ""}]; dv != nil {
						for m := range dv.members {
							ms[m] = true
						}
					}
				}
				return len(ms)
			}
			out = append(out, fmt.Sprintf("rolling %s %s wau=%d mau=%d", k.community, k.period, window(7), window(30)))
		}
	}
	conns := map[[3]string][2]int{}
	for p := range pairs {
		d, _ := time.Parse(time.DateOnly, p.period)
		prev := map[string]time.Time{"day": d.AddDate(0, 0, -1), "week": d.AddDate(0, 0, -7), "month": d.AddDate(0, -1, 0)}[p.unit]
		c := conns[[3]string{p.community, p.unit, p.period}]
		c[0]++
		if pairs[pair{p.community, p.unit, prev.Format(time.DateOnly), p.x, p.y}] {
			c[1]++
		}
		conns[[3]string{p.community, p.unit, p.period}] = c
	}
	for k, c := range conns {
		out = append(out, fmt.Sprintf("connections %s %s %s n=%d recurring=%d", k[0], k[1], k[2], c[0], c[1]))
	}
	for k, l := range lives {
		out = append(out, fmt.Sprintf("life %s %s first=%s last=%s first_c=%s last_c=%s", k[0], k[1],
			l.first.Format(time.DateTime), l.last.Format(time.DateTime), fmtTime(l.firstC), fmtTime(l.lastC)))
	}
	type ikey struct{ community, unit, period, typ string }
	type ival struct {
		opened, responded int
		seconds           []int
	}
	itemPeriods := map[ikey]*ival{}
	for k, evs := range threads {
		var open *rollupEvent
		for i, e := range evs {
			if types[e.typ].Item == events.ItemOpens && (open == nil || e.at.Before(open.at)) {
				open = &evs[i]
			}
		}
		if open == nil || open.bot {
			continue
		}
		// Each member's first response of a kind in the thread counts
		// (thread_activity keeps the first), if not before the opening.
		firsts := map[[2]string]*rollupEvent{}
		for i, e := range evs {
			k := [2]string{e.identity, e.typ}
			if types[e.typ].Item == events.ItemResponds && (firsts[k] == nil || e.at.Before(firsts[k].at)) {
				firsts[k] = &evs[i]
			}
		}
		var resp *rollupEvent
		for _, e := range firsts {
			if !e.bot && !e.at.Before(open.at) && memberOf(e.community, e.identity) != memberOf(open.community, open.identity) &&
				(resp == nil || e.at.Before(resp.at)) {
				resp = e
			}
		}
		for _, unit := range []string{"day", "week", "month"} {
			ik := ikey{k[0], unit, trunc(unit, open.at), open.typ}
			if itemPeriods[ik] == nil {
				itemPeriods[ik] = &ival{}
			}
			itemPeriods[ik].opened++
			if resp != nil {
				itemPeriods[ik].responded++
				itemPeriods[ik].seconds = append(itemPeriods[ik].seconds, int(resp.at.Sub(open.at).Seconds()))
			}
		}
		line := fmt.Sprintf("item %s %s %s %s %s answered=%t", k[0], k[1], open.typ, open.identity, open.at.Format(time.DateOnly), resp != nil)
		if resp != nil {
			line += fmt.Sprintf(" by %s after %ds", resp.identity, int(resp.at.Sub(open.at).Seconds()))
		}
		out = append(out, line)
	}
	for k, v := range itemPeriods {
		slices.Sort(v.seconds)
		// Exact inclusive quantiles (interpolated), rounded to ms.
		quantile := func(level float64) string {
			if len(v.seconds) == 0 {
				return "NULL"
			}
			pos := level * float64(len(v.seconds)-1)
			i := int(pos)
			x := float64(v.seconds[i])
			if i+1 < len(v.seconds) {
				x += (pos - float64(i)) * float64(v.seconds[i+1]-v.seconds[i])
			}
			return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64)
		}
		hours := map[int]int{}
		for _, sec := range v.seconds {
			hours[(sec+3599)/3600]++
		}
		var hs []string
		for _, h := range slices.Sorted(maps.Keys(hours)) {
			hs = append(hs, fmt.Sprintf("%d:%d", h, hours[h]))
		}
		out = append(out, fmt.Sprintf("item_period %s %s %s %s opened=%d responded=%d median=%s p90=%s hours=%s", k.community, k.unit,
			k.period, k.typ, v.opened, v.responded, quantile(0.5), quantile(0.9), strings.Join(hs, ",")))
	}
	slices.Sort(out)
	return out
}

// actualRollups reads the rollups as the lines expectedRollups computes
// (members by their keys: the same count).
func actualRollups(t *testing.T, conn driver.Conn) []string {
	t.Helper()
	out := rowsOf(t, conn, `SELECT concat('period ', community, ' ', toString(unit), ' ', toString(dimension), ' ', toString(period_start), ' "',
			segment, '" members=', toString(uniqExact(member_key)), ' activities=', toString(sum(activities)),
			' contributors=', toString(uniqExactIf(member_key, contributions > 0)), ' contributions=', toString(sum(contributions)))
		FROM member_periods_resolved WHERE NOT is_bot
		GROUP BY community, unit, dimension, period_start, segment`)
	out = append(out, rowsOf(t, conn, `SELECT concat('community ', community, ' ', toString(unit), ' ', toString(dimension), ' ',
			toString(period_start), ' "', segment, '" members=', toString(active_members), ' activities=', toString(activities),
			' contributors=', toString(contributors), ' contributions=', toString(contributions), ' new=', toString(new_members),
			' new_contributors=', toString(new_contributors), ' absence=', toString(absence_factor),
			' last_contributors=', toString(last_contributors), ' new_of_type=', toString(new_of_type))
		FROM community_periods FINAL`)...)
	out = append(out, rowsOf(t, conn, `SELECT concat('cohort ', community, ' ', toString(month), ' ', toString(cohort), ' active=', toString(active))
		FROM community_cohorts FINAL`)...)
	out = append(out, rowsOf(t, conn, `SELECT concat('connections ', community, ' ', toString(unit), ' ', toString(period_start),
			' n=', toString(connections), ' recurring=', toString(recurring))
		FROM community_connections FINAL WHERE connections > 0`)...)
	out = append(out, rowsOf(t, conn, `SELECT concat('item_period ', community, ' ', toString(unit), ' ', toString(period_start), ' ', item_type,
			' opened=', toString(opened), ' responded=', toString(responded), ' median=', ifNull(toString(median_seconds), 'NULL'),
			' p90=', ifNull(toString(p90_seconds), 'NULL'), ' hours=', arrayStringConcat(arrayMap((h, n) -> concat(toString(h), ':', toString(n)),
				mapKeys(response_hours), mapValues(response_hours)), ','))
		FROM item_periods FINAL`)...)
	// Retention into every period after an active one (zero retained
	// when the next period has no row: nobody was active).
	out = append(out, rowsOf(t, conn, `SELECT concat('retention ', community, ' ', toString(unit), ' ', toString(period_start),
			' previous=', toString(previous_active), ' retained=', toString(retained))
		FROM community_retention FINAL WHERE previous_active > 0`)...)
	out = append(out, rowsOf(t, conn, `SELECT concat('rolling ', community, ' ', toString(day), ' wau=', toString(wau), ' mau=', toString(mau))
		FROM community_rolling FINAL
		WHERE (community, day) IN (SELECT community, period_start FROM community_periods FINAL WHERE unit = 'day' AND dimension = '')`)...)
	// Lifetimes per member: the identity of the member's key.
	out = append(out, rowsOf(t, conn, `SELECT concat('life ', community, ' ', i.identity, ' first=', toString(toDateTime(min(first_at))),
			' last=', toString(toDateTime(max(last_at))), ' first_c=', ifNull(toString(toDateTime(min(first_contribution_at))), '-'),
			' last_c=', ifNull(toString(toDateTime(max(last_contribution_at))), '-'))
		FROM identity_lifetimes AS l
		INNER JOIN (SELECT DISTINCT cityHash64(community, identity) AS k, identity FROM activities_raw) AS i
			ON i.k = dictGetOrDefault('identity_member_dict', 'member_key', l.identity_key, l.identity_key)
		GROUP BY community, i.identity`)...)
	out = append(out, rowsOf(t, conn, `SELECT concat('item ', community, ' ', thread_id, ' ', item_type, ' ', opener, ' ', toString(toDate(opened_at)),
			' answered=', toString(answered), if(answered, concat(' by ', responder, ' after ', toString(response_seconds), 's'), ''))
		FROM items FINAL`)...)
	slices.Sort(out)
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.DateTime)
}
