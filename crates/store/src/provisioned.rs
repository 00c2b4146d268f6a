//! Provisioned throughput (bedrock `CreateProvisionedModelThroughput` and friends).
//!
//! The API layer draws the id, builds the ARNs and resolves the model before creating a
//! row; the status driver moves rows along (Creating → InService | Failed, Updating →
//! InService) with [`Store::transition_provisioned`], a compare-and-set on the status and
//! the last-modified time, and bills them with [`Store::bill_provisioned`], a
//! compare-and-set on `billed_until` in the same transaction as the usage it adds. So
//! several instances sharing one store apply each transition, and each billed second,
//! exactly once.

use time::OffsetDateTime;

use crate::usage::UPSERT as USAGE_UPSERT;
use crate::BeginWrite;
use crate::{format_ts, parse_ts, with_pool, ListFilter, Store, StoreError, UsageRow};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvisionedStatus {
    Creating,
    InService,
    Updating,
    Failed,
}

impl ProvisionedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "Creating",
            Self::InService => "InService",
            Self::Updating => "Updating",
            Self::Failed => "Failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Creating, Self::InService, Self::Updating, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }

    /// Whether it serves requests (an update runs on the old model until it completes).
    pub fn serves(self) -> bool {
        matches!(self, Self::InService | Self::Updating)
    }
}

/// One provisioned throughput as the store keeps it (timestamps to the microsecond).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionedModel {
    /// `arn:aws:bedrock:{region}:{account}:provisioned-model/{id}`.
    pub arn: String,
    /// 12 lowercase alphanumerics.
    pub id: String,
    pub account: String,
    pub region: String,
    pub name: String,
    pub model_arn: String,
    pub desired_model_arn: String,
    pub foundation_model_arn: String,
    pub model_units: u32,
    pub desired_model_units: u32,
    pub status: ProvisionedStatus,
    pub failure_message: Option<String>,
    pub commitment_duration: Option<String>,
    pub commitment_expiration_time: Option<OffsetDateTime>,
    /// USD millionths per model unit and hour, at the price of its commitment term.
    pub unit_price_micros: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Charges accrued up to here; `None` until it first goes InService.
    pub billed_until: Option<OffsetDateTime>,
    pub client_request_token: Option<String>,
}

/// ListProvisionedModelThroughputs' filters and page.
#[derive(Clone, Debug, Default)]
pub struct ProvisionedQuery {
    pub status: Option<ProvisionedStatus>,
    pub model_arn: Option<String>,
    pub filter: ListFilter,
}

#[derive(sqlx::FromRow)]
struct Row {
    arn: String,
    id: String,
    account: String,
    region: String,
    name: String,
    model_arn: String,
    desired_model_arn: String,
    foundation_model_arn: String,
    model_units: i64,
    desired_model_units: i64,
    status: String,
    failure_message: Option<String>,
    commitment_duration: Option<String>,
    commitment_expiration_time: Option<String>,
    unit_price_micros: i64,
    created_at: String,
    updated_at: String,
    billed_until: Option<String>,
    client_request_token: Option<String>,
}

impl Row {
    fn into_model(self) -> Result<ProvisionedModel, StoreError> {
        let bad = |what: &str| StoreError::Database(format!("provisioned model {}: bad {what}", self.arn));
        let units = |n: i64| u32::try_from(n).map_err(|_| bad("model units"));
        let ts = |t: &Option<String>| t.as_deref().map(parse_ts).transpose();
        Ok(ProvisionedModel {
            model_units: units(self.model_units)?,
            desired_model_units: units(self.desired_model_units)?,
            status: ProvisionedStatus::parse(&self.status).ok_or_else(|| bad("status"))?,
            commitment_expiration_time: ts(&self.commitment_expiration_time)?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            billed_until: ts(&self.billed_until)?,
            arn: self.arn,
            id: self.id,
            account: self.account,
            region: self.region,
            name: self.name,
            model_arn: self.model_arn,
            desired_model_arn: self.desired_model_arn,
            foundation_model_arn: self.foundation_model_arn,
            failure_message: self.failure_message,
            commitment_duration: self.commitment_duration,
            unit_price_micros: self.unit_price_micros,
            client_request_token: self.client_request_token,
        })
    }
}

/// The column list, as a macro so that every query stays a `&'static str`.
macro_rules! columns {
    () => {
        "arn, id, account, region, name, model_arn, desired_model_arn, foundation_model_arn, \
         model_units, desired_model_units, status, failure_message, commitment_duration, \
         commitment_expiration_time, unit_price_micros, created_at, updated_at, billed_until, \
         client_request_token"
    };
}

