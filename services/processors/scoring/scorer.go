package scoring

import (
	"fmt"
	"sync"
	"time"
)

// Activity is what scoring needs of one normalized activity.
type Activity struct {
	Member string // member id
	At     int64  // occurred_at, Unix ms
	Type   string
	Weight float64
	// Targets are the members the activity interacts with directly, each
	// with its kind (reply, mention, review, assign, thank, react).
	Targets  []Target
	Thread   string // thread id; "" for none
	Bot      bool
	Teammate bool
	// Source and Channel are not kept in state; explanations group by them.
	Source, Channel string
	// Seq is the caller's tag (a stream sequence), copied into the level
	// changes the activity causes.
	Seq uint64
}

// Target is one direct interaction.
type Target struct {
	Member string
	Kind   string
}

// Reason says why a step changed.
type Reason string

const (
	ReasonActivity  Reason = "activity"  // an activity's weight
	ReasonMilestone Reason = "milestone" // a presence milestone
	ReasonDowngrade Reason = "downgrade" // the scheduled evaluation found less
)

// LevelChange is one change of a member's step (member.level_changed).
type LevelChange struct {
	Member   string
	At       int64 // Unix ms: the activity's time, or the evaluation's
	From, To uint8 // steps (0 = out of orbit)
	Reason   Reason
	// Detail explains it: the activity type and weight, the milestone.
	Detail string
	// Seq is the Seq of the activity that caused it.
	Seq uint64
}

// EdgeKey is an undirected pair of members, A < B (member indexes).
type EdgeKey struct{ A, B uint32 }

// Edge is the interactions between two members (32 bytes).
type Edge struct {
	Strength Decayed // Σ s(k)·factor^((At − k.time)/period)
	Direct   uint32
	Indirect uint32
	// First and Last are the first and last interaction, in Unix seconds.
	First, Last uint32
}

// threadDays are the members active in each thread on the newest day
// seen in a thread and the day before (indirect edges need the same day):
// two maps, so moving to a new day drops the older one at once.
type threadDays struct {
	max  int32                  // the newest day seen (days since 1970)
	days [2]map[string][]uint32 // [0]: day max, [1]: day max−1
}

func newThreadDays() threadDays {
	return threadDays{days: [2]map[string][]uint32{{}, {}}}
}

// of returns the map of day, or nil when the day is no longer kept.
func (t *threadDays) of(day int32) map[string][]uint32 {
	switch day {
	case t.max:
		return t.days[0]
	case t.max - 1:
		return t.days[1]
	}
	return nil
}

// advance moves the newest day to day (> max).
func (t *threadDays) advance(day int32) {
	if day == t.max+1 {
		t.days[1], t.days[0] = t.days[0], map[string][]uint32{}
	} else {
		t.days[1], t.days[0] = map[string][]uint32{}, map[string][]uint32{}
	}
	t.max = day
}

// each calls f for every thread and day kept.
func (t *threadDays) each(f func(thread string, day int32, parts []uint32)) {
	for k, m := range t.days {
		for thread, parts := range m {
			f(thread, t.max-int32(k), parts)
		}
	}
}

// Scorer keeps every member's scores and the reach graph of a community.
// It is not safe for concurrent use.
//
// It is split the way a stream processor is: the Scorer itself reads the
// activities in stream order and keeps what spans members (member ids and
// their indexes, who is a bot, who was in which thread today, the stream's
// clock and the downgrade schedule); it routes every change to the
// partition that owns it. Partition k owns the members whose index ≡ k
// (mod the partition count), and the edges whose lower end it owns, so
// one member's activities are applied in order by one owner. Partitions
// apply their queued changes in parallel (Drain); the numbers do not
// depend on the partition count.
type Scorer struct {
	*model
	ids     []string
	index   map[string]uint32
	bots    []uint64 // bit i: member i's activities say it is a bot
	parts   []*partition
	threads threadDays
	// newest is the newest event time seen (Unix ms): the stream's clock
	// for the downgrade schedule and the lookback of late activities.
	newest int64
	// nextEval is the next downgrade boundary (Unix ms) after newest.
	nextEval int64
	queued   int // ops queued since the last Drain
	// changes, touched and touchedEdges are what the last Drain did.
	changes      []LevelChange
	roleChanges  []RoleChange
	touched      []uint32
	touchedEdges []EdgeKey
	// matches caches the role rules each activity type counts for (before
	// target kinds).
	matches map[string]uint64
	// types interns activity type names for ops (typeIndex: name → index).
	types     []string
	typeIndex map[string]uint32
	// reachVals and reachIdx are cutReach's buffers.
	reachVals []float64
	reachIdx  []uint32
}

