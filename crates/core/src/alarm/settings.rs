//! The panel's timings and the rules they follow: ANSI/SIA CP-01 (false
//! alarm reduction) ranges by default, or any 0–255 s delay for an owner who
//! turns `cp01` off and is told the panel is then not compliant.

use serde::{Deserialize, Serialize};

/// How the panel behaves, in seconds. Only [`PanelSettings::apply`] makes one
/// other than the default, so every value held is in its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelSettings {
    exit_delay: u16,
    entry_delay: u16,
    siren_time: u16,
    abort_window: u16,
    swinger_limit: u8,
    arm_without_code: bool,
    cp01: bool,
}

/// A change to the settings as the API takes it: what is absent stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_delay: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_delay: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siren_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_window: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swinger_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm_without_code: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cp01: Option<bool>,
}

/// Why settings were refused, in words that name the field and its range.
/// `OutOfRange` is a value no panel takes; the others are values CP-01
/// does not allow while `cp01` is on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{field} must be from {min} to {max} seconds")]
    OutOfRange { field: &'static str, min: i64, max: i64 },
    #[error("under CP-01 {field} must be from {min} to {max} seconds; turn cp01 off for other values")]
    NotCp01 { field: &'static str, min: i64, max: i64 },
    #[error("swinger_limit must be from 1 to 6 trips")]
    SwingerLimit,
    #[error(
        "under CP-01 the entry delay and the abort window together are at most 60 seconds (they are {total}); shorten one, or turn cp01 off"
    )]
    EntryAndAbort { total: i64 },
}

/// The CP-01 ranges (inclusive, seconds), and the ranges without it.
pub const CP01_EXIT: (i64, i64) = (45, 255);
pub const CP01_ENTRY: (i64, i64) = (30, 240);
pub const CP01_ABORT: (i64, i64) = (15, 45);
pub const CP01_ENTRY_AND_ABORT: i64 = 60;
pub const ANY_DELAY: (i64, i64) = (0, 255);
/// How long a siren sounds before the panel silences it (and stays armed).
pub const SIREN_TIME: (i64, i64) = (60, 1800);

impl Default for PanelSettings {
    /// CP-01's defaults: exit 60 s, entry 30 s, abort window 30 s, swinger
    /// shutdown after 2 trips; the siren sounds 4 minutes; arming needs a code.
    fn default() -> Self {
        Self {
            exit_delay: 60,
            entry_delay: 30,
            siren_time: 240,
            abort_window: 30,
            swinger_limit: 2,
            arm_without_code: false,
            cp01: true,
        }
    }
}

impl PanelSettings {
    pub fn exit_delay(&self) -> u16 {
        self.exit_delay
    }
    pub fn entry_delay(&self) -> u16 {
        self.entry_delay
    }
    pub fn siren_time(&self) -> u16 {
        self.siren_time
    }
    pub fn abort_window(&self) -> u16 {
        self.abort_window
    }
    pub fn swinger_limit(&self) -> u8 {
        self.swinger_limit
    }
    pub fn arm_without_code(&self) -> bool {
        self.arm_without_code
    }
    pub fn cp01(&self) -> bool {
        self.cp01
    }

