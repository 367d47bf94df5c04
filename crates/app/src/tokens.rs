//! API tokens: 256 random bits shown once, stored as a SHA-256 digest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keyward_core::Name;
use keyward_store::{Connection, TokenRow, home_exists, new_id, now_micros, random_hex, token_hash};

use crate::{AppError, Hub};

/// How long a verified token is trusted without asking the database again;
/// a token revoked from the CLI stops working within this time.
const CACHE_FOR: Duration = Duration::from_secs(2);
const PREFIX: &str = "kw_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Admin,
    Read,
    Device,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "read" => Some(Self::Read),
            "device" => Some(Self::Device),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Read => "read",
            Self::Device => "device",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    /// A token bound to a home may act on that home only.
    pub home_id: Option<String>,
}

impl TokenInfo {
    pub fn may_access_home(&self, home_id: &str) -> bool {
        self.home_id.as_deref().is_none_or(|bound| bound == home_id)
    }
}

#[derive(Default)]
pub(crate) struct TokenCache(Mutex<HashMap<[u8; 32], (TokenInfo, Instant)>>);

/// Creates a token; returns its row and the secret, which is never stored.
pub fn create(
    conn: &Connection,
    name: &str,
    scope: Scope,
    home_id: Option<&str>,
) -> Result<(TokenRow, String), AppError> {
    let name = Name::parse(name)?;
    if let Some(home_id) = home_id
        && !home_exists(conn, home_id)?
    {
        return Err(AppError::HomeNotFound);
    }
    let secret = format!("{PREFIX}{}", random_hex(32));
    let row = TokenRow {
        id: new_id(),
        name: name.as_str().to_owned(),
        scope: scope.as_str().to_owned(),
        home_id: home_id.map(str::to_owned),
        created_at: now_micros(),
        revoked_at: None,
    };
    keyward_store::insert_token(conn, &row, &token_hash(&secret))?;
    Ok((row, secret))
}

pub fn list(conn: &Connection) -> Result<Vec<TokenRow>, AppError> {
    Ok(keyward_store::list_tokens(conn)?)
}

pub fn revoke(conn: &Connection, id: &str) -> Result<(), AppError> {
    if keyward_store::revoke_token(conn, id, now_micros())? { Ok(()) } else { Err(AppError::TokenNotFound) }
}

impl Hub {
    /// Creates a token from the owner's settings page; the secret is returned once.
    pub async fn create_token(
        &self,
        name: &str,
        scope: Scope,
        home_id: Option<&str>,
    ) -> Result<(TokenRow, String), AppError> {
        // Checked here, so that inside the write only storage can fail.
        Name::parse(name)?;
        if let Some(home_id) = home_id {
            self.home(home_id)?;
        }
        let (name, home) = (name.to_owned(), home_id.map(str::to_owned));
        Ok(self
            .writer
            .write(move |conn| {
                create(conn, &name, scope, home.as_deref()).map_err(|e| match e {
                    AppError::Store(e) => e,
                    other => keyward_store::StoreError::Rejected(other.to_string()),
                })
            })
            .await?)
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRow>, AppError> {
        self.read(keyward_store::list_tokens).await
    }

    /// Revokes a token at once (the cache forgets it too).
    pub async fn revoke_token(&self, id: &str) -> Result<(), AppError> {
        let token_id = id.to_owned();
        let revoked = self.writer.write(move |conn| keyward_store::revoke_token(conn, &token_id, now_micros())).await?;
        if let Ok(mut cache) = self.tokens.0.lock() {
            cache.retain(|_, (info, _)| info.id != id);
        }
        if revoked { Ok(()) } else { Err(AppError::TokenNotFound) }
    }

    /// The token this bearer secret names, if it is live.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<TokenInfo>, AppError> {
        // Our tokens have one shape; anything else is refused without a lookup.
        if !secret.starts_with(PREFIX) || secret.len() != PREFIX.len() + 64 {
            return Ok(None);
        }
        let hash = token_hash(secret);
        {
            let cache = self.tokens.0.lock().map_err(|_| AppError::Poisoned)?;
            if let Some((info, checked)) = cache.get(&hash)
                && checked.elapsed() < CACHE_FOR
            {
                return Ok(Some(info.clone()));
            }
        }
        let row = self.read(move |conn| keyward_store::find_token(conn, &hash)).await?;
        let mut cache = self.tokens.0.lock().map_err(|_| AppError::Poisoned)?;
        match row.and_then(|r| {
            Some(TokenInfo { scope: Scope::parse(&r.scope)?, id: r.id, name: r.name, home_id: r.home_id })
        }) {
            Some(info) => {
                cache.insert(hash, (info.clone(), Instant::now()));
                Ok(Some(info))
            }
            None => {
                cache.remove(&hash);
                Ok(None)
            }
        }
    }
}
