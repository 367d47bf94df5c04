-- Issue 23: the alarm panel of each home. Its settings (CP-01 timings) and
-- its state machine (`keyward_core::alarm::Panel`: state, delays' deadlines,
-- bypassed and shut-down sensors, the open incident, the sensors' last
-- readings, troubles) as JSON, written in the same transaction as the
-- activity entries and notifications of each transition: committed before
-- it is announced, and resumed as it was after a restart.
CREATE TABLE panels (
    home_id TEXT PRIMARY KEY REFERENCES homes(id) ON DELETE CASCADE,
    settings TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The sensors the panel watches: what each is for (`kind`), which arming
-- modes watch it (`modes`: a comma-separated subset of away, stay, night),
-- its own entry delay, whether arming may bypass it, and the device that
-- reports it (a network's protocol and the device's address there).
CREATE TABLE sensors (
    id TEXT PRIMARY KEY,
    home_id TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    modes TEXT NOT NULL,
    entry_delay INTEGER,
    bypassable INTEGER NOT NULL,
    device_protocol TEXT,
    device_address TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX sensors_device ON sensors (device_protocol, device_address) WHERE device_protocol IS NOT NULL;

-- The sirens the panel sounds, and the device each is.
CREATE TABLE sirens (
    id TEXT PRIMARY KEY,
    home_id TEXT NOT NULL REFERENCES homes(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    device_protocol TEXT NOT NULL,
    device_address TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX sirens_device ON sirens (device_protocol, device_address);
