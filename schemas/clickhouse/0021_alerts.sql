-- Alerting (services/processors/alerts): every alert episode and every
-- state change, the notifications sent, and the silences. The evaluator
-- is the only writer; the API and analysts read.

-- alerts: one row per episode of a rule's condition for one community and
-- key (a member, a source, or '' for the community or segment). The latest
-- version of each episode wins (FINAL).
CREATE TABLE IF NOT EXISTS alerts
(
    alert_id        String,
    fingerprint     String,
    rule            LowCardinality(String),
    community       LowCardinality(String),
    key             String,
    severity        LowCardinality(String),
    state           LowCardinality(String),
    version         UInt64,
    started_at      DateTime64(3, 'UTC'),
    fired_at        Nullable(DateTime64(3, 'UTC')),
    resolved_at     Nullable(DateTime64(3, 'UTC')),
    acknowledged_at Nullable(DateTime64(3, 'UTC')),
    acknowledged_by String,
    notified_at     Nullable(DateTime64(3, 'UTC')),
    value           Float64,
    baseline        Float64,
    summary         String,
    labels          Map(String, String),
    updated_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(started_at)
ORDER BY (community, rule, alert_id);

-- alert_events: every state change (pending, firing, resolved,
-- acknowledged), also published on the ALERTS stream with event_id as its
-- message id. Inserting a change twice keeps one row.
CREATE TABLE IF NOT EXISTS alert_events
(
    event_id     String,
    alert_id     String,
    version      UInt64,
    rule         LowCardinality(String),
    community    LowCardinality(String),
    key          String,
    severity     LowCardinality(String),
    from_state   LowCardinality(String),
    to_state     LowCardinality(String),
    at           DateTime64(3, 'UTC'),
    value        Float64,
    baseline     Float64,
    summary      String,
    by           String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (community, alert_id, version, event_id);

-- alert_notifications: each grouped notification and the targets it went
-- to (delivery itself is on the stream: deliveries that failed for good
-- are in dead_letters with stage 'alerts').
CREATE TABLE IF NOT EXISTS alert_notifications
(
    notification_id String,
    rule            LowCardinality(String),
    community       LowCardinality(String),
    at              DateTime64(3, 'UTC'),
    status          LowCardinality(String),
    targets         Array(String),
    body            String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (community, at, notification_id);

-- alert_silences: while now is before ends_at, alerts matching rule,
-- community and key ('' matches any) change state but notify no one.
CREATE TABLE IF NOT EXISTS alert_silences
(
    silence_id String,
    rule       String,
    community  String,
    key        String,
    starts_at  DateTime64(3, 'UTC'),
    ends_at    DateTime64(3, 'UTC'),
    comment    String,
    created_by String,
    version    UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY silence_id;

-- role_rules: the activity types that keep a role (role_cadence alerts
-- look for the holder's last one).
ALTER TABLE role_rules ADD COLUMN IF NOT EXISTS activity_types Array(String) AFTER cadence_seconds;
