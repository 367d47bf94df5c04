//! API tokens: 256 random bits shown once, stored as a SHA-256 digest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use keyward_core::{Name, Scope};
use keyward_store::{Digest, HomeStore, TokenRecord, TokenStore};

use crate::AppError;
use crate::clock::Clock;
use crate::secrets::{new_id, random_hex, token_hash};

/// How long a verified token is trusted without asking the database again;
/// a token revoked from the CLI stops working within this time.
const CACHE_FOR: SignedDuration = SignedDuration::from_secs(2);
const PREFIX: &str = "kw_";

/// A live token, as a request's caller.
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

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    pub home_id: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl From<TokenRecord> for TokenView {
    fn from(t: TokenRecord) -> Self {
        Self {
            id: t.id,
            name: t.name,
            scope: t.scope,
            home_id: t.home_id,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// API tokens.
pub struct Tokens {
    store: Arc<dyn TokenStore>,
    homes: Arc<dyn HomeStore>,
    clock: Arc<dyn Clock>,
    /// Shared with the callers: a cached token costs no copy per request.
    cache: Mutex<HashMap<Digest, (Arc<TokenInfo>, Timestamp)>>,
}

impl Tokens {
    pub fn new(store: Arc<dyn TokenStore>, homes: Arc<dyn HomeStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, homes, clock, cache: Mutex::new(HashMap::new()) }
    }

    /// Creates a token; returns it and its secret, which is never stored and
    /// shown only this once.
    pub async fn create(
        &self,
        name: &str,
        scope: Scope,
        home_id: Option<&str>,
    ) -> Result<(TokenView, String), AppError> {
        let name = Name::parse(name)?;
        if let Some(home_id) = home_id
            && !self.homes.home_exists(home_id.to_owned()).await?
        {
            return Err(AppError::HomeNotFound);
        }
        let secret = format!("{PREFIX}{}", random_hex(32));
        let record = TokenRecord {
            id: new_id(),
            name: name.as_str().to_owned(),
            scope,
            home_id: home_id.map(str::to_owned),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.store.insert_token(record.clone(), token_hash(&secret)).await?;
        Ok((record.into(), secret))
    }

    /// Every token, revoked ones too.
    pub async fn list(&self) -> Result<Vec<TokenView>, AppError> {
        Ok(self.store.list_tokens().await?.into_iter().map(TokenView::from).collect())
    }

    /// Revokes a token at once (this process's cache forgets it too).
    pub async fn revoke(&self, id: &str) -> Result<(), AppError> {
        let revoked = self.store.revoke_token(id.to_owned(), self.clock.now()).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (info, _)| info.id != id);
        }
        if revoked { Ok(()) } else { Err(AppError::TokenNotFound) }
    }

    /// The token this bearer secret names, if it is live.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Arc<TokenInfo>>, AppError> {
        // Our tokens have one shape; anything else is refused without a lookup.
        if !secret.starts_with(PREFIX) || secret.len() != PREFIX.len() + 64 {
            return Ok(None);
        }
        let hash = token_hash(secret);
        let now = self.clock.now();
        {
            let cache = self.cache.lock().map_err(|_| AppError::Poisoned)?;
            if let Some((info, checked)) = cache.get(&hash)
                && now.duration_since(*checked) < CACHE_FOR
                && *checked <= now
            {
                return Ok(Some(Arc::clone(info)));
            }
        }
        let found = self
            .store
            .find_token(hash)
            .await?
            .map(|t| Arc::new(TokenInfo { id: t.id, name: t.name, scope: t.scope, home_id: t.home_id }));
        let mut cache = self.cache.lock().map_err(|_| AppError::Poisoned)?;
        match &found {
            Some(info) => cache.insert(hash, (Arc::clone(info), now)),
            None => cache.remove(&hash),
        };
        Ok(found)
    }
}
