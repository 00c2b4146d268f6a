//! Agent versions: immutable snapshots of the DRAFT (its members and its action groups),
//! numbered from 1 and never renumbered.

use serde_json::Value;
use time::OffsetDateTime;

use super::{decode, DRAFT};
use crate::BeginWrite;
use crate::{format_ts, parse_ts, with_pool, Store, StoreError};

/// A numbered version of an agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentVersionRow {
    pub agent_id: String,
    pub version: u32,
    /// The agent's name when the snapshot was taken.
    pub name: String,
    /// The DRAFT's body when the snapshot was taken.
    pub body: Value,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct VersionSql {
    agent_id: String,
    version: i64,
    name: String,
    body: String,
    created_at: String,
}

macro_rules! version_columns {
    () => {
        "agent_id, version, name, body, created_at"
    };
}

impl VersionSql {
    fn into_row(self) -> Result<AgentVersionRow, StoreError> {
        let what = format!("agent {} version {}", self.agent_id, self.version);
        Ok(AgentVersionRow {
            version: u32::try_from(self.version).map_err(|_| StoreError::Database(format!("{what}: bad number")))?,
            body: decode(&what, &self.body)?,
            created_at: parse_ts(&self.created_at)?,
            agent_id: self.agent_id,
            name: self.name,
        })
    }
}

impl Store {
    /// Snapshots the DRAFT and its action groups as the next version number, in one
    /// transaction. `NotFound` if there is no such agent.
    pub async fn create_agent_version(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
        created_at: OffsetDateTime,
    ) -> Result<AgentVersionRow, StoreError> {
        let created = format_ts(created_at)?;
        // Taking the number locks the agent row until commit (PostgreSQL) or holds the
        // write lock (SQLite), so concurrent snapshots get distinct numbers.
        const BUMP: &str = "UPDATE agents SET last_version = last_version + 1 \
                            WHERE account = $1 AND region = $2 AND id = $3 \
                            RETURNING name, body, last_version";
        const INSERT: &str = concat!(
            "INSERT INTO agent_versions (account, region, ",
            version_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        const COPY_GROUPS: &str = "INSERT INTO agent_action_groups \
             (account, region, agent_id, agent_version, id, name, body, created_at, updated_at, client_token) \
             SELECT account, region, agent_id, $4, id, name, body, created_at, updated_at, NULL \
             FROM agent_action_groups WHERE account = $1 AND region = $2 AND agent_id = $3 AND agent_version = $5";
        let n = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let draft: Option<(String, String, i64)> =
                sqlx::query_as(BUMP).bind(account).bind(region).bind(agent_id).fetch_optional(&mut *tx).await?;
            let Some((name, body, n)) = draft else {
                return Err(StoreError::NotFound);
            };
            sqlx::query(INSERT)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(n)
                .bind(&name)
                .bind(&body)
                .bind(&created)
                .execute(&mut *tx)
                .await?;
            sqlx::query(COPY_GROUPS)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(n.to_string())
                .bind(DRAFT)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n
        });
        let n = u32::try_from(n).map_err(|_| StoreError::Database(format!("agent {agent_id}: version {n}")))?;
        self.get_agent_version(account, region, agent_id, n).await
    }

    pub async fn get_agent_version(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
        version: u32,
    ) -> Result<AgentVersionRow, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            version_columns!(),
            " FROM agent_versions WHERE account = $1 AND region = $2 AND agent_id = $3 AND version = $4"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, VersionSql>(SQL)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(i64::from(version))
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.into_row()
    }

    /// The numbered versions of an agent, lowest first.
    pub async fn list_agent_versions(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
    ) -> Result<Vec<AgentVersionRow>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            version_columns!(),
            " FROM agent_versions WHERE account = $1 AND region = $2 AND agent_id = $3 ORDER BY version"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, VersionSql>(SQL).bind(account).bind(region).bind(agent_id).fetch_all(pool).await?
        });
        rows.into_iter().map(VersionSql::into_row).collect()
    }

    /// Deletes a version with its action groups; returns it.
    pub async fn delete_agent_version(
        &self,
        account: &str,
        region: &str,
        agent_id: &str,
        version: u32,
    ) -> Result<AgentVersionRow, StoreError> {
        const GROUPS: &str = "DELETE FROM agent_action_groups \
                              WHERE account = $1 AND region = $2 AND agent_id = $3 AND agent_version = $4";
        const ONE: &str = concat!(
            "DELETE FROM agent_versions WHERE account = $1 AND region = $2 AND agent_id = $3 AND version = $4 RETURNING ",
            version_columns!()
        );
        let deleted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(GROUPS)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(version.to_string())
                .execute(&mut *tx)
                .await?;
            let one = sqlx::query_as::<_, VersionSql>(ONE)
                .bind(account)
                .bind(region)
                .bind(agent_id)
                .bind(i64::from(version))
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            one
        });
        deleted.ok_or(StoreError::NotFound)?.into_row()
    }
}
