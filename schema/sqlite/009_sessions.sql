-- The latest sessions with LLM calls, and then their rows, read through partial indexes: a
-- range's newest calls that name a session, newest first, and the rows of the few sessions
-- listed. Rows without a session are in none of them. (Users are listed the same way through
-- the time index: rows are stored about in time order, so that walk reads the table about in
-- order; an index per user column cost the writes more than the users page gains.)
CREATE INDEX "dependencies_session_time" ON "dependencies_rows" (timestamp_ns, session_Id)
    WHERE session_Id != '';
CREATE INDEX "dependencies_session" ON "dependencies_rows" (session_Id, timestamp_ns)
    WHERE session_Id != '';
CREATE INDEX "requests_session" ON "requests_rows" (session_Id, timestamp_ns)
    WHERE session_Id != '';
