-- Rollups for community health (CHAOSS metrics, ORBIT-MODEL.md §9),
-- maintained by materialized views on activities_raw so that dashboards do
-- not scan raw activities. Every aggregate is idempotent: a batch the sink
-- inserts twice (redelivery after a crash) or an event ingested again
-- changes nothing (distinct event ids, min, max).

-- activity_types: the activity type registry in use (schemas/events),
-- written by the sink at start: which types are contributions, and which
-- open an item awaiting a response or respond in its thread.
CREATE TABLE IF NOT EXISTS activity_types
(
    type          LowCardinality(String),
    weight        Float64,
    contribution  Bool,
    item          LowCardinality(String),
    description   String,
    written_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY type;

-- identity_daily: per community, day (UTC), identity and activity type,
-- source and channel: the distinct activities, and the first and last time.
CREATE TABLE IF NOT EXISTS identity_daily
(
    community   LowCardinality(String),
    day         Date,
    identity    String,
    type        LowCardinality(String),
    source      LowCardinality(String),
    channel     String,
    is_bot      Bool,
    is_teammate Bool,
    events      AggregateFunction(uniqExact, String),
    first_at    SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_at     SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (community, day, identity, type, source, channel, is_bot, is_teammate);

CREATE MATERIALIZED VIEW IF NOT EXISTS identity_daily_mv TO identity_daily AS
SELECT community, toDate(occurred_at) AS day, identity, type, source, channel, is_bot,
       attributes['teammate'] = 'true' AS is_teammate,
       uniqExactState(event_id) AS events, min(occurred_at) AS first_at, max(occurred_at) AS last_at
FROM activities_raw
GROUP BY community, day, identity, type, source, channel, is_bot, is_teammate;

-- What was there before the view (idempotent: inserted twice, it counts once).
INSERT INTO identity_daily
SELECT community, toDate(occurred_at) AS day, identity, type, source, channel, is_bot,
       attributes['teammate'] = 'true' AS is_teammate,
       uniqExactState(event_id), min(occurred_at), max(occurred_at)
FROM activities_raw
GROUP BY community, day, identity, type, source, channel, is_bot, is_teammate;

-- identity_firsts: per community, identity and type, the first and last
-- activity ever (new members and contributors, inactive contributors).
CREATE TABLE IF NOT EXISTS identity_firsts
(
    community   LowCardinality(String),
    identity    String,
    type        LowCardinality(String),
    is_bot      SimpleAggregateFunction(max, Bool),
    is_teammate SimpleAggregateFunction(max, Bool),
    first_at    SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_at     SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (community, identity, type);

CREATE MATERIALIZED VIEW IF NOT EXISTS identity_firsts_mv TO identity_firsts AS
SELECT community, identity, type, max(is_bot) AS is_bot, max(attributes['teammate'] = 'true') AS is_teammate,
       min(occurred_at) AS first_at, max(occurred_at) AS last_at
FROM activities_raw
GROUP BY community, identity, type;

INSERT INTO identity_firsts
SELECT community, identity, type, max(is_bot), max(attributes['teammate'] = 'true'), min(occurred_at), max(occurred_at)
FROM activities_raw
GROUP BY community, identity, type;

-- thread_activity: per community, thread, identity and type, the first
-- time (time to first response: who opened an item, when others first
-- responded in its thread).
CREATE TABLE IF NOT EXISTS thread_activity
(
    community LowCardinality(String),
    thread_id String,
    identity  String,
    type      LowCardinality(String),
    source    SimpleAggregateFunction(any, LowCardinality(String)),
    channel   SimpleAggregateFunction(any, String),
    is_bot    SimpleAggregateFunction(max, Bool),
    first_at  SimpleAggregateFunction(min, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (community, thread_id, identity, type);

CREATE MATERIALIZED VIEW IF NOT EXISTS thread_activity_mv TO thread_activity AS
SELECT community, thread_id, identity, type, any(source) AS source, any(channel) AS channel, max(is_bot) AS is_bot,
       min(occurred_at) AS first_at
FROM activities_raw
WHERE thread_id != ''
GROUP BY community, thread_id, identity, type;

INSERT INTO thread_activity
SELECT community, thread_id, identity, type, any(source), any(channel), max(is_bot), min(occurred_at)
FROM activities_raw
WHERE thread_id != ''
GROUP BY community, thread_id, identity, type;