/// Runs a query returning rows of [`columns!`] on either pool.
macro_rules! fetch_rows {
    ($store:expr, $sql:expr, $fetch:ident $(, $arg:expr)*) => {
        with_pool!($store, |pool| sqlx::query_as::<_, Row>($sql)$(.bind($arg))*.$fetch(pool).await?)
    };
}

fn opt_ts(t: Option<OffsetDateTime>) -> Result<Option<String>, StoreError> {
    t.map(format_ts).transpose()
}

impl Store {
    /// Creates a provisioned model and returns it as stored. Idempotent on
    /// `client_request_token` within the account and region; a name already used there
    /// is a [`StoreError::Conflict`].
    pub async fn create_provisioned(&self, p: &ProvisionedModel) -> Result<ProvisionedModel, StoreError> {
        if let Some(original) = self.provisioned_by_token(p).await? {
            return Ok(original);
        }
        const SQL: &str = concat!(
            "INSERT INTO provisioned_models (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        );
        let (expires, billed) = (opt_ts(p.commitment_expiration_time)?, opt_ts(p.billed_until)?);
        let (created, updated) = (format_ts(p.created_at)?, format_ts(p.updated_at)?);
        let inserted = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&p.arn)
                .bind(&p.id)
                .bind(&p.account)
                .bind(&p.region)
                .bind(&p.name)
                .bind(&p.model_arn)
                .bind(&p.desired_model_arn)
                .bind(&p.foundation_model_arn)
                .bind(i64::from(p.model_units))
                .bind(i64::from(p.desired_model_units))
                .bind(p.status.as_str())
                .bind(&p.failure_message)
                .bind(&p.commitment_duration)
                .bind(&expires)
                .bind(p.unit_price_micros)
                .bind(&created)
                .bind(&updated)
                .bind(&billed)
                .bind(&p.client_request_token)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match inserted.map_err(StoreError::from) {
            Ok(()) => self.get_provisioned(&p.account, &p.region, &p.arn).await,
            // A concurrent retry with the same token won the race, or the name is taken.
            Err(StoreError::Conflict(_)) => match self.provisioned_by_token(p).await? {
                Some(original) => Ok(original),
                None => Err(StoreError::Conflict(format!(
                    "A provisioned model named {} already exists in {}.",
                    p.name, p.region
                ))),
            },
            Err(e) => Err(e),
        }
    }

