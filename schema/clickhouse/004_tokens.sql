-- Query API tokens: only their SHA-256 is kept. `apps` is a JSON array of app names. A
-- revocation is a newer version of the row; readers take the latest version per id.

CREATE TABLE IF NOT EXISTS {{database}}.`api_tokens` (
    `id` String,
    `hash` String,
    `name` String,
    `apps` String,
    `all_apps` UInt8,
    `role` String,
    `created_ns` Int64,
    `revoked_ns` Int64,
    `version` UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (id)
SETTINGS index_granularity = 8192;