    /// These settings with `spec` applied, checked as a whole: a refusal
    /// changes nothing.
    pub fn apply(&self, spec: &SettingsSpec) -> Result<Self, SettingsError> {
        let cp01 = spec.cp01.unwrap_or(self.cp01);
        // Any panel's range first, then CP-01's while it is on.
        let seconds = |field: &'static str, value: Option<i64>, current: u16, any: (i64, i64), cp: (i64, i64)| {
            let value = value.unwrap_or(i64::from(current));
            let ((min, max), (cp_min, cp_max)) = (any, cp);
            let Some(seconds) = u16::try_from(value).ok().filter(|_| (min..=max).contains(&value)) else {
                return Err(SettingsError::OutOfRange { field, min, max });
            };
            if cp01 && !(cp_min..=cp_max).contains(&value) {
                return Err(SettingsError::NotCp01 { field, min: cp_min, max: cp_max });
            }
            Ok(seconds)
        };
        let exit_delay = seconds("exit_delay", spec.exit_delay, self.exit_delay, ANY_DELAY, CP01_EXIT)?;
        let entry_delay = seconds("entry_delay", spec.entry_delay, self.entry_delay, ANY_DELAY, CP01_ENTRY)?;
        let abort_window = seconds("abort_window", spec.abort_window, self.abort_window, ANY_DELAY, CP01_ABORT)?;
        let siren_time = seconds("siren_time", spec.siren_time, self.siren_time, SIREN_TIME, SIREN_TIME)?;
        let swinger_limit = match spec.swinger_limit {
            None => self.swinger_limit,
            Some(n @ 1..=6) => n as u8,
            Some(_) => return Err(SettingsError::SwingerLimit),
        };
        let total = i64::from(entry_delay) + i64::from(abort_window);
        if cp01 && total > CP01_ENTRY_AND_ABORT {
            return Err(SettingsError::EntryAndAbort { total });
        }
        Ok(Self {
            exit_delay,
            entry_delay,
            siren_time,
            abort_window,
            swinger_limit,
            arm_without_code: spec.arm_without_code.unwrap_or(self.arm_without_code),
            cp01,
        })
    }

    /// Whether a sensor's own entry delay is allowed under these settings.
    pub fn check_entry_delay(&self, seconds: i64) -> Result<u16, SettingsError> {
        let (min, max) = ANY_DELAY;
        let Some(value) = u16::try_from(seconds).ok().filter(|_| (min..=max).contains(&seconds)) else {
            return Err(SettingsError::OutOfRange { field: "entry_delay", min, max });
        };
        let (cp_min, cp_max) = CP01_ENTRY;
        if self.cp01 && !(cp_min..=cp_max).contains(&seconds) {
            return Err(SettingsError::NotCp01 { field: "entry_delay", min: cp_min, max: cp_max });
        }
        let total = seconds + i64::from(self.abort_window);
        if self.cp01 && total > CP01_ENTRY_AND_ABORT {
            return Err(SettingsError::EntryAndAbort { total });
        }
        Ok(value)
    }

    /// Whether refusing `error` is the panel's range (a schema matter) or
    /// CP-01's rule while it is on (a conflict with `cp01`).
    pub fn is_cp01_rule(error: &SettingsError) -> bool {
        matches!(error, SettingsError::NotCp01 { .. } | SettingsError::EntryAndAbort { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_cp01s() {
        let d = PanelSettings::default();
        assert_eq!((d.exit_delay(), d.entry_delay(), d.abort_window(), d.swinger_limit()), (60, 30, 30, 2));
        assert_eq!((d.siren_time(), d.cp01(), d.arm_without_code()), (240, true, false));
    }

    #[test]
    fn cp01_ranges_are_enforced_and_a_refusal_changes_nothing() {
        let d = PanelSettings::default();
        let spec = |f: fn(&mut SettingsSpec)| {
            let mut s = SettingsSpec::default();
            f(&mut s);
            s
        };
        for (field, min, max, set) in [
            ("exit_delay", 45, 255, (|s: &mut SettingsSpec, v| s.exit_delay = Some(v)) as fn(&mut SettingsSpec, i64)),
            ("entry_delay", 30, 30, |s, v| s.entry_delay = Some(v)),
            ("abort_window", 15, 30, |s, v| s.abort_window = Some(v)),
        ] {
            for (value, ok) in [(min - 1, false), (min, true), (max, true), (max + 1, false)] {
                let mut s = SettingsSpec::default();
                set(&mut s, value);
                assert_eq!(d.apply(&s).is_ok(), ok, "{field} = {value}");
            }
        }
        // Entry delay and abort window together at most 60 s.
        let both = spec(|s| {
            s.entry_delay = Some(45);
            s.abort_window = Some(15);
        });
        assert!(d.apply(&both).is_ok());
        let too_long = spec(|s| {
            s.entry_delay = Some(46);
            s.abort_window = Some(15);
        });
        assert_eq!(d.apply(&too_long), Err(SettingsError::EntryAndAbort { total: 61 }));
        // Without CP-01, 0–255 s.
        let free = spec(|s| {
            s.cp01 = Some(false);
            s.exit_delay = Some(0);
            s.entry_delay = Some(200);
            s.abort_window = Some(0);
        });
        let free = d.apply(&free).expect("not CP-01");
        assert_eq!((free.exit_delay(), free.entry_delay(), free.abort_window(), free.cp01()), (0, 200, 0, false));
        // Turning CP-01 back on re-checks what is held.
        assert!(free.apply(&spec(|s| s.cp01 = Some(true))).is_err());
        assert_eq!(d.apply(&spec(|s| s.swinger_limit = Some(7))), Err(SettingsError::SwingerLimit));
        assert!(d.apply(&spec(|s| s.siren_time = Some(59))).is_err());
        assert_eq!(d.check_entry_delay(30), Ok(30));
        assert!(d.check_entry_delay(31).is_err(), "with the 30 s abort window");
    }
}
