-- elephant_factor(community, from, to): the fewest organizations whose
-- members make half of the contributions in [from, to] (CHAOSS elephant
-- factor), where organizations are known: the activity attribute
-- "organization" (connectors and imports set it when the platform says,
-- e.g. a CSV column or a JSON attribute). Contributions without one are
-- left out; bots and teammates too. Reads raw activities of the community.
CREATE OR REPLACE VIEW elephant_factor AS
SELECT countIf(cum - c < total / 2) AS elephant_factor, any(total) AS contributions, count() AS organizations
FROM (
    SELECT c, sum(c) OVER (ORDER BY c DESC, organization ROWS UNBOUNDED PRECEDING) AS cum, sum(c) OVER () AS total
    FROM (
        SELECT attributes['organization'] AS organization, uniqExact(event_id) AS c
        FROM activities_raw
        WHERE community = {community:String} AND toDate(occurred_at) BETWEEN {from:Date} AND {to:Date}
          AND attributes['organization'] != '' AND NOT is_bot AND attributes['teammate'] != 'true'
          AND dictGetOrDefault('activity_type_dict', 'contribution', tuple(toString(type)), toUInt8(0)) = 1
        GROUP BY organization
    )
);
