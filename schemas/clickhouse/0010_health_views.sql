-- Community health (CHAOSS definitions, ORBIT-MODEL.md §9) over the
-- rollups of 0009. Building blocks are views with every dimension as a
-- column; metrics are parameterized views, called like functions:
--   SELECT * FROM health(community = 'acme', period = 'week', from = '2026-01-05', to = '2026-03-29')
-- Periods are 'day', 'week' (ISO, Monday) or 'month', in UTC. Bots and
-- teammates are left out of the metrics (the building blocks keep them,
-- flagged). Identities are counted as members (member_identities).

-- member_daily: per community, day, member and activity type, source and
-- channel: the activities (distinct events).
CREATE OR REPLACE VIEW member_daily AS
SELECT d.community AS community, d.day AS day,
       if(i.member_id != '', i.member_id, d.identity) AS member_id,
       d.identity AS identity, d.type AS type, d.source AS source, d.channel AS channel,
       d.is_bot AS is_bot, d.is_teammate AS is_teammate, t.contribution AS contribution,
       uniqExactMerge(d.events) AS activities, min(d.first_at) AS first_at, max(d.last_at) AS last_at
FROM identity_daily AS d
LEFT JOIN (SELECT community, identity, argMax(member_id, stream_seq) AS member_id FROM member_identities GROUP BY community, identity) AS i
    ON i.community = d.community AND i.identity = d.identity
LEFT JOIN (SELECT type, argMax(contribution, written_at) AS contribution FROM activity_types GROUP BY type) AS t
    ON t.type = d.type
GROUP BY community, day, member_id, identity, type, source, channel, is_bot, is_teammate, contribution;

-- member_firsts: per community and member, the first and last activity
-- ever, and the first and last contribution (contributor: any at all).
CREATE OR REPLACE VIEW member_firsts AS
SELECT f.community AS community, if(i.member_id != '', i.member_id, f.identity) AS member_id,
       max(f.is_bot) AS is_bot, max(f.is_teammate) AS is_teammate,
       min(f.first_at) AS first_at, max(f.last_at) AS last_at,
       countIf(t.contribution) > 0 AS contributor,
       minIf(f.first_at, t.contribution) AS first_contribution_at,
       maxIf(f.last_at, t.contribution) AS last_contribution_at
FROM (SELECT community, identity, type, max(is_bot) AS is_bot, max(is_teammate) AS is_teammate,
             min(first_at) AS first_at, max(last_at) AS last_at
      FROM identity_firsts GROUP BY community, identity, type) AS f
LEFT JOIN (SELECT community, identity, argMax(member_id, stream_seq) AS member_id FROM member_identities GROUP BY community, identity) AS i
    ON i.community = f.community AND i.identity = f.identity
LEFT JOIN (SELECT type, argMax(contribution, written_at) AS contribution FROM activity_types GROUP BY type) AS t
    ON t.type = f.type
GROUP BY community, member_id;

-- item_responses: every item (an issue, pull request, topic, ticket …: a
-- thread opened by a type with item 'opens'), who opened it and when, and
-- the first response in its thread (a type with item 'responds') by
-- another member, not a bot. Items opened by bots are left out.
CREATE OR REPLACE VIEW item_responses AS
WITH acts AS (
    SELECT a.community AS community, a.thread_id AS thread_id, if(i.member_id != '', i.member_id, a.identity) AS member_id,
           a.type AS type, t.item AS item, a.source AS source, a.channel AS channel, a.is_bot AS is_bot, a.first_at AS first_at
    FROM (SELECT community, thread_id, identity, type, any(source) AS source, any(channel) AS channel,
                 max(is_bot) AS is_bot, min(first_at) AS first_at
          FROM thread_activity GROUP BY community, thread_id, identity, type) AS a
    INNER JOIN (SELECT type, argMax(item, written_at) AS item FROM activity_types GROUP BY type) AS t ON t.type = a.type
    LEFT JOIN (SELECT community, identity, argMax(member_id, stream_seq) AS member_id FROM member_identities GROUP BY community, identity) AS i
        ON i.community = a.community AND i.identity = a.identity
    WHERE t.item != ''
),
opened AS (
    SELECT community, thread_id, argMin(type, first_at) AS item_type, argMin(member_id, first_at) AS opener,
           argMin(is_bot, first_at) AS opener_is_bot, min(first_at) AS opened_at,
           argMin(source, first_at) AS source, argMin(channel, first_at) AS channel
    FROM acts WHERE item = 'opens' GROUP BY community, thread_id
)
SELECT o.community AS community, o.thread_id AS thread_id, o.item_type AS item_type, o.source AS source, o.channel AS channel,
       o.opener AS opener, o.opened_at AS opened_at,
       r.responder != '' AS answered, r.responder AS responder, r.first_response_at AS first_response_at,
       if(answered, dateDiff('second', o.opened_at, r.first_response_at), 0) AS response_seconds
