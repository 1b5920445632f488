-- The 429 attempts of calls (dependencies that answered 429 and name no GenAI provider:
-- the throttled tries beneath a GenAI call), written with each batch's rows as their own
-- chunk (src/store/clickhouse/throttled_rows.rs). GenAI usage reads the throttled calls'
-- ids from here, a few rows, instead of every dependency of the range. The migration copies
-- the attempts stored before it.

CREATE TABLE IF NOT EXISTS {{database}}.`throttled_attempts` (
    `timestamp_ns` Int64,
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `appName` {{lc}},
    `operation_Id` String,
    `operation_ParentId` String,
    `_batch_id` UInt64
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (appName, timestamp)
{{ttl}}
SETTINGS {{settings}};
