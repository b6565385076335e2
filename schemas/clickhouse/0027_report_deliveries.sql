-- report_deliveries: every weekly report e-mailed from the rules file's
-- reports: section, one row per community, week and target, so a restart
-- or a second instance never sends a week's report twice.
CREATE TABLE IF NOT EXISTS report_deliveries
(
    community  LowCardinality(String),
    week_start Date,
    target     LowCardinality(String),
    sent_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(sent_at)
ORDER BY (community, week_start, target);
