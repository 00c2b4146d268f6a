//! Async invocations (StartAsyncInvoke): one model input, one answer written to the
//! caller's S3 prefix, run by whichever instance holds the lease (like batch jobs).

use time::OffsetDateTime;

use crate::{format_ts, parse_ts, with_pool, ListFilter, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncInvokeStatus {
    InProgress,
    Completed,
    Failed,
}

impl AsyncInvokeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::InProgress, Self::Completed, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncInvoke {
    /// `arn:aws:bedrock:{region}:{account}:async-invoke/{id}`.
    pub arn: String,
    pub id: String,
    pub account: String,
    pub region: String,
    /// The modelId as sent (what runs), and the model's ARN (what Get reports).
    pub model_id: String,
    pub model_arn: String,
    /// `modelInput` (JSON text).
    pub model_input: String,
    /// `outputDataConfig` as sent (JSON text), and its `s3Uri`.
    pub output_config: String,
    pub output_s3_uri: String,
    pub status: AsyncInvokeStatus,
    pub failure_message: Option<String>,
    pub submit_time: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub end_time: Option<OffsetDateTime>,
    pub client_request_token: Option<String>,
}

/// ListAsyncInvokes' filters and page.
#[derive(Clone, Debug, Default)]
pub struct AsyncInvokeQuery {
    pub status: Option<AsyncInvokeStatus>,
    /// Page, order and the submit-time window (ListAsyncInvokes has no name filter, so
    /// `name_contains` is never set).
    pub filter: ListFilter,
}

#[derive(sqlx::FromRow)]
struct Row {
    arn: String,
    id: String,
    account: String,
    region: String,
    model_id: String,
    model_arn: String,
    model_input: String,
    output_config: String,
    output_s3_uri: String,
    status: String,
    failure_message: Option<String>,
    submit_time: String,
    updated_at: String,
    end_time: Option<String>,
    client_request_token: Option<String>,
}

impl Row {
    fn into_invoke(self) -> Result<AsyncInvoke, StoreError> {
        let status = AsyncInvokeStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Database(format!("async invocation {}: bad status", self.arn)))?;
        Ok(AsyncInvoke {
            status,
            submit_time: parse_ts(&self.submit_time)?,
            updated_at: parse_ts(&self.updated_at)?,
            end_time: self.end_time.as_deref().map(parse_ts).transpose()?,
            arn: self.arn,
            id: self.id,
            account: self.account,
            region: self.region,
            model_id: self.model_id,
            model_arn: self.model_arn,
            model_input: self.model_input,
            output_config: self.output_config,
            output_s3_uri: self.output_s3_uri,
            failure_message: self.failure_message,
            client_request_token: self.client_request_token,
        })
    }
}

macro_rules! columns {
    () => {
        "arn, id, account, region, model_id, model_arn, model_input, output_config, output_s3_uri, status, \
         failure_message, submit_time, updated_at, end_time, client_request_token"
    };
}

macro_rules! fetch_rows {
    ($store:expr, $sql:expr, $fetch:ident $(, $arg:expr)*) => {
        with_pool!($store, |pool| sqlx::query_as::<_, Row>($sql)$(.bind($arg))*.$fetch(pool).await?)
    };
}

