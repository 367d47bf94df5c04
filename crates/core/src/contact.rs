//! How the owner reaches a user (to share their access with them): an email
//! address and a phone number, each optional. Personal data, not a secret:
//! shown to the owner and admin tokens only.

use crate::email::EmailAddress;

/// A phone number as people write it: an optional leading `+`, digits and
/// the usual separators, 4 to 20 digits. Kept as typed (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a phone number has 4 to 20 digits, optionally a leading + and spaces, dots, dashes or brackets")]
pub struct PhoneError;

impl Phone {
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let text = text.trim();
        let body = text.strip_prefix('+').unwrap_or(text);
        let digits = body.chars().filter(char::is_ascii_digit).count();
        let shaped = body.chars().all(|c| c.is_ascii_digit() || " .-()/".contains(c));
        if shaped && (4..=20).contains(&digits) && text.len() <= 32 {
            Ok(Self(text.to_owned()))
        } else {
            Err(PhoneError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    pub email: Option<EmailAddress>,
    pub phone: Option<Phone>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_as_people_write_them() {
        for good in ["+49 30 1234567", "(555) 010-9999", "0171.2345678", " 1123 "] {
            assert!(Phone::parse(good).is_ok(), "{good:?}");
        }
        assert_eq!(Phone::parse(" +1 555 0100 ").map(|p| p.as_str().to_owned()), Ok("+1 555 0100".into()));
        for bad in ["", "+", "12", "call me", "+1 555 0100\nBcc", "++49 30", "1".repeat(21).as_str()] {
            assert_eq!(Phone::parse(bad), Err(PhoneError), "{bad:?}");
        }
    }
}