    async fn provisioned_by_token(&self, p: &ProvisionedModel) -> Result<Option<ProvisionedModel>, StoreError> {
        let Some(token) = &p.client_request_token else {
            return Ok(None);
        };
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM provisioned_models WHERE account = $1 AND region = $2 AND client_request_token = $3"
        );
        let row = fetch_rows!(self, SQL, fetch_optional, &p.account, &p.region, token);
        row.map(Row::into_model).transpose()
    }

    /// The provisioned model with this name or ARN in the account and region.
    pub async fn get_provisioned(
        &self,
        account: &str,
        region: &str,
        name_or_arn: &str,
    ) -> Result<ProvisionedModel, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM provisioned_models WHERE account = $1 AND region = $2 AND (name = $3 OR arn = $3)"
        );
        let row = fetch_rows!(self, SQL, fetch_optional, account, region, name_or_arn);
        row.ok_or(StoreError::NotFound)?.into_model()
    }

    /// The account's provisioned models in a region that pass the filters, ordered by
    /// creation time (then id, for a stable page order).
    pub async fn list_provisioned(
        &self,
        account: &str,
        region: &str,
        q: &ProvisionedQuery,
    ) -> Result<Vec<ProvisionedModel>, StoreError> {
        macro_rules! list_sql {
            ($order:literal) => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM provisioned_models WHERE account = $1 AND region = $2 \
                     AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR model_arn = $4) \
                     AND ($5 IS NULL OR lower(name) LIKE $5 ESCAPE '\\') \
                     AND ($6 IS NULL OR created_at > $6) AND ($7 IS NULL OR created_at < $7) \
                     ORDER BY ",
                    $order,
                    " LIMIT $8 OFFSET $9"
                )
            };
        }
        let f = &q.filter;
        let sql = if f.descending { list_sql!("created_at DESC, id DESC") } else { list_sql!("created_at, id") };
        let pattern = f.like_pattern();
        let (after, before) = f.window()?;
        let (limit, offset) = f.page();
        let status = q.status.map(ProvisionedStatus::as_str);
        let rows = fetch_rows!(
            self,
            sql,
            fetch_all,
            account,
            region,
            status,
            &q.model_arn,
            &pattern,
            &after,
            &before,
            limit,
            offset
        );
        rows.into_iter().map(Row::into_model).collect()
    }

    /// Every provisioned model of every account, oldest first: what the status driver
    /// walks on each tick.
    pub async fn all_provisioned(&self) -> Result<Vec<ProvisionedModel>, StoreError> {
        const SQL: &str = concat!("SELECT ", columns!(), " FROM provisioned_models ORDER BY created_at, arn");
        let rows = fetch_rows!(self, SQL, fetch_all);
        rows.into_iter().map(Row::into_model).collect()
    }

    /// UpdateProvisionedModelThroughput: a new name (at once) and/or a new model (status
    /// Updating until the driver completes it). Returns the updated row.
    pub async fn update_provisioned(
        &self,
        account: &str,
        region: &str,
        name_or_arn: &str,
        new_name: Option<&str>,
        new_model_arn: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<ProvisionedModel, StoreError> {
        const SQL: &str = concat!(
            "UPDATE provisioned_models SET name = COALESCE($4, name), \
             desired_model_arn = COALESCE($5, desired_model_arn), \
             status = CASE WHEN $5 IS NULL OR $5 = model_arn THEN status ELSE 'Updating' END, \
             failure_message = NULL, updated_at = $6 \
             WHERE account = $1 AND region = $2 AND (name = $3 OR arn = $3) RETURNING ",
            columns!()
        );
        let at = format_ts(at)?;
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, Row>(SQL)
                .bind(account)
                .bind(region)
                .bind(name_or_arn)
                .bind(new_name)
                .bind(new_model_arn)
                .bind(&at)
                .fetch_optional(pool)
                .await
        });
        match row.map_err(StoreError::from) {
            Ok(row) => row.ok_or(StoreError::NotFound)?.into_model(),
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "A provisioned model named {} already exists in {region}.",
                new_name.unwrap_or_default()
            ))),
            Err(e) => Err(e),
        }
    }

    /// Moves `from` to the state of `to` (status, units, models, failure message,
    /// commitment end, `updated_at`) if nobody changed it since `from` was read. Billing
    /// starts at `to.billed_until` if it has not started; it is never reset here.
    /// Returns whether this call applied the transition.
    pub async fn transition_provisioned(
        &self,
        from: &ProvisionedModel,
        to: &ProvisionedModel,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE provisioned_models SET status = $3, model_units = $4, model_arn = $5, \
             desired_model_arn = $6, failure_message = $7, commitment_expiration_time = $8, \
             billed_until = COALESCE(billed_until, $9), updated_at = $10 \
             WHERE arn = $1 AND status = $2 AND updated_at = $11";
        let (expires, billed) = (opt_ts(to.commitment_expiration_time)?, opt_ts(to.billed_until)?);
        let (updated, expected) = (format_ts(to.updated_at)?, format_ts(from.updated_at)?);
        let done = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&from.arn)
                .bind(from.status.as_str())
                .bind(to.status.as_str())
                .bind(i64::from(to.model_units))
                .bind(&to.model_arn)
                .bind(&to.desired_model_arn)
                .bind(&to.failure_message)
                .bind(&expires)
                .bind(&billed)
                .bind(&updated)
                .bind(&expected)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Advances `billed_until` of `arn` from `from` to `to` and adds `charges` to the
    /// usage rows, in one transaction, if nobody billed it since `from`. Returns whether
    /// this call billed the interval.
    pub async fn bill_provisioned(
        &self,
        arn: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        charges: &[UsageRow],
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE provisioned_models SET billed_until = $3 WHERE arn = $1 AND billed_until = $2";
        let (from, to) = (format_ts(from)?, format_ts(to)?);
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let moved = sqlx::query(SQL).bind(arn).bind(&from).bind(&to).execute(&mut *tx).await?.rows_affected();
            if moved == 1 {
                for r in charges {
                    sqlx::query(USAGE_UPSERT)
                        .bind(&r.account)
                        .bind(&r.hour)
                        .bind(&r.model_id)
                        .bind(&r.foundation_model)
                        .bind(r.profile_arn.as_deref().unwrap_or(""))
                        .bind(&r.source_region)
                        .bind(r.invocations)
                        .bind(r.input_tokens)
                        .bind(r.output_tokens)
                        .bind(r.throttles)
                        .bind(r.errors)
                        .bind(r.cost_micros_usd)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            moved == 1
        }))
    }

    /// Deletes the provisioned model and its tags; returns what was deleted.
    pub async fn delete_provisioned(
        &self,
        account: &str,
        region: &str,
        name_or_arn: &str,
    ) -> Result<ProvisionedModel, StoreError> {
        const SQL: &str = concat!(
            "DELETE FROM provisioned_models WHERE account = $1 AND region = $2 AND (name = $3 OR arn = $3) RETURNING ",
            columns!()
        );
        let row = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query_as::<_, Row>(SQL)
                .bind(account)
                .bind(region)
                .bind(name_or_arn)
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
        row.ok_or(StoreError::NotFound)?.into_model()
    }
}
