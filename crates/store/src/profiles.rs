//! Application inference profiles (bedrock `CreateInferenceProfile` and friends).

use time::OffsetDateTime;

use crate::BeginWrite;
use crate::{format_ts, parse_ts, with_pool, Store, StoreError};

/// One application inference profile as the store keeps it. The API layer chooses the
/// id, builds the ARN and resolves `copyFrom` to `model_id` and `regions` before
/// creating it; the store only keeps it and enforces uniqueness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppProfile {
    /// `arn:aws:bedrock:{region}:{account}:application-inference-profile/{id}`.
    pub arn: String,
    /// 12 lowercase alphanumerics.
    pub id: String,
    pub account: String,
    /// The region it was created in (its ARN's region).
    pub region: String,
    pub name: String,
    pub description: Option<String>,
    /// `modelSource.copyFrom` as given: a foundation-model or system-profile ARN.
    pub copy_from: String,
    /// The foundation model id it invokes.
    pub model_id: String,
    /// Destination regions: the copied system profile's, or the single FM region.
    pub regions: Vec<String>,
    /// "ACTIVE".
    pub status: String,
    /// Stored with microsecond precision (what `create_app_profile` returns).
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub client_request_token: Option<String>,
}

/// The row as both dialects return it: text only, converted in [`ProfileRow::into_profile`].
#[derive(sqlx::FromRow)]
struct ProfileRow {
    arn: String,
    id: String,
    account: String,
    region: String,
    name: String,
    description: Option<String>,
    copy_from: String,
    model_id: String,
    regions: String,
    status: String,
    created_at: String,
    updated_at: String,
    client_request_token: Option<String>,
}

impl ProfileRow {
    fn into_profile(self) -> Result<AppProfile, StoreError> {
        let regions = serde_json::from_str(&self.regions)
            .map_err(|e| StoreError::Database(format!("profile {}: bad regions: {e}", self.arn)))?;
        Ok(AppProfile {
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            arn: self.arn,
            id: self.id,
            account: self.account,
            region: self.region,
            name: self.name,
            description: self.description,
            copy_from: self.copy_from,
            model_id: self.model_id,
            regions,
            status: self.status,
            client_request_token: self.client_request_token,
        })
    }
}

/// The column list, as a macro so that every query stays a `&'static str` (sqlx only
/// takes dynamic SQL through an explicit audit wrapper).
macro_rules! columns {
    () => {
        "arn, id, account, region, name, description, copy_from, model_id, regions, status, \
         created_at, updated_at, client_request_token"
    };
}

impl Store {
    /// Creates a profile and returns it as stored.
    ///
    /// Idempotent on `client_request_token` within the account and region (a repeated
    /// request returns the original profile, whatever else it carries, as Bedrock's
    /// client tokens do); a name already used in the same account and region, without
    /// a matching token, is a [`StoreError::Conflict`].
    pub async fn create_app_profile(&self, p: &AppProfile) -> Result<AppProfile, StoreError> {
        if let Some(original) = self.profile_by_token(p).await? {
            return Ok(original);
        }
        let regions = serde_json::to_string(&p.regions)
            .map_err(|e| StoreError::Database(format!("cannot encode regions: {e}")))?;
        let (created, updated) = (format_ts(p.created_at)?, format_ts(p.updated_at)?);
        const SQL: &str = concat!(
            "INSERT INTO app_profiles (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        let inserted = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&p.arn)
                .bind(&p.id)
                .bind(&p.account)
                .bind(&p.region)
                .bind(&p.name)
                .bind(&p.description)
                .bind(&p.copy_from)
                .bind(&p.model_id)
                .bind(&regions)
                .bind(&p.status)
                .bind(&created)
                .bind(&updated)
                .bind(&p.client_request_token)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match inserted.map_err(StoreError::from) {
            Ok(_) => self.get_app_profile(&p.account, &p.region, &p.arn).await,
            Err(StoreError::Conflict(_)) => {
                // Either a concurrent request with the same token won the race (then it
                // is the same request: answer with its result), or the name is taken.
                if let Some(original) = self.profile_by_token(p).await? {
                    return Ok(original);
                }
                Err(StoreError::Conflict(format!(
                    "An inference profile named {} already exists in {}.",
                    p.name, p.region
                )))
            }
            Err(e) => Err(e),
        }
    }

    async fn profile_by_token(&self, p: &AppProfile) -> Result<Option<AppProfile>, StoreError> {
        let Some(token) = &p.client_request_token else {
            return Ok(None);
        };
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM app_profiles WHERE account = $1 AND region = $2 AND client_request_token = $3"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, ProfileRow>(SQL)
                .bind(&p.account)
                .bind(&p.region)
                .bind(token)
                .fetch_optional(pool)
                .await?
        });
        row.map(ProfileRow::into_profile).transpose()
    }

    /// The profile with this id or ARN in the account and region, else `NotFound`.
    pub async fn get_app_profile(
        &self,
        account: &str,
        region: &str,
        id_or_arn: &str,
    ) -> Result<AppProfile, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM app_profiles WHERE account = $1 AND region = $2 AND (id = $3 OR arn = $3)"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, ProfileRow>(SQL).bind(account).bind(region).bind(id_or_arn).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.into_profile()
    }

    /// The account's profiles in a region, oldest first (a stable order for paging).
    pub async fn list_app_profiles(
        &self,
        account: &str,
        region: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<AppProfile>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM app_profiles WHERE account = $1 AND region = $2 ORDER BY created_at, id LIMIT $3 OFFSET $4"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, ProfileRow>(SQL)
                .bind(account)
                .bind(region)
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(ProfileRow::into_profile).collect()
    }

    /// Deletes the profile and its tags in one transaction; returns what was deleted.
    pub async fn delete_app_profile(
        &self,
        account: &str,
        region: &str,
        id_or_arn: &str,
    ) -> Result<AppProfile, StoreError> {
        const SQL: &str = concat!(
            "DELETE FROM app_profiles WHERE account = $1 AND region = $2 AND (id = $3 OR arn = $3) RETURNING ",
            columns!()
        );
        let row = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query_as::<_, ProfileRow>(SQL)
                .bind(account)
                .bind(region)
                .bind(id_or_arn)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = &row {
                sqlx::query("DELETE FROM tags WHERE account = $1 AND arn = $2")
                    .bind(account)
                    .bind(&row.arn)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            row
        });
        row.ok_or(StoreError::NotFound)?.into_profile()
    }
}
