//! What an API token may do.

use crate::string_form::string_form;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    Admin,
    /// Reading, and previews by user.
    Read,
    /// Typing codes at devices: the access endpoint only.
    Device,
}

string_form!(Scope {
    Admin => "admin",
    Read => "read",
    Device => "device",
});
