package orbit

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/schemas/events"
	"github.com/orbitflow/orbitflow/schemas/subjects"
	"github.com/orbitflow/orbitflow/services/kit/bus"
	"github.com/orbitflow/orbitflow/services/kit/graph"
	"github.com/orbitflow/orbitflow/services/kit/kittest"
	"github.com/orbitflow/orbitflow/services/kit/store"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
	"github.com/orbitflow/orbitflow/services/processors/scoring"
)

func TestMain(m *testing.M) { kittest.Main(m) }

// testSalt keys e-mail hashes and tombstones in these tests.
var testSalt = events.MustSalt("orbitflow-test-salt-0123456789")

type env struct {
	t   *testing.T
	js  jetstream.JetStream
	ch  driver.Conn
	evs []events.Event
	// next is the time of the next event publish puts on the stream.
	next time.Time
}

func newEnv(t *testing.T) *env {
	b := kittest.Bus(t)
	ch := kittest.ClickHouseConn(t)
	_, err := store.Migrate(context.Background(), ch, telemetry.Nop().Logger)
	require.NoError(t, err)
	return &env{t: t, js: b.JetStream(), ch: ch}
}

// publish puts n events of two communities on the stream: issues, comments
// replying to other members, in threads, over 100 days; a later call goes
// on where the last stopped (ids and times), whatever its n.
func (e *env) publish(n int) {
	ctx := context.Background()
	p := bus.NewPublisher(e.js)
	reg := events.DefaultRegistry()
	start := e.next
	if start.IsZero() {
		start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	step := 100 * 24 * time.Hour / time.Duration(n)
	// Each call is a backfill received after its last event: an event that
	// occurred more than events.MaxFutureSkew after its received_at is
	// invalid, and the processor skips it (the sink dead-letters it).
	received := start.Add(time.Duration(n) * step)
	from := len(e.evs)
	for i := from; i < from+n; i++ {
		actor := i * 7919 % 300
		ev := events.Event{
			ID: fmt.Sprintf("e-%d", i), SchemaVersion: 1, Community: []string{"acme", "beta"}[i%2], Source: "github",
			Type:       "github.issue.opened",
			OccurredAt: events.NewTimestamp(start.Add(time.Duration(i-from) * step)),
			ReceivedAt: events.NewTimestamp(received),
			Actor:      events.Actor{Source: "github", SourceID: fmt.Sprint(actor), Username: fmt.Sprintf("user%d", actor)},
			ThreadID:   fmt.Sprintf("t%d", i%40),
			Channel:    []string{"dev", "help", "news"}[i%3],
		}
		if i%3 == 1 {
			ev.Type = "github.issue.commented"
			ev.Targets = []events.Target{{Source: "github", SourceID: fmt.Sprint((actor + 11) % 300), Kind: "reply"}}
		}
		if i%7 == 3 {
			ev.Type = "github.pull_request.opened"
		}
		if i%5 == 2 {
			ev.Targets = append(ev.Targets, events.Target{Source: "github", SourceID: "login:user7", Kind: "mention"})
		}
		// The expectation scores every published event: each must be one
		// the processor scores too.
		require.NoError(e.t, reg.Validate(&ev), "publish made an event the processor skips")
		e.evs = append(e.evs, ev)
		data, err := events.Encode(&ev)
		require.NoError(e.t, err)
		m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.ID)
		require.NoError(e.t, p.Publish(ctx, m, nil))
	}
	require.NoError(e.t, p.Flush(ctx))
	e.next = received
}

func (e *env) start(cfg Config) *Processor {
	p := New(cfg, scoring.DefaultConfig(), Deps{JS: e.js, CH: e.ch, Registry: events.DefaultRegistry(), Salt: testSalt}, telemetry.Nop())
	require.NoError(e.t, p.Start(context.Background()))
	return p
}

func (e *env) waitFor(p *Processor, seq uint64) {
	deadline := time.Now().Add(time.Minute)
	for p.Seq() < seq {
		require.True(e.t, time.Now().Before(deadline), "the processor is stuck at %d, want %d", p.Seq(), seq)
		time.Sleep(10 * time.Millisecond)
	}
}

