package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/api/structure"
	"github.com/orbitflow/orbitflow/services/kit/graph"
	"github.com/orbitflow/orbitflow/services/kit/telemetry"
)

// The community structure commands (package structure; the API's
// /structure, /bridges, /introductions and /amplifiers answer the same):
//
//	orbitflow structure  [--community C] [--segment K:V] [--segments] [--json]
//	orbitflow bridges    [--community C] [--min-strength S] [--per-pair N] [--json]
//	orbitflow introduce  MEMBER --segment K:V [--community C] [--limit N] [--json]
//	orbitflow amplifiers [--segment K:V] [--community C] [--limit N] [--json]

// structureFlags are the flags every structure command takes.
type structureFlags struct {
	c         common
	community *string
	segment   *string
	asJSON    *bool
}

func newStructureFlags(name, segmentHelp string) (*flag.FlagSet, *structureFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f := &structureFlags{}
	f.c.register(fs)
	f.community = fs.String("community", "", "the community (default: the only one with members)")
	f.segment = new(string)
	if segmentHelp != "" {
		fs.StringVar(f.segment, "segment", "", segmentHelp)
	}
	f.asJSON = fs.Bool("json", false, "print JSON (as the API answers)")
	return fs, f
}

// parseSegment reads --segment; nil when empty.
func (f *structureFlags) parseSegment(cmd string) (*structure.Segment, error) {
	if *f.segment == "" {
		return nil, nil
	}
	seg, err := structure.ParseSegment("--segment", *f.segment)
	if err != nil {
		return nil, usagef("%s: %v", cmd, err)
	}
	return &seg, nil
}

// connect opens ClickHouse and settles the community, then runs do.
func (f *structureFlags) connect(ctx context.Context, stderr io.Writer, do func(conn driver.Conn, community string) error) error {
	cfg, err := f.c.load()
	if err != nil {
		return err
	}
	set := telemetry.Settings{Logger: newLogger(cfg, stderr)}.WithDefaults()
	conn, done, err := connectClickHouse(ctx, cfg, set)
	if err != nil {
		return err
	}
	defer done()
	community := *f.community
	if community == "" {
		cs, err := queryStrings(ctx, conn, "SELECT DISTINCT community FROM members_raw ORDER BY community LIMIT 21")
		if err != nil {
			return err
		}
		if community, err = onlyCommunity(cs, "the data", usagef("no community has members yet")); err != nil {
			return err
		}
	}
	return do(conn, community)
}

func (f *structureFlags) print(stdout io.Writer, v any, human func()) error {
	if *f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human()
	return nil
}

func cmdStructure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := newStructureFlags("structure", "measure a segment's members only, kind:value (source, channel, tag or organization; e.g. tag:help)")
	segments := fs.Bool("segments", false, "classify every segment (the largest 20 of each kind with 3+ members) instead")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("structure takes no arguments, got %q", fs.Args())
	}
	seg, err := f.parseSegment("structure")
	if err != nil {
		return err
	}
	if *segments && seg != nil {
		return usagef("structure: --segments and --segment exclude each other")
	}
	return f.connect(ctx, stderr, func(conn driver.Conn, community string) error {
		if *segments {
			segs, err := structure.Segments(ctx, conn, community, 20, 3)
			if err != nil {
				return err
			}
			return f.print(stdout, segs, func() { printSegments(stdout, community, segs) })
		}
		sum, err := structure.Summarize(ctx, conn, community, seg)
		if err != nil {
			return err
		}
		return f.print(stdout, sum, func() { printStructure(stdout, sum) })
	})
}

