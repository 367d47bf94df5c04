//! What a bound lock's device reports, in the owner's words: shared by the
//! Locks page and the user's page.

use keyward_app::LockView;

use crate::AppState;

/// "online · locked · battery 87 %", "offline", "not reachable now", or
/// `None` for a lock without a device.
pub(super) fn words(s: &AppState, lock: &LockView) -> Option<String> {
    let binding = lock.device.as_ref()?;
    let Some(info) = s.app.locks.device_info(&binding.device) else {
        return Some("not reachable now".into());
    };
    Some(describe(&info))
}

/// "online · locked · battery 87 %" for a device the network reports.
pub(super) fn describe(info: &keyward_app::devices::DeviceInfo) -> String {
    let mut words = vec![if info.online { "online" } else { "offline" }.to_owned()];
    match info.state.locked {
        Some(true) => words.push("locked".into()),
        Some(false) => words.push("unlocked".into()),
        None => {}
    }
    if info.state.jammed {
        words.push("jammed".into());
    }
    if let Some(battery) = info.state.battery {
        words.push(format!("battery {battery} %"));
    }
    words.join(" · ")
}
