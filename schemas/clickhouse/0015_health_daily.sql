-- health_daily: per community and day, the health basics without
-- parameters, for dashboards that filter by time themselves (Grafana's
-- $__timeFilter): active members, activities, contributors, contributions
-- (bots and teammates left out). Filter on community and day: the filter
-- reaches the rollup.
CREATE OR REPLACE VIEW health_daily AS
SELECT community, day, uniqExact(member_id) AS active_members, sum(n) AS activities,
       uniqExactIf(member_id, contribution) AS contributors, sumIf(n, contribution) AS contributions
FROM (SELECT community, day, member_id, contribution, activities AS n FROM member_daily WHERE NOT is_bot AND NOT is_teammate)
GROUP BY community, day;
