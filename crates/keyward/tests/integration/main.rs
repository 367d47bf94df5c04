//! Keyward end to end: the real binary, real HTTP, on SQLite and on the
//! machine's PostgreSQL, in one test binary (one link, fast CI).

mod support;

mod api;
mod browser;
mod connections;
mod instance_lock;
mod lock_drift;
mod lock_sync;
mod notifications;
mod operations;
mod owner_experience;
mod owner_second_round;
mod panel;
mod sign_in;
mod storage;
mod ui;
mod zigbee2mqtt;
mod zwave_js;
