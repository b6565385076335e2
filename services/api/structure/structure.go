// Package structure answers questions about the shape of a community's
// reach graph as it stands now (strengths decayed to the query's now64()):
// is it a pool, a hub or a web (Summarize), what does each segment look
// like (Segments), who bridges its pockets (FindBridges), who can
// introduce a member to a segment (Introduce) and who reaches a segment
// best (Amplify). It loads the graph from ClickHouse with parameterized
// SQL and computes with services/kit/graph, the same code the orbit
// processor runs for the weekly community_structure table; the query API,
// the orbitflow command and the weekly report all call it.
//
// Every call reads the graph fresh; nothing is cached. Functions take a
// context for the queries and block until they answer.
package structure

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/orbitflow/orbitflow/services/kit/graph"
)

// MaxEdges bounds the graph one call loads: a community with more edges
// is refused with an error rather than loaded into memory.
const MaxEdges = 5_000_000

// Segment is a part of a community: the members with any activity that
// carries Value as its Kind (a source, a channel, a tag among the
// activity's "tags" attribute, or its "organization" attribute), at any
// time, as the segment rollups of the health metrics count them.
type Segment struct {
	Kind  string // source, channel, tag or organization
	Value string
}

// Kinds are the segment kinds, in the order Segments lists them.
var Kinds = []string{"source", "channel", "tag", "organization"}

func (s Segment) String() string { return s.Kind + ":" + s.Value }

// InputError is a bad argument from the caller (a user's input): the
// field it came from and what was expected.
type InputError struct{ Field, Want, Got string }

func (e InputError) Error() string {
	return fmt.Sprintf("%s: want %s, got %q", e.Field, e.Want, e.Got)
}

// ParseSegment reads "kind:value" (kind one of Kinds; value 1 to 200
// bytes of UTF-8 without control characters). field names the input in
// the error.
func ParseSegment(field, s string) (Segment, error) {
	bad := InputError{field, "kind:value with kind one of " + strings.Join(Kinds, ", ") + " (e.g. organization:acme)", s}
	kind, value, ok := strings.Cut(s, ":")
	if !ok || value == "" || len(value) > 200 || !utf8.ValidString(value) || strings.ContainsFunc(value, unicode.IsControl) {
		return Segment{}, bad
	}
	for _, k := range Kinds {
		if kind == k {
			return Segment{Kind: kind, Value: value}, nil
		}
	}
	return Segment{}, bad
}

// Graph is a community's reach graph as loaded: node i is member IDs[i].
type Graph struct {
	Community string
	IDs       []string
	Names     []string // display names, by node
	Edges     []graph.WeightedEdge
	index     map[string]int
}

// Node returns the node of member id.
func (g *Graph) Node(id string) (int, bool) {
	i, ok := g.index[id]
	return i, ok
}

// Member is a member's id and display name.
type Member struct {
	ID   string `json:"member_id"`
	Name string `json:"display_name"`
}

func (g *Graph) member(i int) Member { return Member{ID: g.IDs[i], Name: g.Names[i]} }

// Load options: which members are nodes.
type Load struct {
	// Everyone makes every member not a bot a node: teammates and members
	// out of orbit too. Otherwise the nodes are the community-level
	// members: in orbit (level 1..4), not bots, not teammates, as the
	// processor's community_structure counts them.
	Everyone bool
	// Segment, if set, keeps only its members (the induced subgraph).
	Segment *Segment
}