// NewScorer returns an empty scorer with one partition. cfg must be valid
// (Config.Validate).
func NewScorer(cfg Config) *Scorer { return NewPartitioned(cfg, 1) }

// NewPartitioned returns an empty scorer with n partitions (n ≥ 1).
func NewPartitioned(cfg Config, n int) *Scorer {
	s := &Scorer{model: newModel(cfg), index: map[string]uint32{}, threads: newThreadDays(),
		matches: map[string]uint64{}, typeIndex: map[string]uint32{}}
	s.parts = make([]*partition, max(n, 1))
	for k := range s.parts {
		s.parts[k] = &partition{model: s.model, no: uint32(k), stride: uint32(len(s.parts)), roles: map[uint32]*roleState{},
			types: &s.types}
	}
	return s
}

// Partitions is the number of partitions.
func (s *Scorer) Partitions() int { return len(s.parts) }

// PartitionOf is the partition that owns member id's scores (−1: unknown
// member). The same member always maps to the same partition.
func (s *Scorer) PartitionOf(id string) int {
	i, ok := s.index[id]
	if !ok {
		return -1
	}
	return int(i % uint32(len(s.parts)))
}

func (s *Scorer) route(i uint32, o op) {
	p := s.parts[i%uint32(len(s.parts))]
	p.ops = append(p.ops, o)
	s.queued++
}

// member returns the index of member id, adding it (first seen at at, by
// the activity with seq) if new.
func (s *Scorer) member(id string, at int64, seq uint64) uint32 {
	if i, ok := s.index[id]; ok {
		return i
	}
	i := uint32(len(s.ids))
	s.index[id] = i
	s.ids = append(s.ids, id)
	if int(i/64) == len(s.bots) {
		s.bots = append(s.bots, 0)
	}
	s.route(i, op{kind: opNew})
	if roles := s.book.appointed[id]; roles != 0 {
		s.route(i, op{kind: opAppoint, a: i, rules: roles, at: at, seq: seq})
	}
	return i
}

// typeOf interns an activity type name.
func (s *Scorer) typeOf(name string) uint32 {
	t, ok := s.typeIndex[name]
	if !ok {
		t = uint32(len(s.types))
		s.types = append(s.types, name)
		s.typeIndex[name] = t
	}
	return t
}

// ruleMatches is the role rules activity a counts for.
func (s *Scorer) ruleMatches(a Activity) uint64 {
	m, ok := s.matches[a.Type]
	if !ok {
		m = s.book.typeRules(a.Type)
		s.matches[a.Type] = m
	}
	if m&s.book.kindRules != 0 {
		m = s.book.withKinds(m, kindBits(a))
	}
	return m
}

func (s *Scorer) bot(i uint32) bool { return s.bots[i/64]&(1<<(i%64)) != 0 }

// Apply scores one activity and returns the level changes it caused (valid
// until the next call): Enqueue and Drain. Bot activities and interactions
// with bots are not scored unless Members.ScoreBots; the bot is still
// recorded as a member.
func (s *Scorer) Apply(a Activity) []LevelChange {
	s.Enqueue(a)
	return s.Drain()
}

// Enqueue routes one activity's changes to the partitions that own them;
// Drain applies them. Reads (Lookup, Edge, Counts, Each, WriteSnapshot)
// see only what was drained.
func (s *Scorer) Enqueue(a Activity) {
	s.evaluateDue(a.At, a.Seq)
	i := s.member(a.Member, a.At, a.Seq)
	if a.Bot {
		s.bots[i/64] |= 1 << (i % 64)
	} else {
		s.bots[i/64] &^= 1 << (i % 64)
	}
	o := op{kind: opActivity, a: i, at: a.At, newest: s.newest, w: a.Weight, typ: s.typeOf(a.Type),
		bot: a.Bot, teammate: a.Teammate, seq: a.Seq}
	if len(s.book.rules) > 0 {
		o.rules = s.ruleMatches(a)
	}
	s.route(i, o)
	if a.Bot && !s.cfg.Members.ScoreBots {
		return
	}
	s.interact(i, a)
}

// drainParallel is the number of queued ops from which Drain runs the
// partitions on their own goroutines.
const drainParallel = 512

// Drain applies every queued change, the partitions in parallel, and
// returns the level changes (valid until the next call; each partition's
// in stream order). RoleChanges and Touched report the rest.
func (s *Scorer) Drain() []LevelChange {
	s.changes, s.roleChanges = s.changes[:0], s.roleChanges[:0]
	s.touched, s.touchedEdges = s.touched[:0], s.touchedEdges[:0]
	s.settle()
	for _, p := range s.parts {
		for _, c := range p.changes {
			c.LevelChange.Member = s.ids[c.m]
			s.changes = append(s.changes, c.LevelChange)
		}
		for _, c := range p.roleChanges {
			c.RoleChange.Member = s.ids[c.m]
			s.roleChanges = append(s.roleChanges, c.RoleChange)
		}
		s.touched = append(s.touched, p.touched...)
		s.touchedEdges = append(s.touchedEdges, p.touchedEdges...)
		p.changes, p.touched, p.touchedEdges = p.changes[:0], p.touched[:0], p.touchedEdges[:0]
		p.roleChanges = p.roleChanges[:0]
	}
	return s.changes
}

