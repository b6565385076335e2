package scoring

import (
	"fmt"
	"time"
)

// model is what every part of a scorer reads and never changes: the config
// and the decays derived from it.
type model struct {
	cfg      Config
	love     decay
	reach    decay
	lookback int32 // days
	book     roleBook
}

func newModel(cfg Config) *model {
	return &model{cfg: cfg, love: newDecay(cfg.Love), reach: newDecay(cfg.Reach.Decay),
		lookback: int32(cfg.Levels.Lookback / (24 * time.Hour)), book: newRoleBook(cfg.Roles)}
}

// opKind is what an op does to a partition.
type opKind uint8

const (
	opNew       opKind = iota // a member was first seen: its slot
	opActivity                // the member's own activity: love, presence, steps
	opReach                   // an interaction adds to the member's reach
	opEdge                    // an interaction adds to an edge the partition owns
	opDowngrade               // the scheduled evaluation at time at
	opAppoint                 // the member gains the appointed roles in rules
	opRoles                   // the periodic evaluation of roles (direct: with a new reach cut)
)

// op is one change routed to the partition that owns its member (or edge).
type op struct {
	kind          opKind
	direct        bool // opEdge: a direct interaction (else indirect)
	bot, teammate bool // opActivity
	a, b          uint32
	at            int64
	newest        int64 // opActivity: the stream's clock, for the lookback
	w             float64
	typ           uint32 // opActivity: the activity type, an index into types
	seq           uint64
	rules         uint64 // opActivity: the role rules it counts for; opAppoint: the roles
}

// change is a level change of member m, before its id is filled in.
type change struct {
	m uint32
	LevelChange
}

// partition owns the members whose index ≡ no (mod stride), at slot
// index/stride, and the edges whose lower end it owns. It applies its ops
// in the order they were routed, which is stream order: one member's
// activities are applied in order by one owner.
type partition struct {
	*model
	no, stride uint32
	// types are the activity type names ops refer to (the Scorer's; it
	// only appends between runs). Ops hold no strings: less for the
	// garbage collector to scan.
	types        *[]string
	members      []Member
	edges        edgeTable // keyed by member index
	ops          []op
	changes      []change
	touched      []uint32
	touchedEdges []EdgeKey
	roles        map[uint32]*roleState // members with roles or rule counts
	roleChanges  []roleChange
	reachCut     reachCut // set by the Scorer between runs
	candidates   []uint32 // set by the Scorer between runs: see evaluateAll
	windowed     []uint32 // members with activities counting for a rule, in index order of listing
}

func (p *partition) member(i uint32) *Member { return &p.members[i/p.stride] }

// run applies the queued ops.
func (p *partition) run() {
	for i := range p.ops {
		o := &p.ops[i]
		switch o.kind {
		case opNew:
			// Indexes are handed out in order, so a new slot is the next one.
			p.members = append(p.members, Member{})
		case opActivity:
			p.activity(o)
		case opReach:
			p.touched = append(p.touched, o.a)
			p.member(o.a).Reach.add(p.reach, o.w, o.at)
		case opEdge:
			p.edge(o)
		case opDowngrade:
			p.downgrade(o.at, o.seq)
		case opAppoint:
			p.appoint(o.a, o.rules, o.at, o.seq)
		case opRoles:
			p.evaluateAll(o.at, o.seq, o.direct)
		}
	}
	p.ops = p.ops[:0]
}

func (p *partition) activity(o *op) {
	p.touched = append(p.touched, o.a)
	m := p.member(o.a)
	m.Bot, m.Teammate = o.bot, o.teammate
	if m.First == 0 || o.at < m.First {
		m.First = o.at
	}
	m.Last = max(m.Last, o.at)
	if o.bot && !p.cfg.Members.ScoreBots {
		return
	}
	m.Love.add(p.love, o.w, o.at)
	day := dayOf(o.at)
	from := m.Step
	step, reason, detail := from, ReasonActivity, ""
	if ws := weightStep(o.w); ws > 0 {
		if day > 0 && uint16(day) > m.weightDay[ws-1] {
			m.weightDay[ws-1] = uint16(day)
		}
		if ws > step && day > dayOf(o.newest)-p.lookback {
			step, detail = ws, fmt.Sprintf("%s (weight %g)", (*p.types)[o.typ], o.w)
		}
	}
	if m.markDay(day) && day > dayOf(o.newest)-p.lookback {
		for _, ms := range p.milestones() {
			if st := m.milestoneAround(ms, day); st > step {
				step, reason, detail = st, ReasonMilestone, milestoneDetail(ms, st)
			}
		}
	}
	if step > from {
		m.Step = step
		p.changes = append(p.changes, change{o.a, LevelChange{At: o.at, From: from, To: step, Reason: reason, Detail: detail, Seq: o.seq}})
	}
	// Roles: an activity can only bring a gain, through a rule it counts
	// for or a higher step (losses come with time: evaluateAll).
	if len(p.book.rules) > 0 && (o.rules != 0 || step > from) {
		if o.rules != 0 {
			p.countForRoles(o.a, o.rules, o.at)
		}
		p.evaluateRoles(o.a, m, o.newest, o.seq)
	}
}

func (p *partition) edge(o *op) {
	k := EdgeKey{o.a, o.b}
	p.touchedEdges = append(p.touchedEdges, k)
	e, added := p.edges.upsert(k)
	sec := uint32(max(floorDiv(o.at, 1000), 0))
	if added {
		e.First, e.Last = sec, sec
	}
	e.Strength.add(p.reach, o.w, o.at)
	e.First, e.Last = min(e.First, sec), max(e.Last, sec)
	if o.direct {
		e.Direct++
	} else {
		e.Indirect++
	}
}

// downgrade evaluates the partition's members at time at: the step becomes
// what the lookback window ending the day before at supports, if that is
// lower (upgrades happened as activities came). Members with nothing in
// the window go out of orbit.
func (p *partition) downgrade(at int64, seq uint64) {
	until := dayOf(at) - 1
	since := until - p.lookback + 1
	for slot := range p.members {
		m := &p.members[slot]
		if m.Step == 0 {
			continue
		}
		step, _ := p.stepWithin(m, since, until)
		if step < m.Step {
			p.changes = append(p.changes, change{uint32(slot)*p.stride + p.no, LevelChange{At: at, From: m.Step, To: step, Reason: ReasonDowngrade,
				Detail: fmt.Sprintf("the %d days before %s support %s", p.lookback, time.UnixMilli(at).UTC().Format(time.DateOnly), StepName(step)),
				Seq:    seq}})
			m.Step = step
			if len(p.book.rules) > 0 {
				p.evaluateRoles(uint32(slot)*p.stride+p.no, m, at, seq)
			}
		}
	}
}
