-- activity_weights: the weight of every activity type under a model
-- version and scoring config, so SQL can explain scores. Written by the
-- scoring processor at start.
CREATE TABLE IF NOT EXISTS activity_weights
(
    type          LowCardinality(String),
    weight        Float64,
    contribution  Bool,
    description   String,
    model_version LowCardinality(String),
    config_hash   LowCardinality(String),
    written_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (model_version, config_hash, type);

-- community_gravity: per community and period, the members per orbit level
-- at the period's end (bots and teammates left out), weighted commitment
-- (Σ level weight² · members) and gravity, its change since the previous
-- period per member (ORBIT-MODEL.md §6). A period's row is written when the
-- stream's time enters the next period.
CREATE TABLE IF NOT EXISTS community_gravity
(
    community           LowCardinality(String),
    period              LowCardinality(String),
    period_start        Date,
    members             UInt32,
    leading             UInt32,
    contributing        UInt32,
    participating       UInt32,
    exploring           UInt32,
    weighted_commitment Float64,
    gravity             Float64,
    model_version       LowCardinality(String),
    config_hash         LowCardinality(String),
    stream_seq          UInt64
)
ENGINE = ReplacingMergeTree(stream_seq)
ORDER BY (community, period, period_start);
