//! Keyward's notification channels, as adapters: each turns a notification
//! into what its receiver expects. Built so far: the Standard Webhooks
//! signature (`webhook`).

pub mod http;
pub mod webhook;
