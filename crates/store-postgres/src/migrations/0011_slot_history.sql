-- Issue 20: a slot's history decides whose code it holds. `written` holds
-- the keyed MACs (32 bytes each, oldest first) of keyward's codes that may
-- be in the slot: each stored before its write goes out, dropped only when
-- a read-back shows it gone. `content` is what keyward believes the slot
-- holds: unknown, empty, ours (code_mac), ours_unread, foreign (code_mac
-- when the lock shows codes). `refused_mac` is a code the lock would not
-- keep there (`refused_reason` says why); `taken_over` lets keyward clear
-- a foreign code; `attempt_mac` is the code the failed attempts
-- (`attempts`) were for. One statement a line.
ALTER TABLE lock_slots ADD COLUMN written BYTEA;
ALTER TABLE lock_slots ADD COLUMN refused_mac BYTEA;
ALTER TABLE lock_slots ADD COLUMN refused_reason TEXT;
ALTER TABLE lock_slots ADD COLUMN attempt_mac BYTEA;
ALTER TABLE lock_slots ADD COLUMN taken_over BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE lock_slots SET written = code_mac WHERE content IN ('code', 'sent');
UPDATE lock_slots SET refused_mac = code_mac, refused_reason = COALESCE(reason, 'rejected'), code_mac = NULL, content = 'empty' WHERE content = 'refused';
UPDATE lock_slots SET code_mac = NULL, content = 'unknown' WHERE content = 'sent';
UPDATE lock_slots SET content = 'ours' WHERE content = 'code';

-- A lock being removed, unbound or moved to another device keeps its
-- device until every code keyward put there is off it: `removal` says
-- which ('delete', 'unbind', 'move'), `removal_to` the next device of a
-- move (JSON), `removal_at` since when.
ALTER TABLE locks ADD COLUMN removal TEXT;
ALTER TABLE locks ADD COLUMN removal_to TEXT;
ALTER TABLE locks ADD COLUMN removal_at BIGINT;

-- Zigbee2MQTT locks are bound by IEEE address (a friendly name can be
-- renamed onto other hardware); bindings made by name before are upgraded
-- to the address when Zigbee2MQTT next lists its devices.
ALTER TABLE locks ADD COLUMN device_ieee TEXT;
CREATE UNIQUE INDEX locks_by_device_ieee ON locks (device_protocol, device_ieee) WHERE device_ieee IS NOT NULL;
