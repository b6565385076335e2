-- new_contributors(community, period, from, to): per period and activity
-- type, the members whose first contribution of that kind falls in the
-- period (their first pull request, first answer …), bots and teammates
-- left out; a member counts once per kind, in the period of the first.
CREATE OR REPLACE VIEW new_contributors AS
SELECT toDate(dateTrunc({period:String}, first_at)) AS period_start, type, count() AS new_contributors
FROM (
    SELECT member, type, min(fa) AS first_at
    FROM (
        SELECT type, first_at AS fa,
               dictGetOrDefault('member_identity_dict', 'member_id', ({community:String}, identity), identity) AS member
        FROM identity_firsts
        WHERE community = {community:String}
          AND dictGetOrDefault('activity_type_dict', 'contribution', tuple(toString(type)), toUInt8(0)) = 1
          AND NOT is_bot AND NOT is_teammate
    )
    GROUP BY member, type
)
WHERE toDate(first_at) BETWEEN {from:Date} AND {to:Date}
GROUP BY period_start, type
ORDER BY period_start, type;
