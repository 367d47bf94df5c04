-- Alert channels (issue 10): where a home's notifications go. The target's
-- settings as JSON (a URL, an address, a topic: never a secret); a webhook's
-- signing secret sealed by the vault; quiet hours as seconds since midnight.
CREATE TABLE channels (
    id            TEXT PRIMARY KEY,
    home_id       TEXT NOT NULL REFERENCES homes (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    target        TEXT NOT NULL,
    secret_sealed BYTEA,
    emergency     BOOLEAN NOT NULL,
    quiet_start   BIGINT,
    quiet_end     BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX channels_by_name ON channels (home_id, name);

-- The outbox: each notification, written in the transaction of the event
-- that caused it, delivered in `seq` order per channel. Never a code.
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    home_id      TEXT NOT NULL,
    channel_id   TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    data         TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    next_at      BIGINT NOT NULL,
    last_error   TEXT,
    delivered_at BIGINT
);
CREATE INDEX outbox_pending ON outbox (channel_id, seq) WHERE state = 'pending';
CREATE INDEX outbox_by_channel ON outbox (channel_id, seq);
