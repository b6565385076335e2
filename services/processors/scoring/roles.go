package scoring

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/orbitflow/orbitflow/schemas/events"
)

// RoleChange is a role gained or lost (member.role_changed).
type RoleChange struct {
	Member string
	Role   string
	At     int64 // Unix ms: the activity's time, or the evaluation's
	Gained bool
	// Reason says which rule and which numbers, or the appointment.
	Reason string
	// Seq is the Seq of the activity that caused it (or that was first
	// past the daily evaluation).
	Seq uint64
}

// roleBook is the compiled role config: bit b of a member's role set is
// names[b]; the first len(rules) bits are rules, the rest appointed.
type roleBook struct {
	rules     []RoleRule
	names     []string
	kinds     []uint8 // per rule: the target kinds that count (bit per events.TargetKinds), 0 = any
	appointed map[string]uint64
	// kindRules are the rules that count only activities with targets of
	// some kinds.
	kindRules uint64
	reachTops []float64 // the distinct ReachTop shares in use
	topOf     []int     // per rule: its index in reachTops (−1: none)
}

func newRoleBook(c RolesConfig) roleBook {
	b := roleBook{rules: c.Rules, appointed: map[string]uint64{}}
	for _, r := range c.Rules {
		b.names = append(b.names, r.Name)
		var k uint8
		if r.Activities != nil {
			for _, kind := range r.Activities.TargetKinds {
				k |= 1 << slices.Index(events.TargetKinds, kind)
			}
		}
		b.kinds = append(b.kinds, k)
		if k != 0 {
			b.kindRules |= 1 << (len(b.kinds) - 1)
		}
		if r.ReachTop > 0 && !slices.Contains(b.reachTops, r.ReachTop) {
			b.reachTops = append(b.reachTops, r.ReachTop)
		}
		b.topOf = append(b.topOf, slices.Index(b.reachTops, r.ReachTop))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Appointed)) {
		bit := uint64(1) << len(b.names)
		b.names = append(b.names, name)
		for _, id := range c.Appointed[name] {
			b.appointed[id] |= bit
		}
	}
	return b
}

// typeRules returns the rules whose activity types include typ (before
// their target kinds are checked: withKinds).
func (b *roleBook) typeRules(typ string) uint64 {
	var m uint64
	for i, r := range b.rules {
		if r.Activities == nil {
			continue
		}
		for _, t := range r.Activities.Types {
			if t == typ || strings.HasSuffix(t, ".*") && strings.HasPrefix(typ, t[:len(t)-1]) {
				m |= 1 << i
				break
			}
		}
	}
	return m
}

// withKinds drops from m the rules whose target kinds the activity's
// targets (kinds, bit per events.TargetKinds) do not have.
func (b *roleBook) withKinds(m uint64, kinds uint8) uint64 {
	for i := range b.rules {
		if m&b.kindRules&(1<<i) != 0 && b.kinds[i]&kinds == 0 {
			m &^= 1 << i
		}
	}
	return m
}

// kindBits is the target kinds of an activity's targets at other members.
func kindBits(a Activity) uint8 {
	var k uint8
	for _, t := range a.Targets {
		if t.Member != "" && t.Member != a.Member {
			if i := slices.Index(events.TargetKinds, t.Kind); i >= 0 {
				k |= 1 << i
			}
		}
	}
	return k
}

