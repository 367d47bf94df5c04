//! Reading the activity log, and following it live.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::{ActivityEntry, Outcome};
use keyward_store::{ActivityFilter, ActivityStore, Vault};
use tokio::sync::broadcast;

use crate::AppError;
use crate::recorder::Recorder;
use crate::registry::{PANEL, Registry};

pub const MAX_PAGE: i64 = 500;
pub const DEFAULT_PAGE: i64 = 50;

#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    pub user_id: Option<String>,
    pub device: Option<String>,
    /// "granted" or "denied".
    pub outcome: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ActivityPage {
    pub items: Vec<ActivityEntry>,
    pub next_cursor: Option<String>,
}

/// Why an activity query was refused.
#[derive(Debug, Clone, Copy)]
pub enum QueryError {
    /// Not of the documented form.
    Invalid(&'static str),
    /// A cursor this server did not give for this home.
    Cursor,
}

impl QueryError {
    pub fn message(&self) -> &'static str {
        match self {
            Self::Invalid(message) => message,
            Self::Cursor => "cursor is not one this server gave for this home",
        }
    }
}

impl ActivityQuery {
    fn filter(self, home_id: &str, vault: &Vault) -> Result<ActivityFilter, QueryError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        let limit = u32::try_from(limit).ok().filter(|l| (1..=MAX_PAGE).contains(&i64::from(*l)));
        let limit = limit.ok_or(QueryError::Invalid("limit must be 1 to 500"))?;
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some(text) => Some(Outcome::parse(text).ok_or(QueryError::Invalid("outcome must be granted or denied"))?),
        };
        let before = match &self.cursor {
            None => None,
            Some(c) => Some(vault.open_cursor(home_id, c).ok_or(QueryError::Cursor)?),
        };
        Ok(ActivityFilter {
            home_id: home_id.to_owned(),
            user_id: self.user_id,
            device: self.device,
            outcome,
            since: self.since,
            until: self.until,
            before,
            limit,
        })
    }
}

/// The activity log of each home.
pub struct Activity {
    registry: Arc<Registry>,
    store: Arc<dyn ActivityStore>,
    recorder: Arc<Recorder>,
    /// Seals the page cursors.
    vault: Arc<Vault>,
}

impl Activity {
    pub(crate) fn new(
        registry: Arc<Registry>,
        store: Arc<dyn ActivityStore>,
        recorder: Arc<Recorder>,
        vault: Arc<Vault>,
    ) -> Self {
        Self { registry, store, recorder, vault }
    }

    /// The home's activity, newest first, a page at a time.
    pub async fn query(
        &self,
        home_id: &str,
        query: ActivityQuery,
    ) -> Result<Result<ActivityPage, QueryError>, AppError> {
        self.registry.home(home_id)?;
        let filter = match query.filter(home_id, &self.vault) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        let page = self.store.activity(filter).await?;
        let next_cursor = page.next.map(|position| self.vault.seal_cursor(home_id, position));
        Ok(Ok(ActivityPage { items: page.entries, next_cursor }))
    }

    /// Whether an alarm panel has ever asked this home for a decision (an
    /// attempt on the device `"panel"` is in the log): until one has, the
    /// panel rights of a code are a promise with nothing to keep it.
    ///
    /// The log is searched once per process (the search reads the whole log
    /// of a home without a panel); from then on the home's memory answers,
    /// kept true by the access path.
    pub async fn panel_heard_from(&self, home_id: &str) -> Result<bool, AppError> {
        let home = self.registry.home(home_id)?;
        if let Some(known) = home.lock().await.panel_heard {
            return Ok(known);
        }
        let query = ActivityQuery { device: Some(PANEL.to_owned()), limit: Some(1), ..ActivityQuery::default() };
        let found = self.query(home_id, query).await?.is_ok_and(|page| !page.items.is_empty());
        // An attempt on the panel meanwhile has set it already: it stands.
        Ok(*home.lock().await.panel_heard.get_or_insert(found))
    }

    /// Every entry of every home, live, once committed. A receiver that
    /// falls behind skips entries (the log itself has them all).
    pub fn subscribe(&self) -> broadcast::Receiver<ActivityEntry> {
        self.recorder.subscribe()
    }
}
