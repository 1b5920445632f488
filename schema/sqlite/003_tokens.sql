-- Query API tokens: only their SHA-256 is kept. `apps` is a JSON array of app names.
CREATE TABLE "api_tokens" (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    apps TEXT NOT NULL,
    all_apps INTEGER NOT NULL,
    role TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    revoked_ns INTEGER
);