// RoleChanges are the roles gained and lost in the last Drain (valid
// until the next call).
func (s *Scorer) RoleChanges() []RoleChange { return s.roleChanges }

// Roles returns the roles member id holds, in config order.
func (s *Scorer) Roles(id string) []string {
	i, ok := s.index[id]
	if !ok {
		return []string{}
	}
	if s.queued > 0 {
		s.settle()
	}
	p := s.parts[i%uint32(len(s.parts))]
	if st := p.roles[i]; st != nil {
		return s.book.set(st.held)
	}
	return []string{}
}

// RoleRules are the role rules, in config order.
func (s *Scorer) RoleRules() []RoleRule { return s.book.rules }

// settle runs every partition's queued ops; what they change stays in
// the partitions until Drain collects it.
func (s *Scorer) settle() {
	if len(s.parts) > 1 && s.queued >= drainParallel {
		var wg sync.WaitGroup
		for _, p := range s.parts {
			wg.Go(p.run)
		}
		wg.Wait()
	} else {
		for _, p := range s.parts {
			p.run()
		}
	}
	s.queued = 0
}

func milestoneDetail(ms milestone, step uint8) string {
	n := step - ms.base + 1
	unit := [...]string{"week", "month", "quarter"}[ms.p]
	if n == 1 {
		return fmt.Sprintf("active on ≥%d days in a %s", ms.need, unit)
	}
	return fmt.Sprintf("active on ≥%d days in a %s, %d %ss in a row", ms.need, unit, n, unit)
}

// interact routes the activity's direct and indirect edges.
func (s *Scorer) interact(i uint32, a Activity) {
	for _, t := range a.Targets {
		if t.Member == "" || t.Member == a.Member {
			continue
		}
		j := s.member(t.Member, a.At, a.Seq)
		if s.bot(j) && !s.cfg.Members.ScoreBots {
			continue
		}
		s.connect(i, j, s.cfg.Reach.Direct[t.Kind], a.At, true)
	}
	if a.Thread == "" || s.cfg.Reach.Indirect == 0 {
		return
	}
	day := dayOf(a.At)
	if day > s.threads.max {
		s.threads.advance(day)
	}
	byThread := s.threads.of(day)
	if byThread == nil {
		return // too late for the thread's day: indirect edges are same-day only
	}
	parts := byThread[a.Thread]
	for _, p := range parts {
		if p == i {
			return
		}
	}
	if len(parts) >= s.cfg.Reach.MaxThreadParticipants {
		return
	}
	for _, p := range parts {
		s.connect(i, p, s.cfg.Reach.Indirect, a.At, false)
	}
	byThread[a.Thread] = append(parts, i)
}

// connect routes an interaction: the edge to the owner of its lower end,
// and reach to both members' owners. Reach is the decayed sum of every
// interaction of the member, which is the sum of its edges' strengths:
// kept in O(1) as well.
func (s *Scorer) connect(i, j uint32, strength float64, at int64, direct bool) {
	k := EdgeKey{min(i, j), max(i, j)}
	s.route(k.A, op{kind: opEdge, a: k.A, b: k.B, w: strength, at: at, direct: direct})
	s.route(i, op{kind: opReach, a: i, w: strength, at: at})
	s.route(j, op{kind: opReach, a: j, w: strength, at: at})
}

