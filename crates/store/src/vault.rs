//! The code vault. A code is stored twice, never in plain text:
//! - sealed with XChaCha20-Poly1305 (random 24-byte nonce; associated data =
//!   home id and user id, so a sealed code cannot be moved to another user),
//!   for the owner's audited reveal and for the code rules;
//! - as HMAC-SHA-256(key, home id ‖ 0 ‖ code), found under a UNIQUE index, so
//!   a keypad's code is looked up with one digest and one indexed read.
//!
//! Short numeric codes fall to brute force from any unkeyed hash, so the key
//! is what protects them: it lives in the data directory (mode 0600), never
//! in the database, and a backup of the database alone discloses no code.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::store::MetaStore;
use crate::{CodeMac, StoreError};

pub(crate) fn fill_random(buf: &mut [u8]) {
    // The OS RNG failing is not recoverable and not caused by input.
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "the key file {0} is missing, but the database was set up with a key. Restore the key file from your backup; \
         keyward will not make a new key over existing data"
    )]
    KeyMissing(PathBuf),
    #[error("the key file {0} does not match this database (it was made for another data directory, or is damaged)")]
    KeyMismatch(PathBuf),
    #[error("the key file {0} is damaged: it must hold exactly 32 bytes")]
    KeyMalformed(PathBuf),
    #[error("cannot read or write the key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("a stored code could not be unsealed (wrong key or damaged row)")]
    Unseal,
}

pub struct Vault {
    cipher: XChaCha20Poly1305,
    /// HMAC state already keyed: cloning it saves re-hashing the key per lookup.
    mac: Hmac<Sha256>,
    /// A key of its own for the web layer (its CSRF tokens).
    web_key: Zeroizing<[u8; 32]>,
    /// A key of its own for the activity log's page cursors.
    cursors: XChaCha20Poly1305,
    check: [u8; 32],
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<keys redacted>)")
    }
}

impl Vault {
    /// Reads the key file, or makes one when `may_create` (a database that
    /// holds no sealed data yet).
    pub fn load_or_create(path: &Path, may_create: bool) -> Result<(Self, bool), VaultError> {
        let io = |source| VaultError::Io { path: path.to_owned(), source };
        match fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let key: &[u8; KEY_LEN] =
                    bytes.as_slice().try_into().map_err(|_| VaultError::KeyMalformed(path.to_owned()))?;
                Ok((Self::from_key(key), false))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if !may_create {
                    return Err(VaultError::KeyMissing(path.to_owned()));
                }
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                fill_random(key.as_mut_slice());
                // create_new: never overwrite a key another process just made.
                let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
                file.write_all(key.as_slice()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok((Self::from_key(&key), true))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn from_key(key: &[u8; KEY_LEN]) -> Self {
        let mut enc_key = derive(key, b"keyward code sealing v1");
        let mut mac_key = derive(key, b"keyward code lookup v1");
        let check = derive(key, b"keyward key check v1");
        let web_key = Zeroizing::new(derive(key, b"keyward csrf v1"));
        let mut cursor_key = derive(key, b"keyward cursors v1");
        // Both keys are 32 bytes, which these constructors accept.
        #[allow(clippy::expect_used)]
        let cipher = XChaCha20Poly1305::new_from_slice(&enc_key).expect("32-byte key");
        #[allow(clippy::expect_used)]
        let cursors = XChaCha20Poly1305::new_from_slice(&cursor_key).expect("32-byte key");
        #[allow(clippy::expect_used)]
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&mac_key).expect("HMAC takes any key length");
        enc_key.zeroize();
        mac_key.zeroize();
        cursor_key.zeroize();
        Self { cipher, mac, web_key, cursors, check }
    }

    /// A value stored in the database that proves which key it was made with.
    pub fn key_check(&self) -> [u8; 32] {
        self.check
    }

    pub fn matches_check(&self, stored: &[u8]) -> bool {
        self.check.ct_eq(stored).into()
    }

    pub fn code_mac(&self, home_id: &str, code: &str) -> CodeMac {
        let mut mac = self.mac.clone();
        mac.update(home_id.as_bytes());
        mac.update(&[0]);
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A key derived for the web layer's own use (CSRF tokens), so that the
    /// code keys never leave the vault.
    pub fn web_key(&self) -> Zeroizing<[u8; 32]> {
        self.web_key.clone()
    }

    /// Loads the key from `key_path` and checks it against the database; makes
    /// a new key only when `may_create` and the database holds nothing sealed
    /// yet. A missing or different key over existing data is an error, never
    /// a new key.
    pub async fn open(store: &dyn MetaStore, key_path: &Path, may_create: bool) -> Result<Self, StoreError> {
        let stored = store.key_check().await?;
        let fresh = stored.is_none() && !store.holds_codes().await?;
        let (vault, _) = Self::load_or_create(key_path, may_create && fresh)?;
        match stored {
            Some(check) if !vault.matches_check(&check) => {
                return Err(VaultError::KeyMismatch(key_path.to_owned()).into());
            }
            Some(_) => {}
            None => store.set_key_check(vault.key_check()).await?,
        }
        Ok(vault)
    }

    pub fn seal(&self, home_id: &str, user_id: &str, code: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let aad = associated_data(home_id, user_id);
        let nonce_arr = XNonce::from(nonce);
        // Encryption only fails for inputs of gigabytes.
        #[allow(clippy::expect_used)]
        let ciphertext =
            self.cipher.encrypt(&nonce_arr, Payload { msg: code.as_bytes(), aad: &aad }).expect("code is tiny");
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// A page cursor of a home's activity log: the position, sealed with the
    /// home's id, so that it tells nothing (not even how much happened in
    /// other homes) and works in its own home only. As hex.
    pub fn seal_cursor(&self, home_id: &str, position: i64) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let aad = [b"cursor\0".as_slice(), home_id.as_bytes()].concat();
        // Encryption only fails for inputs of gigabytes.
        #[allow(clippy::expect_used)]
        let sealed = self
            .cursors
            .encrypt(&XNonce::from(nonce), Payload { msg: &position.to_be_bytes(), aad: &aad })
            .expect("a cursor is tiny");
        nonce.iter().chain(&sealed).map(|b| format!("{b:02x}")).collect()
    }

    /// The position of a cursor this vault sealed for this home.
    pub fn open_cursor(&self, home_id: &str, cursor: &str) -> Option<i64> {
        if cursor.len() != 2 * (NONCE_LEN + 8 + 16) || !cursor.is_ascii() {
            return None;
        }
        let bytes: Vec<u8> = (0..cursor.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16).ok())
            .collect::<Option<_>>()?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let aad = [b"cursor\0".as_slice(), home_id.as_bytes()].concat();
        let plain = self.cursors.decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: &aad }).ok()?;
        Some(i64::from_be_bytes(plain.as_slice().try_into().ok()?))
    }

    pub fn unseal(&self, home_id: &str, user_id: &str, sealed: &[u8]) -> Result<Zeroizing<String>, VaultError> {
        if sealed.len() <= NONCE_LEN {
            return Err(VaultError::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Unseal)?;
        let aad = associated_data(home_id, user_id);
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| VaultError::Unseal)?;
        String::from_utf8(plain).map(Zeroizing::new).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.zeroize();
            VaultError::Unseal
        })
    }
}

