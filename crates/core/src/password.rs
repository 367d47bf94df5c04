//! Owner passwords (OWASP ASVS 5.0): at least 10 characters, long ones
//! allowed and never truncated, and not a common password.

/// Longer than any passphrase; bounds the work of hashing.
pub const MAX_PASSWORD_CHARS: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Common passwords of 10 or more characters (shorter ones fail on length),
/// from the public breach lists' top entries; compared ignoring case.
const COMMON: &[&str] = &[
    "1234567890",
    "0987654321",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "iloveyou12",
    "iloveyou123",
    "abcdefghij",
    "abcd123456",
    "abc1234567",
    "a123456789",
    "1234567890a",
    "123456789a",
    "1234qwer!@",
    "q1w2e3r4t5",
    "zaq12wsxcde",
    "asdfghjkl1",
    "asdfghjkl;",
    "letmein123",
    "welcome123",
    "welcome1234",
    "changeme123",
    "administrator",
    "admin12345",
    "admin123456",
    "football123",
    "baseball123",
    "sunshine123",
    "princess123",
    "starwars123",
    "trustno1234",
    "monkey12345",
    "dragon12345",
    "master12345",
    "superman123",
    "1111111111",
    "0000000000",
    "123123123123",
    "1234512345",
    "12341234",
    "1122334455",
    "9876543210",
    "p@ssw0rd123",
    "p@ssword123",
    "passwordpassword",
    "keyward123",
    "keyward1234",
    "homeassistant",
    "correcthorsebatterystaple",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("use at least 10 characters")]
    TooShort,
    #[error("use at most 1024 characters")]
    TooLong,
    #[error("this password is too common; choose another")]
    Common,
}

/// Checks a new password; `email` is the owner's, which may not be the password.
pub fn check_password(password: &str, email: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    let one_character = password.chars().all(|c| password.starts_with(c));
    let local_part = email.split('@').next().unwrap_or_default().to_lowercase();
    if one_character
        || COMMON.iter().any(|c| *c == lower)
        || lower == email.to_lowercase()
        || (!local_part.is_empty() && lower == local_part)
    {
        return Err(PasswordError::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert_eq!(check_password("short", "a@b.c"), Err(PasswordError::TooShort));
        assert_eq!(check_password("ninechars", "a@b.c"), Err(PasswordError::TooShort));
        assert_eq!(check_password("Password123", "a@b.c"), Err(PasswordError::Common));
        assert_eq!(check_password("aaaaaaaaaaaa", "a@b.c"), Err(PasswordError::Common));
        assert_eq!(check_password("owner@example.org", "Owner@example.org"), Err(PasswordError::Common));
        assert_eq!(check_password("longowner1", "longowner1@example.org"), Err(PasswordError::Common));
        assert!(check_password("tangerine kite 42", "a@b.c").is_ok());
        // Long passwords are accepted whole: nothing is truncated.
        assert!(check_password(&"x1".repeat(200), "a@b.c").is_ok());
        assert_eq!(check_password(&"é".repeat(1025), "a@b.c"), Err(PasswordError::TooLong));
        assert!(check_password(&("é".repeat(1023) + "z"), "a@b.c").is_ok(), "counted in characters, not bytes");
    }
}
