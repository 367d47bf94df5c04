//! Email addresses as keyward takes them: the owners' and the alert
//! recipients'. Lower-cased and checked for shape; no verification mail
//! (the owner types them on their own hub).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an email address looks like name@example.org")]
pub struct EmailError;

impl EmailAddress {
    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let email = text.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(EmailError)?;
        let plausible = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && email.len() <= 254
            // Nothing that could end a mail header or start another.
            && !email.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c));
        if plausible { Ok(Self(email)) } else { Err(EmailError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lower_cased_and_checked() {
        assert_eq!(EmailAddress::parse("  Owner@Example.ORG ").map(|e| e.to_string()), Ok("owner@example.org".into()));
        for bad in [
            "",
            "owner",
            "@example.org",
            "owner@example",
            "owner@.org",
            "a b@example.org",
            "o@x.org\r\nBcc: y@z.org",
            "<o@x.org>",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(EmailError), "{bad:?}");
        }
    }
}
