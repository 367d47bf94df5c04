//! Random ids and secrets, and the one-way form secrets are stored in.

use std::fmt::Write;

use keyward_store::Digest;

fn fill_random(buf: &mut [u8]) {
    // The OS RNG failing is not recoverable and not caused by input.
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// An opaque, unguessable id: 96 random bits as 24 hex digits. Never
/// sequential, so one id tells nothing of the others.
pub fn new_id() -> String {
    random_hex(12)
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    fill_random(&mut bytes);
    let mut out = String::with_capacity(n * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Tokens, sessions and invitations are 256 random bits, so a plain SHA-256
/// is a sufficient one-way form to store and look up.
pub fn token_hash(secret: &str) -> Digest {
    use sha2::Digest as _;
    sha2::Sha256::digest(secret.as_bytes()).into()
}
