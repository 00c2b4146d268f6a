//! Model invocation jobs: create (idempotent on the client token), get, list, stop, and
//! what the runner does with its lease: take a job, move it through its statuses, end it.

use time::OffsetDateTime;

use super::{to_i64, to_u64};
use crate::BeginWrite;
use crate::{format_ts, parse_ts, with_pool, ListFilter, Store, StoreError};

/// Bedrock's statuses, in the order a job goes through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchJobStatus {
    Submitted,
    Validating,
    Scheduled,
    InProgress,
    Completed,
    PartiallyCompleted,
    Failed,
    Stopping,
    Stopped,
    Expired,
}

impl BatchJobStatus {
    pub const ALL: [Self; 10] = [
        Self::Submitted,
        Self::Validating,
        Self::Scheduled,
        Self::InProgress,
        Self::Completed,
        Self::PartiallyCompleted,
        Self::Failed,
        Self::Stopping,
        Self::Stopped,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "Submitted",
            Self::Validating => "Validating",
            Self::Scheduled => "Scheduled",
            Self::InProgress => "InProgress",
            Self::Completed => "Completed",
            Self::PartiallyCompleted => "PartiallyCompleted",
            Self::Failed => "Failed",
            Self::Stopping => "Stopping",
            Self::Stopped => "Stopped",
            Self::Expired => "Expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Nothing more happens to the job.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::PartiallyCompleted | Self::Failed | Self::Stopped | Self::Expired)
    }
}

/// One model invocation job as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchJob {
    /// `arn:aws:bedrock:{region}:{account}:model-invocation-job/{id}`.
    pub arn: String,
    pub id: String,
    pub account: String,
    pub region: String,
    pub name: String,
    pub model_id: String,
    pub role_arn: String,
    /// `inputDataConfig`, `outputDataConfig` and `vpcConfig` as sent (JSON text).
    pub input_config: String,
    pub output_config: String,
    pub vpc_config: Option<String>,
    pub input_s3_uri: String,
    pub output_s3_uri: String,
    /// `modelInvocationType` as sent (`None`: InvokeModel bodies).
    pub invocation_type: Option<String>,
    pub timeout_hours: u32,
    pub status: BatchJobStatus,
    pub message: Option<String>,
    pub submit_time: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub end_time: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub client_request_token: Option<String>,
    /// Known once the input has been read (Validating → Scheduled).
    pub total_records: Option<u64>,
    pub processed_records: u64,
    pub success_records: u64,
    pub error_records: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// ListModelInvocationJobs' filters and page.
#[derive(Clone, Debug, Default)]
pub struct BatchJobQuery {
    pub status: Option<BatchJobStatus>,
    /// Name, page and order; its time window is the submit time.
    pub filter: ListFilter,
}

#[derive(sqlx::FromRow)]
struct Row {
    arn: String,
    id: String,
    account: String,
    region: String,
    name: String,
    model_id: String,
    role_arn: String,
    input_config: String,
    output_config: String,
    vpc_config: Option<String>,
    input_s3_uri: String,
    output_s3_uri: String,
    invocation_type: Option<String>,
    timeout_hours: i64,
    status: String,
    message: Option<String>,
    submit_time: String,
    updated_at: String,
    end_time: Option<String>,
    expires_at: String,
    client_request_token: Option<String>,
    total_records: Option<i64>,
    processed_records: i64,
    success_records: i64,
    error_records: i64,
    input_tokens: i64,
    output_tokens: i64,
}

