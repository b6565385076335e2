package scoring

import "slices"

// ReasonRebuild marks a step change made by an identity merge or unmerge.
const ReasonRebuild Reason = "rebuild"

// IndirectTie is two members active in the same thread on the same day;
// At is when the later of them first was (the tie's time in the stream).
type IndirectTie struct {
	A, B string
	At   int64
}

// ThreadDay is the members active in a thread on a day (days since
// 1970-01-01, UTC).
type ThreadDay struct {
	Thread  string
	Day     int32
	Members []string
}

// Rebuild describes an identity change's effect on scores: the members
// whose state is forgotten, and those rebuilt from their activities.
type Rebuild struct {
	// Forget are the member ids whose state and edges are dropped (a merge:
	// both members; an unmerge: the merged one).
	Forget []string
	// Members are the member ids rebuilt (a merge: the survivor; an
	// unmerge: both parts). A forgotten member not rebuilt is gone.
	Members []string
	// Activities are every activity by a rebuilt member, or by anyone at
	// one (Targets), before the change, in stream order, with actors and
	// targets resolved to the current members.
	Activities []Activity
	// Indirect are the same-thread, same-day ties of the rebuilt members.
	Indirect []IndirectTie
	// Threads are the participants (in the order they came, current
	// members) of the rebuilt members' threads on the days the stream
	// still ties (today and yesterday): they replace what the scorer
	// remembers of those threads, which knew the old members.
	Threads []ThreadDay
	// Now is the stream's clock; Detail says what happened (for the level
	// changes); Seq is the change's stream sequence.
	Now    int64
	Detail string
	Seq    uint64
}

// Rebuild forgets and rebuilds members from their activities, so no
// number keeps the trace of a wrong merge: love, presence and reach are
// recomputed from the activities, the step is what the activities in the
// lookback support now (as a scheduled evaluation would find), edges are
// recomputed and the neighbours' reach adjusted. Queued changes are
// applied first. The changes it makes are reported by the next Drain (a
// step change with ReasonRebuild per member; role changes; the members
// and edges it touched, removed edges included).
func (s *Scorer) Rebuild(r Rebuild) {
	s.settle()
	ids := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(r.Forget), r.Members...))))
	oldStep, oldRoles, oldPeriod := map[string]uint8{}, map[string]uint64{}, map[string]uint8{}
	forgotten := map[uint32]bool{}
	for _, id := range r.Forget {
		if i, ok := s.index[id]; ok {
			oldStep[id], oldPeriod[id] = s.at(i).Step, s.at(i).periodStep
			forgotten[i] = true
			p := s.owner(i)
			if st := p.roles[i]; st != nil {
				oldRoles[id] = st.held
			}
			p.forgetRoles(i)
		}
	}
	s.dropEdges(forgotten)
	for i := range forgotten {
		p := s.owner(i)
		*p.member(i) = Member{gone: true}
		p.touched = append(p.touched, i)
	}
	rebuilt := map[uint32]bool{}
	for _, id := range r.Members {
		i := s.memberNow(id, r.Now, r.Seq)
		s.at(i).gone = false
		s.at(i).periodStep = oldPeriod[id]
		rebuilt[i] = true
		if st := s.owner(i).roles[i]; st != nil {
			oldRoles[id] |= st.held // appointed just now
			st.held = 0
		}
	}
	for _, a := range r.Activities {
		s.replay(a, rebuilt)
	}
	for _, t := range r.Indirect {
		i, j := s.index[t.A], s.index[t.B]
		if rebuilt[i] || rebuilt[j] {
			s.tie(i, j, s.cfg.Reach.Indirect, t.At, false)
		}
	}
	for _, td := range r.Threads {
		byThread := s.threads.of(td.Day)
		if byThread == nil {
			continue
		}
		parts := make([]uint32, 0, len(td.Members))
		for _, m := range td.Members {
			parts = append(parts, s.member(m, r.Now, r.Seq))
		}
		s.settle()
		byThread[td.Thread] = parts
	}
	// Threads the rebuild did not list forget merged-away members.
	for _, byThread := range s.threads.days {
		for thread, parts := range byThread {
			byThread[thread] = slices.DeleteFunc(parts, func(i uint32) bool { return s.at(i).gone })
		}
	}
	until := dayOf(r.Now)
	for _, id := range ids {
		i := s.index[id]
		p, m := s.owner(i), s.at(i)
		var to uint8
		var held uint64
		why := map[string]string{}
		if rebuilt[i] {
			m.Step = 12 // stepWithin looks no higher than the step held
			to, _ = s.stepWithin(m, until-s.lookback+1, until)
			m.Step = to
			p.touched = append(p.touched, i)
			st := p.roleState(i)
			st.held = s.book.appointed[id]
			n := len(p.roleChanges)
			p.evaluateRoles(i, m, r.Now, r.Seq)
			for _, c := range p.roleChanges[n:] {
				why[c.Role] = c.Reason
			}
			p.roleChanges = p.roleChanges[:n]
			held = st.held
		}
		if from := oldStep[id]; from != to {
			p.changes = append(p.changes, change{i, LevelChange{At: r.Now, From: from, To: to, Reason: ReasonRebuild, Detail: r.Detail, Seq: r.Seq}})
		}
		for b, name := range s.book.names {
			was, is := oldRoles[id]&(1<<b) != 0, held&(1<<b) != 0
			if was == is {
				continue
			}
			reason := why[name]
			switch {
			case reason == "" && is:
				reason = "appointed in the scoring config (roles.appointed)"
			case !is && !rebuilt[i]:
				reason = r.Detail
			case !is:
				reason = "after " + r.Detail + ": " + p.explainRule(b, m, p.roles[i], r.Now)
			}
			p.roleChanges = append(p.roleChanges, roleChange{i, RoleChange{Role: name, At: r.Now, Gained: is, Reason: reason, Seq: r.Seq}})
		}
	}
}

