package scoring

import (
	"cmp"
	"slices"
)

// Contribution is what one activity adds to love as of a time.
type Contribution struct {
	At              int64 // Unix ms
	Type            string
	Source, Channel string
	Weight          float64
	// Value is Weight · factor^((asOf − At)/period).
	Value float64
}

// LoveExplanation lists the activities that make up a member's love and
// its split per source and per channel; the parts add up to Love.
type LoveExplanation struct {
	Love          float64
	Contributions []Contribution // largest first
	BySource      map[string]float64
	ByChannel     map[string]float64
}

// ExplainLove recomputes love as of asOf from a member's activities (in any
// order) and says where it comes from. Bot activities count only when the
// config scores bots; activities after asOf do not count.
func ExplainLove(cfg Config, acts []Activity, asOf int64) LoveExplanation {
	d := newDecay(cfg.Love)
	e := LoveExplanation{BySource: map[string]float64{}, ByChannel: map[string]float64{}}
	for _, a := range acts {
		if a.At > asOf || (a.Bot && !cfg.Members.ScoreBots) {
			continue
		}
		c := Contribution{At: a.At, Type: a.Type, Source: a.Source, Channel: a.Channel, Weight: a.Weight,
			Value: a.Weight * d.over(asOf-a.At)}
		e.Contributions = append(e.Contributions, c)
		e.BySource[a.Source] += c.Value
		e.ByChannel[a.Channel] += c.Value
	}
	slices.SortStableFunc(e.Contributions, func(x, y Contribution) int {
		return cmp.Or(cmp.Compare(y.Value, x.Value), cmp.Compare(x.At, y.At))
	})
	// Sum smallest first: the most accurate order for a float sum.
	for i := len(e.Contributions) - 1; i >= 0; i-- {
		e.Love += e.Contributions[i].Value
	}
	return e
}