// expected scores the published events independently, in stream order.
func (e *env) expected() (map[string]*scoring.Scorer, int) {
	x := e.expectedAll()
	return x.scorers, x.levels
}

// expectation is what an independent scorer says the tables hold.
type expectation struct {
	scorers map[string]*scoring.Scorer
	levels  int
	roles   []string // "community member role gained/lost changed_at"
	// wcs is the weighted commitment of every closed period, by
	// "community/kind/start".
	wcs map[string]float64
	// graph is "community/computed_at/member" → pagerank; moves is
	// "community/month/level" → members, up, held, down.
	graph map[string]float64
	moves map[string][4]int
	// segments is "community/kind/start/segment" → weighted commitment.
	segments map[string]float64
	// structure is "community/computed_at" → the week's structure and its
	// bus risk (k = 1, 3, 5).
	structure map[string]structureWant
}

type structureWant struct {
	measures graph.Structure
	risk     []graph.BusRisk
}

func (e *env) expectedAll() expectation {
	changes := 0
	x := expectation{graph: map[string]float64{}, moves: map[string][4]int{}, segments: map[string]float64{},
		structure: map[string]structureWant{}}
	active := map[string]map[string]bool{} // community/kind/segment → members active in the current period
	wcs := map[string]float64{}
	current := map[string]int64{} // community/kind → current period start
	reg := events.DefaultRegistry()
	out := map[string]*scoring.Scorer{}
	seen := map[string]bool{} // community/username of actors seen so far
	for _, ev := range e.evs {
		seen[ev.Community+"/"+ev.Actor.Username] = true
		s := out[ev.Community]
		if s == nil {
			s = scoring.NewScorer(scoring.DefaultConfig())
			out[ev.Community] = s
		}
		at := ev.OccurredAt.UnixMilli()
		for _, kind := range []string{"day", "week", "month"} {
			k := ev.Community + "/" + kind
			start := periodStart(kind, at)
			if cur, ok := current[k]; ok && start > cur {
				wcs[fmt.Sprintf("%s/%d", k, cur)] = scoring.DefaultConfig().Gravity.WeightedCommitment(s.Counts(false))
				for key, ms := range active {
					if !strings.HasPrefix(key, k+"/") || len(ms) == 0 {
						continue
					}
					var counts scoring.LevelCounts
					for id := range ms {
						counts[scoring.Level(s.Lookup(id).Step)]++
					}
					counts[0] = 0
					if counts.Members() > 0 {
						x.segments[fmt.Sprintf("%s/%d/%s", k, cur, strings.TrimPrefix(key, k+"/"))] =
							scoring.DefaultConfig().Gravity.WeightedCommitment(counts)
					}
					clear(ms)
				}
				switch kind {
				case "week":
					for _, g := range s.GraphMeasures(start) {
						x.graph[fmt.Sprintf("%s/%d/%s", ev.Community, start, g.Member)] = g.PageRank
					}
					st, risk := s.Structure(start)
					x.structure[fmt.Sprintf("%s/%d", ev.Community, start)] = structureWant{st, risk}
				case "month":
					for l, m := range s.Movement(false) {
						x.moves[fmt.Sprintf("%s/%d/%d", ev.Community, cur, l)] = [4]int{m.Members, m.Up, m.Held, m.Down}
					}
				}
			}
			if cur, ok := current[k]; !ok || start > cur {
				current[k] = start
			}
		}
		for _, kind := range []string{"day", "week", "month"} {
			for _, seg := range []string{"source:" + ev.Source, "channel:" + ev.Channel} {
				key := ev.Community + "/" + kind + "/" + seg
				if active[key] == nil {
					active[key] = map[string]bool{}
				}
				active[key][ev.Actor.Identity()] = true
			}
		}
		w, _ := reg.Weight(ev.Type)
		a := scoring.Activity{Member: ev.Actor.Identity(), At: ev.OccurredAt.UnixMilli(), Type: ev.Type, Weight: w, Thread: ev.ThreadID}
		for _, t := range ev.Targets {
			id := t.Identity()
			if t.SourceID == "login:user7" && seen[ev.Community+"/user7"] {
				id = "github:7" // the reference resolves to the member who uses that name, once seen
			}
			a.Targets = append(a.Targets, scoring.Target{Member: id, Kind: t.Kind})
		}
		changes += len(s.Apply(a))
		for _, r := range s.RoleChanges() {
			x.roles = append(x.roles, fmt.Sprintf("%s %s %s %v %d", ev.Community, r.Member, r.Role, r.Gained, r.At))
		}
	}
	x.scorers, x.levels, x.wcs = out, changes, wcs
	return x
}

