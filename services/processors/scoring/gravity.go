package scoring

// LevelCounts is the number of members per level: index 1 Leading, 2
// Contributing, 3 Participating, 4 Exploring (0: out of orbit, not counted).
type LevelCounts [5]int

// Members is the number of members in orbit.
func (c LevelCounts) Members() int { return c[1] + c[2] + c[3] + c[4] }

// WeightedCommitment is Σ over levels weight(level)² · members in it.
func (g GravityConfig) WeightedCommitment(c LevelCounts) float64 {
	w := [5]float64{0, g.Leading, g.Contributing, g.Participating, g.Exploring}
	sum := 0.0
	for l := 1; l <= 4; l++ {
		sum += w[l] * w[l] * float64(c[l])
	}
	return sum
}

// Gravity is the rate at which involvement changes between two periods:
// (weighted commitment now − before) / members now. Zero members: 0.
func Gravity(before, now float64, members int) float64 {
	if members == 0 {
		return 0
	}
	return (now - before) / float64(members)
}

// Counts returns the members per level, leaving out bots (unless scored)
// and, when withTeammates is false, teammates (community figures exclude
// them).
func (s *Scorer) Counts(withTeammates bool) LevelCounts {
	var c LevelCounts
	for _, p := range s.parts {
		for i := range p.members {
			m := &p.members[i]
			if (m.Bot && !s.cfg.Members.ScoreBots) || (m.Teammate && !withTeammates) {
				continue
			}
			c[Level(m.Step)]++
		}
	}
	c[0] = 0
	return c
}
