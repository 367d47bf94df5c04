-- Failures older than a day are forgotten; this index finds them.
CREATE INDEX login_failures_by_age ON login_failures (last_failure_at);

-- Browsers an owner signed in from: the SHA-256 digest of their device
-- cookie. A known browser is throttled on its own, so others' failed
-- sign-ins cannot lock the owner out of it.
CREATE TABLE known_devices (
    token_hash BYTEA PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX known_devices_by_owner ON known_devices (owner_id, created_at);