// printStructure shows the class, the numbers behind it next to their
// thresholds, the bus risk and the trend.
func printStructure(w io.Writer, s *structure.Summary) {
	what := s.Community
	if s.Segment != "" {
		what += ", segment " + s.Segment
	}
	m := s.Measures
	fmt.Fprintf(w, "Structure of %s now (members in orbit; bots and teammates left out)\n", what)
	fmt.Fprintf(w, "Class: %s — %s\n\n", strings.ToUpper(m.Class), m.Reason)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "members\t%d\t\n", m.Members)
	fmt.Fprintf(tw, "with any connection\t%d (%s)\tpool below %s\n", m.Connected, percent(m.ConnectedShare), percent(graph.PoolMaxConnectedShare))
	fmt.Fprintf(tw, "connections (edges)\t%d\t\n", m.Edges)
	fmt.Fprintf(tw, "degree centralization\t%.2f\thub from %.2f (a star is 1)\n", m.Centralization, graph.HubMinCentralization)
	fmt.Fprintf(tw, "edges touching the top member\t%s\thub from %s\n", percent(m.Top1EdgeShare), percent(graph.HubMinTop1EdgeShare))
	fmt.Fprintf(tw, "edges touching the top 5\t%s\thub from %s with %d+ connected\n", percent(m.Top5EdgeShare),
		percent(graph.HubMinTop5EdgeShare), graph.HubTop5MinConnected)
	fmt.Fprintf(tw, "density\t%.4f\t\n", m.Density)
	fmt.Fprintf(tw, "average clustering\t%.2f\t\n", m.Clustering)
	fmt.Fprintf(tw, "largest connected group\t%d (%s)\t\n", m.LargestComponent, percent(m.LargestComponentShare))
	tw.Flush()

	fmt.Fprintln(w, "\nBus risk: if the top connectors left")
	var top []structure.Member // the longest list of leavers names them all, best connected first
	for _, r := range s.BusRisk {
		if len(r.Removed) > len(top) {
			top = r.Removed
		}
	}
	for i, m := range top {
		fmt.Fprintf(w, "  %d. %s\n", i+1, memberLabel(m))
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LEAVING\tCONNECTED PAIRS LOST\tEDGES LOST\tLARGEST GROUP LEFT")
	for _, r := range s.BusRisk {
		fmt.Fprintf(tw, "top %d\t%s\t%s\t%d (%s)\n", r.K, percent(r.PairShareLost), percent(r.EdgeShareLost),
			r.LargestComponentAfter, percent(r.LargestComponentShareAfter))
	}
	tw.Flush()

	switch {
	case s.Segment != "":
		fmt.Fprintln(w, "\nNo monthly trend for a segment (the processor tracks the whole community).")
	case len(s.Trend) == 0:
		fmt.Fprintln(w, "\nNo monthly trend yet (written when stream time enters a new week).")
	default:
		fmt.Fprintln(w, "\nMonthly trend (the last week of each month)")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "MONTH\tCLASS\tMEMBERS\tCONNECTED\tCENTRALIZATION\tTOP 1\tTOP 5\tCLUSTERING\tLARGEST\tPAIRS LOST k=1/3/5")
		for _, p := range s.Trend {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.2f\t%s\t%s\t%.2f\t%s\t%s/%s/%s\n", p.Month[:7], p.Class, p.Members, percent(p.ConnectedShare),
				p.Centralization, percent(p.Top1EdgeShare), percent(p.Top5EdgeShare), p.Clustering, percent(p.LargestComponentShare),
				percent(p.BusPairsLostK1), percent(p.BusPairsLostK3), percent(p.BusPairsLostK5))
		}
		tw.Flush()
	}
}

func printSegments(w io.Writer, community string, segs []structure.SegmentStructure) {
	fmt.Fprintf(w, "Structure of each segment of %s (its members in orbit, the ties among them)\n", community)
	if len(segs) == 0 {
		fmt.Fprintln(w, "no segment has 3 members or more")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tCLASS\tMEMBERS\tCONNECTED\tCENTRALIZATION\tTOP 1\tCLUSTERING\tLARGEST")
	for _, s := range segs {
		m := s.Measures
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.2f\t%s\t%.2f\t%s\n", s.Segment, m.Class, m.Members, percent(m.ConnectedShare), m.Centralization,
			percent(m.Top1EdgeShare), m.Clustering, percent(m.LargestComponentShare))
	}
	tw.Flush()
}

// members is "1 member" or "n members".
func members(n int) string {
	if n == 1 {
		return "1 member"
	}
	return fmt.Sprintf("%d members", n)
}

func memberLabel(m structure.Member) string {
	if m.Name == "" || m.Name == m.ID {
		return m.ID
	}
	return fmt.Sprintf("%s (%s)", m.Name, m.ID)
}

func cmdBridges(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := newStructureFlags("bridges", "")
	minStrength := fs.Float64("min-strength", 0, "the strength a tie needs to hold a pocket together (default: reach.pocket_min_strength)")
	perPair := fs.Int("per-pair", 5, fmt.Sprintf("at most this many bridges per pair of pockets (1..%d)", structure.MaxBridgesPerPair))
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bridges takes no arguments, got %q", fs.Args())
	}
	if *perPair < 1 || *perPair > structure.MaxBridgesPerPair {
		return usagef("bridges: --per-pair: want 1..%d, got %d", structure.MaxBridgesPerPair, *perPair)
	}
	if *minStrength < 0 {
		return usagef("bridges: --min-strength: want a positive number, got %g", *minStrength)
	}
	if *minStrength == 0 {
		cfg, err := f.c.load()
		if err != nil {
			return err
		}
		sc, err := cfg.Scoring.Scoring()
		if err != nil {
			return err
		}
		*minStrength = sc.Reach.PocketMinStrength
	}
	return f.connect(ctx, stderr, func(conn driver.Conn, community string) error {
		b, err := structure.FindBridges(ctx, conn, community, *minStrength, *perPair)
		if err != nil {
			return err
		}
		return f.print(stdout, b, func() { printBridges(stdout, b) })
	})
}