// LoadGraph reads the community's members and the edges among them,
// strengths decayed to now, ordered by member id (so the same data gives
// the same graph).
func LoadGraph(ctx context.Context, conn driver.Conn, community string, o Load) (*Graph, error) {
	params := clickhouse.Parameters{"community": community}
	filter := "AND NOT is_bot AND NOT is_teammate AND orbit_level BETWEEN 1 AND 4"
	if o.Everyone {
		filter = "AND NOT is_bot"
	}
	if o.Segment != nil {
		params["value"] = o.Segment.Value
		filter += " AND member_id IN (SELECT member_id FROM (" + segmentSQL[o.Segment.Kind] + ") WHERE value = {value:String})"
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(params))
	rows, err := conn.Query(ctx, `SELECT member_id, display_name FROM members
		WHERE community = {community:String} `+filter+` ORDER BY member_id`)
	if err != nil {
		return nil, fmt.Errorf("structure: members: %w", err)
	}
	g := &Graph{Community: community, index: map[string]int{}}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("structure: members: %w", err)
		}
		g.index[id] = len(g.IDs)
		g.IDs, g.Names = append(g.IDs, id), append(g.Names, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("structure: members: %w", err)
	}
	rows, err = conn.Query(ctx, `SELECT member_a, member_b, strength FROM member_edges
		WHERE community = {community:String} AND strength > 0 ORDER BY member_a, member_b`)
	if err != nil {
		return nil, fmt.Errorf("structure: edges: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		var w float64
		if err := rows.Scan(&a, &b, &w); err != nil {
			return nil, fmt.Errorf("structure: edges: %w", err)
		}
		i, okA := g.index[a]
		j, okB := g.index[b]
		if !okA || !okB || a == b || w <= 0 || w > 1e300 {
			continue // an end is not a node here (a bot, a teammate, outside the segment)
		}
		if len(g.Edges) == MaxEdges {
			return nil, fmt.Errorf("structure: community %s has more than %d edges", community, MaxEdges)
		}
		g.Edges = append(g.Edges, graph.WeightedEdge{A: uint32(i), B: uint32(j), Weight: w})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("structure: edges: %w", err)
	}
	return g, nil
}

// identityMember maps an identity to its member now (member_identities;
// an identity never merged is its own member).
const identityMember = `(SELECT identity, argMax(member_id, stream_seq) AS member_id FROM member_identities
	WHERE community = {community:String} GROUP BY identity)`

// segmentSQL gives, per kind, the (member_id, value) pairs of the
// community: which members had activity carrying which value.
var segmentSQL = map[string]string{
	"source": `SELECT DISTINCT if(i.member_id != '', i.member_id, d.identity) AS member_id, toString(d.source) AS value
		FROM identity_daily AS d LEFT JOIN ` + identityMember + ` AS i ON i.identity = d.identity
		WHERE d.community = {community:String}`,
	"channel": `SELECT DISTINCT if(i.member_id != '', i.member_id, d.identity) AS member_id, d.channel AS value
		FROM identity_daily AS d LEFT JOIN ` + identityMember + ` AS i ON i.identity = d.identity
		WHERE d.community = {community:String} AND d.channel != ''`,
	"tag": `SELECT DISTINCT if(i.member_id != '', i.member_id, d.identity) AS member_id, d.tag AS value
		FROM identity_tag_daily AS d LEFT JOIN ` + identityMember + ` AS i ON i.identity = d.identity
		WHERE d.community = {community:String}`,
	"organization": `SELECT DISTINCT if(i.member_id != '', i.member_id, a.identity) AS member_id, a.attributes['organization'] AS value
		FROM activities_raw AS a LEFT JOIN ` + identityMember + ` AS i ON i.identity = a.identity
		WHERE a.community = {community:String} AND a.attributes['organization'] != ''`,
}

// inSegment returns, for every node of g, whether the member is in seg.
func inSegment(ctx context.Context, conn driver.Conn, g *Graph, seg Segment) ([]bool, int, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"community": g.Community, "value": seg.Value}))
	rows, err := conn.Query(ctx, `SELECT member_id FROM (`+segmentSQL[seg.Kind]+`) WHERE value = {value:String}`)
	if err != nil {
		return nil, 0, fmt.Errorf("structure: segment %s: %w", seg, err)
	}
	defer rows.Close()
	in := make([]bool, len(g.IDs))
	count := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, 0, fmt.Errorf("structure: segment %s: %w", seg, err)
		}
		if i, ok := g.index[id]; ok && !in[i] {
			in[i] = true
			count++
		}
	}
	return in, count, rows.Err()
}

// Measures are graph.Structure's numbers as JSON.
type Measures struct {
	Members               int     `json:"members"`
	Connected             int     `json:"connected"`
	ConnectedShare        float64 `json:"connected_share"`
	Edges                 int     `json:"edges"`
	Density               float64 `json:"density"`
	Centralization        float64 `json:"centralization"`
	Top1EdgeShare         float64 `json:"top1_edge_share"`
	Top5EdgeShare         float64 `json:"top5_edge_share"`
	Clustering            float64 `json:"clustering"`
	LargestComponent      int     `json:"largest_component"`
	LargestComponentShare float64 `json:"largest_component_share"`
	Class                 string  `json:"class"`
	Reason                string  `json:"reason"`
}

