//! CSRF tokens for the owner's forms: HMAC(key, the browser's CSRF cookie).
//! The key is the web layer's own, derived from the data directory's key by
//! the vault and handed in at start.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub struct CsrfKey(Hmac<Sha256>);

impl CsrfKey {
    pub fn new(key: &[u8; 32]) -> Self {
        // HMAC takes a key of any length.
        #[allow(clippy::expect_used)]
        Self(<Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// The token a form must carry for a browser whose CSRF cookie is `cookie`.
    pub fn token(&self, cookie: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(cookie.as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether a form's token belongs to the browser's cookie (constant time).
    pub fn valid(&self, cookie: &str, token: &str) -> bool {
        let expected = self.token(cookie);
        !cookie.is_empty() && expected.len() == token.len() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_their_cookie_and_key() {
        let key = CsrfKey::new(&[7; 32]);
        let token = key.token("cookie-a");
        assert!(key.valid("cookie-a", &token));
        assert!(!key.valid("cookie-b", &token));
        assert!(!key.valid("", &key.token("")), "no cookie, no form");
        assert!(!CsrfKey::new(&[8; 32]).valid("cookie-a", &token));
        assert!(!key.valid("cookie-a", &token[..63]));
    }
}
