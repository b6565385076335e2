-- segment_gravity: community gravity per segment (ORBIT-MODEL.md §6): for
-- each segment ("source:github", "channel:general", "attribute:plan:pro"
-- style keys, "<kind>:<value>") and period, the members active in the
-- segment during the period, per orbit level at its end (bots and
-- teammates left out), weighted commitment and gravity against the same
-- segment's previous period. Segment kinds are configured
-- (scoring.segments); rows are written for segments with members in the
-- period or the one before.
CREATE TABLE IF NOT EXISTS segment_gravity
(
    community           LowCardinality(String),
    segment             String,
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
ORDER BY (community, period, segment, period_start);
