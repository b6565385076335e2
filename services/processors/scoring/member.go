package scoring

import (
	"math"
	"math/bits"
)

const msPerDay = 24 * 60 * 60 * 1000

// decay is an exponential decay with its log precomputed.
type decay struct {
	lnFactor float64 // ln(factor)
	periodMs float64
}

func newDecay(c DecayConfig) decay {
	return decay{lnFactor: math.Log(c.Factor), periodMs: float64(c.Period.Milliseconds())}
}

// over returns factor^(dtMs/period); dtMs may be negative.
func (d decay) over(dtMs int64) float64 {
	if dtMs == 0 {
		return 1
	}
	return math.Exp(d.lnFactor * float64(dtMs) / d.periodMs)
}

// Decayed is a decayed sum kept in O(1): Value is the sum as of At (Unix
// ms). Adding a term at time t moves At forward to t (older terms decay),
// or, for a term older than At, adds the term's decayed value; either way
// the result is Σ w·factor^((At − t)/period).
type Decayed struct {
	Value float64
	At    int64
}

func (s *Decayed) add(d decay, w float64, t int64) {
	switch {
	case s.At == 0 && s.Value == 0:
		s.Value, s.At = w, t
	case t >= s.At:
		s.Value = s.Value*d.over(t-s.At) + w
		s.At = t
	default:
		s.Value += w * d.over(s.At-t)
	}
}

// at is the sum as of t (t ≥ At decays it; earlier t is not supported and
// returns the stored value).
func (s Decayed) at(d decay, t int64) float64 {
	if t <= s.At {
		return s.Value
	}
	return s.Value * d.over(t-s.At)
}

// bitmapDays is how many days of activity a member keeps (a ring of bits):
// enough for presence (90 days) and for every milestone inside the lookback.
const bitmapDays = 640

// Member is one member's scores in compact form (~180 bytes): love, reach,
// the active-day bitmap behind presence and milestones, the last day of
// each activity weight, and the level state.
type Member struct {
	Love  Decayed
	Reach Decayed
	// First and Last are the earliest and latest activity times (Unix ms).
	First, Last int64
	// days is a ring of active days: bit (day % bitmapDays) is set when the
	// member was active that day, for days in (lastDay − bitmapDays, lastDay].
	days    [bitmapDays / 64]uint64
	lastDay int32
	// weightDay[w−1] is the last day (days since 1970, 0 = never) an
	// activity of weight w happened.
	weightDay [12]uint16
	// Step is the orbit step 1–12 (0 = out of orbit); see Level.
	Step uint8
	// Bot and Teammate as last reported by the member's activities.
	Bot, Teammate bool
	// hasRoles: the partition keeps a roleState for the member.
	hasRoles bool
	// periodStep is the step held at the start of the current movement
	// period (Scorer.Movement).
	periodStep uint8
	// gone: an identity merge took the member into another (Scorer.Rebuild).
	gone bool
}