func printBridges(w io.Writer, b *structure.Bridges) {
	how := "exact"
	if !b.Exact {
		how = fmt.Sprintf("estimated from %d members as sources", b.Sources)
	}
	fmt.Fprintf(w, "Pockets of %s (groups held together by ties of at least %g; betweenness %s)\n", b.Community, b.MinStrength, how)
	if len(b.Pockets) == 0 {
		fmt.Fprintln(w, "no pocket: no tie is that strong")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POCKET\tMEMBERS\tMOST CENTRAL")
	for _, p := range b.Pockets {
		fmt.Fprintf(tw, "%d\t%d\t%s\n", p.Pocket, p.Members, memberLabel(p.Central))
	}
	tw.Flush()
	if len(b.Pairs) == 0 {
		fmt.Fprintln(w, "\nNo member bridges two pockets.")
		return
	}
	fmt.Fprintln(w, "\nBridges (members tied to both pockets, by the share of the shortest paths between the two that run through them)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POCKETS\tMEMBER\tPATHS BETWEEN THEM\tALL PATHS\tTIES TO FIRST\tTIES TO SECOND")
	for _, p := range b.Pairs {
		for _, m := range p.Bridges {
			fmt.Fprintf(tw, "%d–%d\t%s\t%s\t%s\t%.1f\t%.1f\n", p.PocketA, p.PocketB, memberLabel(m.Member), percent(m.PairShare),
				percent(m.BetweennessShare), m.StrengthA, m.StrengthB)
		}
	}
	tw.Flush()
}

func cmdIntroduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := newStructureFlags("introduce", "the segment to reach, kind:value (source, channel, tag or organization; e.g. organization:acme)")
	limit := fs.Int("limit", 10, fmt.Sprintf("at most this many paths (1..%d)", structure.MaxLimit))
	member := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		member, args = args[0], args[1:]
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if member == "" && fs.NArg() == 1 {
		member = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usagef("introduce takes one member (e.g. github:583231), got %q", append([]string{member}, fs.Args()...))
	}
	if member == "" {
		return usagef("introduce: which member? orbitflow introduce MEMBER --segment kind:value")
	}
	seg, err := f.parseSegment("introduce")
	if err != nil {
		return err
	}
	if seg == nil {
		return usagef("introduce: --segment is required (kind:value, e.g. organization:acme)")
	}
	if *limit < 1 || *limit > structure.MaxLimit {
		return usagef("introduce: --limit: want 1..%d, got %d", structure.MaxLimit, *limit)
	}
	return f.connect(ctx, stderr, func(conn driver.Conn, community string) error {
		in, err := structure.Introduce(ctx, conn, community, member, *seg, *limit)
		if err != nil {
			return err
		}
		return f.print(stdout, in, func() { printIntroductions(stdout, in) })
	})
}

func printIntroductions(w io.Writer, in *structure.Introductions) {
	fmt.Fprintf(w, "Introductions for %s into %s of %s (%s; paths of at most %d hops, as strong as their weakest tie)\n",
		in.Member, in.Segment, in.Community, members(in.SegmentMembers), graph.MaxIntroductionHops)
	if in.InSegment {
		fmt.Fprintf(w, "%s is in %s already.\n", in.Member, in.Segment)
	}
	if in.Note != "" {
		fmt.Fprintln(w, in.Note+".")
	}
	if len(in.Paths) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TARGET\tSTRENGTH\tHOPS\tPATH")
		for _, p := range in.Paths {
			var path strings.Builder
			for k, s := range p.Path {
				if k > 0 {
					fmt.Fprintf(&path, " —%.1f— ", s.Tie)
				}
				path.WriteString(s.ID)
			}
			fmt.Fprintf(tw, "%s\t%.1f\t%d\t%s\n", memberLabel(p.Target), p.Strength, p.Hops, path.String())
		}
		tw.Flush()
	}
	if len(in.Amplifiers) > 0 {
		fmt.Fprintln(w, "\nBest-connected members of the segment:")
		printAmplifierRows(w, in.Amplifiers)
	}
}

func cmdAmplifiers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := newStructureFlags("amplifiers", "rank a segment's members, kind:value (default: the whole community)")
	limit := fs.Int("limit", 20, fmt.Sprintf("at most this many members (1..%d)", structure.MaxLimit))
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("amplifiers takes no arguments, got %q", fs.Args())
	}
	seg, err := f.parseSegment("amplifiers")
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > structure.MaxLimit {
		return usagef("amplifiers: --limit: want 1..%d, got %d", structure.MaxLimit, *limit)
	}
	return f.connect(ctx, stderr, func(conn driver.Conn, community string) error {
		a, err := structure.Amplify(ctx, conn, community, seg, *limit)
		if err != nil {
			return err
		}
		return f.print(stdout, a, func() {
			what := "the whole community"
			if a.Segment != "" {
				what = a.Segment
			}
			fmt.Fprintf(stdout, "High-reach members of %s, %s (%s): by reach, then neighbours in the segment\n", a.Community, what, members(a.SegmentMembers))
			if len(a.Amplifiers) == 0 {
				fmt.Fprintln(stdout, "no member of it has a tie")
				return
			}
			printAmplifierRows(stdout, a.Amplifiers)
		})
	})
}

func printAmplifierRows(w io.Writer, as []structure.Amplifier) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tMEMBER\tREACH\tTIES\tTIES IN SEGMENT\tREACH IN SEGMENT")
	for i, a := range as {
		fmt.Fprintf(tw, "%d\t%s\t%.1f\t%d\t%d\t%.1f\n", i+1, memberLabel(a.Member), a.Reach, a.Degree, a.SegmentNeighbours, a.SegmentReach)
	}
	tw.Flush()
}
