-- Scores of the Orbit Model, written by the scoring processor
-- (services/processors/orbit). Each row carries the model version and the
-- hash of the scoring config that produced it, and the activity stream
-- sequence it reflects: a replay after a crash writes the same rows again,
-- and ReplacingMergeTree keeps one per key (the highest stream_seq).

-- members_raw: a member's state as of its last change. love and reach are
-- stored with the time they are valid at (love_at, reach_at) and the decay
-- that applies after it, so the members view decays them to now.
CREATE TABLE IF NOT EXISTS members_raw
(
    community       LowCardinality(String),
    member_id       String,
    display_name    String,
    first_seen      DateTime64(3, 'UTC'),
    last_seen       DateTime64(3, 'UTC'),
    love            Float64,
    love_at         DateTime64(3, 'UTC'),
    love_factor     Float64,
    love_period_ms  Float64,
    presence_7d     UInt16,
    presence_30d    UInt16,
    presence_90d    UInt16,
    presence_at     DateTime64(3, 'UTC'),
    orbit_level     UInt8,
    orbit_step      UInt8,
    reach           Float64,
    reach_at        DateTime64(3, 'UTC'),
    reach_factor    Float64,
    reach_period_ms Float64,
    roles           Array(String),
    is_bot          Bool,
    is_teammate     Bool,
    model_version   LowCardinality(String),
    config_hash     LowCardinality(String),
    stream_seq      UInt64,
    updated_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(stream_seq)
ORDER BY (community, member_id);

CREATE OR REPLACE VIEW members AS
WITH
    greatest(dateDiff('millisecond', love_at, now64(3)), 0) AS love_age_ms,
    greatest(dateDiff('millisecond', reach_at, now64(3)), 0) AS reach_age_ms,
    love * pow(love_factor, love_age_ms / love_period_ms) AS love_now,
    reach * pow(reach_factor, reach_age_ms / reach_period_ms) AS reach_now
SELECT
    member_id,
    community,
    display_name,
    first_seen,
    last_seen,
    love_now AS love,
    love_at,
    presence_7d,
    presence_30d,
    presence_90d,
    presence_at,
    orbit_level,
    orbit_step,
    reach_now AS reach,
    love_now * reach_now AS member_gravity,
    roles,
    is_bot,
    is_teammate,
    model_version,
    config_hash,
    updated_at
FROM members_raw FINAL;

-- level_changes: one row per change of a member's orbit step.
CREATE TABLE IF NOT EXISTS level_changes
(
    community     LowCardinality(String),
    member_id     String,
    changed_at    DateTime64(3, 'UTC'),
    from_step     UInt8,
    to_step       UInt8,
    from_level    UInt8,
    to_level      UInt8,
    reason        LowCardinality(String),
    detail        String,
    model_version LowCardinality(String),
    config_hash   LowCardinality(String),
    stream_seq    UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(changed_at)
ORDER BY (community, member_id, changed_at, stream_seq, to_step);

-- member_edges_raw: the reach graph, member_a < member_b.
CREATE TABLE IF NOT EXISTS member_edges_raw
(
    community             LowCardinality(String),
    member_a              String,
    member_b              String,
    direct_interactions   UInt32,
    indirect_interactions UInt32,
    strength              Float64,
    strength_at           DateTime64(3, 'UTC'),
    reach_factor          Float64,
    reach_period_ms       Float64,
    first_interaction_at  DateTime64(3, 'UTC'),
    last_interaction_at   DateTime64(3, 'UTC'),
    model_version         LowCardinality(String),
    config_hash           LowCardinality(String),
    stream_seq            UInt64
)
ENGINE = ReplacingMergeTree(stream_seq)
ORDER BY (community, member_a, member_b);

CREATE OR REPLACE VIEW member_edges AS
SELECT
    community,
    member_a,
    member_b,
    direct_interactions,
    indirect_interactions,
    strength * pow(reach_factor, greatest(dateDiff('millisecond', strength_at, now64(3)), 0) / reach_period_ms) AS strength,
    strength_at,
    first_interaction_at,
    last_interaction_at,
    model_version,
    config_hash
FROM member_edges_raw FINAL;
