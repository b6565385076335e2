-- The health metrics read the rollups of 0017 instead of merging the exact
-- states of 0009 per query: same names, parameters and columns (see
-- README.md). A period is counted whole: the periods listed are those that
-- overlap [from, to]. member_daily, member_firsts keep reading the exact
-- rollups for analysts.

-- member_periods_resolved: member_periods with each identity's member
-- (member_key = cityHash64(community, member_id)), the latest rows only
-- (a row's versions share a partition: FINAL merges within partitions).
CREATE OR REPLACE VIEW member_periods_resolved AS
SELECT community, unit, dimension, period_start, segment, identity_key,
       dictGetOrDefault('identity_member_dict', 'member_key', identity_key, identity_key) AS member_key,
       is_bot, is_teammate, activities, contributions
FROM member_periods FINAL
SETTINGS do_not_merge_across_partitions_select_final = 1;

-- member_lifetimes(community, lo, hi): per member (member_key) whose
-- first or last activity or contribution may fall in [lo, hi] (and every
-- member with merged identities), the first and last activity and
-- contribution over all its identities. Filter on the one you need.
CREATE OR REPLACE VIEW member_lifetimes AS
SELECT member_key, max(bot) AS is_bot, max(mate) AS is_teammate, min(fa) AS first_at, max(la) AS last_at,
       min(fc) AS first_contribution_at, max(lc) AS last_contribution_at
FROM (
    SELECT dictGetOrDefault('identity_member_dict', 'member_key', identity_key, identity_key) AS member_key,
           max(is_bot) AS bot, max(is_teammate) AS mate, min(first_at) AS fa, max(last_at) AS la,
           min(first_contribution_at) AS fc, max(last_contribution_at) AS lc
    FROM identity_lifetimes
    WHERE community = {community:String} AND identity_key IN (
        SELECT identity_key FROM identity_lifetimes
        WHERE community = {community:String}
          AND (toDate(first_at) BETWEEN {lo:Date} AND {hi:Date} OR toDate(last_at) BETWEEN {lo:Date} AND {hi:Date}
               OR toDate(first_contribution_at) BETWEEN {lo:Date} AND {hi:Date}
               OR toDate(last_contribution_at) BETWEEN {lo:Date} AND {hi:Date})
        UNION ALL SELECT identity_key FROM identity_member_dict
        UNION ALL SELECT member_key FROM identity_member_dict)
    GROUP BY identity_key
)
GROUP BY member_key;

CREATE OR REPLACE VIEW health AS
WITH {period:String} AS u
SELECT cal.p AS period_start, c.active_members AS active_members, c.activities AS activities,
       c.contributors AS contributors, c.contributions AS contributions,
       c.new_members AS new_members, c.new_contributors AS new_contributors
FROM (
    SELECT DISTINCT toDate(dateTrunc(u, {from:Date} + number)) AS p
    FROM numbers(toUInt64(greatest(dateDiff('day', {from:Date}, {to:Date}) + 1, 0)))
) AS cal
LEFT JOIN (
    SELECT period_start, active_members, activities, contributors, contributions, new_members, new_contributors
    FROM community_periods FINAL
    WHERE community = {community:String} AND unit = {period:String} AND dimension = ''
      AND period_start BETWEEN toDate(dateTrunc(u, {from:Date})) AND {to:Date}
) AS c ON c.period_start = cal.p
ORDER BY period_start;

CREATE OR REPLACE VIEW health_by AS
WITH {dimension:String} AS dim
SELECT period_start, segment, active_members, volume, contributors, contributions
FROM (
    SELECT period_start, segment, active_members, activities AS volume, contributors, contributions
    FROM community_periods FINAL
    WHERE community = {community:String} AND unit = {period:String} AND dim != 'level'
      AND dimension = if(dim = 'level', '', dim)
      AND period_start BETWEEN toDate(dateTrunc({period:String}, {from:Date})) AND {to:Date}
    UNION ALL
    -- by the member's current orbit level: per member, at query time
    SELECT period_start, segment, uniqExact(r.mk) AS active_members, sum(r.n) AS volume,
           uniqExactIf(r.mk, r.c > 0) AS contributors, sum(r.c) AS contributions
    FROM (
        SELECT p.period_start AS period_start, toString(m.orbit_level) AS segment, p.member_key AS mk, p.activities AS n, p.contributions AS c
        FROM member_periods_resolved AS p
        LEFT JOIN (
            SELECT cityHash64(community, member_id) AS member_key, orbit_level FROM members
            WHERE dim = 'level' AND community = {community:String}
        ) AS m ON m.member_key = p.member_key
        WHERE dim = 'level' AND p.community = {community:String} AND p.unit = {period:String} AND p.dimension = ''
          AND p.period_start BETWEEN toDate(dateTrunc({period:String}, {from:Date})) AND {to:Date}
          AND NOT p.is_bot AND NOT p.is_teammate
    ) AS r
    GROUP BY period_start, segment
)
ORDER BY period_start, segment;

-- active_members: DAU, and WAU and MAU over the 7 and 30 days ending each day.
CREATE OR REPLACE VIEW active_members AS
SELECT cal.d AS day, p.active_members AS dau, r.wau AS wau, r.mau AS mau, if(mau = 0, 0, round(dau / mau, 6)) AS dau_mau
FROM (SELECT toDate({from:Date} + number) AS d FROM numbers(toUInt64(greatest(dateDiff('day', {from:Date}, {to:Date}) + 1, 0)))) AS cal
LEFT JOIN (
    SELECT period_start, active_members FROM community_periods FINAL
    WHERE community = {community:String} AND unit = 'day' AND dimension = '' AND period_start BETWEEN {from:Date} AND {to:Date}
) AS p ON p.period_start = cal.d
LEFT JOIN (
    SELECT day, wau, mau FROM community_rolling FINAL WHERE community = {community:String} AND day BETWEEN {from:Date} AND {to:Date}
) AS r ON r.day = cal.d
ORDER BY day;

-- member_contributions(community, from, to): per member, the contributions
-- in [from, to] (whole months from the month rows, the rest from days).
CREATE OR REPLACE VIEW member_contributions AS
SELECT member_key, sum(c) AS contributions
FROM (SELECT member_key, unit, period_start, contributions AS c FROM member_periods_resolved
      WHERE community = {community:String} AND dimension = '' AND contributions > 0 AND NOT is_bot AND NOT is_teammate
        AND ((unit = 'month' AND period_start >= {from:Date} AND addMonths(period_start, 1) - 1 <= {to:Date})
    OR (unit = 'day' AND period_start BETWEEN {from:Date} AND {to:Date}
        AND NOT (toStartOfMonth(period_start) >= {from:Date} AND addMonths(toStartOfMonth(period_start), 1) - 1 <= {to:Date}))))
GROUP BY member_key;

CREATE OR REPLACE VIEW contributor_absence AS
SELECT countIf(cum - c < total / 2) AS absence_factor, any(total) AS contributions, count() AS contributors
FROM (
    SELECT c, sum(c) OVER (ORDER BY c DESC, member_key ROWS UNBOUNDED PRECEDING) AS cum, sum(c) OVER () AS total
    FROM (SELECT member_key, contributions AS c FROM member_contributions(community = {community:String}, from = {from:Date}, to = {to:Date}))
);

CREATE OR REPLACE VIEW retention AS
SELECT period_start, previous_active, retained, round(retained / previous_active, 6) AS retention
FROM community_retention FINAL
WHERE community = {community:String} AND unit = {period:String}
  AND period_start BETWEEN toDate(dateTrunc({period:String}, {from:Date})) AND {to:Date} AND previous_active > 0
ORDER BY period_start;

CREATE OR REPLACE VIEW retention_cohorts AS
WITH firsts AS (
    SELECT member_key, toStartOfMonth(first_at) AS cohort
    FROM member_lifetimes(community = {community:String}, lo = toStartOfMonth({from:Date}), hi = {to:Date})
    WHERE NOT is_bot AND NOT is_teammate AND toDate(first_at) BETWEEN toStartOfMonth({from:Date}) AND {to:Date}
)
SELECT f.cohort AS cohort, dateDiff('month', f.cohort, m.month) AS month_offset, any(c.size) AS cohort_size,
       uniqExact(m.member_key) AS active, round(active / cohort_size, 6) AS share
FROM (
    SELECT DISTINCT member_key, period_start AS month FROM member_periods_resolved
    WHERE community = {community:String} AND unit = 'month' AND dimension = ''
      AND period_start BETWEEN toStartOfMonth({from:Date}) AND {to:Date} AND NOT is_bot AND NOT is_teammate
) AS m
INNER JOIN firsts AS f ON f.member_key = m.member_key
INNER JOIN (SELECT cohort, count() AS size FROM firsts GROUP BY cohort) AS c ON c.cohort = f.cohort
GROUP BY cohort, month_offset
ORDER BY cohort, month_offset;

CREATE OR REPLACE VIEW inactive_contributors AS
SELECT toDate(dateTrunc({period:String}, last_contribution_at)) AS period_start, count() AS inactive_contributors
FROM member_lifetimes(community = {community:String}, lo = {from:Date}, hi = {to:Date})
WHERE last_contribution_at IS NOT NULL AND NOT is_bot AND NOT is_teammate
  AND last_contribution_at < {as_of:DateTime64(3)} - toIntervalDay({inactive_days:UInt32})
  AND toDate(last_contribution_at) BETWEEN {from:Date} AND {to:Date}
GROUP BY period_start
ORDER BY period_start;

CREATE OR REPLACE VIEW burstiness AS
WITH {period:String} AS u
SELECT p AS period_start, n AS activities, round(mean_20, 6) AS mean_20, round(sd_20, 6) AS sd_20, periods_20,
       CAST(periods_20 = 20 AND (n > mean_20 + 2 * sd_20 OR n < mean_20 - 2 * sd_20) AS Bool) AS outside_band
FROM (
    SELECT p, n, avg(n) OVER w AS mean_20, stddevPop(n) OVER w AS sd_20, count() OVER w AS periods_20
    FROM (
        SELECT cal.p AS p, a.n AS n
        FROM (
            SELECT DISTINCT toDate(dateTrunc(u, {from:Date} + number)) AS p
            FROM numbers(toUInt64(greatest(dateDiff('day', {from:Date}, {to:Date}) + 1, 0)))
        ) AS cal
        LEFT JOIN (
            SELECT period_start AS ap, activities AS n FROM community_periods FINAL
            WHERE community = {community:String} AND unit = {period:String} AND dimension = ''
              AND period_start BETWEEN toDate(dateTrunc(u, {from:Date})) AND {to:Date}
        ) AS a ON a.ap = cal.p
    )
    WINDOW w AS (ORDER BY p ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING)
)
ORDER BY period_start;

CREATE OR REPLACE VIEW item_responses AS
SELECT community, thread_id, item_type, source, channel, opener, opened_at, answered, responder, first_response_at, response_seconds
FROM items FINAL;

CREATE OR REPLACE VIEW time_to_first_response AS
SELECT period_start, item_type, opened, responded, response_rate, median_seconds, p90_seconds, within_slo FROM (
SELECT toDate(dateTrunc({period:String}, opened_day)) AS period_start, item_type,
       count() AS opened, countIf(answered) AS responded, round(responded / opened, 6) AS response_rate,
       quantilesExactInclusiveIf(0.5, 0.9)(response_seconds, answered) AS q,
       if(responded > 0, round(q[1], 3), NULL) AS median_seconds, if(responded > 0, round(q[2], 3), NULL) AS p90_seconds,
       round(countIf(answered AND response_seconds <= {slo_hours:UInt32} * 3600) / opened, 6) AS within_slo
FROM items FINAL
WHERE community = {community:String} AND opened_day BETWEEN {from:Date} AND {to:Date}
GROUP BY period_start, item_type)
ORDER BY period_start, item_type
SETTINGS do_not_merge_across_partitions_select_final = 1;

CREATE OR REPLACE VIEW health_daily AS
SELECT community, period_start AS day, active_members, activities, contributors, contributions
FROM community_periods FINAL
WHERE unit = 'day' AND dimension = '';
