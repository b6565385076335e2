-- Identity merges and unmerges (ORBIT-MODEL.md §8). A merge takes one
-- member into another: the merged-away member's last row says so in
-- merged_into, and the members view leaves it out; an unmerge brings it
-- back with a newer row. An edge whose interactions were all rebuilt away
-- is written with none, and the member_edges view leaves it out.
ALTER TABLE members_raw ADD COLUMN IF NOT EXISTS merged_into String DEFAULT '' AFTER is_teammate;

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
FROM members_raw FINAL
WHERE merged_into = '';

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
FROM member_edges_raw FINAL
WHERE direct_interactions + indirect_interactions > 0;

-- identity_changes: every merge and unmerge the scoring processor applied,
-- from a command on the stream or from strong evidence (the same e-mail
-- hash), with the members it rebuilt.
CREATE TABLE IF NOT EXISTS identity_changes
(
    community     LowCardinality(String),
    changed_at    DateTime64(3, 'UTC'),
    kind          Enum8('merge' = 1, 'unmerge' = 2),
    members       Array(String),
    identities    Array(String),
    reason        String,
    requested_by  String,
    stream_seq    UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (community, stream_seq, kind);

-- merge_suggestions: possible merges without strong evidence, with the
-- evidence and a confidence (0..1); active is false once the pair is one
-- member or no longer suggested. Rewritten by the scoring processor when
-- identities change.
CREATE TABLE IF NOT EXISTS merge_suggestions
(
    community     LowCardinality(String),
    member_a      String,
    member_b      String,
    evidence      String,
    confidence    Float64,
    active        Bool,
    suggested_at  DateTime64(3, 'UTC'),
    stream_seq    UInt64
)
ENGINE = ReplacingMergeTree(stream_seq)
ORDER BY (community, member_a, member_b);