// check compares what ClickHouse holds with the independent scores.
func (e *env) check() {
	ctx := context.Background()
	want, wantLevels := e.expected()
	rows, err := e.ch.Query(ctx, "SELECT community, member_id, love, love_at, orbit_step, reach, roles FROM members_raw FINAL")
	require.NoError(e.t, err)
	n := 0
	for rows.Next() {
		var c, id string
		var love, reach float64
		var loveAt time.Time
		var step uint8
		var roles []string
		require.NoError(e.t, rows.Scan(&c, &id, &love, &loveAt, &step, &reach, &roles))
		require.Equal(e.t, want[c].Roles(id), roles, id)
		s := want[c]
		m := s.Lookup(id)
		require.NotNil(e.t, m, "%s/%s", c, id)
		require.InDelta(e.t, s.LoveAt(m, loveAt.UnixMilli()), love, 1e-9*math.Max(1, love), id)
		require.Equal(e.t, m.Step, step, id)
		require.Equal(e.t, m.Reach.Value, reach, id)
		n++
	}
	require.NoError(e.t, rows.Err())
	rows.Close()
	total := 0
	for _, s := range want {
		total += s.Len()
	}
	require.Equal(e.t, total, n, "one row per member")

	var edges, levels uint64
	var dupLevels int64
	require.NoError(e.t, e.ch.QueryRow(ctx, "SELECT count() FROM member_edges_raw FINAL").Scan(&edges))
	wantEdges := 0
	for _, s := range want {
		wantEdges += s.Edges()
	}
	require.EqualValues(e.t, wantEdges, edges)
	require.NoError(e.t, e.ch.QueryRow(ctx, "SELECT count() FROM level_changes FINAL").Scan(&levels))
	require.NoError(e.t, e.ch.QueryRow(ctx,
		"SELECT count() - uniqExact(community, member_id, changed_at, to_step) FROM level_changes FINAL").Scan(&dupLevels))
	require.Zero(e.t, dupLevels, "no level change twice")
	require.EqualValues(e.t, wantLevels, levels, "every level change once")

	x := e.expectedAll()
	wantWC := x.wcs
	rows, err = e.ch.Query(ctx, "SELECT community, period, period_start, weighted_commitment FROM community_gravity FINAL")
	require.NoError(e.t, err)
	got := map[string]float64{}
	for rows.Next() {
		var c, kind string
		var start time.Time
		var wc float64
		require.NoError(e.t, rows.Scan(&c, &kind, &start, &wc))
		got[fmt.Sprintf("%s/%s/%d", c, kind, start.UnixMilli())] = wc
	}
	rows.Close()
	require.Equal(e.t, wantWC, got, "one gravity row per closed period, with its weighted commitment")
	require.Greater(e.t, len(got), 100)
	var gotRoles []string
	rows, err = e.ch.Query(ctx, "SELECT community, member_id, role, change = 'gained', toUnixTimestamp64Milli(changed_at) FROM role_changes FINAL")
	require.NoError(e.t, err)
	for rows.Next() {
		var c, id, role string
		var gained bool
		var at int64
		require.NoError(e.t, rows.Scan(&c, &id, &role, &gained, &at))
		gotRoles = append(gotRoles, fmt.Sprintf("%s %s %s %v %d", c, id, role, gained, at))
	}
	rows.Close()
	require.NotEmpty(e.t, x.roles)
	require.ElementsMatch(e.t, x.roles, gotRoles, "every role change once")

	gotGraph := map[string]float64{}
	rows, err = e.ch.Query(ctx, "SELECT community, toUnixTimestamp64Milli(computed_at), member_id, pagerank FROM member_graph FINAL")
	require.NoError(e.t, err)
	for rows.Next() {
		var c, id string
		var at int64
		var pr float64
		require.NoError(e.t, rows.Scan(&c, &at, &id, &pr))
		gotGraph[fmt.Sprintf("%s/%d/%s", c, at, id)] = pr
	}
	rows.Close()
	require.NotEmpty(e.t, x.graph)
	require.Equal(e.t, len(x.graph), len(gotGraph))
	for k, v := range x.graph {
		require.InDelta(e.t, v, gotGraph[k], 1e-9*v, k)
	}
	e.checkStructure(ctx, x)
	gotMoves := map[string][4]int{}
	rows, err = e.ch.Query(ctx, "SELECT community, toInt64(toUnixTimestamp(period_start)) * 1000, level, members, moved_up, held, moved_down FROM level_movement FINAL")
	require.NoError(e.t, err)
	for rows.Next() {
		var c string
		var start int64
		var level uint8
		var m, up, held, down uint32
		require.NoError(e.t, rows.Scan(&c, &start, &level, &m, &up, &held, &down))
		gotMoves[fmt.Sprintf("%s/%d/%d", c, start, level)] = [4]int{int(m), int(up), int(held), int(down)}
	}
	rows.Close()
	require.NotEmpty(e.t, x.moves)
	require.Equal(e.t, x.moves, gotMoves, "the bottleneck table")
	gotSegs := map[string]float64{}
	rows, err = e.ch.Query(ctx, `SELECT community, period, toInt64(toUnixTimestamp(period_start)) * 1000, segment, weighted_commitment
		FROM segment_gravity FINAL WHERE members > 0`)
	require.NoError(e.t, err)
	for rows.Next() {
		var c, kind, seg string
		var start int64
		var wc float64
		require.NoError(e.t, rows.Scan(&c, &kind, &start, &seg, &wc))
		gotSegs[fmt.Sprintf("%s/%s/%d/%s", c, kind, start, seg)] = wc
	}
	rows.Close()
	require.NotEmpty(e.t, x.segments)
	require.Equal(e.t, len(x.segments), len(gotSegs), "gravity rows per segment")
	for k, v := range x.segments {
		require.Equal(e.t, v, gotSegs[k], "weighted commitment of %s", k)
	}
	var types uint64
	require.NoError(e.t, e.ch.QueryRow(ctx, "SELECT count() FROM activity_weights FINAL WHERE type = 'github.issue.opened' AND weight = 5").Scan(&types))
	require.EqualValues(e.t, 1, types)
}

