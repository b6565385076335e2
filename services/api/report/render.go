package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orbitflow/orbitflow/services/api/accounts"
	"github.com/orbitflow/orbitflow/services/api/structure"
	"github.com/orbitflow/orbitflow/services/api/topics"
)

// story is the week in sentences, from the numbers in r.
func story(r *Report) []string {
	var s []string
	week := r.WeekStart.Format("2 Jan 2006")
	if f := r.figure("active_members"); f != nil {
		s = append(s, fmt.Sprintf("%s members were active in the week of %s, %s.", count(f.Value), week, versus(f)))
	}
	if f := r.figure("new_members"); f != nil && f.Value > 0 {
		s = append(s, fmt.Sprintf("%s %s for the first time (%s).", count(f.Value),
			plural(int(f.Value), "person showed up", "people showed up"), versus(f)))
	}
	if g := r.Gravity; g != nil {
		switch {
		case g.Gravity > 0:
			s = append(s, fmt.Sprintf("Gravity was %+.2f: involvement is rising, members are moving to higher orbit levels.", g.Gravity))
		case g.Gravity < 0:
			s = append(s, fmt.Sprintf("Gravity was %+.2f: involvement is falling, members are drifting to lower orbit levels.", g.Gravity))
		default:
			s = append(s, "Gravity was 0: involvement held steady.")
		}
	}
	var opened, responded int64
	for _, x := range r.Response {
		opened += x.Opened
		responded += x.Responded
	}
	if opened > 0 {
		s = append(s, fmt.Sprintf("Of %d questions, issues and tickets opened, %s got a first response.", opened, percent(float64(responded)/float64(opened))))
	}
	if st := r.Structure; st != nil && st.Measures.Members > 0 {
		s = append(s, fmt.Sprintf("The community is %s %s: %s.", article(st.Measures.Class), st.Measures.Class, st.Measures.Reason))
		if b := busRisk(st, 1); b != nil && b.PairShareLost > 0 && len(b.Removed) > 0 {
			s = append(s, fmt.Sprintf("If its best connector, %s, left, %s of the connected pairs of members would lose their path.",
				nameOf(b.Removed[0].Name, b.Removed[0].ID), percent(b.PairShareLost)))
		}
	}
	if p := r.PainPoints; p != nil && len(p.Topics) > 0 {
		t := p.Topics[0]
		growth := fmt.Sprintf("%+d on the week before", t.Growth)
		if t.New {
			growth = "new this week"
		}
		s = append(s, fmt.Sprintf("The most asked-about topic was %q: %d %s (%s), %s unanswered.", t.Label, t.Items,
			plural(t.Items, "question", "questions"), growth, percent(t.UnansweredShare)))
	}
	if n := r.SignalsTotal; n > 0 {
		rules := map[string]int{}
		for _, sg := range r.Signals {
			rules[sg.Rule]++
		}
		s = append(s, fmt.Sprintf("%d community-qualified %s fired (for sales and customer success); the latest: %s asked %q.", n,
			plural(n, "signal", "signals"), nameOf(r.Signals[0].Member.DisplayName, r.Signals[0].Member.ID), r.Signals[0].Activity.Title))
	}
	if a := r.Accounts; a != nil {
		if w := reachOf(a.Week, "", ""); w != nil {
			line := fmt.Sprintf("%s of customer accounts (%d of %d) had an active member in the community", percent(w.Share), w.ActiveAccounts, w.Accounts)
			if p := reachOf(a.Previous, "", ""); p != nil {
				line += fmt.Sprintf(" (%s the week before)", percent(p.Share))
			}
			s = append(s, line+".")
		}
		if n := len(a.Dropped); n > 0 {
			names := make([]string, 0, min(n, 3))
			for _, d := range a.Dropped[:min(n, 3)] {
				names = append(names, d.Name)
			}
			more := ""
			if n > 3 {
				more = fmt.Sprintf(" and %d more", n-3)
			}
			s = append(s, fmt.Sprintf("%d %s dropped in community activity: %s%s.", n, plural(n, "account", "accounts"), strings.Join(names, ", "), more))
		}
	}
	if n := len(r.Leaders); n > 0 {
		names := make([]string, 0, min(n, 3))
		for _, l := range r.Leaders[:min(n, 3)] {
			names = append(names, nameOf(l.Name, l.MemberID))
		}
		more := ""
		if n > 3 {
			more = fmt.Sprintf(" and %d more", n-3)
		}
		s = append(s, fmt.Sprintf("%d %s reached Leading: %s%s.", n, plural(n, "member", "members"), strings.Join(names, ", "), more))
	}
	return s
}

