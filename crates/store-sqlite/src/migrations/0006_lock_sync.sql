-- Locks bound to a device keyward programs (issue 8): the protocol, the
-- node, and the slot range keyward may use (NULL: every slot).
ALTER TABLE locks ADD COLUMN device_protocol TEXT;
ALTER TABLE locks ADD COLUMN device_node INTEGER;
ALTER TABLE locks ADD COLUMN slot_first INTEGER;
ALTER TABLE locks ADD COLUMN slot_last INTEGER;
CREATE UNIQUE INDEX locks_by_device ON locks (device_protocol, device_node) WHERE device_protocol IS NOT NULL;

-- What keyward knows of each slot of a bound lock: who it gave the slot to,
-- what the lock last read back there (the keyed MAC of keyward's code, never
-- the code), the status shown to the owner, and the retry state, so that a
-- restart resumes.
CREATE TABLE lock_slots (
    lock_id    TEXT NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    slot       INTEGER NOT NULL,
    user_id    TEXT,
    content    TEXT NOT NULL,
    code_mac   BLOB,
    status     TEXT NOT NULL,
    reason     TEXT,
    detail     INTEGER,
    attempts   INTEGER NOT NULL,
    retry_at   INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (lock_id, slot)
) STRICT;
