-- The same schema meaning as SQLite's migrations 0001–0004, in one step.
-- Instants are BIGINT microseconds since the Unix epoch (UTC), as in SQLite.
-- No code is stored in plain text: users.code_sealed is XChaCha20-Poly1305
-- ciphertext and users.code_mac a keyed HMAC-SHA-256 of (home id, code),
-- made by the vault before they reach the database; the key lives in the
-- data directory, never here.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE homes (
    id                     TEXT PRIMARY KEY,
    name                   TEXT NOT NULL,
    timezone               TEXT NOT NULL,
    code_min_length        BIGINT NOT NULL,
    code_max_length        BIGINT NOT NULL,
    code_reject_weak       BOOLEAN NOT NULL,
    lockout_max_attempts   BIGINT NOT NULL,
    lockout_window_seconds BIGINT NOT NULL,
    lockout_seconds        BIGINT NOT NULL,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);

CREATE TABLE locks (
    id         TEXT PRIMARY KEY,
    home_id    TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX locks_by_home ON locks(home_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    home_id       TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('standard', 'duress')),
    panel_arm     BOOLEAN NOT NULL,
    panel_disarm  BOOLEAN NOT NULL,
    all_locks     BOOLEAN NOT NULL,
    schedule      TEXT NOT NULL,
    valid_from    BIGINT,
    valid_until   BIGINT,
    max_uses      BIGINT,
    notify_arrive BOOLEAN NOT NULL,
    notify_leave  BOOLEAN NOT NULL,
    enabled       BOOLEAN NOT NULL,
    code_mac      BYTEA NOT NULL,
    code_sealed   BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_by_code ON users(home_id, code_mac);
CREATE INDEX users_by_home ON users(home_id);

-- Counted on every grant: a narrow table, so grants rewrite small rows.
CREATE TABLE user_uses (
    user_id      TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    uses         BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE user_locks (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lock_id TEXT NOT NULL REFERENCES locks(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, lock_id)
);
CREATE INDEX user_locks_by_lock ON user_locks(lock_id);

-- Wrong-code counts per device, so a lockout survives a restart.
CREATE TABLE lockouts (
    home_id      TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    device       TEXT NOT NULL,
    failures     BIGINT[] NOT NULL,
    locked_until BIGINT,
    PRIMARY KEY (home_id, device)
);

-- The activity log keeps the user's id and name as they were, so history
-- outlives a deleted user. It never holds a code. `seq` orders it.
CREATE TABLE activity (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id        TEXT NOT NULL,
    home_id   TEXT NOT NULL,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    device    TEXT,
    action    TEXT,
    outcome   TEXT,
    reason    TEXT,
    user_id   TEXT,
    user_name TEXT,
    duress    BOOLEAN NOT NULL DEFAULT false,
    actor     TEXT
);
CREATE INDEX activity_by_home ON activity(home_id, seq);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('admin', 'read', 'device')),
    home_id     TEXT REFERENCES homes(id) ON DELETE CASCADE,
    secret_hash BYTEA NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

-- Owners sign in to the web UI. Passwords are Argon2id PHC strings; session
-- tokens, invitations and the one-time setup code are stored as SHA-256
-- digests only.
CREATE TABLE owners (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash   BYTEA PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_owner ON sessions(owner_id);

CREATE TABLE login_failures (
    key             TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL
);

CREATE TABLE invites (
    token_hash BYTEA PRIMARY KEY,
    email      TEXT NOT NULL,
    invited_by TEXT NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