impl Row {
    fn into_job(self) -> Result<BatchJob, StoreError> {
        let status = BatchJobStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Database(format!("batch job {}: bad status {}", self.arn, self.status)))?;
        Ok(BatchJob {
            status,
            submit_time: parse_ts(&self.submit_time)?,
            updated_at: parse_ts(&self.updated_at)?,
            end_time: self.end_time.as_deref().map(parse_ts).transpose()?,
            expires_at: parse_ts(&self.expires_at)?,
            timeout_hours: u32::try_from(self.timeout_hours).unwrap_or(0),
            total_records: self.total_records.map(to_u64),
            processed_records: to_u64(self.processed_records),
            success_records: to_u64(self.success_records),
            error_records: to_u64(self.error_records),
            input_tokens: to_u64(self.input_tokens),
            output_tokens: to_u64(self.output_tokens),
            arn: self.arn,
            id: self.id,
            account: self.account,
            region: self.region,
            name: self.name,
            model_id: self.model_id,
            role_arn: self.role_arn,
            input_config: self.input_config,
            output_config: self.output_config,
            vpc_config: self.vpc_config,
            input_s3_uri: self.input_s3_uri,
            output_s3_uri: self.output_s3_uri,
            invocation_type: self.invocation_type,
            message: self.message,
            client_request_token: self.client_request_token,
        })
    }
}

macro_rules! columns {
    () => {
        "arn, id, account, region, name, model_id, role_arn, input_config, output_config, vpc_config, \
         input_s3_uri, output_s3_uri, invocation_type, timeout_hours, status, message, submit_time, updated_at, \
         end_time, expires_at, client_request_token, total_records, processed_records, success_records, \
         error_records, input_tokens, output_tokens"
    };
}

macro_rules! fetch_rows {
    ($store:expr, $sql:expr, $fetch:ident $(, $arg:expr)*) => {
        with_pool!($store, |pool| sqlx::query_as::<_, Row>($sql)$(.bind($arg))*.$fetch(pool).await?)
    };
}