// checkStructure compares community_structure with the independent
// weekly structure: one row per community and week, the same numbers.
func (e *env) checkStructure(ctx context.Context, x expectation) {
	rows, err := e.ch.Query(ctx, `SELECT community, toUnixTimestamp64Milli(computed_at), members, connected, connected_share, edges,
		density, centralization, top1_edge_share, top5_edge_share, clustering, largest_component, largest_component_share,
		toString(class), reason, bus_pairs_lost_k1, bus_pairs_lost_k3, bus_pairs_lost_k5,
		bus_largest_share_k1, bus_largest_share_k3, bus_largest_share_k5
		FROM community_structure FINAL`)
	require.NoError(e.t, err)
	defer rows.Close()
	got := map[string]structureWant{}
	for rows.Next() {
		var c, class, reason string
		var at int64
		var members, connected, largest uint32
		var edges uint64
		var m graph.Structure
		lost := make([]float64, 3)
		left := make([]float64, 3)
		require.NoError(e.t, rows.Scan(&c, &at, &members, &connected, &m.ConnectedShare, &edges, &m.Density, &m.Centralization,
			&m.Top1EdgeShare, &m.Top5EdgeShare, &m.Clustering, &largest, &m.LargestComponentShare, &class, &reason,
			&lost[0], &lost[1], &lost[2], &left[0], &left[1], &left[2]))
		m.Members, m.Connected, m.Edges, m.LargestComponent = int(members), int(connected), int(edges), int(largest)
		m.Class, m.Reason = graph.Class(class), reason
		var risk []graph.BusRisk
		for k := range lost {
			risk = append(risk, graph.BusRisk{PairShareLost: lost[k], LargestComponentShareAfter: left[k]})
		}
		got[fmt.Sprintf("%s/%d", c, at)] = structureWant{m, risk}
	}
	require.NoError(e.t, rows.Err())
	require.NotEmpty(e.t, x.structure)
	require.Equal(e.t, len(x.structure), len(got), "one structure row per community and week")
	for k, want := range x.structure {
		require.Equal(e.t, want.measures, got[k].measures, k)
		require.Len(e.t, want.risk, 3)
		for i, r := range want.risk {
			require.Equal(e.t, r.PairShareLost, got[k].risk[i].PairShareLost, "%s k=%d", k, r.K)
			require.Equal(e.t, r.LargestComponentShareAfter, got[k].risk[i].LargestComponentShareAfter, "%s k=%d", k, r.K)
		}
	}
}

