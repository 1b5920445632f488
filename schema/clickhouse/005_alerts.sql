-- The alert evaluator's state. Each save of a series is a newer version of its row (an empty
-- body: no longer tracked); readers take the latest version per rule and series.

CREATE TABLE IF NOT EXISTS {{database}}.`alert_state` (
    `rule` String,
    `series` String,
    `body` String,
    `version` UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (rule, series)
SETTINGS index_granularity = 8192;

-- Firings, resolutions, notifications and failures; partitioned by day so retention drops
-- old days with the telemetry.
CREATE TABLE IF NOT EXISTS {{database}}.`alert_history` (
    `time_ns` Int64,
    `rule` String,
    `series` String,
    `kind` String,
    `body` String
) ENGINE = MergeTree
PARTITION BY toDate(toDateTime(intDiv(time_ns, 1000000000)))
ORDER BY (time_ns)
SETTINGS index_granularity = 8192;

-- Lease claims: a holder claims epoch N+1 when epoch N's holder stopped renewing; the
-- smallest holder name among an epoch's claims holds it. Renewals replace the claim's row.
CREATE TABLE IF NOT EXISTS {{database}}.`leases` (
    `name` String,
    `epoch` UInt64,
    `holder` String,
    `expires_ns` Int64,
    `version` UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (name, epoch, holder)
SETTINGS index_granularity = 8192;
