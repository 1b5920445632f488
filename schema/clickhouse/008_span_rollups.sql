-- Per-minute rollups of requests and dependencies (src/store/rollup.rs): one row per batch,
-- minute and combination of the rolled-up columns, written with the batch's rows (its own
-- chunk, checked by `_batch_id` on a resend like every table). The durations are in fine log
-- buckets as parallel arrays that `sumMap` adds up. Reads over long ranges add these up
-- instead of reading every span.

CREATE TABLE IF NOT EXISTS {{database}}.`span_rollups` (
    `timestamp_ns` Int64,
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `source` {{lc}},
    `appName` {{lc}},
    `cloud_RoleName` {{lc}},
    `name` String,
    `operation_Name` String,
    `resultCode` {{lc}},
    `type` {{lc}},
    `target` {{lc}},
    `genai_provider` {{lc}},
    `genai_operation` {{lc}},
    `genai_requestModel` {{lc}},
    `genai_responseModel` {{lc}},
    `success` UInt8,
    `items` UInt64,
    `failed` UInt64,
    `duration_sum_ms` Float64,
    `duration_min_ms` Float64,
    `duration_max_ms` Float64,
    `input_tokens` UInt64,
    `output_tokens` UInt64,
    `throttled` UInt64,
    `throttled_ms` Float64,
    `latest_ns` Int64,
    `latest_operation_Id` String,
    `hist_buckets` Array(UInt16),
    `hist_items` Array(UInt64),
    `hist_sums` Array(Float64),
    `_batch_id` UInt64
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (source, appName, timestamp)
{{ttl}}
SETTINGS {{settings}};
