//! Action groups: the DRAFT's (editable) and each version's (copied when the version was
//! taken, never changed).

use serde_json::Value;
use time::OffsetDateTime;

use super::{decode, encode};
use crate::{format_ts, parse_ts, with_pool, Store, StoreError};

#[derive(Clone, Debug, PartialEq)]
pub struct ActionGroupRow {
    pub agent_id: String,
    /// `DRAFT` or a version number.
    pub agent_version: String,
    /// 10 alphanumerics, kept by the copies in versions.
    pub id: String,
    pub name: String,
    pub body: Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub client_token: Option<String>,
}

#[derive(sqlx::FromRow)]
struct GroupSql {
    agent_id: String,
    agent_version: String,
    id: String,
    name: String,
    body: String,
    created_at: String,
    updated_at: String,
    client_token: Option<String>,
}

macro_rules! group_columns {
    () => {
        "agent_id, agent_version, id, name, body, created_at, updated_at, client_token"
    };
}

impl GroupSql {
    fn into_row(self) -> Result<ActionGroupRow, StoreError> {
        Ok(ActionGroupRow {
            body: decode(&format!("action group {}", self.id), &self.body)?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            agent_id: self.agent_id,
            agent_version: self.agent_version,
            id: self.id,
            name: self.name,
            client_token: self.client_token,
        })
    }
}

fn name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!("An action group named {name} already exists in this agent version."))
}

impl Store {
    /// Adds an action group (idempotent on `client_token` within the agent version; a
    /// name already used there is a `Conflict`).
    pub async fn create_action_group(
        &self,
        account: &str,
        region: &str,
        g: &ActionGroupRow,
    ) -> Result<ActionGroupRow, StoreError> {
        if let Some(original) = self.group_by_token(account, region, g).await? {
            return Ok(original);
        }
        let (created, updated, body) = (format_ts(g.created_at)?, format_ts(g.updated_at)?, encode(&g.body)?);
        const SQL: &str = concat!(
            "INSERT INTO agent_action_groups (account, region, ",
            group_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let inserted = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(account)
                .bind(region)
                .bind(&g.agent_id)
                .bind(&g.agent_version)
                .bind(&g.id)
                .bind(&g.name)
                .bind(&body)
                .bind(&created)
                .bind(&updated)
                .bind(&g.client_token)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match inserted.map_err(StoreError::from) {
            Ok(()) => self.get_action_group(account, region, &g.agent_id, &g.agent_version, &g.id).await,
            Err(StoreError::Conflict(_)) => match self.group_by_token(account, region, g).await? {
                Some(original) => Ok(original),
                None => Err(name_taken(&g.name)),
            },
            Err(e) => Err(e),
        }
    }

    async fn group_by_token(
        &self,
        account: &str,
        region: &str,
        g: &ActionGroupRow,
    ) -> Result<Option<ActionGroupRow>, StoreError> {
        let Some(token) = &g.client_token else { return Ok(None) };
        const SQL: &str = concat!(
            "SELECT ",
            group_columns!(),
            " FROM agent_action_groups WHERE account = $1 AND region = $2 AND agent_id = $3 \
             AND agent_version = $4 AND client_token = $5"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, GroupSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(&g.agent_id)
                .bind(&g.agent_version)
                .bind(token)
                .fetch_optional(pool)
                .await?
        });
        row.map(GroupSql::into_row).transpose()
    }

    pub async fn get_action_group(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
        agent_version: &str,
        id: &str,
    ) -> Result<ActionGroupRow, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            group_columns!(),
            " FROM agent_action_groups WHERE account = $1 AND region = $2 AND agent_id = $3 \
             AND agent_version = $4 AND id = $5"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, GroupSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(agent_version)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.into_row()
    }

    /// The action groups of one agent version, oldest first.
    pub async fn list_action_groups(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
        agent_version: &str,
    ) -> Result<Vec<ActionGroupRow>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            group_columns!(),
            " FROM agent_action_groups WHERE account = $1 AND region = $2 AND agent_id = $3 \
             AND agent_version = $4 ORDER BY created_at, id"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, GroupSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(agent_version)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(GroupSql::into_row).collect()
    }

    /// Replaces an action group's name, body and `updated_at` (by agent, version, id).
    pub async fn update_action_group(
        &self,
        account: &str,
        region: &str,
        g: &ActionGroupRow,
    ) -> Result<ActionGroupRow, StoreError> {
        let (updated, body) = (format_ts(g.updated_at)?, encode(&g.body)?);
        const SQL: &str = concat!(
            "UPDATE agent_action_groups SET name = $6, body = $7, updated_at = $8 \
             WHERE account = $1 AND region = $2 AND agent_id = $3 AND agent_version = $4 AND id = $5 RETURNING ",
            group_columns!()
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, GroupSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(&g.agent_id)
                .bind(&g.agent_version)
                .bind(&g.id)
                .bind(&g.name)
                .bind(&body)
                .bind(&updated)
                .fetch_optional(pool)
                .await
        });
        match row.map_err(StoreError::from) {
            Ok(row) => row.ok_or(StoreError::NotFound)?.into_row(),
            Err(StoreError::Conflict(_)) => Err(name_taken(&g.name)),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_action_group(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
        agent_version: &str,
        id: &str,
    ) -> Result<ActionGroupRow, StoreError> {
        const SQL: &str = concat!(
            "DELETE FROM agent_action_groups WHERE account = $1 AND region = $2 AND agent_id = $3 \
             AND agent_version = $4 AND id = $5 RETURNING ",
            group_columns!()
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, GroupSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(agent_version)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.into_row()
    }
}