func testConfig(partitions int) Config {
	c := DefaultConfig()
	c.FlushInterval, c.CheckpointInterval, c.Partitions = 20*time.Millisecond, 100*time.Millisecond, partitions
	return c
}

func TestProcessorWritesExactScores(t *testing.T) {
	e := newEnv(t)
	e.publish(6000)
	p := e.start(testConfig(3))
	e.waitFor(p, 6000)
	require.NoError(t, p.Shutdown(context.Background()))
	e.check()
}

// Events over more than a year, published in calls of different sizes (a
// later call goes on where the last stopped): the tables hold the scores of
// all of them, roles lost to their windows and downgrades included. The
// helper's events were once received before most of them occurred, so the
// processor skipped everything after the 200th day while the expectation
// scored it.
func TestProcessorScoresMoreThanAYear(t *testing.T) {
	e := newEnv(t)
	for _, n := range []int{3000, 1000, 3000, 2000} {
		e.publish(n)
	}
	require.Greater(t, e.evs[len(e.evs)-1].OccurredAt.Sub(e.evs[0].OccurredAt.Time), 399*24*time.Hour)
	p := e.start(testConfig(2))
	e.waitFor(p, 9000)
	require.NoError(t, p.Shutdown(context.Background()))
	e.check()
}

// A crash at any point neither loses nor double-applies an activity: the
// restart resumes from the checkpoint, and the tables end up as if the run
// had never stopped, whatever the partition count before and after.
func TestCrashAndRestartGiveTheSameScores(t *testing.T) {
	e := newEnv(t)
	e.publish(8000)
	p := e.start(testConfig(2))
	e.waitFor(p, 2500)
	crash(t, p)
	stopped := p.Seq()

	p2 := e.start(testConfig(5))
	require.LessOrEqual(t, p2.Seq(), stopped, "resumes from a checkpoint at or before the crash")
	e.waitFor(p2, 5500)
	crash(t, p2)

	p3 := e.start(testConfig(1))
	e.waitFor(p3, 8000)
	require.NoError(t, p3.Shutdown(context.Background()))
	e.check()

	// Started again with nothing new: nothing is applied twice.
	p3 = e.start(testConfig(4))
	require.EqualValues(t, 8000, p3.Seq())
	require.NoError(t, p3.Shutdown(context.Background()))
	e.check()
}

// crash stops p like SIGKILL: no final flush, no final checkpoint.
func crash(t *testing.T, p *Processor) {
	p.mu.Lock()
	p.abort = true
	p.mu.Unlock()
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestConfigValidation(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate("scoring"))
	c := Config{FlushInterval: time.Millisecond, CheckpointInterval: 0, ScoringFile: "/nonexistent.yaml"}
	err := c.Validate("scoring")
	require.ErrorContains(t, err, "scoring.flush_interval")
	require.ErrorContains(t, err, "scoring.checkpoint_interval")
	require.ErrorContains(t, err, "scoring.scoring_file")
	require.ErrorContains(t, err, "scoring.partitions: must be 1..256, got 0")
	require.ErrorContains(t, err, "scoring.max_segments: must be at least 1, got 0")
	c = DefaultConfig()
	c.Segments = []string{"source", "attribute:plan", "tag", "attribute:"}
	err = c.Validate("scoring")
	require.ErrorContains(t, err, `scoring.segments[2]: want source, channel or attribute:<key>, got "tag"`)
	require.ErrorContains(t, err, `scoring.segments[3]`)
	require.NotContains(t, err.Error(), "segments[1]")
}

