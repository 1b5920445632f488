-- The alert evaluator's state: the latest state of each series of each rule (a JSON body),
-- the history of firings, resolutions and notifications, and the lease that lets one
-- instance evaluate at a time.
CREATE TABLE "alert_state" (
    rule TEXT NOT NULL,
    series TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (rule, series)
);
CREATE TABLE "alert_history" (
    time_ns INTEGER NOT NULL,
    rule TEXT NOT NULL,
    series TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX "alert_history_time" ON "alert_history" (time_ns);
CREATE TABLE "leases" (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL
);
