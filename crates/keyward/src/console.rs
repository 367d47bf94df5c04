//! Writing to the terminal without ever taking the process down: a closed
//! pipe (`| head -1`) or a full disk is an error to report (on standard
//! output) or to ignore (on standard error), never a panic, which with
//! `panic = "abort"` would stop the hub.

use std::io::Write;

/// Standard output could not be written: the command's result did not
/// reach anyone. `main` exits with EX_IOERR (74).
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output ({0})")]
pub struct StdoutClosed(std::io::Error);

impl From<std::io::Error> for StdoutClosed {
    fn from(e: std::io::Error) -> Self {
        Self(e)
    }
}

/// The exit status of a command whose standard output was closed.
pub const STDOUT_CLOSED_STATUS: u8 = 74;

/// A line on standard output.
pub fn line(text: &str) -> Result<(), StdoutClosed> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// A line on standard error, for people; lost when it cannot be written.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}
