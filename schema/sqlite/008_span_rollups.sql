-- Per-minute rollups of requests and dependencies (src/store/rollup.rs): one row per minute
-- and combination of the rolled-up columns, with the durations in fine log buckets
-- (`buckets`: u16 bucket, u64 items, f64 summed ms, little-endian). Reads over long ranges add
-- these up instead of reading every span. Rows stored before this migration are rolled up by
-- the migration itself (src/store/sqlite/backfill.rs).

CREATE TABLE "span_rollups" (
    timestamp_ns INTEGER NOT NULL,
    source TEXT NOT NULL,
    appName TEXT NOT NULL,
    cloud_RoleName TEXT NOT NULL,
    name TEXT NOT NULL,
    operation_Name TEXT NOT NULL,
    resultCode TEXT NOT NULL,
    type TEXT NOT NULL,
    target TEXT NOT NULL,
    genai_provider TEXT NOT NULL,
    genai_operation TEXT NOT NULL,
    genai_requestModel TEXT NOT NULL,
    genai_responseModel TEXT NOT NULL,
    success INTEGER NOT NULL,
    items INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    duration_sum_ms REAL,
    duration_min_ms REAL,
    duration_max_ms REAL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    throttled INTEGER NOT NULL,
    throttled_ms REAL,
    latest_ns INTEGER NOT NULL,
    latest_operation_Id TEXT NOT NULL,
    buckets BLOB NOT NULL
);

-- One row per minute and combination: a write adds into the row it shares a key with (an
-- upsert; `rollup_buckets_merge` adds the buckets), so a long range reads minutes ×
-- combinations rows however many batches were written. Reads narrow by its first columns.
CREATE UNIQUE INDEX "span_rollups_key" ON "span_rollups" (source, timestamp_ns, appName,
    cloud_RoleName, name, operation_Name, resultCode, type, target, genai_provider,
    genai_operation, genai_requestModel, genai_responseModel, success);

-- The GenAI page finds throttled calls from their 429 attempts: a partial index holds only
-- those, so the read skips the range's other calls.
CREATE INDEX "dependencies_throttled" ON "dependencies_rows" (timestamp_ns) WHERE resultCode = '429';
