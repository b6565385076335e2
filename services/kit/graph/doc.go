// Package graph holds the pure algorithms over the reach graph (members
// tied by decayed interaction strengths, ORBIT-MODEL.md §5): PageRank and
// Pockets (used by the scoring processor every week), and the structure
// of a community: its measures and class (pool, hub or web), its bus risk
// (the connectivity lost when the top connectors leave), betweenness and
// the bridges between pockets, introduction paths into a segment and the
// high-reach members of a segment.
//
// Every function takes a node count n and a list of undirected edges
// (WeightedEdge: nodes 0..n-1, positive finite weights), reads no clock
// and no global state, and returns the same result for the same input:
// the processor and the query API compute the same numbers.
package graph