FROM opened AS o
LEFT JOIN (
    SELECT a.community AS community, a.thread_id AS thread_id, min(a.first_at) AS first_response_at,
           argMin(a.member_id, a.first_at) AS responder
    FROM acts AS a
    INNER JOIN opened AS o2 ON o2.community = a.community AND o2.thread_id = a.thread_id
    WHERE a.item = 'responds' AND a.member_id != o2.opener AND NOT a.is_bot AND a.first_at >= o2.opened_at
    GROUP BY a.community, a.thread_id
) AS r ON r.community = o.community AND r.thread_id = o.thread_id
WHERE NOT o.opener_is_bot;

-- health(community, period, from, to): per period in [from, to] (every
-- period, empty ones too): active members, activities, contributors (active
-- with a contribution), contributions, new members (first activity ever in
-- the period) and new contributors (first contribution ever in it).
CREATE OR REPLACE VIEW health AS
WITH {period:String} AS unit
SELECT cal.p AS period_start,
       a.active_members AS active_members, a.volume AS activities,
       a.contributors AS contributors, a.contributions AS contributions,
       n.new_members AS new_members, n.new_contributors AS new_contributors
FROM (
    SELECT DISTINCT toDate(dateTrunc(unit, {from:Date} + number)) AS p
    FROM numbers(toUInt64(greatest(dateDiff('day', {from:Date}, {to:Date}) + 1, 0)))
) AS cal
LEFT JOIN (
    SELECT toDate(dateTrunc(unit, day)) AS p, uniqExact(member_id) AS active_members, sum(activities) AS volume,
           uniqExactIf(member_id, contribution) AS contributors, sumIf(activities, contribution) AS contributions
    FROM member_daily
    WHERE community = {community:String} AND day BETWEEN {from:Date} AND {to:Date} AND NOT is_bot AND NOT is_teammate
    GROUP BY p
) AS a ON a.p = cal.p
LEFT JOIN (
    SELECT p, countIf(kind = 'member') AS new_members, countIf(kind = 'contributor') AS new_contributors
    FROM (
        SELECT toDate(dateTrunc(unit, toDate(first_at))) AS p, 'member' AS kind
        FROM member_firsts
        WHERE community = {community:String} AND NOT is_bot AND NOT is_teammate AND toDate(first_at) BETWEEN {from:Date} AND {to:Date}
        UNION ALL
        SELECT toDate(dateTrunc(unit, toDate(first_contribution_at))) AS p, 'contributor' AS kind
        FROM member_firsts
        WHERE community = {community:String} AND NOT is_bot AND NOT is_teammate AND contributor
          AND toDate(first_contribution_at) BETWEEN {from:Date} AND {to:Date}
    )
    GROUP BY p
) AS n ON n.p = cal.p
ORDER BY period_start;

-- contributor_absence(community, from, to): the fewest members who make
-- half of the contributions in [from, to] (CHAOSS contributor absence
-- factor), with the contributions and contributors behind it.
CREATE OR REPLACE VIEW contributor_absence AS
SELECT countIf(cum - c < total / 2) AS absence_factor, any(total) AS contributions, count() AS contributors
FROM (
    SELECT c, sum(c) OVER (ORDER BY c DESC, member_id ROWS UNBOUNDED PRECEDING) AS cum, sum(c) OVER () AS total
    FROM (
        SELECT member_id, sum(activities) AS c FROM member_daily
        WHERE community = {community:String} AND day BETWEEN {from:Date} AND {to:Date}
          AND contribution AND NOT is_bot AND NOT is_teammate
        GROUP BY member_id
    )
);