func dayOf(ms int64) int32 { return int32(floorDiv(ms, msPerDay)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// active reports whether the member was active on day (false outside the
// bitmap's window).
func (m *Member) active(day int32) bool {
	if day > m.lastDay || day <= m.lastDay-bitmapDays || day < 0 {
		return false
	}
	i := int(day % bitmapDays)
	return m.days[i/64]&(1<<(i%64)) != 0
}

// markDay records activity on day; it returns false when the day was
// already known (or too old to keep).
func (m *Member) markDay(day int32) bool {
	if day < 0 {
		return false
	}
	if m.lastDay == 0 && m.days == [bitmapDays / 64]uint64{} {
		m.lastDay = day
	}
	if day > m.lastDay {
		// Advance the ring: forget the days that fall out of the window.
		if day-m.lastDay >= bitmapDays {
			m.days = [bitmapDays / 64]uint64{}
		} else {
			for d := m.lastDay + 1; d <= day; d++ {
				i := int(d % bitmapDays)
				m.days[i/64] &^= 1 << (i % 64)
			}
		}
		m.lastDay = day
	}
	if day <= m.lastDay-bitmapDays {
		return false
	}
	i := int(day % bitmapDays)
	if m.days[i/64]&(1<<(i%64)) != 0 {
		return false
	}
	m.days[i/64] |= 1 << (i % 64)
	return true
}

// count is the number of active days in [from, to].
func (m *Member) count(from, to int32) int {
	lo := max(from, m.lastDay-bitmapDays+1, 0)
	hi := min(to, m.lastDay)
	n := 0
	for d := lo; d <= hi; {
		i := int(d % bitmapDays)
		w, b := i/64, i%64
		// Take the rest of this word, bounded by hi and the ring's end.
		span := min(64-b, int(hi-d)+1, bitmapDays-i)
		mask := uint64(math.MaxUint64)
		if span < 64 {
			mask = (1 << span) - 1
		}
		n += bits.OnesCount64((m.days[w] >> b) & mask)
		d += int32(span)
	}
	return n
}

// Presence is how often and how recently a member shows up.
type Presence struct {
	Days7, Days30, Days90 int
	// DaysSinceLast is the days since the last activity (−1: never).
	DaysSinceLast int
	// WeeklyBaseline is the member's usual active days per week over the
	// last 90 days: their own yardstick.
	WeeklyBaseline float64
}

// PresenceAt returns presence as of the day of t (Unix ms).
func (m *Member) PresenceAt(t int64) Presence {
	if m.Last == 0 && m.First == 0 {
		return Presence{DaysSinceLast: -1}
	}
	day := dayOf(t)
	p := Presence{
		Days7:         m.count(day-6, day),
		Days30:        m.count(day-29, day),
		Days90:        m.count(day-89, day),
		DaysSinceLast: int(day - dayOf(m.Last)),
	}
	p.WeeklyBaseline = float64(p.Days90) / (90.0 / 7.0)
	return p
}

// Level is the orbit level of a step: 1 Leading (10–12), 2 Contributing
// (7–9), 3 Participating (4–6), 4 Exploring (1–3), 0 out of orbit.
func Level(step uint8) uint8 {
	switch {
	case step == 0:
		return 0
	case step >= 10:
		return 1
	case step >= 7:
		return 2
	case step >= 4:
		return 3
	}
	return 4
}

// StepName is the v3 name of a step, e.g. "Contributing II".
func StepName(step uint8) string {
	if step == 0 {
		return "out of orbit"
	}
	names := [...]string{"", "Leading", "Contributing", "Participating", "Exploring"}
	return names[Level(step)] + " " + [...]string{"III", "II", "I"}[(step-1)%3]
}

// weightStep is the step an activity weight reaches: its rounded value,
// 1–12 (weights under 0.5 reach none).
func weightStep(w float64) uint8 {
	r := math.Round(w)
	switch {
	case r < 1:
		return 0
	case r > 12:
		return 12
	}
	return uint8(r)
}

// period is a calendar period kind for milestones.
type period int

const (
	week period = iota
	month
	quarter
)

// bounds returns the first and last day of the period containing day, in
// integer arithmetic (it runs for every new active day).
func (p period) bounds(day int32) (int32, int32) {
	switch p {
	case week: // ISO: Monday to Sunday; 1970-01-01 was a Thursday
		wd := (day + 3) % 7
		if wd < 0 {
			wd += 7
		}
		return day - wd, day - wd + 6
	case month:
		y, m, _ := civil(day)
		first := days(y, m, 1)
		ny, nm := y, m+1
		if nm > 12 {
			ny, nm = y+1, 1
		}
		return first, days(ny, nm, 1) - 1
	}
	y, m, _ := civil(day)
	qm := (m-1)/3*3 + 1
	ny, nm := y, qm+3
	if nm > 12 {
		ny, nm = y+1, nm-12
	}
	return days(y, qm, 1), days(ny, nm, 1) - 1
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func civil(z int32) (y, m, d int32) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// days converts a proleptic Gregorian date to days since 1970-01-01.
func days(y, m, d int32) int32 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// milestone describes one presence milestone family.
type milestone struct {
	p    period
	need int   // active days the period needs
	base uint8 // step of one qualifying period (4, 7, 10); 2 and 3 in a row add 1 and 2
}

func (s *model) milestones() [3]milestone {
	l := s.cfg.Levels
	return [3]milestone{{week, l.WeekDays, 4}, {month, l.MonthDays, 7}, {quarter, l.QuarterDays, 10}}
}

// reachedOn returns the day a period's milestone was reached (the day its
// active-day count hit need), or −1 if it was not.
func (m *Member) reachedOn(from, to int32, need int) int32 {
	n := 0
	for d := max(from, m.lastDay-bitmapDays+1); d <= min(to, m.lastDay); d++ {
		if m.active(d) {
			n++
			if n == need {
				return d
			}
		}
	}
	return -1
}

// milestoneAround is the highest step that the periods around day (the
// streak through day's period) reach, for an activity on day: upgrades
// apply at once.
func (m *Member) milestoneAround(ms milestone, day int32) uint8 {
	from, to := ms.p.bounds(day)
	if m.count(from, to) < ms.need {
		return 0
	}
	streak := 1
	// Consecutive qualifying periods before and after (after: the day may
	// be late, filling a gap in an existing run).
	for f := from - 1; streak < 3; {
		pf, pt := ms.p.bounds(f)
		if m.count(pf, pt) < ms.need {
			break
		}
		streak++
		f = pf - 1
	}
	for t := to + 1; streak < 3 && t <= m.lastDay; {
		pf, pt := ms.p.bounds(t)
		if m.count(pf, pt) < ms.need {
			break
		}
		streak++
		t = pt + 1
	}
	return ms.base + uint8(streak-1)
}

// milestoneWithin is the highest milestone step reached on a day in
// [since, until]: the full evaluation of a scheduled downgrade.
func (m *Member) milestoneWithin(ms milestone, since, until int32) uint8 {
	best := uint8(0)
	streak := 0
	start := max(m.lastDay-bitmapDays+1, 0)
	for d := start; d <= until; {
		from, to := ms.p.bounds(d)
		on := int32(-1)
		if m.count(from, to) >= ms.need { // cheap popcounts first
			on = m.reachedOn(from, to, ms.need)
		}
		if on >= 0 && on <= until {
			streak++
			if on >= since {
				best = max(best, ms.base+uint8(min(streak, 3)-1))
			}
		} else {
			streak = 0
		}
		d = to + 1
	}
	return best
}

// stepWithin is the step a member holds on day until, counting only what
// happened in [since, until]: the highest activity weight and the highest
// milestone.
func (s *model) stepWithin(m *Member, since, until int32) (step uint8, byMilestone bool) {
	for w := 12; w >= 1; w-- {
		if d := int32(m.weightDay[w-1]); d != 0 && d >= since && d <= until {
			step = uint8(w)
			break
		}
	}
	// Highest family first; nothing can beat the step the member holds.
	ms := s.milestones()
	for i := len(ms) - 1; i >= 0 && step < m.Step; i-- {
		if step >= ms[i].base+2 {
			break
		}
		if st := m.milestoneWithin(ms[i], since, until); st > step {
			step, byMilestone = st, true
		}
	}
	return step, byMilestone
}
