//! Agents for Amazon Bedrock (bedrock-agent): an agent's DRAFT, its numbered versions
//! (snapshots of the DRAFT with its action groups, taken when an alias is created), its
//! action groups and its aliases.
//!
//! Like prompts, the store does not read the members it never filters on: the API layer
//! (crates/agents) validates them and hands them over as one JSON `body` per row, and
//! gets them back as they were stored. Every method is scoped by account and region, so
//! another account never sees an agent, even knowing its ID.

mod aliases;
mod groups;
mod versions;

use serde_json::Value;
use time::OffsetDateTime;

use crate::BeginWrite;
use crate::{format_ts, parse_ts, with_pool, Store, StoreError};

/// The DRAFT version's name in `agent_version` columns and in the API.
pub const DRAFT: &str = "DRAFT";

/// An agent (its DRAFT).
#[derive(Clone, Debug, PartialEq)]
pub struct AgentRow {
    /// 10 alphanumerics.
    pub id: String,
    /// `arn:aws:bedrock:{region}:{account}:agent/{id}`.
    pub arn: String,
    pub name: String,
    /// NOT_PREPARED, PREPARING or PREPARED (the API layer says when PREPARING ends).
    pub status: String,
    pub body: Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub prepared_at: Option<OffsetDateTime>,
    pub client_token: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AgentSql {
    id: String,
    arn: String,
    name: String,
    status: String,
    body: String,
    created_at: String,
    updated_at: String,
    prepared_at: Option<String>,
    client_token: Option<String>,
}

macro_rules! agent_columns {
    () => {
        "id, arn, name, status, body, created_at, updated_at, prepared_at, client_token"
    };
}

pub(crate) fn decode(what: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Database(format!("{what}: bad body: {e}")))
}

pub(crate) fn encode(v: &Value) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(format!("cannot encode a body: {e}")))
}

impl AgentSql {
    fn into_row(self) -> Result<AgentRow, StoreError> {
        Ok(AgentRow {
            body: decode(&self.arn, &self.body)?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            prepared_at: self.prepared_at.as_deref().map(parse_ts).transpose()?,
            id: self.id,
            arn: self.arn,
            name: self.name,
            status: self.status,
            client_token: self.client_token,
        })
    }
}

