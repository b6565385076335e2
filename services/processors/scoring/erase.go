package scoring

import "slices"

// Erase removes members for good (a person asked to be forgotten): their
// scores, roles and edges are dropped as a merge drops the merged-away
// member (the neighbours' reach loses the edges' strength), and their ids
// leave the scorer, so no snapshot written afterwards holds them. Queued
// changes are applied first: call Drain before, or the erased members'
// queued changes are lost with them. The next Drain reports the
// neighbours' changes only; nothing names an erased member again. An
// activity naming an erased id later starts a new member (the caller
// drops those).
func (s *Scorer) Erase(ids []string, now int64, seq uint64) {
	var gone []string
	for _, id := range ids {
		if _, ok := s.index[id]; ok {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return
	}
	s.Rebuild(Rebuild{Forget: gone, Now: now, Seq: seq, Detail: "erased"})
	erased := map[uint32]bool{}
	for _, id := range gone {
		erased[s.index[id]] = true
	}
	for _, p := range s.parts {
		p.changes = slices.DeleteFunc(p.changes, func(c change) bool { return erased[c.m] })
		p.roleChanges = slices.DeleteFunc(p.roleChanges, func(c roleChange) bool { return erased[c.m] })
		p.touched = slices.DeleteFunc(p.touched, func(i uint32) bool { return erased[i] })
		p.touchedEdges = slices.DeleteFunc(p.touchedEdges, func(k EdgeKey) bool { return erased[k.A] || erased[k.B] })
	}
	for i := range erased {
		delete(s.index, s.ids[i])
		s.ids[i] = "" // the slot stays (indexes are positions), nameless and gone
		s.bots[i/64] &^= 1 << (i % 64)
	}
}
