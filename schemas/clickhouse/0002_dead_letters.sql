-- Dead letters: every rejected input, with the reason and the original bytes.
-- Rows come from the DEADLETTER stream; (dl_received_at, dl_seq) identifies a
-- dead-letter message, so a redelivered message collapses into one row.
CREATE TABLE IF NOT EXISTS dead_letters_raw
(
    received_at DateTime64(3, 'UTC'),
    stage       LowCardinality(String),
    source      LowCardinality(String),
    reason      String,
    subject     String,
    headers     Map(String, String),
    payload     String,
    dl_seq      UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (received_at, dl_seq);

CREATE OR REPLACE VIEW dead_letters AS
SELECT received_at, stage, source, reason, subject, headers, payload
FROM dead_letters_raw FINAL;
