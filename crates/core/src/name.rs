//! Display names of homes, users and locks.

use std::fmt;

/// The longest name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 64;
/// A bound on the untrimmed text, so that padding cannot smuggle in megabytes.
const MAX_RAW_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a name must have 1 to {MAX_NAME_CHARS} characters (not counting spaces around it), at least one of them visible, \
     and no control characters"
)]
pub struct NameError;

/// Characters that take no space on screen: zero-width spaces and joiners,
/// direction marks, the byte order mark, soft hyphens, fillers, variation
/// selectors and tags. A name made only of these (and spaces) shows nothing.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Control characters, and the bidirectional embeddings, overrides and
/// isolates, which can make a name in the log read as something else.
fn refused(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A name of 1–64 characters after trimming, with at least one visible
/// character and no control characters. Any other Unicode text is allowed,
/// and the text is kept exactly as given (surrounding spaces included): what
/// the owner typed is what they get back.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: impl Into<String>) -> Result<Self, NameError> {
        let raw = raw.into();
        let trimmed = raw.trim().chars().count();
        if trimmed == 0 || trimmed > MAX_NAME_CHARS || raw.chars().count() > MAX_RAW_CHARS {
            return Err(NameError);
        }
        if raw.chars().any(refused) || !raw.chars().any(|c| !c.is_whitespace() && !invisible(c)) {
            return Err(NameError);
        }
        Ok(Self(raw))
    }

    /// Wraps a name that was valid when it was stored. The rules may have
    /// tightened since (control characters were once accepted); a stored
    /// name keeps loading until it is changed.
    pub fn from_stored(text: String) -> Self {
        Self(text)
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

    #[test]
    fn a_name_has_something_to_see_and_no_control_characters() {
        for invisible in
            ["\u{200B}", "\u{200B}\u{200C}\u{200D}", "\u{202E}\u{2066}", " \u{FEFF} ", "\u{2060}\u{00AD}", "\u{3164}"]
        {
            assert_eq!(Name::parse(invisible), Err(NameError), "{invisible:?}");
        }
        for control in ["Dog\nwalker", "Dog\u{0}walker", "Dog\u{7F}", "Dog\twalker", "\u{202E}reklaw goD"] {
            assert_eq!(Name::parse(control), Err(NameError), "{control:?}");
        }
        // Joiners inside words and emoji sequences are fine.
        assert!(Name::parse("👨\u{200D}👩\u{200D}👧 family").is_ok());
        assert!(Name::parse("می\u{200C}خواهم").is_ok());
        assert!(Name::parse("Zoë").is_ok());
    }
}
