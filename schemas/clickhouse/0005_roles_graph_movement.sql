-- role_changes: one row per role gained or lost by a member, with the rule
-- and the numbers that decided it (or the appointment).
CREATE TABLE IF NOT EXISTS role_changes
(
    community     LowCardinality(String),
    member_id     String,
    role          LowCardinality(String),
    changed_at    DateTime64(3, 'UTC'),
    change        Enum8('gained' = 1, 'lost' = 2),
    reason        String,
    model_version LowCardinality(String),
    config_hash   LowCardinality(String),
    stream_seq    UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(changed_at)
ORDER BY (community, member_id, role, changed_at, change);

-- role_rules: the roles of a model version and scoring config, with the
-- cadence a holder is expected to keep (0: none). Written at start.
CREATE TABLE IF NOT EXISTS role_rules
(
    role            LowCardinality(String),
    description     String,
    appointed       Bool,
    cadence_seconds UInt32,
    model_version   LowCardinality(String),
    config_hash     LowCardinality(String),
    written_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (model_version, config_hash, role);

-- member_graph: the weekly graph measures of each connected member, as of
-- the week's end (Monday 00:00 UTC, stream time): degree, weighted degree
-- (= reach then), PageRank over the decayed strengths, and the pocket
-- (a group of members tied by strong edges; -1: none).
CREATE TABLE IF NOT EXISTS member_graph
(
    community       LowCardinality(String),
    computed_at     DateTime64(3, 'UTC'),
    member_id       String,
    degree          UInt32,
    weighted_degree Float64,
    pagerank        Float64,
    pocket          Int32,
    model_version   LowCardinality(String),
    config_hash     LowCardinality(String),
    stream_seq      UInt64
)
ENGINE = ReplacingMergeTree(stream_seq)
PARTITION BY toYYYYMM(computed_at)
ORDER BY (community, computed_at, member_id);

-- member_graph_latest: each community's most recent weekly measures.
CREATE OR REPLACE VIEW member_graph_latest AS
SELECT g.*
FROM member_graph AS g FINAL
WHERE (g.community, g.computed_at) IN (SELECT community, max(computed_at) FROM member_graph GROUP BY community);

-- level_movement: the bottleneck table. Per community and month, for each
-- orbit level a member held at the month's start (0: out of orbit), how
-- many moved up, held, or moved down by its end (bots and teammates left
-- out). Written when stream time enters the next month.
CREATE TABLE IF NOT EXISTS level_movement
(
    community     LowCardinality(String),
    period_start  Date,
    level         UInt8,
    members       UInt32,
    moved_up      UInt32,
    held          UInt32,
    moved_down    UInt32,
    model_version LowCardinality(String),
    config_hash   LowCardinality(String),
    stream_seq    UInt64
)
ENGINE = ReplacingMergeTree(stream_seq)
ORDER BY (community, period_start, level);
