package structure

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/kit/graph"
)

// DefaultPocketMinStrength is the strength an edge needs to tie members
// into a pocket, the scoring default (reach.pocket_min_strength).
const DefaultPocketMinStrength = 5

// Bridge is a member connecting two pockets.
type Bridge struct {
	Member
	Pocket           int     `json:"pocket"` // its own pocket, −1: none
	Betweenness      float64 `json:"betweenness"`
	BetweennessShare float64 `json:"betweenness_share"`
	// PairBetweenness and PairShare are its betweenness between the two
	// pockets only (graph.Bridge): PairShare 1 means every shortest path
	// between them runs through it.
	PairBetweenness float64 `json:"pair_betweenness"`
	PairShare       float64 `json:"pair_share"`
	StrengthA       float64 `json:"strength_a"` // its ties to pocket_a
	StrengthB       float64 `json:"strength_b"` // its ties to pocket_b
}

// PocketPair lists the bridges between two pockets, best first.
type PocketPair struct {
	PocketA int      `json:"pocket_a"`
	PocketB int      `json:"pocket_b"`
	Bridges []Bridge `json:"bridges"`
}

// Pocket is one pocket's size and its most central member (highest
// betweenness, then lowest member id).
type Pocket struct {
	Pocket  int    `json:"pocket"`
	Members int    `json:"members"`
	Central Member `json:"central"`
}

// Bridges are the community's pockets and the members bridging them.
type Bridges struct {
	Community   string       `json:"community"`
	MinStrength float64      `json:"min_strength"`
	Exact       bool         `json:"exact"`       // false: betweenness estimated from pivots
	Sources     int          `json:"sources"`     // the members betweenness was computed from
	PairsExact  bool         `json:"pairs_exact"` // false: pair betweenness estimated
	Pockets     []Pocket     `json:"pockets"`
	Pairs       []PocketPair `json:"pairs"`
}

// Bounds of FindBridges.
const (
	MaxBridgesPerPair = 50
	MaxPocketPairs    = 200
)

// FindBridges finds the pockets of the community-level graph (edges of at
// least minStrength), the betweenness of every member, and for each pair
// of the graph.MaxBridgePockets largest pockets at most perPair bridges,
// by betweenness between the two pockets.
func FindBridges(ctx context.Context, conn driver.Conn, community string, minStrength float64, perPair int) (*Bridges, error) {
	if perPair < 1 || perPair > MaxBridgesPerPair {
		return nil, InputError{"per_pair", fmt.Sprintf("an integer 1..%d", MaxBridgesPerPair), fmt.Sprint(perPair)}
	}
	if !(minStrength > 0) || minStrength > 1e12 {
		return nil, InputError{"min_strength", "a positive number", fmt.Sprint(minStrength)}
	}
	g, err := LoadGraph(ctx, conn, community, Load{})
	if err != nil {
		return nil, err
	}
	found := graph.FindBridges(len(g.IDs), g.Edges, minStrength)
	out := &Bridges{Community: community, MinStrength: minStrength, Exact: found.Exact, Sources: found.Sources, PairsExact: found.PairsExact, Pockets: []Pocket{}, Pairs: []PocketPair{}}
	for v, p := range found.Pockets {
		if p < 0 {
			continue
		}
		for len(out.Pockets) <= p {
			out.Pockets = append(out.Pockets, Pocket{Pocket: len(out.Pockets), Central: Member{}})
		}
		pk := &out.Pockets[p]
		if pk.Members == 0 || found.Betweenness[v] > found.Betweenness[g.index[pk.Central.ID]] {
			pk.Central = g.member(v)
		}
		pk.Members++
	}
	for _, b := range found.Bridges {
		last := len(out.Pairs) - 1
		if last < 0 || out.Pairs[last].PocketA != b.PocketA || out.Pairs[last].PocketB != b.PocketB {
			if len(out.Pairs) == MaxPocketPairs {
				break
			}
			out.Pairs = append(out.Pairs, PocketPair{PocketA: b.PocketA, PocketB: b.PocketB})
			last++
		}
		if pr := &out.Pairs[last]; len(pr.Bridges) < perPair {
			pr.Bridges = append(pr.Bridges, Bridge{Member: g.member(b.Member), Pocket: b.Pocket, Betweenness: b.Betweenness,
				BetweennessShare: b.BetweennessShare, PairBetweenness: b.PairBetweenness, PairShare: b.PairShare,
				StrengthA: b.StrengthA, StrengthB: b.StrengthB})
		}
	}
	return out, nil
}

