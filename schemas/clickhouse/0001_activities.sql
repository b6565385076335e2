-- Activities: one row per normalized activity event (schemas/events v1).
--
-- activities_raw may hold the same event more than once for a short while:
-- a batch that was inserted but not acknowledged (crash, timeout) is
-- delivered again and inserted again. ReplacingMergeTree collapses rows with
-- the same (community, event_id) on merge, and the `activities` view reads
-- with FINAL, so readers never see a duplicate. An event's occurred_at never
-- changes, so its copies always share a partition and always collapse.
CREATE TABLE IF NOT EXISTS activities_raw
(
    event_id           String,
    community          LowCardinality(String),
    source             LowCardinality(String),
    type               LowCardinality(String),
    occurred_at        DateTime64(3, 'UTC'),
    member_id          String,
    identity           String,
    channel            String,
    thread_id          String,
    parent_id          String,
    target_member_ids  Array(String),
    target_kinds       Array(LowCardinality(String)),
    weight             Float32,
    is_bot             Bool,
    received_at        DateTime64(3, 'UTC'),
    actor_username     String,
    actor_display_name String,
    email_sha256       String,
    url                String,
    title              String,
    attributes         Map(String, String),
    schema_version     UInt8,
    stream_seq         UInt64,
    inserted_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (community, event_id);

CREATE OR REPLACE VIEW activities AS
SELECT
    event_id,
    community,
    source,
    type,
    occurred_at,
    member_id,
    identity,
    channel,
    thread_id,
    parent_id,
    target_member_ids,
    target_kinds,
    weight,
    is_bot,
    received_at,
    actor_username,
    actor_display_name,
    email_sha256,
    url,
    title,
    attributes,
    schema_version
FROM activities_raw FINAL;
