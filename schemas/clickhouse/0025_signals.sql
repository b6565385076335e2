-- Community-qualified signals (services/processors/signals): an activity a
-- signal rule matched, with its evidence. The scoring processor evaluates
-- the rules right after it applies each activity and is the only writer;
-- the API, the command line and the weekly report read.

-- signals: one row per rule and activity. signal_id derives from the
-- community, the rule and the event id, so a replay writes the same row
-- again and the table keeps one (FINAL). The member's level, step and roles
-- are those right after the activity; organization is the activity's
-- "organization" attribute. reasons lists each condition of the rule and
-- what met it. delivered: queued for the rule's targets (a signal on an
-- activity older than a day when evaluated, e.g. a backfill, is recorded
-- but not delivered). Forgetting a member erases its rows.
CREATE TABLE IF NOT EXISTS signals
(
    community     LowCardinality(String),
    signal_id     String,
    rule          LowCardinality(String),
    description   String,
    event_id      String,
    occurred_at   DateTime64(3, 'UTC'),
    member_id     String,
    identity      String,
    display_name  String,
    orbit_level   UInt8,
    orbit_step    UInt8,
    roles         Array(String),
    organization  String,
    source        LowCardinality(String),
    type          LowCardinality(String),
    channel       String,
    title         String,
    url           String,
    keywords      Array(String),
    reasons       Array(String),
    targets       Array(String),
    delivered     Bool,
    stream_seq    UInt64,
    detected_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(stream_seq)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (community, occurred_at, signal_id);