// Step is one member on an introduction path, with the strength of the
// tie that reaches it (0 for the first).
type Step struct {
	Member
	Tie float64 `json:"tie"`
}

// Introduction is the strongest short path to one member of the segment.
type Introduction struct {
	Target   Member  `json:"target"`
	Path     []Step  `json:"path"` // from the member to the target
	Hops     int     `json:"hops"`
	Strength float64 `json:"strength"` // the weakest tie on the path
}

// Introductions answers "who can introduce this member to the segment".
type Introductions struct {
	Community string `json:"community"`
	Member    string `json:"member"` // as resolved: an identity becomes its member
	Segment   string `json:"segment"`
	// Known is whether the member exists in the community; Connected
	// whether it has any tie. Without one there is no path, and Note says
	// so; Amplifiers then lists who reaches the segment best, to contact
	// directly.
	Known          bool           `json:"known"`
	Connected      bool           `json:"connected"`
	InSegment      bool           `json:"in_segment"`
	SegmentMembers int            `json:"segment_members"`
	Note           string         `json:"note,omitempty"`
	Paths          []Introduction `json:"paths"`
	Amplifiers     []Amplifier    `json:"amplifiers,omitempty"`
}

// MaxLimit bounds the lists of Introduce and Amplify.
const MaxLimit = 200

// Introduce finds, for member (a member id or an identity such as
// github:583231) and the segment, the strongest paths of at most
// graph.MaxIntroductionHops hops to the segment's members (at most limit,
// strongest first; see graph.Introductions), over the graph of every
// member who is not a bot (teammates can introduce, and be introduced).
func Introduce(ctx context.Context, conn driver.Conn, community, member string, seg Segment, limit int) (*Introductions, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, InputError{"limit", fmt.Sprintf("an integer 1..%d", MaxLimit), fmt.Sprint(limit)}
	}
	if member == "" || len(member) > 512 {
		return nil, InputError{"member", "a member id or an identity (e.g. github:583231)", member}
	}
	id, err := resolve(ctx, conn, community, member)
	if err != nil {
		return nil, err
	}
	g, err := LoadGraph(ctx, conn, community, Load{Everyone: true})
	if err != nil {
		return nil, err
	}
	in, count, err := inSegment(ctx, conn, g, seg)
	if err != nil {
		return nil, err
	}
	out := &Introductions{Community: community, Member: id, Segment: seg.String(), SegmentMembers: count, Paths: []Introduction{}}
	src, node := g.index[id]
	if out.Known, err = exists(ctx, conn, community, id); err != nil {
		return nil, err
	}
	if node {
		out.InSegment = in[src]
		for _, e := range g.Edges {
			if int(e.A) == src || int(e.B) == src {
				out.Connected = true
				break
			}
		}
	}
	switch {
	case count == 0:
		out.Note = fmt.Sprintf("no member is in segment %s", seg)
		return out, nil
	case !out.Known:
		out.Note = fmt.Sprintf("%s is not a member of %s yet (a new member?): no one can introduce them along a path; the segment's best-connected members are listed to contact directly", member, community)
	case !out.Connected:
		out.Note = fmt.Sprintf("%s has no connections in the reach graph yet: no one can introduce them along a path; the segment's best-connected members are listed to contact directly", id)
	}
	if out.Note != "" {
		for _, a := range graph.Amplifiers(len(g.IDs), g.Edges, in, 5) {
			out.Amplifiers = append(out.Amplifiers, amplifier(g, a))
		}
		return out, nil
	}
	paths := graph.Introductions(len(g.IDs), g.Edges, src, in, limit)
	ties := tieStrengths(g, paths)
	for _, p := range paths {
		intro := Introduction{Target: g.member(p.Target), Hops: p.Hops, Strength: p.Strength}
		for k, v := range p.Members {
			st := Step{Member: g.member(v)}
			if k > 0 {
				st.Tie = ties[pairKey(p.Members[k-1], v)]
			}
			intro.Path = append(intro.Path, st)
		}
		out.Paths = append(out.Paths, intro)
	}
	if len(out.Paths) == 0 {
		out.Note = fmt.Sprintf("no member of %s is within %d hops of %s", seg, graph.MaxIntroductionHops, id)
	}
	return out, nil
}

