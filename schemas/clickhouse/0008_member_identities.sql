-- member_identities: which member each identity belongs to now. An
-- activity's actor is activities.identity ("source:source_id"); join here
-- to count by member across sources and merges. Written by the scoring
-- processor when an identity is first seen and whenever a merge or unmerge
-- moves it; the latest row per identity (highest stream_seq) holds.
CREATE TABLE IF NOT EXISTS member_identities
(
    community     LowCardinality(String),
    identity      String,
    member_id     String,
    source        LowCardinality(String),
    username      String,
    stream_seq    UInt64,
    updated_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(stream_seq)
ORDER BY (community, identity);