fn derive(key: &[u8; KEY_LEN], label: &[u8]) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

fn associated_data(home_id: &str, user_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(home_id.len() + user_id.len() + 1);
    aad.extend_from_slice(home_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(user_id.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::from_key(&[7u8; 32])
    }

    #[test]
    fn seal_round_trips_and_binds_to_the_user() {
        let v = vault();
        let sealed = v.seal("home", "user", "4719");
        assert!(!sealed.windows(4).any(|w| w == b"4719"));
        assert_eq!(v.unseal("home", "user", &sealed).map(|c| c.to_string()).ok(), Some("4719".to_owned()));
        assert!(v.unseal("home", "other", &sealed).is_err());
        assert!(Vault::from_key(&[8u8; 32]).unseal("home", "user", &sealed).is_err());
    }

    #[test]
    fn cursors_are_sealed_for_their_home() {
        let v = vault();
        let cursor = v.seal_cursor("home", 42);
        assert_eq!(v.open_cursor("home", &cursor), Some(42));
        assert_ne!(v.seal_cursor("home", 42), cursor, "a new nonce each time");
        assert_eq!(v.open_cursor("other", &cursor), None);
        assert_eq!(Vault::from_key(&[8u8; 32]).open_cursor("home", &cursor), None);
        assert_eq!(v.open_cursor("home", "2a"), None);
        assert_eq!(v.open_cursor("home", &"zz".repeat(48)), None);
        assert_eq!(v.open_cursor("home", &"é".repeat(48)), None);
    }

    #[test]
    fn macs_depend_on_home_code_and_key() {
        let v = vault();
        assert_eq!(v.code_mac("h", "4719"), v.code_mac("h", "4719"));
        assert_ne!(v.code_mac("h", "4719"), v.code_mac("h2", "4719"));
        assert_ne!(v.code_mac("h", "4719"), v.code_mac("h", "47190"));
        assert_ne!(v.code_mac("h1", "04719"), v.code_mac("h", "104719"), "the separator keeps fields apart");
        assert_ne!(v.code_mac("h", "4719"), Vault::from_key(&[8u8; 32]).code_mac("h", "4719"));
    }

    #[test]
    fn key_file_is_created_once_private_and_refused_when_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyward.key");
        assert!(matches!(Vault::load_or_create(&path, false), Err(VaultError::KeyMissing(_))));
        let (made, created) = Vault::load_or_create(&path, true).expect("made");
        assert!(created);
        let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(&path).expect("meta").permissions());
        assert_eq!(mode & 0o777, 0o600);
        let (loaded, created) = Vault::load_or_create(&path, true).expect("loaded");
        assert!(!created);
        assert!(loaded.matches_check(&made.key_check()));
        fs::write(&path, b"short").expect("write");
        assert!(matches!(Vault::load_or_create(&path, true), Err(VaultError::KeyMalformed(_))));
    }
}
