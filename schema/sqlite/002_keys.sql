-- Instrumentation keys: the ingest credential and the application each names.
CREATE TABLE "instrumentation_keys" (
    key TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    revoked_ns INTEGER
);
