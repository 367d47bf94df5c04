//! Reading the activity log.

use jiff::Timestamp;
use keyward_store::{ActivityFilter, ActivityRow, query_activity};

use crate::state::micros_to_timestamp;
use crate::{AppError, Hub};

pub const MAX_PAGE: i64 = 500;
pub const DEFAULT_PAGE: i64 = 50;

#[derive(Debug, Clone, Default)]
pub struct ActivityQuery {
    pub user_id: Option<String>,
    pub device: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ActivityItem {
    pub row: ActivityRow,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ActivityPage {
    pub items: Vec<ActivityItem>,
    pub next_cursor: Option<String>,
}

/// Why an activity query was refused.
#[derive(Debug, Clone, Copy)]
pub struct QueryError(pub &'static str);

impl ActivityQuery {
    fn filter(self, home_id: &str) -> Result<ActivityFilter, QueryError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(QueryError("limit must be 1 to 500"));
        }
        if let Some(outcome) = &self.outcome
            && outcome != "granted"
            && outcome != "denied"
        {
            return Err(QueryError("outcome must be granted or denied"));
        }
        let before_seq = match &self.cursor {
            None => None,
            Some(c) => Some(i64::from_str_radix(c, 16).map_err(|_| QueryError("cursor is not one this server gave"))?),
        };
        Ok(ActivityFilter {
            home_id: home_id.to_owned(),
            user_id: self.user_id,
            device: self.device,
            outcome: self.outcome,
            since: self.since.map(|t| t.as_microsecond()),
            until: self.until.map(|t| t.as_microsecond()),
            before_seq,
            limit,
        })
    }
}

impl Hub {
    /// The home's activity, newest first, a page at a time.
    pub async fn activity(
        &self,
        home_id: &str,
        query: ActivityQuery,
    ) -> Result<Result<ActivityPage, QueryError>, AppError> {
        self.home(home_id)?;
        let filter = match query.filter(home_id) {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        let (rows, next) = self.read(move |conn| query_activity(conn, &filter)).await?;
        Ok(Ok(ActivityPage {
            items: rows.into_iter().map(|row| ActivityItem { at: micros_to_timestamp(row.at), row }).collect(),
            next_cursor: next.map(|seq| format!("{seq:x}")),
        }))
    }
}
