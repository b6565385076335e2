-- More community health metrics (see 0010): active members with rolling
-- windows, burstiness, health per segment, and the network's shape.

-- active_members(community, from, to): per day in [from, to], the members
-- active that day (DAU), in the 7 days ending that day (WAU), in the 30
-- days ending that day (MAU), and DAU/MAU (stickiness).
CREATE OR REPLACE VIEW active_members AS
SELECT d AS day, dau, wau, mau, if(mau = 0, 0, round(dau / mau, 6)) AS dau_mau
FROM (
    SELECT cal.d AS d, finalizeAggregation(a.st) AS dau,
           uniqExactMerge(a.st) OVER (ORDER BY toUInt32(cal.d) RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) AS wau,
           uniqExactMerge(a.st) OVER (ORDER BY toUInt32(cal.d) RANGE BETWEEN 29 PRECEDING AND CURRENT ROW) AS mau
    FROM (SELECT toDate({from:Date} - 29 + number) AS d FROM numbers(toUInt64(greatest(dateDiff('day', {from:Date}, {to:Date}) + 30, 0)))) AS cal
    LEFT JOIN (
        SELECT day AS ad, uniqExactState(member_id) AS st FROM member_daily
        WHERE community = {community:String} AND day BETWEEN {from:Date} - 29 AND {to:Date} AND NOT is_bot AND NOT is_teammate
        GROUP BY ad
    ) AS a ON a.ad = cal.d
)
WHERE d >= {from:Date}
ORDER BY day;

-- burstiness(community, period, from, to): per period, the activities and
-- the band of the 20 periods before it (mean ± 2 standard deviations);
-- outside_band once 20 periods are there (start the range 20 periods early).
CREATE OR REPLACE VIEW burstiness AS
WITH {period:String} AS unit
SELECT p AS period_start, n AS activities, round(mean_20, 6) AS mean_20, round(sd_20, 6) AS sd_20, periods_20,
       CAST(periods_20 = 20 AND (n > mean_20 + 2 * sd_20 OR n < mean_20 - 2 * sd_20) AS Bool) AS outside_band
FROM (
    SELECT p, n, avg(n) OVER w AS mean_20, stddevPop(n) OVER w AS sd_20, count() OVER w AS periods_20
    FROM (
        SELECT cal.p AS p, a.n AS n
        FROM (
            SELECT DISTINCT toDate(dateTrunc(unit, {from:Date} + number)) AS p
            FROM numbers(toUInt64(greatest(dateDiff('day', {from:Date}, {to:Date}) + 1, 0)))
        ) AS cal
        LEFT JOIN (
            SELECT toDate(dateTrunc(unit, day)) AS ap, sum(activities) AS n FROM member_daily
            WHERE community = {community:String} AND day BETWEEN {from:Date} AND {to:Date} AND NOT is_bot AND NOT is_teammate
            GROUP BY ap
        ) AS a ON a.ap = cal.p
    )
    WINDOW w AS (ORDER BY p ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING)
)
ORDER BY period_start;

-- health_by(community, period, from, to, dimension): health per period
-- and segment, the segment being the activity's source, channel or type,
-- or the member's current orbit level (dimension = 'source', 'channel',
-- 'type' or 'level'): active members, activities, contributors,
-- contributions.
CREATE OR REPLACE VIEW health_by AS
SELECT toDate(dateTrunc({period:String}, d.day)) AS period_start,
       multiIf({dimension:String} = 'source', d.source, {dimension:String} = 'channel', d.channel,
               {dimension:String} = 'type', d.type, toString(m.orbit_level)) AS segment,
       uniqExact(d.member_id) AS active_members, sum(d.activities) AS volume,
       uniqExactIf(d.member_id, d.contribution) AS contributors, sumIf(d.activities, d.contribution) AS contributions
FROM member_daily AS d
LEFT JOIN (SELECT community, member_id, orbit_level FROM members WHERE community = {community:String}) AS m
    ON m.community = d.community AND m.member_id = d.member_id
WHERE d.community = {community:String} AND d.day BETWEEN {from:Date} AND {to:Date} AND NOT d.is_bot AND NOT d.is_teammate
GROUP BY period_start, segment
ORDER BY period_start, segment;

-- network: per community, the reach graph's shape now: members (not
-- bots), connected members, edges (pairs that interacted), density
-- (edges / (members·(members−1)/2)) and the total strength.
CREATE OR REPLACE VIEW network AS
SELECT m.community AS community, m.members AS members, c.connected AS connected_members, e.edges AS edges,
       if(m.members < 2, 0, e.edges / (m.members * (m.members - 1) / 2)) AS density, e.strength AS strength
FROM (SELECT community, count() AS members FROM members WHERE NOT is_bot GROUP BY community) AS m
LEFT JOIN (SELECT community, count() AS edges, sum(strength) AS strength FROM member_edges GROUP BY community) AS e
    ON e.community = m.community
LEFT JOIN (
    SELECT community, uniqExact(member) AS connected
    FROM (SELECT community, member_a AS member FROM member_edges UNION ALL SELECT community, member_b AS member FROM member_edges)
    GROUP BY community
) AS c ON c.community = m.community;
