-- Links that show a visitor their own access (issue 10): random, stored as
-- a SHA-256 digest, expiring, revocable, and bound to the first browser
-- that opens them (the digest of a random cookie). They go with their user.
CREATE TABLE shares (
    id           TEXT PRIMARY KEY,
    home_id      TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash   BYTEA NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    opened_at    BIGINT,
    browser_hash BYTEA
);
CREATE INDEX shares_by_user ON shares(user_id);