impl Store {
    /// Creates a job (Submitted) and returns it as stored. Idempotent on
    /// `client_request_token` within the account and region. `max_active` is the
    /// account's quota of unfinished jobs on one model in the region: past it, a
    /// [`StoreError::Conflict`] that says so.
    pub async fn create_batch_job(&self, j: &BatchJob, max_active: u32) -> Result<BatchJob, StoreError> {
        if let Some(original) = self.batch_job_by_token(&j.account, &j.region, j.client_request_token.as_ref()).await? {
            return Ok(original);
        }
        const ACTIVE_SQL: &str = concat!(
            "SELECT COUNT(*) FROM batch_jobs WHERE account = $1 AND region = $2 AND model_id = $3 AND status IN ",
            "('Submitted', 'Validating', 'Scheduled', 'InProgress', 'Stopping')"
        );
        const SQL: &str = concat!(
            "INSERT INTO batch_jobs (",
            columns!(),
            ", lease_owner, lease_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, NULL, NULL)"
        );
        let (submit, updated, expires) =
            (format_ts(j.submit_time)?, format_ts(j.updated_at)?, format_ts(j.expires_at)?);
        let end = j.end_time.map(format_ts).transpose()?;
        let full = format!(
            "The account already has {max_active} unfinished batch inference jobs on {} in {}, its quota.",
            j.model_id, j.region
        );
        let inserted: Result<(), StoreError> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let active: i64 = sqlx::query_scalar(ACTIVE_SQL)
                .bind(&j.account)
                .bind(&j.region)
                .bind(&j.model_id)
                .fetch_one(&mut *tx)
                .await?;
            if active >= i64::from(max_active) {
                Err(StoreError::Conflict(full))
            } else {
                let done = sqlx::query(SQL)
                    .bind(&j.arn)
                    .bind(&j.id)
                    .bind(&j.account)
                    .bind(&j.region)
                    .bind(&j.name)
                    .bind(&j.model_id)
                    .bind(&j.role_arn)
                    .bind(&j.input_config)
                    .bind(&j.output_config)
                    .bind(&j.vpc_config)
                    .bind(&j.input_s3_uri)
                    .bind(&j.output_s3_uri)
                    .bind(&j.invocation_type)
                    .bind(i64::from(j.timeout_hours))
                    .bind(j.status.as_str())
                    .bind(&j.message)
                    .bind(&submit)
                    .bind(&updated)
                    .bind(&end)
                    .bind(&expires)
                    .bind(&j.client_request_token)
                    .bind(j.total_records.map(to_i64))
                    .bind(to_i64(j.processed_records))
                    .bind(to_i64(j.success_records))
                    .bind(to_i64(j.error_records))
                    .bind(to_i64(j.input_tokens))
                    .bind(to_i64(j.output_tokens))
                    .execute(&mut *tx)
                    .await;
                match done {
                    Ok(_) => tx.commit().await.map_err(StoreError::from),
                    Err(e) => Err(StoreError::from(e)),
                }
            }
        });
        match inserted {
            Ok(()) => self.get_batch_job(&j.account, &j.region, &j.arn).await,
            // A concurrent retry with the same token got in first: its job is the answer.
            Err(StoreError::Conflict(m)) => {
                match self.batch_job_by_token(&j.account, &j.region, j.client_request_token.as_ref()).await? {
                    Some(original) => Ok(original),
                    None => Err(StoreError::Conflict(m)),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn batch_job_by_token(
        &self,
        account: &str,
        region: &str,
        token: Option<&String>,
    ) -> Result<Option<BatchJob>, StoreError> {
        let Some(token) = token else { return Ok(None) };
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM batch_jobs WHERE account = $1 AND region = $2 AND client_request_token = $3"
        );
        let row = fetch_rows!(self, SQL, fetch_optional, account, region, token);
        row.map(Row::into_job).transpose()
    }

    /// The job with this ID or ARN in the account and region.
    pub async fn get_batch_job(&self, account: &str, region: &str, id_or_arn: &str) -> Result<BatchJob, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM batch_jobs WHERE account = $1 AND region = $2 AND (id = $3 OR arn = $3)"
        );
        let row = fetch_rows!(self, SQL, fetch_optional, account, region, id_or_arn);
        row.ok_or(StoreError::NotFound)?.into_job()
    }

    /// The job with this ARN, whoever owns it (for the runner).
    pub async fn batch_job(&self, arn: &str) -> Result<BatchJob, StoreError> {
        const SQL: &str = concat!("SELECT ", columns!(), " FROM batch_jobs WHERE arn = $1");
        let row = fetch_rows!(self, SQL, fetch_optional, arn);
        row.ok_or(StoreError::NotFound)?.into_job()
    }

    /// The account's jobs in a region that pass the filters, by submit time.
    pub async fn list_batch_jobs(
        &self,
        account: &str,
        region: &str,
        q: &BatchJobQuery,
    ) -> Result<Vec<BatchJob>, StoreError> {
        macro_rules! list_sql {
            ($order:literal) => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM batch_jobs WHERE account = $1 AND region = $2 \
                     AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR lower(name) LIKE $4 ESCAPE '\\') \
                     AND ($5 IS NULL OR submit_time > $5) AND ($6 IS NULL OR submit_time < $6) \
                     ORDER BY ",
                    $order,
                    " LIMIT $7 OFFSET $8"
                )
            };
        }
        let f = &q.filter;
        let sql = if f.descending { list_sql!("submit_time DESC, id DESC") } else { list_sql!("submit_time, id") };
        let (after, before) = f.window()?;
        let status = q.status.map(BatchJobStatus::as_str);
        let pattern = f.like_pattern();
        let (limit, offset) = f.page();
        let rows = fetch_rows!(self, sql, fetch_all, account, region, status, &pattern, &after, &before, limit, offset);
        rows.into_iter().map(Row::into_job).collect()
    }

    /// Asks an unfinished job to stop (→ Stopping; its runner writes what was answered
    /// and ends it Stopped). Returns the job; a job already ended is a
    /// [`StoreError::Conflict`].
    pub async fn stop_batch_job(
        &self,
        account: &str,
        region: &str,
        id_or_arn: &str,
        at: OffsetDateTime,
    ) -> Result<BatchJob, StoreError> {
        const SQL: &str = concat!(
            "UPDATE batch_jobs SET status = 'Stopping', updated_at = $4 WHERE account = $1 AND region = $2 \
             AND (id = $3 OR arn = $3) AND status IN ",
            "('Submitted', 'Validating', 'Scheduled', 'InProgress')"
        );
        let job = self.get_batch_job(account, region, id_or_arn).await?;
        if job.status == BatchJobStatus::Stopping {
            return Ok(job);
        }
        let at = format_ts(at)?;
        let moved = with_pool!(self, |pool| sqlx::query(SQL)
            .bind(account)
            .bind(region)
            .bind(id_or_arn)
            .bind(&at)
            .execute(pool)
            .await?
            .rows_affected());
        if moved == 0 {
            return Err(StoreError::Conflict(format!(
                "The job {} has already ended ({}); only an unfinished job can be stopped.",
                job.arn,
                job.status.as_str()
            )));
        }
        self.get_batch_job(account, region, id_or_arn).await
    }

    /// Takes up to `max` unfinished jobs (Stopping ones too: their output is still to be
    /// written) whose lease is free or has run out, for `owner` until `until`, oldest first. Each is taken with a compare-and-set, so two
    /// instances never hold one job.
    pub async fn lease_batch_jobs(
        &self,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        max: u32,
    ) -> Result<Vec<BatchJob>, StoreError> {
        const FREE: &str = concat!(
            "SELECT arn FROM batch_jobs WHERE status IN ",
            "('Submitted', 'Validating', 'Scheduled', 'InProgress', 'Stopping')",
            " AND (lease_until IS NULL OR lease_until < $1) ORDER BY submit_time, arn LIMIT $2"
        );
        const TAKE: &str = "UPDATE batch_jobs SET lease_owner = $2, lease_until = $3 WHERE arn = $1 \
             AND (lease_until IS NULL OR lease_until < $4)";
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
                taken.push(self.batch_job(&arn).await?);
            }
        }
        Ok(taken)
    }

    /// Extends `owner`'s lease on a job; its status now, or `None` when the lease was
    /// lost (another instance took the job over: this one must stop working on it).
    pub async fn renew_batch_lease(
        &self,
        arn: &str,
        owner: &str,
        until: OffsetDateTime,
    ) -> Result<Option<BatchJobStatus>, StoreError> {
        const SQL: &str = "UPDATE batch_jobs SET lease_until = $3 WHERE arn = $1 AND lease_owner = $2";
        let until = format_ts(until)?;
        let moved = with_pool!(self, |pool| sqlx::query(SQL)
            .bind(arn)
            .bind(owner)
            .bind(&until)
            .execute(pool)
            .await?
            .rows_affected());
        if moved == 0 {
            return Ok(None);
        }
        Ok(Some(self.batch_job(arn).await?.status))
    }

    /// Moves a running job to `status` (Validating, Scheduled, InProgress) with its
    /// message and, once known, its record count. Not when it is being stopped or has
    /// ended, nor when `owner` lost the lease; returns whether it moved.
    pub async fn advance_batch_job(
        &self,
        arn: &str,
        owner: &str,
        status: BatchJobStatus,
        message: Option<&str>,
        total_records: Option<u64>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE batch_jobs SET status = $3, message = $4, \
             total_records = COALESCE($5, total_records), updated_at = $6 \
             WHERE arn = $1 AND lease_owner = $2 AND status IN ('Submitted', 'Validating', 'Scheduled', 'InProgress')";
        let at = format_ts(at)?;
        let moved = with_pool!(self, |pool| sqlx::query(SQL)
            .bind(arn)
            .bind(owner)
            .bind(status.as_str())
            .bind(message)
            .bind(total_records.map(to_i64))
            .bind(&at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(moved == 1)
    }

    /// Ends a job `owner` holds: `status` (a terminal one) with `message`, the lease
    /// given up. Returns whether this call ended it.
    pub async fn finish_batch_job(
        &self,
        arn: &str,
        owner: &str,
        status: BatchJobStatus,
        message: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = concat!(
            "UPDATE batch_jobs SET status = $3, message = $4, end_time = $5, updated_at = $5, \
             lease_owner = NULL, lease_until = NULL WHERE arn = $1 AND lease_owner = $2 AND status IN ",
            "('Submitted', 'Validating', 'Scheduled', 'InProgress', 'Stopping')"
        );
        let at = format_ts(at)?;
        let moved = with_pool!(self, |pool| sqlx::query(SQL)
            .bind(arn)
            .bind(owner)
            .bind(status.as_str())
            .bind(message)
            .bind(&at)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(moved == 1)
    }
}
