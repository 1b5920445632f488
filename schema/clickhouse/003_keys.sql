-- Instrumentation keys: the ingest credential and the application each names. A revocation
-- is a newer version of the row; readers take the latest version per key.

CREATE TABLE IF NOT EXISTS {{database}}.`instrumentation_keys` (
    `key` String,
    `app` String,
    `created_ns` Int64,
    `revoked_ns` Int64,
    `version` UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (key)
SETTINGS index_granularity = 8192;