func orgSuffix(org string) string {
	if org == "" {
		return ""
	}
	return ", " + org
}

// ReachLine is one row of the accounts table: the week's reach of a
// dimension's value next to the week before's.
type ReachLine struct {
	accounts.ReachRow
	Previous *accounts.ReachRow
}

// Label names the row: "all accounts", "segment enterprise", "plan team".
func (l ReachLine) Label() string {
	if l.Dimension == "" {
		return "All accounts"
	}
	return l.Dimension + " " + l.Value
}

// PreviousShare is the week before's share ("–" when none).
func (l ReachLine) PreviousShare() string {
	if l.Previous == nil {
		return "–"
	}
	return percent(l.Previous.Share)
}

// reachLines are the accounts table: overall, then segments, then plans.
func reachLines(a *accounts.Summary) []ReachLine {
	var out []ReachLine
	for _, dim := range []string{"", "segment", "plan"} {
		for _, w := range a.Week {
			if w.Dimension == dim {
				out = append(out, ReachLine{ReachRow: w, Previous: reachOf(a.Previous, w.Dimension, w.Value)})
			}
		}
	}
	return out
}

// busRisk is the structure's bus risk for k connectors leaving, if known.
func busRisk(st *structure.Summary, k int) *structure.BusRisk {
	for i := range st.BusRisk {
		if st.BusRisk[i].K == k {
			return &st.BusRisk[i]
		}
	}
	return nil
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// removedNames lists the members a bus risk takes out.
func removedNames(b structure.BusRisk) string {
	names := make([]string, len(b.Removed))
	for i, m := range b.Removed {
		names[i] = nameOf(m.Name, m.ID)
	}
	return strings.Join(names, ", ")
}

// recentTrend is the last six months of the structure's trend.
func recentTrend(st *structure.Summary) []structure.TrendPoint {
	return st.Trend[max(0, len(st.Trend)-6):]
}

func seconds(v *float64) string {
	if v == nil {
		return "–"
	}
	h := *v / 3600
	return hours(&h)
}

func (r *Report) figure(name string) *Figure {
	for i := range r.Health {
		if r.Health[i].Name == name {
			return &r.Health[i]
		}
	}
	return nil
}

func versus(f *Figure) string {
	switch {
	case f.Change == nil:
		return "none the week before"
	case math.Abs(*f.Change) < 0.005:
		return "as many as the week before"
	case *f.Change > 0:
		return fmt.Sprintf("%s more than the week before", percent(*f.Change))
	default:
		return fmt.Sprintf("%s fewer than the week before", percent(-*f.Change))
	}
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }

func percent(v float64) string { return fmt.Sprintf("%.0f%%", v*100) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func nameOf(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

// value shows a figure: shares as percentages, counts as integers.
func (f Figure) value(v float64) string {
	if f.Unit == "share" {
		return percent(v)
	}
	return count(v)
}

// PreviousText is the week before's value ("–" for a share the week
// before did not have).
func (f Figure) PreviousText() string {
	if f.Unit == "share" && f.Change == nil {
		return "–"
	}
	return f.value(f.Previous)
}

// ChangeText is the change against the previous week, e.g. "+8%", "−3%", "new".
func (f Figure) ChangeText() string {
	switch {
	case f.Change == nil && (f.Value == 0 || f.Unit == "share"):
		return "–"
	case f.Change == nil:
		return "new"
	case f.Unit == "share":
		return fmt.Sprintf("%+.0f pts", *f.Change*100)
	}
	return fmt.Sprintf("%+.0f%%", *f.Change*100)
}

// Direction is "up", "down" or "flat" (for colour).
func (f Figure) Direction() string {
	switch d := f.Value - f.Previous; {
	case d > 0:
		return "up"
	case d < 0:
		return "down"
	}
	return "flat"
}

func hours(h *float64) string {
	if h == nil {
		return "–"
	}
	if *h < 1 {
		return fmt.Sprintf("%.0f min", *h*60)
	}
	return fmt.Sprintf("%.1f h", *h)
}

//go:embed report.html.tmpl
var htmlSource string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"level":   func(l int) string { return LevelNames[min(max(l, 0), len(LevelNames)-1)] },
	"hours":   hours,
	"percent": percent,
	"date":    func(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006") },
	"when":    func(t time.Time) string { return t.UTC().Format("Mon 2 Jan 15:04 UTC") },
	"value":   func(f Figure, v float64) string { return f.value(v) },
	"name":    nameOf,
	"signed":  func(v float64) string { return fmt.Sprintf("%+.2f", v) },
	"num":     func(v float64) string { return fmt.Sprintf("%.3g", v) },
	"last":    func(r *Report) time.Time { return r.WeekEnd().AddDate(0, 0, -1) },
	"removed": removedNames,
	"reach":   reachLines,
	"org":     orgSuffix,
	"join":    strings.Join,
	"trend":   recentTrend,
	"seconds": seconds,
	"growth": func(t topics.Topic) string {
		if t.New {
			return "new"
		}
		return fmt.Sprintf("%+d", t.Growth)
	},
}).Parse(htmlSource))

// HTML renders the report as one self-contained HTML document, styled
// inline (e-mail clients drop style sheets), with no script and no
// external resource.
func HTML(r *Report) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("report: render: %w", err)
	}
	return b.Bytes(), nil
}