impl Store {
    /// Creates an agent and returns it as stored. Idempotent on `client_token` within
    /// the account and region; a name already used there is a `Conflict`.
    pub async fn create_agent(&self, account: &str, region: &str, a: &AgentRow) -> Result<AgentRow, StoreError> {
        if let Some(original) = self.agent_by_token(account, region, a.client_token.as_deref()).await? {
            return Ok(original);
        }
        let (created, updated, body) = (format_ts(a.created_at)?, format_ts(a.updated_at)?, encode(&a.body)?);
        let prepared = a.prepared_at.map(format_ts).transpose()?;
        const SQL: &str = concat!(
            "INSERT INTO agents (account, region, ",
            agent_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        let inserted = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(account)
                .bind(region)
                .bind(&a.id)
                .bind(&a.arn)
                .bind(&a.name)
                .bind(&a.status)
                .bind(&body)
                .bind(&created)
                .bind(&updated)
                .bind(&prepared)
                .bind(&a.client_token)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match inserted.map_err(StoreError::from) {
            Ok(()) => self.get_agent(account, region, &a.id).await,
            Err(StoreError::Conflict(_)) => {
                match self.agent_by_token(account, region, a.client_token.as_deref()).await? {
                    Some(original) => Ok(original),
                    None => Err(StoreError::Conflict(format!("An agent named {} already exists in {region}.", a.name))),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn agent_by_token(
        &self,
        account: &str,
        region: &str,
        token: Option<&str>,
    ) -> Result<Option<AgentRow>, StoreError> {
        let Some(token) = token else { return Ok(None) };
        const SQL: &str = concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account = $1 AND region = $2 AND client_token = $3"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, AgentSql>(SQL).bind(account).bind(region).bind(token).fetch_optional(pool).await?
        });
        row.map(AgentSql::into_row).transpose()
    }

    /// The agent `id` of the account in the region, else `NotFound`.
    pub async fn get_agent(&self, account: &str, region: &str, id: &str) -> Result<AgentRow, StoreError> {
        const SQL: &str =
            concat!("SELECT ", agent_columns!(), " FROM agents WHERE account = $1 AND region = $2 AND id = $3");
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, AgentSql>(SQL).bind(account).bind(region).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound)?.into_row()
    }

    /// The account's agents in a region, oldest first (stable for paging).
    pub async fn list_agents(
        &self,
        account: &str,
        region: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<AgentRow>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account = $1 AND region = $2 ORDER BY created_at, id LIMIT $3 OFFSET $4"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, AgentSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(AgentSql::into_row).collect()
    }

    /// Replaces the DRAFT's name, status, body, `updated_at` and `prepared_at` (by
    /// `a.id`). `NotFound` if there is no such agent, `Conflict` if the name is taken.
    pub async fn update_agent(&self, account: &str, region: &str, a: &AgentRow) -> Result<AgentRow, StoreError> {
        let (updated, body) = (format_ts(a.updated_at)?, encode(&a.body)?);
        let prepared = a.prepared_at.map(format_ts).transpose()?;
        const SQL: &str = concat!(
            "UPDATE agents SET name = $4, status = $5, body = $6, updated_at = $7, prepared_at = $8 \
             WHERE account = $1 AND region = $2 AND id = $3 RETURNING ",
            agent_columns!()
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, AgentSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(&a.id)
                .bind(&a.name)
                .bind(&a.status)
                .bind(&body)
                .bind(&updated)
                .bind(&prepared)
                .fetch_optional(pool)
                .await
        });
        match row.map_err(StoreError::from) {
            Ok(row) => row.ok_or(StoreError::NotFound)?.into_row(),
            Err(StoreError::Conflict(_)) => {
                Err(StoreError::Conflict(format!("An agent named {} already exists in {region}.", a.name)))
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the agent with everything it owns (action groups, versions, aliases and
    /// the tags of the agent and its aliases) in one transaction; returns the DRAFT.
    pub async fn delete_agent(&self, account: &str, region: &str, id: &str) -> Result<AgentRow, StoreError> {
        const ALIAS_ARNS: &str = "SELECT arn FROM agent_aliases WHERE account = $1 AND region = $2 AND agent_id = $3";
        const CHILDREN: [&str; 3] = [
            "DELETE FROM agent_action_groups WHERE account = $1 AND region = $2 AND agent_id = $3",
            "DELETE FROM agent_versions WHERE account = $1 AND region = $2 AND agent_id = $3",
            "DELETE FROM agent_aliases WHERE account = $1 AND region = $2 AND agent_id = $3",
        ];
        const DRAFT_ROW: &str =
            concat!("DELETE FROM agents WHERE account = $1 AND region = $2 AND id = $3 RETURNING ", agent_columns!());
        const TAGS: &str = "DELETE FROM tags WHERE account = $1 AND arn = $2";
        let deleted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let aliases: Vec<(String,)> =
                sqlx::query_as(ALIAS_ARNS).bind(account).bind(region).bind(id).fetch_all(&mut *tx).await?;
            for sql in CHILDREN {
                sqlx::query(sql).bind(account).bind(region).bind(id).execute(&mut *tx).await?;
            }
            let draft = sqlx::query_as::<_, AgentSql>(DRAFT_ROW)
                .bind(account)
                .bind(region)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let arns = aliases.into_iter().map(|(a,)| a).chain(draft.iter().map(|d| d.arn.clone()));
            for arn in arns {
                sqlx::query(TAGS).bind(account).bind(arn).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            draft
        });
        deleted.ok_or(StoreError::NotFound)?.into_row()
    }
}

pub use aliases::AliasRow;
pub use groups::ActionGroupRow;
pub use versions::AgentVersionRow;
