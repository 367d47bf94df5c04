-- Owners sign in to the web UI. Passwords are Argon2id PHC strings; session
-- tokens and the one-time setup code are stored as SHA-256 digests only.

CREATE TABLE owners (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    token_hash   BLOB PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_owner ON sessions(owner_id);

-- Failed sign-ins per account and per client address, so throttling holds
-- across restarts.
CREATE TABLE login_failures (
    key             TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
