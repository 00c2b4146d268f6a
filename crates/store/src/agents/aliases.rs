//! Agent aliases: a name that routes invocations to one version of the agent, and,
//! where its routing names one, to a provisioned throughput.

use serde_json::Value;
use time::OffsetDateTime;

use super::{decode, encode};
use crate::BeginWrite;
use crate::{format_ts, parse_ts, with_pool, Store, StoreError};

#[derive(Clone, Debug, PartialEq)]
pub struct AliasRow {
    pub agent_id: String,
    /// 10 alphanumerics.
    pub id: String,
    /// `arn:aws:bedrock:{region}:{account}:agent-alias/{agent_id}/{id}`.
    pub arn: String,
    pub name: String,
    /// description, routingConfiguration, history, invocation state.
    pub body: Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub client_token: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AliasSql {
    agent_id: String,
    id: String,
    arn: String,
    name: String,
    body: String,
    created_at: String,
    updated_at: String,
    client_token: Option<String>,
}

macro_rules! alias_columns {
    () => {
        "agent_id, id, arn, name, body, created_at, updated_at, client_token"
    };
}

impl AliasSql {
    fn into_row(self) -> Result<AliasRow, StoreError> {
        Ok(AliasRow {
            body: decode(&self.arn, &self.body)?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            agent_id: self.agent_id,
            id: self.id,
            arn: self.arn,
            name: self.name,
            client_token: self.client_token,
        })
    }
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("An alias named {name} already exists for this agent."))
}

impl Store {
    /// Adds an alias (idempotent on `client_token` per agent; names unique per agent).
    pub async fn create_agent_alias(&self, account: &str, region: &str, a: &AliasRow) -> Result<AliasRow, StoreError> {
        if let Some(original) = self.alias_by_token(account, region, a).await? {
            return Ok(original);
        }
        let (created, updated, body) = (format_ts(a.created_at)?, format_ts(a.updated_at)?, encode(&a.body)?);
        const SQL: &str = concat!(
            "INSERT INTO agent_aliases (account, region, ",
            alias_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let inserted = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(account)
                .bind(region)
                .bind(&a.agent_id)
                .bind(&a.id)
                .bind(&a.arn)
                .bind(&a.name)
                .bind(&body)
                .bind(&created)
                .bind(&updated)
                .bind(&a.client_token)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match inserted.map_err(StoreError::from) {
            Ok(()) => self.get_agent_alias(account, region, &a.agent_id, &a.id).await,
            Err(StoreError::Conflict(_)) => match self.alias_by_token(account, region, a).await? {
                Some(original) => Ok(original),
                None => Err(name_taken(&a.name)),
            },
            Err(e) => Err(e),
        }
    }

    async fn alias_by_token(&self, account: &str, region: &str, a: &AliasRow) -> Result<Option<AliasRow>, StoreError> {
        let Some(token) = &a.client_token else { return Ok(None) };
        const SQL: &str = concat!(
            "SELECT ",
            alias_columns!(),
            " FROM agent_aliases WHERE account = $1 AND region = $2 AND agent_id = $3 AND client_token = $4"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, AliasSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(&a.agent_id)
                .bind(token)
                .fetch_optional(pool)
                .await?
        });
        row.map(AliasSql::into_row).transpose()
    }

    pub async fn get_agent_alias(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<AliasRow, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            alias_columns!(),
            " FROM agent_aliases WHERE account = $1 AND region = $2 AND agent_id = $3 AND id = $4"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, AliasSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.into_row()
    }

    /// The aliases of an agent, oldest first.
    pub async fn list_agent_aliases(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
    ) -> Result<Vec<AliasRow>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            alias_columns!(),
            " FROM agent_aliases WHERE account = $1 AND region = $2 AND agent_id = $3 ORDER BY created_at, id"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, AliasSql>(SQL).bind(account).bind(region).bind(agent_id).fetch_all(pool).await?
        });
        rows.into_iter().map(AliasSql::into_row).collect()
    }

    /// Replaces an alias's name, body and `updated_at` (by agent and id).
    pub async fn update_agent_alias(&self, account: &str, region: &str, a: &AliasRow) -> Result<AliasRow, StoreError> {
        let (updated, body) = (format_ts(a.updated_at)?, encode(&a.body)?);
        const SQL: &str = concat!(
            "UPDATE agent_aliases SET name = $5, body = $6, updated_at = $7 \
             WHERE account = $1 AND region = $2 AND agent_id = $3 AND id = $4 RETURNING ",
            alias_columns!()
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, AliasSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(&a.agent_id)
                .bind(&a.id)
                .bind(&a.name)
                .bind(&body)
                .bind(&updated)
                .fetch_optional(pool)
                .await
        });
        match row.map_err(StoreError::from) {
            Ok(row) => row.ok_or(StoreError::NotFound)?.into_row(),
            Err(StoreError::Conflict(_)) => Err(name_taken(&a.name)),
            Err(e) => Err(e),
        }
    }

    /// Deletes an alias with its tags; returns it.
    pub async fn delete_agent_alias(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
        id: &str,
    ) -> Result<AliasRow, StoreError> {
        const SQL: &str = concat!(
            "DELETE FROM agent_aliases WHERE account = $1 AND region = $2 AND agent_id = $3 AND id = $4 RETURNING ",
            alias_columns!()
        );
        const TAGS: &str = "DELETE FROM tags WHERE account = $1 AND arn = $2";
        let deleted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query_as::<_, AliasSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(r) = &row {
                sqlx::query(TAGS).bind(account).bind(&r.arn).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            row
        });
        deleted.ok_or(StoreError::NotFound)?.into_row()
    }
}
