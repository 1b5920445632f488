-- Where each operation's items lie in time: one row per operation and written batch, so a
-- transaction lookup reads its time range by primary key and then only those hours.

CREATE TABLE IF NOT EXISTS {{database}}.`operations` (
    `operation_Id` String,
    `appName` {{lc}},
    `first_ns` Int64,
    `last_ns` Int64,
    `day` Date,
    `_batch_id` UInt64
) ENGINE = MergeTree
PARTITION BY day
ORDER BY (operation_Id)
{{ttl_day}}
SETTINGS {{settings}};
