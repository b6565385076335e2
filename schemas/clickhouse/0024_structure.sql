-- community_structure: the shape of each community's reach graph, as of
-- each week's end (Monday 00:00 UTC in stream time), computed by the orbit
-- processor with member_graph from the same drained graph (strengths
-- decayed to that time). Members are those in orbit (level 1..4), bots and
-- teammates left out with their edges. The measures and the class
-- thresholds are those of services/kit/graph (Measure, BusRisks): see
-- README.md. A replay writes the same rows (one per community and week).
CREATE TABLE IF NOT EXISTS community_structure
(
    community               LowCardinality(String),
    computed_at             DateTime64(3, 'UTC'),
    members                 UInt32,
    connected               UInt32,
    connected_share         Float64,
    edges                   UInt64,
    density                 Float64,
    centralization          Float64,
    top1_edge_share         Float64,
    top5_edge_share         Float64,
    clustering              Float64,
    largest_component       UInt32,
    largest_component_share Float64,
    class                   LowCardinality(String),
    reason                  String,
    bus_pairs_lost_k1       Float64,
    bus_pairs_lost_k3       Float64,
    bus_pairs_lost_k5       Float64,
    bus_largest_share_k1    Float64,
    bus_largest_share_k3    Float64,
    bus_largest_share_k5    Float64,
    model_version           LowCardinality(String),
    config_hash             LowCardinality(String),
    stream_seq              UInt64
)
ENGINE = ReplacingMergeTree(stream_seq)
PARTITION BY toYYYYMM(computed_at)
ORDER BY (community, computed_at);

-- community_structure_monthly: the trend, one row per community and month:
-- the last week that ended in the month (a week ending Monday 00:00 on the
-- 1st ends the month before).
CREATE OR REPLACE VIEW community_structure_monthly AS
SELECT toStartOfMonth(computed_at - toIntervalMillisecond(1)) AS month, *
FROM community_structure FINAL
ORDER BY community, month, computed_at DESC
LIMIT 1 BY community, month;