// Names lists the roles in a set, in config order.
func (b *roleBook) set(bits uint64) []string {
	out := []string{}
	for i, n := range b.names {
		if bits&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// roleState is a member's roles: the set held, and for each activity
// rule the times of its newest matching activities (ascending, at most
// AtLeast).
type roleState struct {
	held  uint64
	times [][]int64
	// top: bit k is set when the member's reach was in the top share
	// reachTops[k] at the last cut.
	top uint8
	// listed: the member is in its partition's windowed list.
	listed bool
}

func (p *partition) roleState(i uint32) *roleState {
	st := p.roles[i]
	if st == nil {
		st = &roleState{times: make([][]int64, len(p.book.rules))}
		p.roles[i] = st
		p.member(i).hasRoles = true
	}
	return st
}

// countForRoles records an activity of member i at time at for the
// activity rules in rules, and lists the member for the daily evaluation.
func (p *partition) countForRoles(i uint32, rules uint64, at int64) {
	st := p.roleState(i)
	st.record(p.book.rules, rules, at)
	if !st.listed {
		st.listed = true
		p.windowed = append(p.windowed, i)
	}
}

// record keeps an activity's time for the rules it matches.
func (st *roleState) record(rules []RoleRule, match uint64, at int64) {
	for b, r := range rules {
		if match&(1<<b) == 0 {
			continue
		}
		ts := st.times[b]
		pos, _ := slices.BinarySearch(ts, at)
		if len(ts) == r.Activities.AtLeast {
			if pos == 0 {
				continue // older than every kept one
			}
			copy(ts, ts[1:pos])
			ts[pos-1] = at
			continue
		}
		st.times[b] = slices.Insert(ts, pos, at)
	}
}

// evaluateRoles compares every rule with what member i holds at now and
// records the changes.
func (p *partition) evaluateRoles(i uint32, m *Member, now int64, seq uint64) {
	var st *roleState
	if m.hasRoles {
		st = p.roles[i]
	}
	scored := !m.Bot || p.cfg.Members.ScoreBots
	for b := range p.book.rules {
		bit := uint64(1) << b
		held := st != nil && st.held&bit != 0
		holds := scored && p.holds(b, m, st, now)
		if holds == held {
			continue
		}
		why := "bots hold no roles (members.score_bots is false)"
		if scored {
			why = p.explainRule(b, m, st, now)
		}
		if st == nil {
			st = p.roleState(i)
		}
		st.held ^= bit
		p.roleChanges = append(p.roleChanges, roleChange{i, RoleChange{Role: p.book.names[b], At: now, Gained: holds,
			Reason: why, Seq: seq}})
	}
}

// holds says whether rule b holds for m at now (it runs on every activity:
// no allocation).
func (p *partition) holds(b int, m *Member, st *roleState, now int64) bool {
	r := &p.book.rules[b]
	if r.Levels != nil && !slices.Contains(r.Levels, Level(m.Step)) {
		return false
	}
	if k := p.book.topOf[b]; k >= 0 && (st == nil || st.top&(1<<k) == 0) {
		return false
	}
	if a := r.Activities; a != nil && (st == nil || countWithin(st.times[b], now, a.Within) < a.AtLeast) {
		return false
	}
	return true
}

func countWithin(ts []int64, now int64, within time.Duration) int {
	n := 0
	for _, t := range ts {
		if t > now-within.Milliseconds() && t <= now {
			n++
		}
	}
	return n
}

// explainRule says why rule b holds for m at now, or the first condition
// that fails.
func (p *partition) explainRule(b int, m *Member, st *roleState, now int64) string {
	r := &p.book.rules[b]
	var why []string
	if r.Levels != nil {
		l := Level(m.Step)
		if !slices.Contains(r.Levels, l) {
			return fmt.Sprintf("rule %s: %s is not one of its levels (%s)", r.Name, levelName(l), levelNames(r.Levels))
		}
		why = append(why, StepName(m.Step))
	}
	if r.ReachTop > 0 {
		reach := m.Reach.at(p.reach, now)
		th, _ := p.threshold(r.ReachTop, now)
		if k := p.book.topOf[b]; st == nil || st.top&(1<<k) == 0 {
			return fmt.Sprintf("rule %s: reach %.4g is not in the top %g%% (%.4g)", r.Name, reach, 100*r.ReachTop, th)
		}
		why = append(why, fmt.Sprintf("reach %.4g in the top %g%% (≥ %.4g)", reach, 100*r.ReachTop, th))
	}
	if a := r.Activities; a != nil {
		n := 0
		if st != nil {
			n = countWithin(st.times[b], now, a.Within)
		}
		if n < a.AtLeast {
			return fmt.Sprintf("rule %s: %d of %s in %s, needs %d", r.Name, n, strings.Join(a.Types, ", "), window(a.Within), a.AtLeast)
		}
		why = append(why, fmt.Sprintf("%d of %s in %s", n, strings.Join(a.Types, ", "), window(a.Within)))
	}
	return fmt.Sprintf("rule %s (%s): %s", r.Name, r.Description, strings.Join(why, "; "))
}

func window(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

func levelName(l uint8) string {
	return [...]string{"out of orbit", "Leading", "Contributing", "Participating", "Exploring"}[l]
}

func levelNames(ls []uint8) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = levelName(l)
	}
	return strings.Join(s, ", ")
}

// threshold is the reach the top share needed at the last daily
// evaluation, decayed to now.
func (p *partition) threshold(share float64, now int64) (float64, bool) {
	i := slices.Index(p.book.reachTops, share)
	if !p.reachCut.ok || i < 0 {
		return math.Inf(1), false
	}
	return p.reachCut.values[i] * p.reach.over(now-p.reachCut.at), true
}

// topBits are the top shares m's reach is in at the cut (computed with
// every partition settled at the cut's time).
func (p *partition) topBits(m *Member) uint8 {
	c := &p.reachCut
	if !c.ok || m.Reach.Value <= 0 {
		return 0
	}
	v := m.Reach.at(p.reach, c.at)
	var bits uint8
	for k, cut := range c.values {
		if v >= cut {
			bits |= 1 << k
		}
	}
	return bits
}

// reachCut is the reach each top share needed at a daily evaluation.
type reachCut struct {
	ok     bool
	at     int64
	values []float64 // per roleBook.reachTops
}

// appoint gives member i the appointed roles in bits.
func (p *partition) appoint(i uint32, bits uint64, at int64, seq uint64) {
	st := p.roleState(i)
	for b := range p.book.names {
		if bits&(1<<b) != 0 && st.held&(1<<b) == 0 {
			st.held |= 1 << b
			p.roleChanges = append(p.roleChanges, roleChange{i, RoleChange{Role: p.book.names[b], At: at, Gained: true,
				Reason: "appointed in the scoring config (roles.appointed)", Seq: seq}})
		}
	}
}

// evaluateAll is the periodic evaluation of roles that can change
// without an activity of their member: every day, those with activities
// in a rule's window (the window passes); and when the reach cut moves
// (full), also every role holder and every member the new cut may admit
// (candidates). Level losses are evaluated by the downgrade itself, gains
// by the member's activities.
func (p *partition) evaluateAll(at int64, seq uint64, full bool) {
	ids := slices.Clone(p.windowed)
	if full {
		// The reach cut moved: who is in each top share is decided here.
		for i, st := range p.roles {
			st.top = 0
			ids = append(ids, i)
		}
		for _, i := range p.candidates {
			if bits := p.topBits(p.member(i)); bits != 0 {
				p.roleState(i).top = bits
				ids = append(ids, i)
			}
		}
		p.candidates = p.candidates[:0]
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	for _, i := range ids {
		p.evaluateRoles(i, p.member(i), at, seq)
	}
	if full {
		for _, i := range ids {
			if st := p.roles[i]; st != nil && st.held == 0 && st.top == 0 && !st.listed {
				delete(p.roles, i)
				p.member(i).hasRoles = false
			}
		}
	}
	// Forget activities that left their window: they count no more.
	p.windowed = slices.DeleteFunc(p.windowed, func(i uint32) bool {
		st := p.roles[i]
		st.expire(p.book.rules, at)
		if st.windowed() {
			return false
		}
		st.listed = false
		return true
	})
}

// expire drops the activity times older than their rule's window at now.
func (st *roleState) expire(rules []RoleRule, now int64) {
	for b, ts := range st.times {
		if len(ts) == 0 {
			continue
		}
		cut := now - rules[b].Activities.Within.Milliseconds()
		k := 0
		for k < len(ts) && ts[k] <= cut {
			k++
		}
		if k == len(ts) {
			st.times[b] = nil
		} else if k > 0 {
			st.times[b] = slices.Delete(ts, 0, k)
		}
	}
}

// windowed says whether the state counts activities for a rule.
func (st *roleState) windowed() bool {
	for _, ts := range st.times {
		if len(ts) > 0 {
			return true
		}
	}
	return false
}

type roleChange struct {
	m uint32
	RoleChange
}

// cutReach computes, with every partition settled, the reach each top
// share needs as of at (the reach of the member at that rank among the
// members, bots aside, with any) and gives each partition the members at
// or above the lowest cut: the ones a reach rule may now admit.
func (s *Scorer) cutReach(at int64) reachCut {
	c := reachCut{ok: true, at: at, values: make([]float64, len(s.book.reachTops))}
	s.reachVals, s.reachIdx = s.reachVals[:0], s.reachIdx[:0]
	for _, p := range s.parts {
		for slot := range p.members {
			m := &p.members[slot]
			if m.Reach.Value > 0 && (!m.Bot || s.cfg.Members.ScoreBots) {
				s.reachVals = append(s.reachVals, m.Reach.at(s.reach, at))
				s.reachIdx = append(s.reachIdx, uint32(slot)*p.stride+p.no)
			}
		}
	}
	lowest := math.Inf(1)
	work := slices.Clone(s.reachVals)
	for i, share := range s.book.reachTops {
		c.values[i] = math.Inf(1)
		if len(work) > 0 {
			c.values[i] = nthLargest(work, max(int(math.Ceil(share*float64(len(work))))-1, 0))
		}
		lowest = min(lowest, c.values[i])
	}
	for k, v := range s.reachVals {
		if v >= lowest {
			i := s.reachIdx[k]
			p := s.parts[i%uint32(len(s.parts))]
			p.candidates = append(p.candidates, i)
		}
	}
	return c
}

// nthLargest returns the k-th largest value (k from 0), reordering vals:
// quickselect, O(n), with a median-of-three pivot.
func nthLargest(vals []float64, k int) float64 {
	lo, hi := 0, len(vals)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		a, b, c := vals[lo], vals[mid], vals[hi]
		pivot := max(min(a, b), min(max(a, b), c))
		i, j := lo, hi
		for i <= j {
			for vals[i] > pivot {
				i++
			}
			for vals[j] < pivot {
				j--
			}
			if i <= j {
				vals[i], vals[j] = vals[j], vals[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return vals[k]
		}
	}
	return vals[k]
}