func measures(s graph.Structure) Measures {
	return Measures{s.Members, s.Connected, s.ConnectedShare, s.Edges, s.Density, s.Centralization, s.Top1EdgeShare,
		s.Top5EdgeShare, s.Clustering, s.LargestComponent, s.LargestComponentShare, string(s.Class), s.Reason}
}

// BusRisk is graph.BusRisk with the members named.
type BusRisk struct {
	K                          int      `json:"k"`
	Removed                    []Member `json:"removed"`
	PairsBefore                int64    `json:"pairs_before"`
	PairsAfter                 int64    `json:"pairs_after"`
	PairShareLost              float64  `json:"pair_share_lost"`
	EdgeShareLost              float64  `json:"edge_share_lost"`
	LargestComponentAfter      int      `json:"largest_component_after"`
	LargestComponentShareAfter float64  `json:"largest_component_share_after"`
}

// TrendPoint is one month of the community's structure: the last week
// that ended in the month (community_structure_monthly).
type TrendPoint struct {
	Month                 string  `json:"month"` // YYYY-MM-01
	ComputedAt            string  `json:"computed_at"`
	Class                 string  `json:"class"`
	Members               uint32  `json:"members"`
	ConnectedShare        float64 `json:"connected_share"`
	Centralization        float64 `json:"centralization"`
	Top1EdgeShare         float64 `json:"top1_edge_share"`
	Top5EdgeShare         float64 `json:"top5_edge_share"`
	Density               float64 `json:"density"`
	Clustering            float64 `json:"clustering"`
	LargestComponentShare float64 `json:"largest_component_share"`
	BusPairsLostK1        float64 `json:"bus_pairs_lost_k1"`
	BusPairsLostK3        float64 `json:"bus_pairs_lost_k3"`
	BusPairsLostK5        float64 `json:"bus_pairs_lost_k5"`
}

// Summary is a community's (or a segment's) structure now, its bus risk
// and, for the whole community, the monthly trend.
type Summary struct {
	Community string    `json:"community"`
	Segment   string    `json:"segment,omitempty"` // kind:value, or empty: the whole community
	AsOf      time.Time `json:"as_of"`
	Measures  Measures  `json:"measures"`
	BusRisk   []BusRisk `json:"bus_risk"` // k = 1, 3, 5
	// Trend is the whole community's, oldest month first, at most
	// TrendMonths months; empty for a segment (the processor tracks the
	// community only).
	Trend []TrendPoint `json:"trend"`
}

// TrendMonths is how many months of trend a Summary carries.
const TrendMonths = 24

// BusRiskK are the k of the bus risk.
var BusRiskK = []int{1, 3, 5}

// Summarize measures the community's graph now (or the segment's induced
// subgraph) and reads the monthly trend.
func Summarize(ctx context.Context, conn driver.Conn, community string, seg *Segment) (*Summary, error) {
	g, err := LoadGraph(ctx, conn, community, Load{Segment: seg})
	if err != nil {
		return nil, err
	}
	st, risks := graph.Analyze(len(g.IDs), g.Edges, BusRiskK...)
	sum := &Summary{Community: community, AsOf: time.Now().UTC(), Measures: measures(st), BusRisk: busRisks(g, risks), Trend: []TrendPoint{}}
	if seg != nil {
		sum.Segment = seg.String()
		return sum, nil
	}
	if sum.Trend, err = trend(ctx, conn, community); err != nil {
		return nil, err
	}
	return sum, nil
}

func busRisks(g *Graph, risks []graph.BusRisk) []BusRisk {
	var out []BusRisk
	for _, r := range risks {
		b := BusRisk{K: r.K, Removed: []Member{}, PairsBefore: r.PairsBefore, PairsAfter: r.PairsAfter, PairShareLost: r.PairShareLost,
			EdgeShareLost: r.EdgeShareLost, LargestComponentAfter: r.LargestComponentAfter, LargestComponentShareAfter: r.LargestComponentShareAfter}
		for _, v := range r.Removed {
			b.Removed = append(b.Removed, g.member(v))
		}
		out = append(out, b)
	}
	return out
}

