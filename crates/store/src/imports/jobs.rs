//! Model import jobs: create (idempotent on the client token; a job name or an imported
//! model name already used is a conflict), get, list, and the runner's compare-and-set
//! that finishes a job and registers its model in one transaction.

use time::OffsetDateTime;

use super::{models, ImportedModel};
use crate::BeginWrite;
use crate::ListFilter;
use crate::{format_ts, parse_ts, with_pool, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportJobStatus {
    InProgress,
    Completed,
    Failed,
}

impl ImportJobStatus {
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

/// One model import job as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportJob {
    /// `arn:aws:bedrock:{region}:{account}:model-import-job/{id}`.
    pub arn: String,
    pub id: String,
    pub account: String,
    pub region: String,
    pub name: String,
    pub imported_model_name: String,
    /// The ARN the model gets when the job completes.
    pub imported_model_arn: String,
    pub role_arn: String,
    pub s3_uri: String,
    pub status: ImportJobStatus,
    pub failure_message: Option<String>,
    /// Applied to the imported model when it is registered.
    pub imported_model_tags: Vec<(String, String)>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub end_time: Option<OffsetDateTime>,
    pub client_request_token: Option<String>,
}

/// ListModelImportJobs' filters and page.
#[derive(Clone, Debug, Default)]
pub struct ImportJobQuery {
    pub status: Option<ImportJobStatus>,
    pub common: ListFilter,
}

#[derive(sqlx::FromRow)]
struct Row {
    arn: String,
    id: String,
    account: String,
    region: String,
    name: String,
    imported_model_name: String,
    imported_model_arn: String,
    role_arn: String,
    s3_uri: String,
    status: String,
    failure_message: Option<String>,
    imported_model_tags: String,
    created_at: String,
    updated_at: String,
    end_time: Option<String>,
    client_request_token: Option<String>,
}

impl Row {
    fn into_job(self) -> Result<ImportJob, StoreError> {
        let bad = |what: &str| StoreError::Database(format!("model import job {}: bad {what}", self.arn));
        Ok(ImportJob {
            status: ImportJobStatus::parse(&self.status).ok_or_else(|| bad("status"))?,
            imported_model_tags: serde_json::from_str(&self.imported_model_tags).map_err(|_| bad("tags"))?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            end_time: self.end_time.as_deref().map(parse_ts).transpose()?,
            arn: self.arn,
            id: self.id,
            account: self.account,
            region: self.region,
            name: self.name,
            imported_model_name: self.imported_model_name,
            imported_model_arn: self.imported_model_arn,
            role_arn: self.role_arn,
            s3_uri: self.s3_uri,
            failure_message: self.failure_message,
            client_request_token: self.client_request_token,
        })
    }
}

macro_rules! columns {
    () => {
        "arn, id, account, region, name, imported_model_name, imported_model_arn, role_arn, s3_uri, \
         status, failure_message, imported_model_tags, created_at, updated_at, end_time, client_request_token"
    };
}

macro_rules! fetch_rows {
    ($store:expr, $sql:expr, $fetch:ident $(, $arg:expr)*) => {
        with_pool!($store, |pool| sqlx::query_as::<_, Row>($sql)$(.bind($arg))*.$fetch(pool).await?)
    };
}

impl Store {
    /// Creates an import job (InProgress) and returns it as stored. Idempotent on
    /// `client_request_token` within the account and region. A job name already used
    /// there, or an imported model name that a model or another running job has, is a
    /// [`StoreError::Conflict`] saying which.
    pub async fn create_import_job(&self, j: &ImportJob) -> Result<ImportJob, StoreError> {
        if let Some(original) = self.import_job_by_token(j).await? {
            return Ok(original);
        }
        const TAKEN: &str =
            "SELECT (SELECT COUNT(*) FROM imported_models WHERE account = $1 AND region = $2 AND name = $3) \
             + (SELECT COUNT(*) FROM model_import_jobs WHERE account = $1 AND region = $2 \
                AND imported_model_name = $3 AND status = 'InProgress')";
        const SQL: &str = concat!(
            "INSERT INTO model_import_jobs (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        let tags = serde_json::to_string(&j.imported_model_tags)
            .map_err(|e| StoreError::Database(format!("cannot encode tags: {e}")))?;
        let (created, updated) = (format_ts(j.created_at)?, format_ts(j.updated_at)?);
        let end = j.end_time.map(format_ts).transpose()?;
        let model_taken = format!("An imported model named {} already exists in {}.", j.imported_model_name, j.region);
        let inserted: Result<(), StoreError> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let taken: i64 = sqlx::query_scalar(TAKEN)
                .bind(&j.account)
                .bind(&j.region)
                .bind(&j.imported_model_name)
                .fetch_one(&mut *tx)
                .await?;
            if taken > 0 {
                Err(StoreError::Conflict(model_taken))
            } else {
                let done = sqlx::query(SQL)
                    .bind(&j.arn)
                    .bind(&j.id)
                    .bind(&j.account)
                    .bind(&j.region)
                    .bind(&j.name)
                    .bind(&j.imported_model_name)
                    .bind(&j.imported_model_arn)
                    .bind(&j.role_arn)
                    .bind(&j.s3_uri)
                    .bind(j.status.as_str())
                    .bind(&j.failure_message)
                    .bind(&tags)
                    .bind(&created)
                    .bind(&updated)
                    .bind(&end)
                    .bind(&j.client_request_token)
                    .execute(&mut *tx)
                    .await;
                match done {
                    Ok(_) => tx.commit().await.map_err(StoreError::from),
                    Err(e) => Err(StoreError::from(e)),
                }
            }
        });
        match inserted {
            Ok(()) => self.get_import_job(&j.account, &j.region, &j.arn).await,
            // The model name check says so itself; a unique violation is the job's name
            // (or a concurrent retry with the same token, which then wins).
            Err(StoreError::Conflict(m)) if m.starts_with("An imported model") => Err(StoreError::Conflict(m)),
            Err(StoreError::Conflict(_)) => match self.import_job_by_token(j).await? {
                Some(original) => Ok(original),
                None => Err(StoreError::Conflict(format!(
                    "A model import job named {} already exists in {}.",
                    j.name, j.region
                ))),
            },
            Err(e) => Err(e),
        }
    }

    async fn import_job_by_token(&self, j: &ImportJob) -> Result<Option<ImportJob>, StoreError> {
        let Some(token) = &j.client_request_token else { return Ok(None) };
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM model_import_jobs WHERE account = $1 AND region = $2 AND client_request_token = $3"
        );
        let row = fetch_rows!(self, SQL, fetch_optional, &j.account, &j.region, token);
        row.map(Row::into_job).transpose()
    }

    /// The job with this name or ARN in the account and region.
    pub async fn get_import_job(
        &self,
        account: &str,
        region: &str,
        name_or_arn: &str,
    ) -> Result<ImportJob, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM model_import_jobs WHERE account = $1 AND region = $2 AND (name = $3 OR arn = $3)"
        );
        let row = fetch_rows!(self, SQL, fetch_optional, account, region, name_or_arn);
        row.ok_or(StoreError::NotFound)?.into_job()
    }

    /// The account's jobs in a region that pass the filters, by creation time.
    pub async fn list_import_jobs(
        &self,
        account: &str,
        region: &str,
        q: &ImportJobQuery,
    ) -> Result<Vec<ImportJob>, StoreError> {
        macro_rules! list_sql {
            ($order:literal) => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM model_import_jobs WHERE account = $1 AND region = $2 \
                     AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR lower(name) LIKE $4 ESCAPE '\\') \
                     AND ($5 IS NULL OR created_at > $5) AND ($6 IS NULL OR created_at < $6) \
                     ORDER BY ",
                    $order,
                    " LIMIT $7 OFFSET $8"
                )
            };
        }
        let c = &q.common;
        let sql = if c.descending { list_sql!("created_at DESC, id DESC") } else { list_sql!("created_at, id") };
        let (after, before) = c.window()?;
        let status = q.status.map(ImportJobStatus::as_str);
        let pattern = c.like_pattern();
        let (limit, offset) = c.page();
        let rows = fetch_rows!(self, sql, fetch_all, account, region, status, &pattern, &after, &before, limit, offset);
        rows.into_iter().map(Row::into_job).collect()
    }

    /// Every InProgress job of every account, oldest first: what the job runner picks up
    /// after a restart.
    pub async fn unfinished_import_jobs(&self) -> Result<Vec<ImportJob>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM model_import_jobs WHERE status = 'InProgress' ORDER BY created_at, arn"
        );
        let rows = fetch_rows!(self, SQL, fetch_all);
        rows.into_iter().map(Row::into_job).collect()
    }

    /// Ends an InProgress job at `at`: Completed with `model` registered (and the job's
    /// importedModelTags put on it), or Failed with `Err(message)`. Returns whether this
    /// call ended it (false: another runner did first, nothing was written).
    pub async fn finish_import_job(
        &self,
        job: &ImportJob,
        outcome: Result<&ImportedModel, &str>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE model_import_jobs SET status = $2, failure_message = $3, end_time = $4, \
             updated_at = $4 WHERE arn = $1 AND status = 'InProgress'";
        const TAG: &str = "INSERT INTO tags (account, arn, tag_key, tag_value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account, arn, tag_key) DO UPDATE SET tag_value = excluded.tag_value";
        let (status, failure) = match outcome {
            Ok(_) => (ImportJobStatus::Completed, None),
            Err(m) => (ImportJobStatus::Failed, Some(m)),
        };
        let at = format_ts(at)?;
        let created = outcome.ok().map(|m| format_ts(m.created_at)).transpose()?;
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let moved = sqlx::query(SQL)
                .bind(&job.arn)
                .bind(status.as_str())
                .bind(failure)
                .bind(&at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if let (1, Ok(m), Some(created)) = (moved, outcome, &created) {
                sqlx::query(models::INSERT)
                    .bind(&m.arn)
                    .bind(&m.id)
                    .bind(&m.account)
                    .bind(&m.region)
                    .bind(&m.name)
                    .bind(&m.job_arn)
                    .bind(&m.job_name)
                    .bind(&m.s3_uri)
                    .bind(&m.architecture)
                    .bind(i64::from(m.instruct_supported))
                    .bind(&m.file)
                    .bind(i64::try_from(m.size_bytes).unwrap_or(i64::MAX))
                    .bind(created)
                    .execute(&mut *tx)
                    .await?;
                for (key, value) in &job.imported_model_tags {
                    sqlx::query(TAG).bind(&m.account).bind(&m.arn).bind(key).bind(value).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            moved == 1
        }))
    }
}
