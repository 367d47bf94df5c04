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
