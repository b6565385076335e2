-- Forgetting a member (`orbitflow members forget`): the sink and the
-- scoring processor apply a forget command in stream order, erase what
-- they wrote about the member's identities, and drop every later event of
-- them. They record here what they dropped and that they are done.

-- forgotten_identities: the tombstones, one per identity key and username
-- reference of a forgotten member: HMAC-SHA256 keyed by the deployment
-- salt (events.Salt.Tombstone), never the key. The sink loads them at
-- start; the scoring processor keeps them in its checkpoint.
CREATE TABLE IF NOT EXISTS forgotten_identities
(
    community    LowCardinality(String),
    tombstone    String,
    command_id   String,
    forgotten_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (community, tombstone);

-- forget_log: one row per forget command and stage (sink, scoring) that
-- applied it: the members it found (scoring), the identity keys and
-- username references it erased, the activities it erased (sink). The
-- command line waits for both stages.
CREATE TABLE IF NOT EXISTS forget_log
(
    community  LowCardinality(String),
    command_id String,
    stage      LowCardinality(String),
    members    UInt32,
    identities UInt32,
    activities UInt64,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (community, command_id, stage);