// Text renders the report as plain text (the e-mail's alternative part and
// the CLI's default).
func Text(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Weekly report: %s, %s – %s\n\n", r.Community, r.WeekStart.Format("Mon 2 Jan 2006"),
		r.WeekEnd().AddDate(0, 0, -1).Format("Mon 2 Jan 2006"))
	for _, s := range r.Story {
		fmt.Fprintf(&b, "%s\n", s)
	}
	section := func(title string) { fmt.Fprintf(&b, "\n%s\n%s\n", title, strings.Repeat("-", len(title))) }
	table := func(f func(w *tabwriter.Writer)) {
		w := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
		f(w)
		_ = w.Flush()
	}
	section("Health, against the week before")
	table(func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "metric\tthis week\tweek before\tchange")
		for _, f := range r.Health {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Label, f.value(f.Value), f.PreviousText(), f.ChangeText())
		}
	})
	if len(r.Response) > 0 {
		section("Time to first response")
		table(func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "item\topened\tanswered\tmedian\tweek before")
			for _, x := range r.Response {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", x.ItemType, x.Opened, percent(x.ResponseRate), hours(x.MedianHours), hours(x.PreviousMedian))
			}
		})
	}
	if g := r.Gravity; g != nil {
		section("Gravity and orbit levels")
		prev := "–"
		if g.Previous != nil {
			prev = fmt.Sprintf("%+.2f", *g.Previous)
		}
		fmt.Fprintf(&b, "gravity %+.2f (week before %s); %d members in orbit: Leading %d, Contributing %d, Participating %d, Exploring %d\n",
			g.Gravity, prev, g.Members, g.Leading, g.Contributing, g.Participating, g.Exploring)
	}
	if m := r.Movement; m != nil {
		section("Level movement in " + m.Month.Format("January 2006"))
		table(func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "level at the month's start\tmembers\tmoved up\theld\tmoved down")
			for _, l := range m.Levels {
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\n", LevelNames[min(l.Level, 4)], l.Members, l.Up, l.Held, l.Down)
			}
		})
	}
	if len(r.Top) > 0 {
		section("Top contributors")
		table(func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "member\tcontributions\tactivities\tlevel\tlove")
			for _, c := range r.Top {
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%.3g\n", nameOf(c.Name, c.MemberID), c.Contributions, c.Activities, LevelNames[min(c.Level, 4)], c.Love)
			}
		})
	}
	if len(r.Leaders) > 0 || len(r.Roles) > 0 {
		section("New leaders")
		for _, l := range r.Leaders {
			fmt.Fprintf(&b, "%s reached Leading on %s (from %s; %s)\n", nameOf(l.Name, l.MemberID), l.At.Format("Mon 2 Jan"), LevelNames[min(l.FromLevel, 4)], l.Reason)
		}
		for _, x := range r.Roles {
			fmt.Fprintf(&b, "%s became %s on %s\n", nameOf(x.Name, x.MemberID), x.Role, x.At.Format("Mon 2 Jan"))
		}
	}
	if st := r.Structure; st != nil && st.Measures.Members > 0 {
		m := st.Measures
		section("Structure of the community (the reach graph now)")
		fmt.Fprintf(&b, "%s: %s\n", strings.ToUpper(m.Class[:1])+m.Class[1:], m.Reason)
		fmt.Fprintf(&b, "connected %s of %d members, centralization %.2f, top member's edges %s, top 5's %s, density %.4f, clustering %.2f, largest group %s\n",
			percent(m.ConnectedShare), m.Members, m.Centralization, percent(m.Top1EdgeShare), percent(m.Top5EdgeShare), m.Density, m.Clustering,
			percent(m.LargestComponentShare))
		for _, br := range st.BusRisk {
			fmt.Fprintf(&b, "if the top %d connectors left (%s): %s of connected pairs lost\n", br.K, removedNames(br), percent(br.PairShareLost))
		}
		if len(st.Trend) > 0 {
			table(func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "month\tclass\tconnected\tcentralization\tclustering\tlost without the top 1")
				for _, p := range recentTrend(st) {
					fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.2f\t%s\n", p.Month[:7], p.Class, percent(p.ConnectedShare), p.Centralization, p.Clustering, percent(p.BusPairsLostK1))
				}
			})
		}
	}
	if p := r.PainPoints; p != nil {
		section("Pain points: recurring question topics")
		fmt.Fprintf(&b, "%d questions opened (week before %d), %s unanswered, median first response %s\n", p.Questions, p.PreviousQuestions,
			percent(p.UnansweredShare), seconds(p.MedianResponseSeconds))
		if len(p.Topics) > 0 {
			table(func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "topic\tquestions\tweek before\tgrowth\tunanswered\tmedian response")
				for _, t := range p.Topics {
					g := fmt.Sprintf("%+d", t.Growth)
					if t.New {
						g = "new"
					}
					fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\n", t.Label, t.Items, t.PreviousItems, g, percent(t.UnansweredShare), seconds(t.MedianResponseSeconds))
				}
			})
		}
	}
	if len(r.Signals) > 0 {
		section(fmt.Sprintf("Signals (%d this week)", r.SignalsTotal))
		for _, sg := range r.Signals {
			fmt.Fprintf(&b, "%s  %s (%s%s) %s: %q\n    why: %s\n", sg.At.Format("Mon 2 Jan 15:04"), nameOf(sg.Member.DisplayName, sg.Member.ID),
				sg.Member.LevelName, orgSuffix(sg.Member.Organization), sg.Rule, sg.Activity.Title, strings.Join(sg.Reasons, "; "))
		}
	}
	if a := r.Accounts; a != nil {
		section("Reach into the customer base")
		table(func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "accounts\twith an active member\tshare\tweek before\tactive members")
			for _, l := range reachLines(a) {
				fmt.Fprintf(w, "%s\t%d of %d\t%s\t%s\t%d\n", l.Label(), l.ActiveAccounts, l.Accounts, percent(l.Share), l.PreviousShare(), l.ActiveMembers)
			}
		})
		if len(a.Top) > 0 {
			fmt.Fprintln(&b, "\nMost active accounts:")
			for _, t := range a.Top {
				fmt.Fprintf(&b, "  %s (%s, %s): %d active members\n", t.Name, t.Segment, t.Plan, t.ActiveMembers)
			}
		}
		if len(a.Dropped) > 0 {
			fmt.Fprintln(&b, "\nAccounts whose activity dropped:")
			for _, d := range a.Dropped {
				fmt.Fprintf(&b, "  %s (%s, %s): %.0f active members, %.1f usually (%s less)\n", d.Name, d.Segment, d.Plan, d.Current, d.Baseline, percent(d.Drop))
			}
		}
	}
	if r.URL != "" {
		fmt.Fprintf(&b, "\nThe full report: %s\n", r.URL)
	}
	return b.String()
}
