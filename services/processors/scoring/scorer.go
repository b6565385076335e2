package scoring

import (
	"fmt"
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

// threadDay is the members active in one thread on one day.
type threadDay struct {
	thread string
	day    int32
}

// Scorer keeps every member's scores and the reach graph. It is not safe
// for concurrent use: a partition owns one Scorer.
type Scorer struct {
	cfg       Config
	love      decay
	reach     decay
	lookback  int32 // days
	ids       []string
	index     map[string]uint32
	members   []Member
	edges     edgeTable
	threads   map[threadDay][]uint32
	threadMax int32 // the newest day seen in threads; older entries are pruned
	changes   []LevelChange
	// newest is the newest event time seen (Unix ms): the stream's clock
	// for the downgrade schedule and the lookback of late activities.
	newest int64
	// nextEval is the next downgrade boundary (Unix ms) after newest.
	nextEval int64
	// touched are the members and edges the last Apply changed.
	touched      []uint32
	touchedEdges []EdgeKey
}

// NewScorer returns an empty scorer. cfg must be valid (Config.Validate).
func NewScorer(cfg Config) *Scorer {
	return &Scorer{
		cfg: cfg, love: newDecay(cfg.Love), reach: newDecay(cfg.Reach.Decay),
		lookback: int32(cfg.Levels.Lookback / (24 * time.Hour)),
		index:    map[string]uint32{}, threads: map[threadDay][]uint32{},
	}
}

func (s *Scorer) member(id string) uint32 {
	if i, ok := s.index[id]; ok {
		return i
	}
	i := uint32(len(s.members))
	s.index[id] = i
	s.ids = append(s.ids, id)
	s.members = append(s.members, Member{})
	return i
}

// Apply scores one activity and returns the level changes it caused (valid
// until the next call). Bot activities and interactions with bots are not
// scored unless Members.ScoreBots; the bot is still recorded as a member.
func (s *Scorer) Apply(a Activity) []LevelChange {
	s.changes = s.changes[:0]
	s.touched, s.touchedEdges = s.touched[:0], s.touchedEdges[:0]
	s.evaluateDue(a.At)
	i := s.member(a.Member)
	s.touched = append(s.touched, i)
	m := &s.members[i]
	m.Bot, m.Teammate = a.Bot, a.Teammate
	if m.First == 0 || a.At < m.First {
		m.First = a.At
	}
	m.Last = max(m.Last, a.At)
	if a.Bot && !s.cfg.Members.ScoreBots {
		return s.changes
	}
	m.Love.add(s.love, a.Weight, a.At)
	day := dayOf(a.At)
	from := m.Step
	step, reason, detail := from, ReasonActivity, ""
	if ws := weightStep(a.Weight); ws > 0 {
		if day > 0 && uint16(day) > m.weightDay[ws-1] {
			m.weightDay[ws-1] = uint16(day)
		}
		if ws > step && day > dayOf(s.newest)-s.lookback {
			step, detail = ws, fmt.Sprintf("%s (weight %g)", a.Type, a.Weight)
		}
	}
	if m.markDay(day) && day > dayOf(s.newest)-s.lookback {
		for _, ms := range s.milestones() {
			if st := m.milestoneAround(ms, day); st > step {
				step, reason, detail = st, ReasonMilestone, milestoneDetail(ms, st)
			}
		}
	}
	if step > from {
		m.Step = step
		s.changes = append(s.changes, LevelChange{Member: a.Member, At: a.At, From: from, To: step, Reason: reason, Detail: detail})
	}
	s.interact(i, a)
	return s.changes
}

func milestoneDetail(ms milestone, step uint8) string {
	n := step - ms.base + 1
	unit := [...]string{"week", "month", "quarter"}[ms.p]
	if n == 1 {
		return fmt.Sprintf("active on ≥%d days in a %s", ms.need, unit)
	}
	return fmt.Sprintf("active on ≥%d days in a %s, %d %ss in a row", ms.need, unit, n, unit)
}

// interact adds the activity's direct and indirect edges.
func (s *Scorer) interact(i uint32, a Activity) {
	for _, t := range a.Targets {
		if t.Member == "" || t.Member == a.Member {
			continue
		}
		j := s.member(t.Member)
		if s.members[j].Bot && !s.cfg.Members.ScoreBots {
			continue
		}
		s.connect(i, j, s.cfg.Reach.Direct[t.Kind], a.At, true)
	}
	if a.Thread == "" || s.cfg.Reach.Indirect == 0 {
		return
	}
	key := threadDay{a.Thread, dayOf(a.At)}
	if key.day > s.threadMax {
		s.threadMax = key.day
		s.pruneThreads()
	}
	if key.day < s.threadMax-1 {
		return // too late for the thread's day: indirect edges are same-day only
	}
	parts := s.threads[key]
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
	s.threads[key] = append(parts, i)
}

// pruneThreads forgets thread days older than yesterday (of the newest
// day seen): indirect edges need the same day.
func (s *Scorer) pruneThreads() {
	for k := range s.threads {
		if k.day < s.threadMax-1 {
			delete(s.threads, k)
		}
	}
}

func (s *Scorer) connect(i, j uint32, strength float64, at int64, direct bool) {
	k := EdgeKey{min(i, j), max(i, j)}
	s.touched = append(s.touched, i, j)
	s.touchedEdges = append(s.touchedEdges, k)
	e, added := s.edges.upsert(k)
	sec := uint32(max(floorDiv(at, 1000), 0))
	if added {
		e.First, e.Last = sec, sec
	}
	e.Strength.add(s.reach, strength, at)
	e.First, e.Last = min(e.First, sec), max(e.Last, sec)
	if direct {
		e.Direct++
	} else {
		e.Indirect++
	}
	// Reach is the decayed sum of every interaction of the member, which
	// is the sum of its edges' strengths: kept in O(1) as well.
	s.members[i].Reach.add(s.reach, strength, at)
	s.members[j].Reach.add(s.reach, strength, at)
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
func (s *Scorer) evaluateDue(t int64) {
	if t <= s.newest {
		return
	}
	if s.newest != 0 && t >= s.nextEval {
		s.Downgrade(s.boundary(t))
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
// window go out of orbit. It appends the changes to those Apply returns.
func (s *Scorer) Downgrade(at int64) []LevelChange {
	until := dayOf(at) - 1
	since := until - s.lookback + 1
	for i := range s.members {
		m := &s.members[i]
		if m.Step == 0 {
			continue
		}
		step, _ := s.stepWithin(m, since, until)
		if step < m.Step {
			s.changes = append(s.changes, LevelChange{Member: s.ids[i], At: at, From: m.Step, To: step, Reason: ReasonDowngrade,
				Detail: fmt.Sprintf("the %d days before %s support %s", s.lookback, time.UnixMilli(at).UTC().Format(time.DateOnly), StepName(step))})
			m.Step = step
		}
	}
	return s.changes
}

// Touched calls f with the id of every member the last Apply changed (its
// actor, the members it interacted with, directly or in its thread; a
// member may come more than once), and g with every edge it changed.
// Downgrades are reported by Apply's level changes instead.
func (s *Scorer) Touched(f func(id string), g func(a, b string)) {
	for _, i := range s.touched {
		f(s.ids[i])
	}
	for _, k := range s.touchedEdges {
		g(s.ids[k.A], s.ids[k.B])
	}
}

// Newest is the newest activity time applied (Unix ms): the stream's clock.
func (s *Scorer) Newest() int64 { return s.newest }

// Lookup returns the member with id, or nil.
func (s *Scorer) Lookup(id string) *Member {
	i, ok := s.index[id]
	if !ok {
		return nil
	}
	return &s.members[i]
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
	e := s.edges.get(EdgeKey{min(i, j), max(i, j)})
	if e == nil {
		return nil
	}
	c := *e
	return &c
}

// Len is the number of members.
func (s *Scorer) Len() int { return len(s.members) }

// Edges is the number of edges.
func (s *Scorer) Edges() int { return s.edges.n }

// Each calls f for every member in the order they were first seen.
func (s *Scorer) Each(f func(id string, m *Member) bool) {
	for i := range s.members {
		if !f(s.ids[i], &s.members[i]) {
			return
		}
	}
}
