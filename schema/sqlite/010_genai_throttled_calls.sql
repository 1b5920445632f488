-- Throttled GenAI calls (a 429 among the HTTP attempts beneath them), one row per call, kept
-- up to date in each batch's transaction from every stored copy of the call and its attempts:
-- what the call adds to GenAI usage, so the usage read adds up rows instead of pairing spans.
-- `timestamp_ns` is the call's start.
CREATE TABLE "genai_throttled_calls" (
    appName TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    timestamp_ns INTEGER NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    target TEXT NOT NULL,
    throttled_attempts INTEGER NOT NULL,
    waited_ms REAL,
    first_minute_ns INTEGER,
    ended_throttled INTEGER NOT NULL,
    duration_ms REAL,
    PRIMARY KEY (appName, operation_Id, call_id)
) WITHOUT ROWID;
CREATE INDEX "genai_throttled_calls_time" ON "genai_throttled_calls" (timestamp_ns);
-- Which calls a written span may change: those with a 429 attempt beneath them.
CREATE INDEX "dependencies_throttled_parent" ON "dependencies_rows" (appName, operation_ParentId)
    WHERE resultCode = '429' AND genai_provider = '';