// memberNow interns id like member and applies the queued ops, so that a
// new member has its slot (a rebuild works on settled partitions).
func (s *Scorer) memberNow(id string, at int64, seq uint64) uint32 {
	i := s.member(id, at, seq)
	s.settle()
	return i
}

func (s *Scorer) owner(i uint32) *partition { return s.parts[i%uint32(len(s.parts))] }

// dropEdges removes every edge of the members, taking its strength out of
// the other end's reach.
func (s *Scorer) dropEdges(members map[uint32]bool) {
	if len(members) == 0 {
		return
	}
	var drop []EdgeKey
	for _, p := range s.parts {
		for slot, key := range p.edges.keys {
			if key == 0 {
				continue
			}
			k := EdgeKey{uint32(key >> 32), uint32(key)}
			if !members[k.A] && !members[k.B] {
				continue
			}
			idx := p.edges.slots[slot]
			e := &p.edges.chunks[idx/edgeChunk][idx%edgeChunk]
			for _, end := range []uint32{k.A, k.B} {
				if !members[end] {
					q := s.owner(end)
					q.member(end).Reach.add(s.reach, -e.Strength.Value, e.Strength.At)
					q.touched = append(q.touched, end)
				}
			}
			drop = append(drop, k)
		}
	}
	for _, k := range drop {
		p := s.owner(k.A)
		p.edges.remove(k)
		p.touchedEdges = append(p.touchedEdges, k)
	}
}

// replay applies one activity of a rebuild: its actor's own part when
// the actor is rebuilt, and its direct ties that touch a rebuilt member.
func (s *Scorer) replay(a Activity, rebuilt map[uint32]bool) {
	i := s.memberNow(a.Member, a.At, a.Seq)
	if a.Bot && !s.cfg.Members.ScoreBots {
		return
	}
	if rebuilt[i] {
		p, m := s.owner(i), s.at(i)
		m.Teammate = a.Teammate
		if m.First == 0 || a.At < m.First {
			m.First = a.At
		}
		m.Last = max(m.Last, a.At)
		m.Love.add(s.love, a.Weight, a.At)
		day := dayOf(a.At)
		if ws := weightStep(a.Weight); ws > 0 && day > 0 && uint16(day) > m.weightDay[ws-1] {
			m.weightDay[ws-1] = uint16(day)
		}
		m.markDay(day)
		if rules := s.ruleMatches(a); rules != 0 {
			p.countForRoles(i, rules, a.At)
		}
	}
	for _, t := range a.Targets {
		if t.Member == "" || t.Member == a.Member {
			continue
		}
		j := s.memberNow(t.Member, a.At, a.Seq)
		if (!rebuilt[i] && !rebuilt[j]) || (s.bot(j) && !s.cfg.Members.ScoreBots) {
			continue
		}
		s.tie(i, j, s.cfg.Reach.Direct[t.Kind], a.At, true)
	}
}

// tie adds an interaction directly to settled partitions (a rebuild).
func (s *Scorer) tie(i, j uint32, strength float64, at int64, direct bool) {
	if i == j {
		return
	}
	k := EdgeKey{min(i, j), max(i, j)}
	s.owner(k.A).edge(&op{a: k.A, b: k.B, w: strength, at: at, direct: direct})
	for _, end := range []uint32{i, j} {
		p := s.owner(end)
		p.member(end).Reach.add(s.reach, strength, at)
		p.touched = append(p.touched, end)
	}
}

// forgetRoles drops a member's role state (Rebuild reports the net
// changes).
func (p *partition) forgetRoles(i uint32) {
	st := p.roles[i]
	if st == nil {
		return
	}
	delete(p.roles, i)
	if st.listed {
		p.windowed = slices.DeleteFunc(p.windowed, func(x uint32) bool { return x == i })
	}
}

// Gone reports whether member id was merged away (forgotten by a rebuild
// and not rebuilt).
func (s *Scorer) Gone(id string) bool {
	m := s.Lookup(id)
	return m != nil && m.gone
}