func trend(ctx context.Context, conn driver.Conn, community string) ([]TrendPoint, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"community": community,
		"months": fmt.Sprint(TrendMonths)}))
	rows, err := conn.Query(ctx, `SELECT toString(month), toString(computed_at), toString(class), members, connected_share, centralization,
			top1_edge_share, top5_edge_share, density, clustering, largest_component_share,
			bus_pairs_lost_k1, bus_pairs_lost_k3, bus_pairs_lost_k5
		FROM (SELECT * FROM community_structure_monthly WHERE community = {community:String} ORDER BY month DESC LIMIT {months:UInt32})
		ORDER BY month`)
	if err != nil {
		return nil, fmt.Errorf("structure: trend: %w", err)
	}
	defer rows.Close()
	out := []TrendPoint{}
	for rows.Next() {
		var p TrendPoint
		if err := rows.Scan(&p.Month, &p.ComputedAt, &p.Class, &p.Members, &p.ConnectedShare, &p.Centralization, &p.Top1EdgeShare,
			&p.Top5EdgeShare, &p.Density, &p.Clustering, &p.LargestComponentShare, &p.BusPairsLostK1, &p.BusPairsLostK3, &p.BusPairsLostK5); err != nil {
			return nil, fmt.Errorf("structure: trend: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SegmentStructure is one segment's class and measures.
type SegmentStructure struct {
	Segment  string   `json:"segment"`
	Measures Measures `json:"measures"`
}

// MaxSegmentsPerKind bounds Segments.
const MaxSegmentsPerKind = 200

// Segments classifies the largest segments of each kind (at most limit
// per kind, by members in the community graph, then by value; segments
// with fewer than minMembers members are left out): each its induced
// subgraph of the community-level graph.
func Segments(ctx context.Context, conn driver.Conn, community string, limit, minMembers int) ([]SegmentStructure, error) {
	if limit < 1 || limit > MaxSegmentsPerKind {
		return nil, InputError{"limit", fmt.Sprintf("an integer 1..%d", MaxSegmentsPerKind), fmt.Sprint(limit)}
	}
	if minMembers < 1 {
		return nil, InputError{"min_members", "an integer ≥ 1", fmt.Sprint(minMembers)}
	}
	g, err := LoadGraph(ctx, conn, community, Load{})
	if err != nil {
		return nil, err
	}
	out := []SegmentStructure{}
	for _, kind := range Kinds {
		groups, err := segmentMembers(ctx, conn, g, kind)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, grp := range groups {
			if len(grp.nodes) < minMembers || n == limit {
				continue
			}
			n++
			sub := induced(g, grp.nodes)
			out = append(out, SegmentStructure{Segment: kind + ":" + grp.value, Measures: measures(graph.Measure(len(grp.nodes), sub))})
		}
	}
	return out, nil
}

type segmentGroup struct {
	value string
	nodes []int // increasing
}

// segmentMembers returns every value of kind with its members among g's
// nodes, by decreasing members, then by value.
func segmentMembers(ctx context.Context, conn driver.Conn, g *Graph, kind string) ([]segmentGroup, error) {
	ctx = clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{"community": g.Community}))
	rows, err := conn.Query(ctx, `SELECT value, member_id FROM (`+segmentSQL[kind]+`) ORDER BY value, member_id`)
	if err != nil {
		return nil, fmt.Errorf("structure: segments by %s: %w", kind, err)
	}
	defer rows.Close()
	var groups []segmentGroup
	for rows.Next() {
		var value, id string
		if err := rows.Scan(&value, &id); err != nil {
			return nil, fmt.Errorf("structure: segments by %s: %w", kind, err)
		}
		i, ok := g.index[id]
		if !ok {
			continue
		}
		if len(groups) == 0 || groups[len(groups)-1].value != value {
			groups = append(groups, segmentGroup{value: value})
		}
		last := &groups[len(groups)-1]
		last.nodes = append(last.nodes, i)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range groups {
		slices.Sort(groups[i].nodes)
	}
	sortGroups(groups)
	return groups, nil
}

// induced returns the edges of g among nodes (increasing), renumbered
// 0..len(nodes)-1 in that order.
func induced(g *Graph, nodes []int) []graph.WeightedEdge {
	at := make(map[uint32]uint32, len(nodes))
	for k, v := range nodes {
		at[uint32(v)] = uint32(k)
	}
	var out []graph.WeightedEdge
	for _, e := range g.Edges {
		a, okA := at[e.A]
		b, okB := at[e.B]
		if okA && okB {
			out = append(out, graph.WeightedEdge{A: a, B: b, Weight: e.Weight})
		}
	}
	return out
}

// sortGroups orders groups by decreasing members, then by value.
func sortGroups(groups []segmentGroup) {
	slices.SortStableFunc(groups, func(a, b segmentGroup) int {
		return cmp.Or(cmp.Compare(len(b.nodes), len(a.nodes)), strings.Compare(a.value, b.value))
	})
}
