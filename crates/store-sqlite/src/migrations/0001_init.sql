-- Instants are INTEGER microseconds since the Unix epoch (UTC).
-- No code is stored in plain text: users.code_sealed is XChaCha20-Poly1305
-- ciphertext and users.code_mac a keyed HMAC-SHA-256 of (home id, code); the
-- key lives in the data directory, never here.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE homes (
    id                     TEXT PRIMARY KEY,
    name                   TEXT NOT NULL,
    timezone               TEXT NOT NULL,
    code_min_length        INTEGER NOT NULL,
    code_max_length        INTEGER NOT NULL,
    code_reject_weak       INTEGER NOT NULL,
    lockout_max_attempts   INTEGER NOT NULL,
    lockout_window_seconds INTEGER NOT NULL,
    lockout_seconds        INTEGER NOT NULL,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE locks (
    id         TEXT PRIMARY KEY,
    home_id    TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX locks_by_home ON locks(home_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    home_id       TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('standard', 'duress')),
    panel_arm     INTEGER NOT NULL,
    panel_disarm  INTEGER NOT NULL,
    all_locks     INTEGER NOT NULL,
    schedule      TEXT NOT NULL,
    valid_from    INTEGER,
    valid_until   INTEGER,
    max_uses      INTEGER,
    notify_arrive INTEGER NOT NULL,
    notify_leave  INTEGER NOT NULL,
    enabled       INTEGER NOT NULL,
    code_mac      BLOB NOT NULL,
    code_sealed   BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_by_code ON users(home_id, code_mac);
CREATE INDEX users_by_home ON users(home_id);

-- Counted on every grant: a narrow table, so a batch of grants rewrites a
-- few small pages instead of the users' wide rows.
CREATE TABLE user_uses (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    uses    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE user_locks (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    lock_id TEXT NOT NULL REFERENCES locks(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, lock_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_locks_by_lock ON user_locks(lock_id);

-- Wrong-code counts per device, so a lockout survives a restart.
CREATE TABLE lockouts (
    home_id      TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    device       TEXT NOT NULL,
    failures     TEXT NOT NULL,
    locked_until INTEGER,
    PRIMARY KEY (home_id, device)
) STRICT, WITHOUT ROWID;

-- The activity log keeps the user's id and name as they were, so history
-- outlives a deleted user. It never holds a code.
CREATE TABLE activity (
    seq       INTEGER PRIMARY KEY,
    id        TEXT NOT NULL,
    home_id   TEXT NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    device    TEXT,
    action    TEXT,
    outcome   TEXT,
    reason    TEXT,
    user_id   TEXT,
    user_name TEXT,
    duress    INTEGER NOT NULL DEFAULT 0,
    actor     TEXT
) STRICT;
-- One index: a per-user index would put every attempt on a different leaf
-- page and multiply what each commit writes. Filtering by user scans the
-- home's entries newest first, which is fast at a home's scale.
CREATE INDEX activity_by_home ON activity(home_id, seq);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('admin', 'read', 'device')),
    home_id     TEXT REFERENCES homes(id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
