-- Scores of operations and spans (POST /api/v1/scores): user feedback, LLM-judge verdicts.
CREATE TABLE "scores" (
    time_ns INTEGER NOT NULL,
    appName TEXT NOT NULL,
    id TEXT NOT NULL,
    operation_Id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    name TEXT NOT NULL,
    data_type TEXT NOT NULL,
    value REAL NOT NULL,
    category TEXT NOT NULL,
    comment TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX "scores_time" ON "scores" (time_ns);
CREATE INDEX "scores_operation" ON "scores" (appName, operation_Id);