impl Store {
    /// Records an invocation (InProgress) and returns it as stored; idempotent on
    /// `client_request_token` within the account and region.
    pub async fn create_async_invoke(&self, a: &AsyncInvoke) -> Result<AsyncInvoke, StoreError> {
        const BY_TOKEN: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM async_invokes WHERE account = $1 AND region = $2 AND client_request_token = $3"
        );
        const SQL: &str = concat!(
            "INSERT INTO async_invokes (",
            columns!(),
            ", lease_owner, lease_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             NULL, NULL)"
        );
        if let Some(token) = &a.client_request_token {
            if let Some(row) = fetch_rows!(self, BY_TOKEN, fetch_optional, &a.account, &a.region, token) {
                return row.into_invoke();
            }
        }
        let (submit, updated) = (format_ts(a.submit_time)?, format_ts(a.updated_at)?);
        let end = a.end_time.map(format_ts).transpose()?;
        let inserted = with_pool!(self, |pool| sqlx::query(SQL)
            .bind(&a.arn)
            .bind(&a.id)
            .bind(&a.account)
            .bind(&a.region)
            .bind(&a.model_id)
            .bind(&a.model_arn)
            .bind(&a.model_input)
            .bind(&a.output_config)
            .bind(&a.output_s3_uri)
            .bind(a.status.as_str())
            .bind(&a.failure_message)
            .bind(&submit)
            .bind(&updated)
            .bind(&end)
            .bind(&a.client_request_token)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::from));
        match (inserted, &a.client_request_token) {
            (Ok(_), _) => self.get_async_invoke(&a.account, &a.region, &a.arn).await,
            // A concurrent retry with the same token got in first.
            (Err(StoreError::Conflict(_)), Some(token)) => {
                fetch_rows!(self, BY_TOKEN, fetch_optional, &a.account, &a.region, token)
                    .ok_or(StoreError::NotFound)?
                    .into_invoke()
            }
            (Err(e), _) => Err(e),
        }
    }

    pub async fn get_async_invoke(&self, account: &str, region: &str, arn: &str) -> Result<AsyncInvoke, StoreError> {
        const SQL: &str =
            concat!("SELECT ", columns!(), " FROM async_invokes WHERE account = $1 AND region = $2 AND arn = $3");
        fetch_rows!(self, SQL, fetch_optional, account, region, arn).ok_or(StoreError::NotFound)?.into_invoke()
    }

    pub async fn list_async_invokes(
        &self,
        account: &str,
        region: &str,
        q: &AsyncInvokeQuery,
    ) -> Result<Vec<AsyncInvoke>, StoreError> {
        macro_rules! list_sql {
            ($order:literal) => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM async_invokes WHERE account = $1 AND region = $2 AND ($3 IS NULL OR status = $3) \
                     AND ($4 IS NULL OR submit_time > $4) AND ($5 IS NULL OR submit_time < $5) ORDER BY ",
                    $order,
                    " LIMIT $6 OFFSET $7"
                )
            };
        }
        let f = &q.filter;
        let sql = if f.descending { list_sql!("submit_time DESC, id DESC") } else { list_sql!("submit_time, id") };
        let (after, before) = f.window()?;
        let status = q.status.map(AsyncInvokeStatus::as_str);
        let (limit, offset) = f.page();
        let rows = fetch_rows!(self, sql, fetch_all, account, region, status, &after, &before, limit, offset);
        rows.into_iter().map(Row::into_invoke).collect()
    }

    /// Takes up to `max` InProgress invocations whose lease is free or has run out.
    pub async fn lease_async_invokes(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        max: u32,
    ) -> Result<Vec<AsyncInvoke>, StoreError> {
        const FREE: &str = "SELECT arn FROM async_invokes WHERE status = 'InProgress' \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY submit_time, arn LIMIT $2";
        const TAKE: &str = "UPDATE async_invokes SET lease_owner = $2, lease_until = $3 WHERE arn = $1 \
             AND status = 'InProgress' AND (lease_until IS NULL OR lease_until < $4)";
        const ONE: &str = concat!("SELECT ", columns!(), " FROM async_invokes WHERE arn = $1");
        let (now, until) = (format_ts(now)?, format_ts(until)?);
        let arns: Vec<String> =
            with_pool!(self, |pool| sqlx::query_scalar(FREE).bind(&now).bind(i64::from(max)).fetch_all(pool).await?);
        let mut taken = Vec::new();
        for arn in arns {
            let moved = with_pool!(self, |pool| sqlx::query(TAKE)
                .bind(&arn)
                .bind(owner)
                .bind(&until)
                .bind(&now)
                .execute(pool)
                .await?
                .rows_affected());
            if moved == 1 {
                if let Some(row) = fetch_rows!(self, ONE, fetch_optional, &arn) {
                    taken.push(row.into_invoke()?);
                }
            }
        }
        Ok(taken)
    }

    /// Extends `owner`'s lease; false when it was lost.
    pub async fn renew_async_lease(&self, arn: &str, owner: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE async_invokes SET lease_until = $3 WHERE arn = $1 AND lease_owner = $2";
        let until = format_ts(until)?;
        let moved = with_pool!(self, |pool| sqlx::query(SQL)
            .bind(arn)
            .bind(owner)
            .bind(&until)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(moved == 1)
    }

    /// Ends an invocation `owner` holds: Completed, or Failed with `Err(message)`.
    /// Returns whether this call ended it.
    pub async fn finish_async_invoke(
        &self,
        arn: &str,
        owner: &str,
        outcome: Result<(), &str>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE async_invokes SET status = $3, failure_message = $4, end_time = $5, \
             updated_at = $5, lease_owner = NULL, lease_until = NULL \
             WHERE arn = $1 AND lease_owner = $2 AND status = 'InProgress'";
        let (status, failure) = match outcome {
            Ok(()) => (AsyncInvokeStatus::Completed, None),
            Err(m) => (AsyncInvokeStatus::Failed, Some(m)),
        };
        let at = format_ts(at)?;
        let moved = with_pool!(self, |pool| sqlx::query(SQL)
            .bind(arn)
            .bind(owner)
            .bind(status.as_str())
            .bind(failure)
            .bind(&at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(moved == 1)
    }
}
