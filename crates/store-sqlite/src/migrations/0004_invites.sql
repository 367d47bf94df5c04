-- Invitations of further owners: a one-time link, stored as a SHA-256 digest.
CREATE TABLE invites (
    token_hash BLOB PRIMARY KEY,
    email      TEXT NOT NULL,
    invited_by TEXT NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
