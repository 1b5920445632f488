-- The Application Insights tables. Column order follows the row structs in src/model (the
-- store test checks it); `timestamp` is derived for partitioning, sorting and retention, and
-- `_batch_id` lets a replayed batch tell whether an earlier attempt already landed.
-- Rows of one operation are stored together within each hour, so a transaction is found from
-- its time range (table `operations`) without scanning; percentiles scan the time range.

CREATE TABLE IF NOT EXISTS {{database}}.`requests` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `id` String,
    `name` String,
    `url` String {{codec_zstd}},
    `source` String,
    `resultCode` {{lc}},
    `success` UInt8,
    `duration_ms` Float64,
    `performanceBucket` {{lc}},
    `_batch_id` UInt64
--@skip_indexes     , INDEX idx_name name TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (toStartOfHour(timestamp), appName, operation_Id)
{{ttl}}
SETTINGS {{settings}};

CREATE TABLE IF NOT EXISTS {{database}}.`dependencies` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `id` String,
    `name` String,
    `type` {{lc}},
    `target` String,
    `data` String {{codec_zstd}},
    `resultCode` {{lc}},
    `success` UInt8,
    `duration_ms` Float64,
    `performanceBucket` {{lc}},
    `genai_provider` {{lc}},
    `genai_operation` {{lc}},
    `genai_requestModel` {{lc}},
    `genai_responseModel` {{lc}},
    `genai_inputTokens` UInt64,
    `genai_outputTokens` UInt64,
    `genai_cachedInputTokens` UInt64,
    `genai_maxTokens` UInt64,
    `genai_finishReason` {{lc}},
    `genai_dialect` {{lc}},
    `_batch_id` UInt64
--@skip_indexes     , INDEX idx_name name TYPE bloom_filter(0.01) GRANULARITY 4
--@skip_indexes     , INDEX idx_target target TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (toStartOfHour(timestamp), appName, operation_Id)
{{ttl}}
SETTINGS {{settings}};

CREATE TABLE IF NOT EXISTS {{database}}.`exceptions` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `problemId` String,
    `type` String,
    `message` String,
    `outerType` String,
    `outerMessage` String,
    `innermostType` String,
    `innermostMessage` String,
    `method` String,
    `assembly` String,
    `severityLevel` UInt8,
    `handledAt` String,
    `stack` String {{codec_zstd}},
    `details` String {{codec_zstd}},
    `_batch_id` UInt64
--@skip_indexes     , INDEX idx_problem problemId TYPE bloom_filter(0.01) GRANULARITY 4
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (toStartOfHour(timestamp), appName, operation_Id)
{{ttl}}
SETTINGS {{settings}};

CREATE TABLE IF NOT EXISTS {{database}}.`traces` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `message` String {{codec_zstd}},
    `severityLevel` UInt8,
    `_batch_id` UInt64
--@skip_indexes     , INDEX idx_message message TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (toStartOfHour(timestamp), appName, operation_Id)
{{ttl}}
SETTINGS {{settings}};

CREATE TABLE IF NOT EXISTS {{database}}.`customEvents` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `name` String,
    `_batch_id` UInt64
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (toStartOfHour(timestamp), appName, operation_Id)
{{ttl}}
SETTINGS {{settings}};

CREATE TABLE IF NOT EXISTS {{database}}.`customMetrics` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `name` String,
    `namespace` String,
    `metricType` {{lc}},
    `unit` {{lc}},
    `aggregationTemporality` {{lc}},
    `value` Float64,
    `valueCount` UInt64,
    `valueSum` Float64,
    `valueMin` Float64,
    `valueMax` Float64,
    `valueStdDev` Float64,
    `bucketBounds` Array(Float64),
    `bucketCounts` Array(UInt64),
    `_batch_id` UInt64
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (appName, name, timestamp)
{{ttl}}
SETTINGS {{settings}};

CREATE TABLE IF NOT EXISTS {{database}}.`pageViews` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `id` String,
    `name` String,
    `url` String,
    `duration_ms` Float64,
    `performanceBucket` {{lc}},
    `_batch_id` UInt64
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (toStartOfHour(timestamp), appName, operation_Id)
{{ttl}}
SETTINGS {{settings}};

CREATE TABLE IF NOT EXISTS {{database}}.`availabilityResults` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `id` String,
    `name` String,
    `location` String,
    `message` String,
    `success` UInt8,
    `duration_ms` Float64,
    `_batch_id` UInt64
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (toStartOfHour(timestamp), appName, operation_Id)
{{ttl}}
SETTINGS {{settings}};

CREATE TABLE IF NOT EXISTS {{database}}.`performanceCounters` (
    `timestamp_ns` Int64 {{codec_time}},
    `timestamp` DateTime('UTC') MATERIALIZED toDateTime(intDiv(timestamp_ns, 1000000000), 'UTC'),
    `iKey` {{lc}},
    `appName` {{lc}},
    `itemId` String,
    `operation_Id` String,
    `operation_ParentId` String,
    `operation_Name` String,
    `cloud_RoleName` {{lc}},
    `cloud_RoleInstance` {{lc}},
    `sdkVersion` {{lc}},
    `application_Version` {{lc}},
    `user_Id` String,
    `user_AuthenticatedId` String,
    `session_Id` String,
    `client_IP` String,
    `itemCount` UInt32,
    `customDimensions_keys` Array(String) {{codec_zstd}},
    `customDimensions_values` Array(String) {{codec_zstd}},
    `customMeasurements_keys` Array(String) {{codec_zstd}},
    `customMeasurements_values` Array(Float64) {{codec_zstd}},
    `category` String,
    `counter` String,
    `instance` String,
    `name` String,
    `value` Float64,
    `_batch_id` UInt64
) ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (appName, name, timestamp)
{{ttl}}
SETTINGS {{settings}};