// boundary is the start (Unix ms) of the downgrade period containing t.
func (s *Scorer) boundary(t int64) int64 {
	tt := time.UnixMilli(t).UTC()
	var b time.Time
	switch s.cfg.Schedule.Downgrades {
	case "daily":
		b = time.Date(tt.Year(), tt.Month(), tt.Day(), 0, 0, 0, 0, time.UTC)
	case "weekly":
		d := time.Date(tt.Year(), tt.Month(), tt.Day(), 0, 0, 0, 0, time.UTC)
		b = d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	default:
		b = time.Date(tt.Year(), tt.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return b.UnixMilli()
}

// evaluateDue runs the scheduled downgrade evaluation when event time t
// enters a new period: the schedule follows the stream, not the wall
// clock, so a replay evaluates at the same points.
func (s *Scorer) evaluateDue(t int64, seq uint64) {
	if t <= s.newest {
		return
	}
	if s.newest != 0 && t >= s.nextEval {
		s.downgradeAt(s.boundary(t), seq)
	}
	if s.newest != 0 && len(s.book.rules) > 0 && dayOf(t) > dayOf(s.newest) {
		s.evaluateRolesAt(int64(dayOf(t))*msPerDay, seq)
	}
	s.newest = t
	if t >= s.nextEval {
		s.nextEval = s.next(t)
	}
}

// next is the first downgrade boundary after t.
func (s *Scorer) next(t int64) int64 {
	b := time.UnixMilli(s.boundary(t)).UTC()
	switch s.cfg.Schedule.Downgrades {
	case "daily":
		return b.AddDate(0, 0, 1).UnixMilli()
	case "weekly":
		return b.AddDate(0, 0, 7).UnixMilli()
	}
	return b.AddDate(0, 1, 0).UnixMilli()
}

// Downgrade evaluates every member at time at: the step becomes what the
// lookback window ending the day before at supports, if that is lower
// (upgrades happened as activities came). Members with nothing in the
// window go out of orbit. It drains what is queued and returns the changes.
func (s *Scorer) Downgrade(at int64) []LevelChange {
	s.downgradeAt(at, 0)
	return s.Drain()
}

// evaluateRolesAt queues the daily evaluation of roles at time at. On
// the reach cut's schedule the partitions settle first and the reach each
// top share needs is computed.
func (s *Scorer) evaluateRolesAt(at int64, seq uint64) {
	full := len(s.book.reachTops) > 0 && (s.cfg.Schedule.ReachCut == "daily" || (dayOf(at)+3)%7 == 0) // Mondays
	if full {
		s.settle()
		cut := s.cutReach(at)
		for _, p := range s.parts {
			p.reachCut = cut
		}
	}
	for k := range s.parts {
		s.route(uint32(k), op{kind: opRoles, at: at, seq: seq, direct: full})
	}
}

func (s *Scorer) downgradeAt(at int64, seq uint64) {
	for k := range s.parts {
		s.route(uint32(k), op{kind: opDowngrade, at: at, seq: seq})
	}
}

// Touched calls f with the id of every member the last Drain changed (the
// actors, the members they interacted with, directly or in a thread; a
// member may come more than once), and g with every edge it changed.
// Downgrades are reported by the level changes instead.
func (s *Scorer) Touched(f func(id string), g func(a, b string)) {
	for _, i := range s.touched {
		f(s.ids[i])
	}
	for _, k := range s.touchedEdges {
		g(s.ids[k.A], s.ids[k.B])
	}
}

// Newest is the newest activity time enqueued (Unix ms): the stream's clock.
func (s *Scorer) Newest() int64 { return s.newest }

// at returns member i's scores.
func (s *Scorer) at(i uint32) *Member { return s.parts[i%uint32(len(s.parts))].member(i) }

// Lookup returns the member with id, or nil. Changes still queued are
// applied first (a member only enqueued has no slot yet).
func (s *Scorer) Lookup(id string) *Member {
	i, ok := s.index[id]
	if !ok {
		return nil
	}
	if s.queued > 0 {
		s.settle()
	}
	return s.at(i)
}

// Known reports whether member id was seen (as actor or target).
func (s *Scorer) Known(id string) bool {
	_, ok := s.index[id]
	return ok
}

// LoveAt is a member's love as of t.
func (s *Scorer) LoveAt(m *Member, t int64) float64 { return m.Love.at(s.love, t) }

// ReachAt is a member's reach as of t.
func (s *Scorer) ReachAt(m *Member, t int64) float64 { return m.Reach.at(s.reach, t) }

// StrengthAt is an edge's strength as of t.
func (s *Scorer) StrengthAt(e *Edge, t int64) float64 { return e.Strength.at(s.reach, t) }

// Edge returns (a copy of) the edge between two members, or nil.
func (s *Scorer) Edge(a, b string) *Edge {
	i, ok1 := s.index[a]
	j, ok2 := s.index[b]
	if !ok1 || !ok2 {
		return nil
	}
	if s.queued > 0 {
		s.settle()
	}
	k := EdgeKey{min(i, j), max(i, j)}
	e := s.parts[k.A%uint32(len(s.parts))].edges.get(k)
	if e == nil {
		return nil
	}
	c := *e
	return &c
}

// Len is the number of members.
func (s *Scorer) Len() int { return len(s.ids) }

// Edges is the number of edges.
func (s *Scorer) Edges() int {
	n := 0
	for _, p := range s.parts {
		n += p.edges.n
	}
	return n
}

// Each calls f for every member in the order they were first seen.
func (s *Scorer) Each(f func(id string, m *Member) bool) {
	for i, id := range s.ids {
		if !f(id, s.at(uint32(i))) {
			return
		}
	}
}
