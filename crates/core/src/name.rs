//! Display names of homes, users and locks.

use std::fmt;

/// The longest name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 64;
/// A bound on the untrimmed text, so that padding cannot smuggle in megabytes.
const MAX_RAW_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a name must have 1 to {MAX_NAME_CHARS} characters (not counting spaces around it)")]
pub struct NameError;

/// A name of 1–64 characters after trimming. Any Unicode text is allowed, and
/// the text is kept exactly as given (surrounding spaces included): what the
/// owner typed is what they get back.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: impl Into<String>) -> Result<Self, NameError> {
        let raw = raw.into();
        let trimmed = raw.trim().chars().count();
        if trimmed == 0 || trimmed > MAX_NAME_CHARS || raw.chars().count() > MAX_RAW_CHARS {
            return Err(NameError);
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_after_trimming_and_keeps_text_exactly() {
        assert_eq!(Name::parse("  Dog walker ").map(|n| n.as_str().to_owned()), Ok("  Dog walker ".to_owned()));
        assert_eq!(Name::parse("   "), Err(NameError));
        assert_eq!(Name::parse(""), Err(NameError));
        assert!(Name::parse("é".repeat(64)).is_ok());
        assert_eq!(Name::parse("é".repeat(65)), Err(NameError));
        assert!(Name::parse("🐕 walker <img src=x>").is_ok());
    }
}
