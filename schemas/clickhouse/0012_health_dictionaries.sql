-- Faster health views: the identity → member map and the activity type
-- registry as dictionaries held in memory (reloaded every 5–10 seconds),
-- looked up per row instead of joined per query. A merge or unmerge shows
-- in the health views within ten seconds. {{database}} is the database
-- migrated (the migration runner fills it in).
CREATE DICTIONARY IF NOT EXISTS member_identity_dict
(
    community String,
    identity  String,
    member_id String
)
PRIMARY KEY community, identity
SOURCE(CLICKHOUSE(QUERY 'SELECT community, identity, argMax(member_id, stream_seq) AS member_id FROM {{database}}.member_identities GROUP BY community, identity'))
LAYOUT(COMPLEX_KEY_HASHED())
LIFETIME(MIN 5 MAX 10);

CREATE DICTIONARY IF NOT EXISTS activity_type_dict
(
    type         String,
    contribution UInt8,
    item         String
)
PRIMARY KEY type
SOURCE(CLICKHOUSE(QUERY 'SELECT type, argMax(contribution, written_at) AS contribution, argMax(item, written_at) AS item FROM {{database}}.activity_types GROUP BY type'))
LAYOUT(COMPLEX_KEY_HASHED())
LIFETIME(MIN 5 MAX 10);

CREATE OR REPLACE VIEW member_daily AS
SELECT community, day,
       dictGetOrDefault('member_identity_dict', 'member_id', (toString(community), identity), identity) AS member_id,
       identity, type, source, channel, is_bot, is_teammate,
       dictGetOrDefault('activity_type_dict', 'contribution', tuple(toString(type)), toUInt8(0)) = 1 AS contribution,
       uniqExactMerge(events) AS activities, min(first_at) AS first_at, max(last_at) AS last_at
FROM identity_daily
GROUP BY community, day, identity, type, source, channel, is_bot, is_teammate;

CREATE OR REPLACE VIEW member_firsts AS
SELECT community, member AS member_id,
       max(bot) AS is_bot, max(mate) AS is_teammate, min(fa) AS first_at, max(la) AS last_at,
       countIf(contrib) > 0 AS contributor, minIf(fa, contrib) AS first_contribution_at, maxIf(la, contrib) AS last_contribution_at
FROM (
    SELECT community, is_bot AS bot, is_teammate AS mate, first_at AS fa, last_at AS la,
           dictGetOrDefault('member_identity_dict', 'member_id', (toString(community), identity), identity) AS member,
           dictGetOrDefault('activity_type_dict', 'contribution', tuple(toString(type)), toUInt8(0)) = 1 AS contrib
    FROM identity_firsts
)
GROUP BY community, member_id;

CREATE OR REPLACE VIEW item_responses AS
WITH acts AS (
    SELECT community, thread_id, member_id, type, item, source, channel, is_bot, first_at
    FROM (
        SELECT community, thread_id, identity, type, any(source) AS source, any(channel) AS channel,
               max(is_bot) AS is_bot, min(first_at) AS first_at,
               dictGetOrDefault('member_identity_dict', 'member_id', (toString(community), identity), identity) AS member_id,
               dictGetOrDefault('activity_type_dict', 'item', tuple(toString(type)), '') AS item
        FROM thread_activity
        GROUP BY community, thread_id, identity, type
    )
    WHERE item != ''
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

-- The same metric as in 0010, reading only the community's threads.
CREATE OR REPLACE VIEW time_to_first_response AS
WITH acts AS (
    SELECT thread_id, member_id, type, item, is_bot, first_at
    FROM (
        SELECT thread_id, identity, type, max(is_bot) AS is_bot, min(first_at) AS first_at,
               dictGetOrDefault('member_identity_dict', 'member_id', ({community:String}, identity), identity) AS member_id,
               dictGetOrDefault('activity_type_dict', 'item', tuple(toString(type)), '') AS item
        FROM thread_activity
        WHERE community = {community:String}
          -- only the threads of items opened in the range (read by the primary key)
          AND thread_id IN (
              SELECT thread_id FROM thread_activity
              WHERE community = {community:String} AND toDate(first_at) BETWEEN {from:Date} AND {to:Date}
                AND dictGetOrDefault('activity_type_dict', 'item', tuple(toString(type)), '') = 'opens')
        GROUP BY thread_id, identity, type
    )
    WHERE item != ''
),
opened AS (
    SELECT thread_id, argMin(type, first_at) AS item_type, argMin(member_id, first_at) AS opener,
           argMin(is_bot, first_at) AS opener_is_bot, min(first_at) AS opened_at
    FROM acts WHERE item = 'opens' GROUP BY thread_id
    HAVING toDate(opened_at) BETWEEN {from:Date} AND {to:Date} AND NOT opener_is_bot
),
items AS (
    SELECT o.item_type AS item_type, o.opened_at AS opened_at, r.first_response_at AS first_response_at,
           r.thread_id != '' AS answered,
           if(answered, dateDiff('second', o.opened_at, r.first_response_at), 0) AS response_seconds
    FROM opened AS o
    LEFT JOIN (
        SELECT a.thread_id AS thread_id, min(a.first_at) AS first_response_at
        FROM acts AS a INNER JOIN opened AS o2 ON o2.thread_id = a.thread_id
        WHERE a.item = 'responds' AND a.member_id != o2.opener AND NOT a.is_bot AND a.first_at >= o2.opened_at
        GROUP BY a.thread_id
    ) AS r ON r.thread_id = o.thread_id
)
SELECT toDate(dateTrunc({period:String}, opened_at)) AS period_start, item_type,
       count() AS opened, countIf(answered) AS responded, round(responded / opened, 6) AS response_rate,
       if(responded > 0, quantileExactInclusiveIf(0.5)(response_seconds, answered), NULL) AS median_seconds,
       if(responded > 0, quantileExactInclusiveIf(0.9)(response_seconds, answered), NULL) AS p90_seconds,
       round(countIf(answered AND response_seconds <= {slo_hours:UInt32} * 3600) / opened, 6) AS within_slo
FROM items
GROUP BY period_start, item_type
ORDER BY period_start, item_type;
