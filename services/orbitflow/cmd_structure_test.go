package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/orbitflow/orbitflow/services/api/structure"
)

func TestStructureTable(t *testing.T) {
	a := structure.Member{ID: "github:1", Name: "Ada"}
	s := &structure.Summary{Community: "fx",
		Measures: structure.Measures{Members: 6, Connected: 5, ConnectedShare: 5.0 / 6, Edges: 4, Density: 4.0 / 15, Centralization: 1,
			Top1EdgeShare: 1, Top5EdgeShare: 1, LargestComponent: 5, LargestComponentShare: 5.0 / 6, Class: "hub",
			Reason: "degree centralization 1.00 (hub from 0.50)"},
		BusRisk: []structure.BusRisk{{K: 1, Removed: []structure.Member{a}, PairsBefore: 10, PairShareLost: 1, EdgeShareLost: 1,
			LargestComponentAfter: 1, LargestComponentShareAfter: 0.2}},
		Trend: []structure.TrendPoint{{Month: "2026-11-01", Class: "web", Members: 12, ConnectedShare: 0.75, Centralization: 0.125,
			Top1EdgeShare: 0.25, Top5EdgeShare: 0.5, Clustering: 0.5, LargestComponentShare: 0.75, BusPairsLostK1: 0.1, BusPairsLostK3: 0.3, BusPairsLostK5: 0.5}},
	}
	var b bytes.Buffer
	printStructure(&b, s)
	require.Equal(t, `Structure of fx now (members in orbit; bots and teammates left out)
Class: HUB — degree centralization 1.00 (hub from 0.50)

members                        6        
with any connection            5 (83%)  pool below 50%
connections (edges)            4        
degree centralization          1.00     hub from 0.50 (a star is 1)
edges touching the top member  100%     hub from 50%
edges touching the top 5       100%     hub from 80% with 15+ connected
density                        0.2667   
average clustering             0.00     
largest connected group        5 (83%)  

Bus risk: if the top connectors left
  1. Ada (github:1)
LEAVING  CONNECTED PAIRS LOST  EDGES LOST  LARGEST GROUP LEFT
top 1    100%                  100%        1 (20%)

Monthly trend (the last week of each month)
MONTH    CLASS  MEMBERS  CONNECTED  CENTRALIZATION  TOP 1  TOP 5  CLUSTERING  LARGEST  PAIRS LOST k=1/3/5
2026-11  web    12       75%        0.12            25%    50%    0.50        75%      10%/30%/50%
`, b.String())
}

func TestBridgesAndIntroductionsTables(t *testing.T) {
	m3 := structure.Member{ID: "github:3", Name: "Cy"}
	var b bytes.Buffer
	printBridges(&b, &structure.Bridges{Community: "fx", MinStrength: 5, Exact: true,
		Pockets: []structure.Pocket{{Pocket: 0, Members: 4, Central: m3}, {Pocket: 1, Members: 3, Central: structure.Member{ID: "github:4"}}},
		Pairs: []structure.PocketPair{{PocketA: 0, PocketB: 1, Bridges: []structure.Bridge{{Member: m3, Betweenness: 9, BetweennessShare: 0.6,
			PairBetweenness: 9, PairShare: 1, StrengthA: 30, StrengthB: 30}}}}})
	require.Equal(t, `Pockets of fx (groups held together by ties of at least 5; betweenness exact)
POCKET  MEMBERS  MOST CENTRAL
0       4        Cy (github:3)
1       3        github:4

Bridges (members tied to both pockets, by the share of the shortest paths between the two that run through them)
POCKETS  MEMBER         PATHS BETWEEN THEM  ALL PATHS  TIES TO FIRST  TIES TO SECOND
0–1      Cy (github:3)  100%                60%        30.0           30.0
`, b.String())

	b.Reset()
	printIntroductions(&b, &structure.Introductions{Community: "fx", Member: "github:5", Segment: "organization:acme", SegmentMembers: 3,
		Known: true, Connected: true, Paths: []structure.Introduction{{Target: structure.Member{ID: "github:2", Name: "Bo"}, Hops: 2, Strength: 4,
			Path: []structure.Step{{Member: structure.Member{ID: "github:5"}}, {Member: m3, Tie: 10}, {Member: structure.Member{ID: "github:2"}, Tie: 4}}}}})
	require.Equal(t, `Introductions for github:5 into organization:acme of fx (3 members; paths of at most 3 hops, as strong as their weakest tie)
TARGET         STRENGTH  HOPS  PATH
Bo (github:2)  4.0       2     github:5 —10.0— github:3 —4.0— github:2
`, b.String())

	b.Reset()
	printIntroductions(&b, &structure.Introductions{Community: "fx", Member: "github:9", Segment: "tag:sso", SegmentMembers: 1, Known: true,
		Note:       "github:9 has no connections in the reach graph yet: no one can introduce them along a path; the segment's best-connected members are listed to contact directly",
		Amplifiers: []structure.Amplifier{{Member: m3, Reach: 12.5, Degree: 2, SegmentNeighbours: 0, SegmentReach: 0}}})
	require.Equal(t, `Introductions for github:9 into tag:sso of fx (1 member; paths of at most 3 hops, as strong as their weakest tie)
github:9 has no connections in the reach graph yet: no one can introduce them along a path; the segment's best-connected members are listed to contact directly.

Best-connected members of the segment:
#  MEMBER         REACH  TIES  TIES IN SEGMENT  REACH IN SEGMENT
1  Cy (github:3)  12.5   2     0                0.0
`, b.String())
}

// Command-line mistakes are usage errors naming the flag, before any
// connection is made.
func TestStructureCommandsRejectBadArguments(t *testing.T) {
	ctx := context.Background()
	var out, errs bytes.Buffer
	for _, c := range []struct {
		run  func(context.Context, []string, io.Writer, io.Writer) error
		args []string
		want string
	}{
		{cmdStructure, []string{"--segment", "team:x"}, "structure: --segment: want kind:value"},
		{cmdStructure, []string{"--segment", "tag:x", "--segments"}, "--segments and --segment exclude each other"},
		{cmdIntroduce, []string{"github:1"}, "introduce: --segment is required"},
		{cmdIntroduce, []string{"--segment", "tag:x"}, "introduce: which member?"},
		{cmdIntroduce, []string{"github:1", "--segment", "tag:x", "--limit", "0"}, "introduce: --limit: want 1..200, got 0"},
		{cmdAmplifiers, []string{"--limit", "201"}, "amplifiers: --limit: want 1..200, got 201"},
		{cmdBridges, []string{"--per-pair", "0"}, "bridges: --per-pair: want 1..50, got 0"},
	} {
		err := c.run(ctx, c.args, &out, &errs)
		var ue usageError
		require.True(t, errors.As(err, &ue), "%v: %v", c.args, err)
		require.ErrorContains(t, err, c.want, "%v", c.args)
	}
}
