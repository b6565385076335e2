-- The remaining health metrics at the grain dashboards read: per
-- community and period, computed by the rollup refresher (0017) whenever
-- a period changes, so a 90-day metric reads a few hundred rows instead of
-- every member or item of the range.

-- community_periods, more columns: absence_factor (the fewest members
-- making half of the period's contributions in the segment: CHAOSS
-- contributor absence factor), last_contributors (members whose last
-- contribution ever falls in the period: they are the inactive ones once
-- it is old enough) and new_of_type (dimension 'type' only: members whose
-- first activity of the segment's type falls in the period).
ALTER TABLE community_periods ADD COLUMN IF NOT EXISTS absence_factor UInt32 AFTER new_contributors;
ALTER TABLE community_periods ADD COLUMN IF NOT EXISTS last_contributors UInt32 AFTER absence_factor;
ALTER TABLE community_periods ADD COLUMN IF NOT EXISTS new_of_type UInt32 AFTER last_contributors;
-- dimension '' only: elephant_factor (the fewest organizations whose
-- members make half of the contributions that name one), organizations,
-- organization_contributions.
ALTER TABLE community_periods ADD COLUMN IF NOT EXISTS elephant_factor UInt32 AFTER new_of_type;
ALTER TABLE community_periods ADD COLUMN IF NOT EXISTS organizations UInt32 AFTER elephant_factor;
ALTER TABLE community_periods ADD COLUMN IF NOT EXISTS organization_contributions UInt64 AFTER organizations;

-- organization_daily: per community, day, organization (the activity
-- attribute "organization": connectors and imports set it when the
-- platform says) and type, the distinct activities; bots and teammates
-- left out. Exact and idempotent, like the rollups of 0009.
CREATE TABLE IF NOT EXISTS organization_daily
(
    community    LowCardinality(String),
    day          Date,
    organization String,
    type         LowCardinality(String),
    events       AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (community, day, organization, type);

CREATE MATERIALIZED VIEW IF NOT EXISTS organization_daily_mv TO organization_daily AS
SELECT community, toDate(occurred_at) AS day, attributes['organization'] AS organization, type, uniqExactState(event_id) AS events
FROM activities_raw
WHERE attributes['organization'] != '' AND NOT is_bot AND attributes['teammate'] != 'true'
GROUP BY community, day, organization, type;

INSERT INTO organization_daily
SELECT community, toDate(occurred_at) AS day, attributes['organization'] AS organization, type, uniqExactState(event_id)
FROM activities_raw
WHERE attributes['organization'] != '' AND NOT is_bot AND attributes['teammate'] != 'true'
GROUP BY community, day, organization, type;

-- Tags: an activity's attribute "tags" (comma-separated; the Discourse
-- connector sets a topic's tags) makes the dimension 'tag', one segment
-- per tag, in the rollups below and in health_by.
ALTER TABLE member_periods MODIFY COLUMN dimension Enum8('' = 0, 'source' = 1, 'channel' = 2, 'type' = 3, 'tag' = 4);
ALTER TABLE community_periods MODIFY COLUMN dimension Enum8('' = 0, 'source' = 1, 'channel' = 2, 'type' = 3, 'tag' = 4);

-- The view's columns follow the new type.
CREATE OR REPLACE VIEW member_periods_resolved AS
SELECT community, unit, dimension, period_start, segment, identity_key,
       dictGetOrDefault('identity_member_dict', 'member_key', identity_key, identity_key) AS member_key,
       is_bot, is_teammate, activities, contributions
FROM member_periods FINAL
SETTINGS do_not_merge_across_partitions_select_final = 1;

-- identity_tag_daily: per community, day, identity, type and tag, the
-- distinct activities (exact and idempotent, like identity_daily).
CREATE TABLE IF NOT EXISTS identity_tag_daily
(
    community   LowCardinality(String),
    day         Date,
    identity    String,
    type        LowCardinality(String),
    tag         String,
    is_bot      Bool,
    is_teammate Bool,
    events      AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (community, day, identity, type, tag, is_bot, is_teammate);

CREATE MATERIALIZED VIEW IF NOT EXISTS identity_tag_daily_mv TO identity_tag_daily AS
SELECT community, toDate(occurred_at) AS day, identity, type, trimBoth(t) AS tag, is_bot,
       attributes['teammate'] = 'true' AS is_teammate, uniqExactState(event_id) AS events
FROM activities_raw
ARRAY JOIN splitByChar(',', attributes['tags']) AS t
WHERE attributes['tags'] != '' AND trimBoth(t) != ''
GROUP BY community, day, identity, type, tag, is_bot, is_teammate;

INSERT INTO identity_tag_daily
SELECT community, toDate(occurred_at) AS day, identity, type, trimBoth(t) AS tag, is_bot,
       attributes['teammate'] = 'true' AS is_teammate, uniqExactState(event_id)
FROM activities_raw
ARRAY JOIN splitByChar(',', attributes['tags']) AS t
WHERE attributes['tags'] != '' AND trimBoth(t) != ''
GROUP BY community, day, identity, type, tag, is_bot, is_teammate;

-- identity_type_firsts: per community, identity and activity type, the
-- first activity (the refresher's copy: it notices when one moves
-- earlier, and recomputes the period that counted it new).
CREATE TABLE IF NOT EXISTS identity_type_firsts
(
    community    LowCardinality(String),
    identity_key UInt64,
    type         LowCardinality(String),
    first_at     SimpleAggregateFunction(min, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (community, identity_key, type);

-- community_cohorts: per community, month and cohort (the month of the
-- members' first activity), the cohort's members active in the month,
-- bots and teammates left out. A row no longer true is deleted.
CREATE TABLE IF NOT EXISTS community_cohorts
(
    community  LowCardinality(String),
    month      Date,
    cohort     Date,
    active     UInt32,
    version    UInt64,
    is_deleted UInt8
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (community, month, cohort);

-- rollup_dirty_cohorts: months whose cohorts changed without an activity
-- in them (a member active there got an earlier first activity).
CREATE TABLE IF NOT EXISTS rollup_dirty_cohorts
(
    community   LowCardinality(String),
    month       Date,
    inserted_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (inserted_at, community, month)
TTL toDateTime(inserted_at) + INTERVAL 30 DAY;

-- item_periods: per community, period (as member_periods) and item type,
-- the items opened, those answered, the exact median and p90 seconds to
-- the first response, and how many were answered within each whole number
-- of hours (response_hours: h → answered in more than h − 1 and at most h
-- hours; any SLO in hours sums them). A row no longer true is deleted.
CREATE TABLE IF NOT EXISTS item_periods
(
    community        LowCardinality(String),
    unit             Enum8('day' = 1, 'week' = 2, 'month' = 3),
    period_start     Date,
    item_type        LowCardinality(String),
    opened           UInt32,
    responded        UInt32,
    median_seconds   Nullable(Float64),
    p90_seconds      Nullable(Float64),
    response_hours   Map(UInt32, UInt64),
    version          UInt64,
    is_deleted       UInt8
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (community, unit, period_start, item_type);

-- community_connections: per community and period, the pairs of members
-- who interacted directly, and how many of those pairs had also
-- interacted in the period before.
CREATE TABLE IF NOT EXISTS community_connections
(
    community    LowCardinality(String),
    unit         Enum8('day' = 1, 'week' = 2, 'month' = 3),
    period_start Date,
    connections  UInt32,
    recurring    UInt32,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (community, unit, period_start);

-- The new columns and tables are filled by a first build: the next
-- refresh rebuilds every rollup (progress in the log).
TRUNCATE TABLE IF EXISTS rollup_state;

-- contributor_absence(community, period, from, to): per period, the
-- contributor absence factor, the contributions and the contributors.
CREATE OR REPLACE VIEW contributor_absence AS
SELECT period_start, absence_factor, contributions, contributors
FROM community_periods FINAL
WHERE community = {community:String} AND unit = {period:String} AND dimension = ''
  AND period_start BETWEEN toDate(dateTrunc({period:String}, {from:Date})) AND {to:Date}
ORDER BY period_start;

-- elephant_factor(community, period, from, to): per period, the CHAOSS
-- elephant factor where organizations are known, the contributions that
-- name an organization, and the organizations.
CREATE OR REPLACE VIEW elephant_factor AS
SELECT period_start, elephant_factor, organization_contributions AS contributions, organizations
FROM community_periods FINAL
WHERE community = {community:String} AND unit = {period:String} AND dimension = '' AND organizations > 0
  AND period_start BETWEEN toDate(dateTrunc({period:String}, {from:Date})) AND {to:Date}
ORDER BY period_start;

-- elephant_factor_range(community, from, to): the factor over any range
-- of days, as one row.
CREATE OR REPLACE VIEW elephant_factor_range AS
SELECT countIf(cum - c < total / 2) AS elephant_factor, any(total) AS contributions, count() AS organizations
FROM (
    SELECT c, sum(c) OVER (ORDER BY c DESC, organization ROWS UNBOUNDED PRECEDING) AS cum, sum(c) OVER () AS total
    FROM (
        SELECT organization, uniqExactMerge(events) AS c
        FROM organization_daily
        WHERE community = {community:String} AND day BETWEEN {from:Date} AND {to:Date}
          AND dictGetOrDefault('activity_type_dict', 'contribution', tuple(toString(type)), toUInt8(0)) = 1
        GROUP BY organization
    )
);

-- contributor_absence_range(community, from, to): the factor over any
-- range of days, from the member rows (slower: for analysts).
CREATE OR REPLACE VIEW contributor_absence_range AS
SELECT countIf(cum - c < total / 2) AS absence_factor, any(total) AS contributions, count() AS contributors
FROM (
    SELECT c, sum(c) OVER (ORDER BY c DESC, member_key ROWS UNBOUNDED PRECEDING) AS cum, sum(c) OVER () AS total
    FROM (SELECT member_key, contributions AS c FROM member_contributions(community = {community:String}, from = {from:Date}, to = {to:Date}))
);

-- inactive_contributors(community, period, from, to, as_of,
-- inactive_days): per period, the members whose last contribution falls
-- in it, on a day before (day of as_of) − inactive_days.
CREATE OR REPLACE VIEW inactive_contributors AS
SELECT toDate(dateTrunc({period:String}, d)) AS period_start, sum(n) AS inactive_contributors
FROM (
    SELECT period_start AS d, last_contributors AS n FROM community_periods FINAL
    WHERE community = {community:String} AND unit = 'day' AND dimension = '' AND last_contributors > 0
      AND period_start BETWEEN {from:Date} AND {to:Date}
      AND period_start < toDate({as_of:DateTime64(3)}) - {inactive_days:UInt32}
)
GROUP BY period_start
ORDER BY period_start;

-- new_contributors(community, period, from, to): per period and
-- contribution type, the members whose first activity of that type falls
-- in the period.
CREATE OR REPLACE VIEW new_contributors AS
SELECT period_start, segment AS type, new_of_type AS new_contributors
FROM community_periods FINAL
WHERE community = {community:String} AND unit = {period:String} AND dimension = 'type' AND new_of_type > 0
  AND period_start BETWEEN toDate(dateTrunc({period:String}, {from:Date})) AND {to:Date}
  AND dictGetOrDefault('activity_type_dict', 'contribution', tuple(segment), toUInt8(0)) = 1
ORDER BY period_start, type;

-- retention_cohorts(community, from, to): per cohort (first-activity
-- month in the range) and month of the range from it on, the cohort's
-- size, its members active and their share.
CREATE OR REPLACE VIEW retention_cohorts AS
SELECT c.cohort AS cohort, dateDiff('month', c.cohort, c.month) AS month_offset, s.active AS cohort_size, c.active AS active,
       round(c.active / s.active, 6) AS share
FROM (
    SELECT month, cohort, active FROM community_cohorts FINAL
    WHERE community = {community:String} AND month BETWEEN toStartOfMonth({from:Date}) AND {to:Date}
      AND cohort >= toStartOfMonth({from:Date})
) AS c
INNER JOIN (
    SELECT cohort, active FROM community_cohorts FINAL
    WHERE community = {community:String} AND month = cohort AND cohort BETWEEN toStartOfMonth({from:Date}) AND {to:Date}
) AS s ON s.cohort = c.cohort
ORDER BY cohort, month_offset;

-- time_to_first_response(community, period, from, to, slo_hours): per
-- period and item type, the items opened, answered, the response rate,
-- the median and p90 seconds to the first response, and the share of
-- opened items answered within slo_hours.
CREATE OR REPLACE VIEW time_to_first_response AS
SELECT period_start, item_type, opened, responded, response_rate, median_seconds, p90_seconds, within_slo FROM (
SELECT period_start, item_type, opened, responded, round(responded / opened, 6) AS response_rate,
       median_seconds, p90_seconds,
       round(arraySum(mapValues(mapFilter((h, n) -> h <= {slo_hours:UInt32}, response_hours))) / opened, 6) AS within_slo
FROM item_periods FINAL
WHERE community = {community:String} AND unit = {period:String} AND opened > 0
  AND period_start BETWEEN toDate(dateTrunc({period:String}, {from:Date})) AND {to:Date})
ORDER BY period_start, item_type;

-- recurring_connections(community, period, from, to): per period, the
-- pairs of members who interacted directly, how many of them had also
-- interacted in the period before (recurring), and the share.
CREATE OR REPLACE VIEW recurring_connections AS
SELECT period_start, connections, recurring, round(recurring / connections, 6) AS recurring_share
FROM community_connections FINAL
WHERE community = {community:String} AND unit = {period:String} AND connections > 0
  AND period_start BETWEEN toDate(dateTrunc({period:String}, {from:Date})) AND {to:Date}
ORDER BY period_start;

-- community_network(community): the network view for one community,
-- reading only its members and edges.
CREATE OR REPLACE VIEW community_network AS
SELECT m.members AS members, c.connected AS connected_members, e.edges AS edges,
       if(m.members < 2, 0, e.edges / (m.members * (m.members - 1) / 2)) AS density, e.strength AS strength
FROM (SELECT count() AS members FROM members WHERE community = {community:String} AND NOT is_bot) AS m
CROSS JOIN (SELECT count() AS edges, sum(strength) AS strength FROM member_edges WHERE community = {community:String}) AS e
CROSS JOIN (
    SELECT uniqExact(member) AS connected FROM (
        SELECT member_a AS member FROM member_edges WHERE community = {community:String}
        UNION ALL SELECT member_b AS member FROM member_edges WHERE community = {community:String})
) AS c;

-- health_including(community, period, from, to, dimension, bots,
-- teammates): health per period and segment (dimension '' for the totals,
-- 'source', 'channel', 'type', 'tag' or 'level'), bots and teammates
-- counted when asked. From the member rows at query time: slower than
-- the dashboard rollups, which leave them out.
CREATE OR REPLACE VIEW health_including AS
WITH {dimension:String} AS dim, {period:String} AS u
SELECT p.period_start AS period_start, if(dim = 'level', toString(lv.orbit_level), p.segment) AS segment,
       uniqExact(p.member_key) AS active_members, sum(p.activities) AS activities,
       uniqExactIf(p.member_key, p.contributions > 0) AS contributors, sum(p.contributions) AS contributions,
       uniqExactIf(p.member_key, l.first_at > 0 AND toDate(dateTrunc(u, l.first_at)) = p.period_start) AS new_members,
       uniqExactIf(p.member_key, l.first_contribution_at IS NOT NULL
                   AND toDate(dateTrunc(u, l.first_contribution_at)) = p.period_start) AS new_contributors
FROM (
    SELECT period_start, segment, member_key, activities, contributions FROM member_periods_resolved
    WHERE community = {community:String} AND unit = u AND dimension = if(dim = 'level', '', dim)
      AND period_start BETWEEN toDate(dateTrunc(u, {from:Date})) AND {to:Date}
      AND (NOT is_bot OR {bots:Bool}) AND (NOT is_teammate OR {teammates:Bool})
) AS p
LEFT JOIN (
    SELECT cityHash64(community, member_id) AS member_key, orbit_level FROM members
    WHERE dim = 'level' AND community = {community:String}
) AS lv ON lv.member_key = p.member_key
LEFT JOIN (
    SELECT member_key, first_at, first_contribution_at
    FROM member_lifetimes(community = {community:String}, lo = toDate(dateTrunc(u, {from:Date})), hi = {to:Date})
) AS l ON l.member_key = p.member_key
GROUP BY period_start, segment
ORDER BY period_start, segment;
