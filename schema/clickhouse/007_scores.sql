-- Scores of operations and spans (POST /api/v1/scores): user feedback, LLM-judge verdicts.
-- Partitioned by day so retention drops old days with the telemetry.
CREATE TABLE IF NOT EXISTS {{database}}.`scores` (
    `time_ns` Int64,
    `appName` {{lc}},
    `id` String,
    `operation_Id` String,
    `span_id` String,
    `name` {{lc}},
    `data_type` {{lc}},
    `value` Float64,
    `category` String,
    `comment` String {{codec_zstd}},
    `source` {{lc}}
) ENGINE = MergeTree
PARTITION BY toDate(toDateTime(intDiv(time_ns, 1000000000)))
ORDER BY (appName, operation_Id, time_ns)
SETTINGS index_granularity = 8192;