-- time_to_first_response(community, period, from, to, slo_hours): per
-- period of opening and item type: items opened, responded, the response
-- rate, the median and 90th percentile time to first response (seconds,
-- of the responded ones; NULL when none was) and the share answered
-- within the SLO.
CREATE OR REPLACE VIEW time_to_first_response AS
SELECT toDate(dateTrunc({period:String}, opened_at)) AS period_start, item_type,
       count() AS opened, countIf(answered) AS responded, round(responded / opened, 6) AS response_rate,
       if(responded > 0, quantileExactInclusiveIf(0.5)(response_seconds, answered), NULL) AS median_seconds,
       if(responded > 0, quantileExactInclusiveIf(0.9)(response_seconds, answered), NULL) AS p90_seconds,
       round(countIf(answered AND response_seconds <= {slo_hours:UInt32} * 3600) / opened, 6) AS within_slo
FROM item_responses
WHERE community = {community:String} AND toDate(opened_at) BETWEEN {from:Date} AND {to:Date}
GROUP BY period_start, item_type
ORDER BY period_start, item_type;

-- retention(community, period, from, to): per period, the members active
-- in the one before, how many of them are active again, and the share.
CREATE OR REPLACE VIEW retention AS
WITH {period:String} AS unit,
active AS (
    SELECT DISTINCT toDate(dateTrunc(unit, day)) AS p, member_id FROM member_daily
    WHERE community = {community:String} AND day BETWEEN {from:Date} AND {to:Date} AND NOT is_bot AND NOT is_teammate
)
SELECT prev.next_p AS period_start, count() AS previous_active, countIf(cur.member_id != '') AS retained,
       round(retained / previous_active, 6) AS retention
FROM (SELECT member_id, multiIf(unit = 'day', p + 1, unit = 'week', p + 7, addMonths(p, 1)) AS next_p FROM active) AS prev
LEFT JOIN active AS cur ON cur.member_id = prev.member_id AND cur.p = prev.next_p
WHERE prev.next_p <= {to:Date}
GROUP BY period_start
ORDER BY period_start;

-- retention_cohorts(community, from, to): members by the month of their
-- first activity (cohorts starting in [from, to]), and for each later
-- month how many were active and the share of the cohort.
CREATE OR REPLACE VIEW retention_cohorts AS
WITH firsts AS (
    SELECT member_id, toStartOfMonth(first_at) AS cohort FROM member_firsts
    WHERE community = {community:String} AND NOT is_bot AND NOT is_teammate
      AND toDate(first_at) BETWEEN toStartOfMonth({from:Date}) AND {to:Date}
)
SELECT f.cohort AS cohort, dateDiff('month', f.cohort, m.month) AS month_offset, any(c.size) AS cohort_size,
       uniqExact(m.member_id) AS active, round(active / cohort_size, 6) AS share
FROM (
    SELECT DISTINCT member_id, toStartOfMonth(day) AS month FROM member_daily
    WHERE community = {community:String} AND day BETWEEN toStartOfMonth({from:Date}) AND {to:Date} AND NOT is_bot AND NOT is_teammate
) AS m
INNER JOIN firsts AS f ON f.member_id = m.member_id
INNER JOIN (SELECT cohort, count() AS size FROM firsts GROUP BY cohort) AS c ON c.cohort = f.cohort
GROUP BY cohort, month_offset
ORDER BY cohort, month_offset;

-- inactive_contributors(community, period, from, to, as_of, inactive_days):
-- contributors whose last contribution is older than inactive_days at
-- as_of, counted in the period of that last contribution.
CREATE OR REPLACE VIEW inactive_contributors AS
SELECT toDate(dateTrunc({period:String}, last_contribution_at)) AS period_start, count() AS inactive_contributors
FROM member_firsts
WHERE community = {community:String} AND contributor AND NOT is_bot AND NOT is_teammate
  AND last_contribution_at < {as_of:DateTime64(3)} - toIntervalDay({inactive_days:UInt32})
  AND toDate(last_contribution_at) BETWEEN {from:Date} AND {to:Date}
GROUP BY period_start
ORDER BY period_start;