// A star written by the stream: four members reply to h in the week of 2
// March; an activity on 10 March closes the week, and community_structure
// holds the star's structure as of Monday 9 March: 5 members in orbit, 4
// ties, density 4/10, centralization 1, a hub; without h every pair is
// lost (4 members left alone: largest group 1 of 4), without h, l1 and l2
// too (1 of 2), without all five nothing is left. The monthly view shows
// it as March's.
func TestCommunityStructureIsWrittenWeekly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pub := bus.NewPublisher(e.js)
	at := func(s string) events.Timestamp {
		ts, err := time.Parse(time.DateTime, s)
		require.NoError(t, err)
		return events.NewTimestamp(ts)
	}
	var evs []events.Event
	add := func(id, actor, typ, when, thread string, target string) {
		ev := events.Event{ID: id, SchemaVersion: 1, Community: "star", Source: "github", Type: typ, OccurredAt: at(when),
			ReceivedAt: at("2026-03-10 12:00:00"), Actor: events.Actor{Source: "github", SourceID: actor, Username: "u" + actor},
			ThreadID: thread, Channel: "dev"}
		if target != "" {
			ev.Targets = []events.Target{{Source: "github", SourceID: target, Kind: "reply"}}
		}
		evs = append(evs, ev)
	}
	add("s0", "100", "github.issue.opened", "2026-03-02 10:00:00", "t0", "")
	for i := 1; i <= 4; i++ {
		add(fmt.Sprintf("s%d", i), fmt.Sprint(100+i), "github.issue.commented", "2026-03-03 10:00:00", fmt.Sprintf("t%d", i), "100")
	}
	add("s5", "105", "github.issue.opened", "2026-03-10 10:00:00", "t5", "")
	for _, ev := range evs {
		require.NoError(t, events.DefaultRegistry().Validate(&ev))
		data, err := events.Encode(&ev)
		require.NoError(t, err)
		m := nats.NewMsg(subjects.Activity(ev.Community, ev.Source))
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, ev.ID)
		require.NoError(t, pub.Publish(ctx, m, nil))
	}
	require.NoError(t, pub.Flush(ctx))
	p := e.start(testConfig(1))
	e.waitFor(p, uint64(len(evs)))
	require.NoError(t, p.Shutdown(ctx))

	var (
		computed, class, reason                  string
		members, connected, largest              uint32
		edges                                    uint64
		share, density, central, top1, top5, clu float64
		largestShare, k1, k3, k5, l1, l3, l5     float64
	)
	require.NoError(t, e.ch.QueryRow(ctx, `SELECT toString(computed_at), members, connected, connected_share, edges, density,
		centralization, top1_edge_share, top5_edge_share, clustering, largest_component, largest_component_share, toString(class), reason,
		bus_pairs_lost_k1, bus_pairs_lost_k3, bus_pairs_lost_k5, bus_largest_share_k1, bus_largest_share_k3, bus_largest_share_k5
		FROM community_structure FINAL WHERE community = 'star'`).Scan(&computed, &members, &connected, &share, &edges, &density,
		&central, &top1, &top5, &clu, &largest, &largestShare, &class, &reason, &k1, &k3, &k5, &l1, &l3, &l5))
	require.Equal(t, "2026-03-09 00:00:00.000", computed)
	require.Equal(t, []any{uint32(5), uint32(5), 1.0, uint64(4), 0.4, 1.0, 1.0, 1.0, 0.0, uint32(5), 1.0},
		[]any{members, connected, share, edges, density, central, top1, top5, clu, largest, largestShare})
	require.Equal(t, "hub", class)
	require.Equal(t, "degree centralization 1.00 (hub from 0.50)", reason)
	require.Equal(t, []float64{1, 1, 1, 0.25, 0.5, 0}, []float64{k1, k3, k5, l1, l3, l5})

	var month string
	var rows uint64
	require.NoError(t, e.ch.QueryRow(ctx, `SELECT toString(any(month)), count() FROM community_structure_monthly WHERE community = 'star'`).Scan(&month, &rows))
	require.Equal(t, "2026-03-01", month)
	require.Equal(t, uint64(1), rows)
}
