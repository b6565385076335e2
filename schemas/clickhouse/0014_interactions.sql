-- interactions_daily: per community and day, each pair of identities that
-- interacted directly (a reply, mention, review … from one to the other),
-- with the distinct activities; maintained from activities_raw, idempotent.
CREATE TABLE IF NOT EXISTS interactions_daily
(
    community LowCardinality(String),
    day       Date,
    actor     String,
    target    String,
    kind      LowCardinality(String),
    events    AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (community, day, actor, target, kind);

CREATE MATERIALIZED VIEW IF NOT EXISTS interactions_daily_mv TO interactions_daily AS
SELECT community, toDate(occurred_at) AS day, identity AS actor, target, kind, uniqExactState(event_id) AS events
FROM activities_raw
ARRAY JOIN target_member_ids AS target, target_kinds AS kind
WHERE NOT is_bot AND target != identity
GROUP BY community, day, actor, target, kind;

INSERT INTO interactions_daily
SELECT community, toDate(occurred_at) AS day, identity AS actor, target, kind, uniqExactState(event_id)
FROM activities_raw
ARRAY JOIN target_member_ids AS target, target_kinds AS kind
WHERE NOT is_bot AND target != identity
GROUP BY community, day, actor, target, kind;

-- recurring_connections(community, period, from, to): per period, the
-- pairs of members who interacted directly, how many of them had also
-- interacted in the period before (recurring), and the share.
CREATE OR REPLACE VIEW recurring_connections AS
WITH {period:String} AS unit,
pairs AS (
    SELECT DISTINCT toDate(dateTrunc(unit, day)) AS p, least(a, b) AS x, greatest(a, b) AS y
    FROM (
        SELECT day,
               dictGetOrDefault('member_identity_dict', 'member_id', ({community:String}, actor), actor) AS a,
               dictGetOrDefault('member_identity_dict', 'member_id', ({community:String}, target), target) AS b
        FROM interactions_daily
        WHERE community = {community:String}
          AND day BETWEEN toDate(dateTrunc(unit, {from:Date})) - 31 AND {to:Date}
    )
    WHERE a != b
)
SELECT cur.p AS period_start, count() AS connections, countIf(prev.x != '') AS recurring,
       round(recurring / connections, 6) AS recurring_share
FROM pairs AS cur
LEFT JOIN (SELECT multiIf(unit = 'day', p + 1, unit = 'week', p + 7, addMonths(p, 1)) AS next_p, x, y FROM pairs) AS prev
    ON prev.next_p = cur.p AND prev.x = cur.x AND prev.y = cur.y
WHERE cur.p BETWEEN toDate(dateTrunc(unit, {from:Date})) AND {to:Date}
GROUP BY period_start
ORDER BY period_start;
