-- Health rollups at the grain dashboards read, so a metric over 90 days
-- answers in milliseconds on a history of 100M activities. The rollups of
-- 0009 stay the exact, idempotent record (distinct event ids); these
-- tables hold plain numbers computed from them by the rollup refresher
-- (services/kit/store/rollups.go, part of the sink in `orbitflow run`),
-- which recomputes whatever changed every few seconds. A recomputed row
-- replaces the previous one (ReplacingMergeTree on version): read them
-- with FINAL. Members are keys here: identity_key = cityHash64(community,
-- identity); identity_member_dict maps the merged ones to their member.

-- rollup_dirty_days, rollup_dirty_threads: which community days and
-- threads received activities, and when; the refresher recomputes those
-- inserted since its last run (rollup_state). Kept 30 days.
CREATE TABLE IF NOT EXISTS rollup_dirty_days
(
    community   LowCardinality(String),
    day         Date,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (inserted_at, community, day)
TTL toDateTime(inserted_at) + INTERVAL 30 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dirty_days_mv TO rollup_dirty_days AS
SELECT community, toDate(occurred_at) AS day, max(now64(3)) AS inserted_at
FROM activities_raw
GROUP BY community, day;

CREATE TABLE IF NOT EXISTS rollup_dirty_threads
(
    community   LowCardinality(String),
    thread_id   String,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (inserted_at, community, thread_id)
TTL toDateTime(inserted_at) + INTERVAL 30 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dirty_threads_mv TO rollup_dirty_threads AS
SELECT community, thread_id, max(now64(3)) AS inserted_at
FROM activities_raw
WHERE thread_id != ''
GROUP BY community, thread_id;

-- rollup_dirty_identities: identities moved by a merge or unmerge; the
-- refresher recomputes the days and threads they were active in.
CREATE TABLE IF NOT EXISTS rollup_dirty_identities
(
    community   LowCardinality(String),
    identity    String,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (inserted_at, community, identity)
TTL toDateTime(inserted_at) + INTERVAL 30 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_dirty_identities_mv TO rollup_dirty_identities AS
SELECT community, identity, now64(3) AS inserted_at
FROM identity_changes
ARRAY JOIN arrayDistinct(arrayConcat(identities, members)) AS identity;

-- rollup_state: how far the refresher got (everything inserted before
-- watermark is in the rollups).
CREATE TABLE IF NOT EXISTS rollup_state
(
    name         LowCardinality(String),
    watermark    DateTime64(3, 'UTC'),
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY name;

-- member_periods: per community, period (unit day, week — ISO, Monday —
-- or month, UTC) and identity: activities and contributions (distinct
-- events), bot and teammate flags. dimension '' holds the totals;
-- 'source', 'channel' and 'type' hold the same split by segment.
CREATE TABLE IF NOT EXISTS member_periods
(
    community     LowCardinality(String),
    unit          Enum8('day' = 1, 'week' = 2, 'month' = 3),
    dimension     Enum8('' = 0, 'source' = 1, 'channel' = 2, 'type' = 3),
    period_start  Date,
    segment       String,
    identity_key  UInt64,
    is_bot        Bool,
    is_teammate   Bool,
    activities    UInt32,
    contributions UInt32,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY (unit, toYYYYMM(period_start))
ORDER BY (community, unit, dimension, period_start, segment, identity_key);

-- community_periods: per community, period and segment (as
-- member_periods), bots and teammates left out: active members,
-- activities, contributors, contributions, and the members whose first
-- activity (first contribution) ever falls in the period.
CREATE TABLE IF NOT EXISTS community_periods
(
    community        LowCardinality(String),
    unit             Enum8('day' = 1, 'week' = 2, 'month' = 3),
    dimension        Enum8('' = 0, 'source' = 1, 'channel' = 2, 'type' = 3),
    period_start     Date,
    segment          String,
    active_members   UInt32,
    activities       UInt64,
    contributors     UInt32,
    contributions    UInt64,
    new_members      UInt32,
    new_contributors UInt32,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (community, unit, dimension, period_start, segment);

-- community_retention: per community and period, the members active in
-- the period before and how many of them are active again.
CREATE TABLE IF NOT EXISTS community_retention
(
    community       LowCardinality(String),
    unit            Enum8('day' = 1, 'week' = 2, 'month' = 3),
    period_start    Date,
    previous_active UInt32,
    retained        UInt32,
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (community, unit, period_start);

-- community_rolling: per community and day, the members active in the 7
-- and the 30 days ending that day (bots and teammates left out).
CREATE TABLE IF NOT EXISTS community_rolling
(
    community LowCardinality(String),
    day       Date,
    wau       UInt32,
    mau       UInt32,
    version   UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (community, day);

-- identity_lifetimes: per community and identity, the first and last
-- activity and contribution (NULL: none yet). min and max: a day
-- recomputed twice changes nothing.
CREATE TABLE IF NOT EXISTS identity_lifetimes
(
    community             LowCardinality(String),
    identity_key          UInt64,
    is_bot                SimpleAggregateFunction(max, Bool),
    is_teammate           SimpleAggregateFunction(max, Bool),
    first_at              SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_at               SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    first_contribution_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    last_contribution_at  SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC')))
)
ENGINE = AggregatingMergeTree
ORDER BY (community, identity_key);

-- items: every item (a thread opened by a type with item 'opens') by the
-- day it opened, with its first response by another member, not a bot (a
-- type with item 'responds'; each member's first response of a kind in
-- the thread, if not before the opening). is_deleted marks items opened
-- by bots and the old row of an item whose opening moved to another day
-- (a second, earlier opening arrived): FINAL leaves them out.
CREATE TABLE IF NOT EXISTS items
(
    community         LowCardinality(String),
    opened_day        Date,
    thread_id         String,
    item_type         LowCardinality(String),
    source            LowCardinality(String),
    channel           String,
    opener            String,
    opened_at         DateTime64(3, 'UTC'),
    answered          Bool,
    responder         String,
    first_response_at Nullable(DateTime64(3, 'UTC')),
    response_seconds  UInt64,
    openings          UInt32,
    version           UInt64,
    is_deleted        UInt8
)
ENGINE = ReplacingMergeTree(version, is_deleted)
PARTITION BY toYYYYMM(opened_day)
ORDER BY (community, opened_day, thread_id);

-- identity_member_dict: identity_key → member_key for the identities
-- merged into another member (the rest are their own member: default to
-- the identity_key). Reloaded every 5–10 seconds.
CREATE DICTIONARY IF NOT EXISTS identity_member_dict
(
    identity_key UInt64,
    member_key   UInt64
)
PRIMARY KEY identity_key
SOURCE(CLICKHOUSE(QUERY 'SELECT cityHash64(community, identity) AS identity_key, cityHash64(community, argMax(member_id, stream_seq)) AS member_key FROM {{database}}.member_identities GROUP BY community, identity HAVING argMax(member_id, stream_seq) != identity'))
LAYOUT(HASHED())
LIFETIME(MIN 5 MAX 10);