func pairKey(a, b int) uint64 { return uint64(min(a, b))<<32 | uint64(max(a, b)) }

// tieStrengths returns the summed strength of every consecutive pair on
// the paths.
func tieStrengths(g *Graph, paths []graph.Path) map[uint64]float64 {
	want := map[uint64]float64{}
	for _, p := range paths {
		for k := 1; k < len(p.Members); k++ {
			want[pairKey(p.Members[k-1], p.Members[k])] = 0
		}
	}
	for _, e := range g.Edges {
		if _, ok := want[pairKey(int(e.A), int(e.B))]; ok {
			want[pairKey(int(e.A), int(e.B))] += e.Weight
		}
	}
	return want
}

// resolve returns the member an identity belongs to now, or id itself
// when no identity has that key.
func resolve(ctx context.Context, conn driver.Conn, community, id string) (string, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"community": community, "identity": id}))
	rows, err := conn.Query(ctx, `SELECT argMax(member_id, stream_seq) FROM member_identities
		WHERE community = {community:String} AND identity = {identity:String} GROUP BY identity`)
	if err != nil {
		return "", fmt.Errorf("structure: member of identity %s: %w", id, err)
	}
	defer rows.Close()
	member := id
	for rows.Next() {
		if err := rows.Scan(&member); err != nil {
			return "", fmt.Errorf("structure: member of identity %s: %w", id, err)
		}
	}
	return member, rows.Err()
}

// exists reports whether the community has member id (a bot or a
// teammate included).
func exists(ctx context.Context, conn driver.Conn, community, id string) (bool, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"community": community, "member": id}))
	var n uint64
	if err := conn.QueryRow(ctx, `SELECT count() FROM members WHERE community = {community:String} AND member_id = {member:String}`).Scan(&n); err != nil {
		return false, fmt.Errorf("structure: member %s: %w", id, err)
	}
	return n > 0, nil
}

// Amplifier is a member of a segment and its reach.
type Amplifier struct {
	Member
	Reach             float64 `json:"reach"`
	Degree            int     `json:"degree"`
	SegmentNeighbours int     `json:"segment_neighbours"`
	SegmentReach      float64 `json:"segment_reach"`
}

func amplifier(g *Graph, a graph.Amplifier) Amplifier {
	return Amplifier{Member: g.member(a.Member), Reach: a.Reach, Degree: a.Degree, SegmentNeighbours: a.SegmentNeighbours, SegmentReach: a.SegmentReach}
}

// Amplifiers are the members of a segment who reach furthest.
type Amplifiers struct {
	Community      string      `json:"community"`
	Segment        string      `json:"segment,omitempty"`
	SegmentMembers int         `json:"segment_members"`
	Amplifiers     []Amplifier `json:"amplifiers"`
}

// Amplify ranks the segment's members of the community-level graph by
// reach, then by neighbours within the segment (graph.Amplifiers); seg
// nil ranks the whole community. At most limit.
func Amplify(ctx context.Context, conn driver.Conn, community string, seg *Segment, limit int) (*Amplifiers, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, InputError{"limit", fmt.Sprintf("an integer 1..%d", MaxLimit), fmt.Sprint(limit)}
	}
	g, err := LoadGraph(ctx, conn, community, Load{})
	if err != nil {
		return nil, err
	}
	out := &Amplifiers{Community: community, SegmentMembers: len(g.IDs), Amplifiers: []Amplifier{}}
	var in []bool
	if seg != nil {
		out.Segment = seg.String()
		if in, out.SegmentMembers, err = inSegment(ctx, conn, g, *seg); err != nil {
			return nil, err
		}
	}
	for _, a := range graph.Amplifiers(len(g.IDs), g.Edges, in, limit) {
		out.Amplifiers = append(out.Amplifiers, amplifier(g, a))
	}
	return out, nil
}
