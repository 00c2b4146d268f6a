//! Imported models: registered by [`Store::finish_import_job`], then read, listed and
//! deleted (with their tags) through the API.

use super::ImportedModel;
use crate::BeginWrite;
use crate::ListFilter;
use crate::{parse_ts, with_pool, Store, StoreError};

#[derive(sqlx::FromRow)]
struct Row {
    arn: String,
    id: String,
    account: String,
    region: String,
    name: String,
    job_arn: String,
    job_name: String,
    s3_uri: String,
    architecture: String,
    instruct_supported: i64,
    file: String,
    size_bytes: i64,
    created_at: String,
}

impl Row {
    fn into_model(self) -> Result<ImportedModel, StoreError> {
        Ok(ImportedModel {
            instruct_supported: self.instruct_supported != 0,
            size_bytes: u64::try_from(self.size_bytes)
                .map_err(|_| StoreError::Database(format!("imported model {}: bad size", self.arn)))?,
            created_at: parse_ts(&self.created_at)?,
            arn: self.arn,
            id: self.id,
            account: self.account,
            region: self.region,
            name: self.name,
            job_arn: self.job_arn,
            job_name: self.job_name,
            s3_uri: self.s3_uri,
            architecture: self.architecture,
            file: self.file,
        })
    }
}

macro_rules! columns {
    () => {
        "arn, id, account, region, name, job_arn, job_name, s3_uri, architecture, instruct_supported, \
         file, size_bytes, created_at"
    };
}

/// The insert [`Store::finish_import_job`] runs inside its transaction.
pub(super) const INSERT: &str = concat!(
    "INSERT INTO imported_models (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

macro_rules! fetch_rows {
    ($store:expr, $sql:expr, $fetch:ident $(, $arg:expr)*) => {
        with_pool!($store, |pool| sqlx::query_as::<_, Row>($sql)$(.bind($arg))*.$fetch(pool).await?)
    };
}

impl Store {
    /// The imported model with this name or ARN in the account and region.
    pub async fn get_imported_model(
        &self,
        account: &str,
        region: &str,
        name_or_arn: &str,
    ) -> Result<ImportedModel, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            columns!(),
            " FROM imported_models WHERE account = $1 AND region = $2 AND (name = $3 OR arn = $3)"
        );
        let row = fetch_rows!(self, SQL, fetch_optional, account, region, name_or_arn);
        row.ok_or(StoreError::NotFound)?.into_model()
    }

    /// The account's imported models in a region that pass the filters, by creation time.
    pub async fn list_imported_models(
        &self,
        account: &str,
        region: &str,
        q: &ListFilter,
    ) -> Result<Vec<ImportedModel>, StoreError> {
        macro_rules! list_sql {
            ($order:literal) => {
                concat!(
                    "SELECT ",
                    columns!(),
                    " FROM imported_models WHERE account = $1 AND region = $2 \
                     AND ($3 IS NULL OR lower(name) LIKE $3 ESCAPE '\\') \
                     AND ($4 IS NULL OR created_at > $4) AND ($5 IS NULL OR created_at < $5) \
                     ORDER BY ",
                    $order,
                    " LIMIT $6 OFFSET $7"
                )
            };
        }
        let sql = if q.descending { list_sql!("created_at DESC, id DESC") } else { list_sql!("created_at, id") };
        let (after, before) = q.window()?;
        let pattern = q.like_pattern();
        let (limit, offset) = q.page();
        let rows = fetch_rows!(self, sql, fetch_all, account, region, &pattern, &after, &before, limit, offset);
        rows.into_iter().map(Row::into_model).collect()
    }

    /// The ARNs of every imported model of every account: an instance drops the engines
    /// of models deleted through another instance.
    pub async fn imported_model_arns(&self) -> Result<Vec<String>, StoreError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar::<_, String>("SELECT arn FROM imported_models ORDER BY arn").fetch_all(pool).await?
        }))
    }

    /// Deletes the imported model and its tags; returns what was deleted (the caller
    /// removes its weights).
    pub async fn delete_imported_model(
        &self,
        account: &str,
        region: &str,
        name_or_arn: &str,
    ) -> Result<ImportedModel, StoreError> {
        const SQL: &str = concat!(
            "DELETE FROM imported_models WHERE account = $1 AND region = $2 AND (name = $3 OR arn = $3) RETURNING ",
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
