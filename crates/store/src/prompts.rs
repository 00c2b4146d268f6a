//! Prompt management (bedrock-agent `CreatePrompt` and friends): a prompt's DRAFT, which
//! UpdatePrompt replaces, and its numbered versions, immutable snapshots of the DRAFT.
//!
//! The store does not read the prompt body: the API layer validates it and hands it over
//! as JSON, and gets it back as it was stored.

use serde_json::Value;
use time::OffsetDateTime;

use crate::BeginWrite;
use crate::{format_ts, parse_ts, with_pool, Store, StoreError};

/// A prompt's DRAFT or one of its versions, as the store keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    /// 10 alphanumerics, the same for the DRAFT and every version.
    pub id: String,
    /// The DRAFT's: `arn:aws:bedrock:{region}:{account}:prompt/{id}`; a version's adds `:{n}`.
    pub arn: String,
    pub account: String,
    pub region: String,
    pub name: String,
    pub description: Option<String>,
    /// `None` for the DRAFT.
    pub version: Option<u32>,
    /// `{customerEncryptionKeyArn?, defaultVariant?, variants?}` as the API accepted it.
    pub body: Value,
    /// Stored with microsecond precision. A version's `updated_at` is its `created_at`.
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub client_token: Option<String>,
}

/// What UpdatePrompt replaces in the DRAFT.
#[derive(Clone, Copy, Debug)]
pub struct DraftUpdate<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub body: &'a Value,
}

#[derive(sqlx::FromRow)]
struct DraftRow {
    id: String,
    arn: String,
    account: String,
    region: String,
    name: String,
    description: Option<String>,
    body: String,
    created_at: String,
    updated_at: String,
    client_token: Option<String>,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    prompt_id: String,
    arn: String,
    account: String,
    region: String,
    name: String,
    description: Option<String>,
    version: i64,
    body: String,
    created_at: String,
    client_token: Option<String>,
}

fn body(arn: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Database(format!("prompt {arn}: bad body: {e}")))
}

impl DraftRow {
    fn into_prompt(self) -> Result<Prompt, StoreError> {
        Ok(Prompt {
            body: body(&self.arn, &self.body)?,
            created_at: parse_ts(&self.created_at)?,
            updated_at: parse_ts(&self.updated_at)?,
            id: self.id,
            arn: self.arn,
            account: self.account,
            region: self.region,
            name: self.name,
            description: self.description,
            version: None,
            client_token: self.client_token,
        })
    }
}

impl VersionRow {
    fn into_prompt(self) -> Result<Prompt, StoreError> {
        let created = parse_ts(&self.created_at)?;
        let version = u32::try_from(self.version)
            .map_err(|_| StoreError::Database(format!("prompt {}: bad version {}", self.arn, self.version)))?;
        Ok(Prompt {
            body: body(&self.arn, &self.body)?,
            created_at: created,
            updated_at: created,
            id: self.prompt_id,
            arn: self.arn,
            account: self.account,
            region: self.region,
            name: self.name,
            description: self.description,
            version: Some(version),
            client_token: self.client_token,
        })
    }
}

// Column lists as macros, so that every query stays a `&'static str`.
macro_rules! draft_columns {
    () => {
        "id, arn, account, region, name, description, body, created_at, updated_at, client_token"
    };
}
macro_rules! version_columns {
    () => {
        "prompt_id, arn, account, region, name, description, version, body, created_at, client_token"
    };
}

fn encode(v: &Value) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(format!("cannot encode prompt body: {e}")))
}

impl Store {
    /// Creates a prompt (its DRAFT; `p.version` is ignored) and returns it as stored.
    ///
    /// Idempotent on `client_token` within the account and region: a repeat returns the
    /// original. A name already used in the account and region is a `Conflict`.
    pub async fn create_prompt(&self, p: &Prompt) -> Result<Prompt, StoreError> {
        if let Some(original) = self.prompt_by_token(p).await? {
            return Ok(original);
        }
        let (created, updated, body) = (format_ts(p.created_at)?, format_ts(p.updated_at)?, encode(&p.body)?);
        const SQL: &str =
            concat!("INSERT INTO prompts (", draft_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        let inserted = with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&p.id)
                .bind(&p.arn)
                .bind(&p.account)
                .bind(&p.region)
                .bind(&p.name)
                .bind(&p.description)
                .bind(&body)
                .bind(&created)
                .bind(&updated)
                .bind(&p.client_token)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match inserted.map_err(StoreError::from) {
            Ok(()) => self.get_prompt(&p.account, &p.region, &p.id, None).await,
            // A concurrent retry with the same token won the race, or the name is taken.
            Err(StoreError::Conflict(_)) => match self.prompt_by_token(p).await? {
                Some(original) => Ok(original),
                None => Err(StoreError::Conflict(format!("A prompt named {} already exists in {}.", p.name, p.region))),
            },
            Err(e) => Err(e),
        }
    }

    async fn prompt_by_token(&self, p: &Prompt) -> Result<Option<Prompt>, StoreError> {
        let Some(token) = &p.client_token else { return Ok(None) };
        const SQL: &str = concat!(
            "SELECT ",
            draft_columns!(),
            " FROM prompts WHERE account = $1 AND region = $2 AND client_token = $3"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, DraftRow>(SQL).bind(&p.account).bind(&p.region).bind(token).fetch_optional(pool).await?
        });
        row.map(DraftRow::into_prompt).transpose()
    }

    /// The DRAFT (`version: None`) or a numbered version of prompt `id`, else `NotFound`.
    pub async fn get_prompt(
        &self,
        account: &str,
        region: &str,
        id: &str,
        version: Option<u32>,
    ) -> Result<Prompt, StoreError> {
        let Some(n) = version else {
            const SQL: &str =
                concat!("SELECT ", draft_columns!(), " FROM prompts WHERE account = $1 AND region = $2 AND id = $3");
            let row = with_pool!(self, |pool| {
                sqlx::query_as::<_, DraftRow>(SQL).bind(account).bind(region).bind(id).fetch_optional(pool).await?
            });
            return row.ok_or(StoreError::NotFound)?.into_prompt();
        };
        const SQL: &str = concat!(
            "SELECT ",
            version_columns!(),
            " FROM prompt_versions WHERE account = $1 AND region = $2 AND prompt_id = $3 AND version = $4"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, VersionRow>(SQL)
                .bind(account)
                .bind(region)
                .bind(id)
                .bind(i64::from(n))
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.into_prompt()
    }

    /// The account's prompts (their DRAFTs) in a region, oldest first (stable for paging).
    pub async fn list_prompts(
        &self,
        account: &str,
        region: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Prompt>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            draft_columns!(),
            " FROM prompts WHERE account = $1 AND region = $2 ORDER BY created_at, id LIMIT $3 OFFSET $4"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, DraftRow>(SQL)
                .bind(account)
                .bind(region)
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(DraftRow::into_prompt).collect()
    }

    /// The numbered versions of prompt `id`, lowest first (empty if it has none or does
    /// not exist: callers that care look the DRAFT up).
    pub async fn list_prompt_versions(&self, account: &str, region: &str, id: &str) -> Result<Vec<Prompt>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            version_columns!(),
            " FROM prompt_versions WHERE account = $1 AND region = $2 AND prompt_id = $3 ORDER BY version"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, VersionRow>(SQL).bind(account).bind(region).bind(id).fetch_all(pool).await?
        });
        rows.into_iter().map(VersionRow::into_prompt).collect()
    }

    /// Replaces the DRAFT's name, description and body; versions are untouched.
    /// `NotFound` if there is no such prompt, `Conflict` if another prompt has the name.
    pub async fn update_prompt(
        &self,
        account: &str,
        region: &str,
        id: &str,
        update: DraftUpdate<'_>,
        updated_at: OffsetDateTime,
    ) -> Result<Prompt, StoreError> {
        let DraftUpdate { name, description, body } = update;
        let (body, updated) = (encode(body)?, format_ts(updated_at)?);
        const SQL: &str = concat!(
            "UPDATE prompts SET name = $4, description = $5, body = $6, updated_at = $7 \
             WHERE account = $1 AND region = $2 AND id = $3 RETURNING ",
            draft_columns!()
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, DraftRow>(SQL)
                .bind(account)
                .bind(region)
                .bind(id)
                .bind(name)
                .bind(description)
                .bind(&body)
                .bind(&updated)
                .fetch_optional(pool)
                .await
        });
        match row.map_err(StoreError::from) {
            Ok(row) => row.ok_or(StoreError::NotFound)?.into_prompt(),
            Err(StoreError::Conflict(_)) => {
                Err(StoreError::Conflict(format!("A prompt named {name} already exists in {region}.")))
            }
            Err(e) => Err(e),
        }
    }

    /// Snapshots the DRAFT as the next version number (numbers are never reused) and
    /// returns the version. Idempotent on `client_token` per prompt. `description`
    /// defaults to the DRAFT's.
    pub async fn create_prompt_version(
        &self,
        account: &str,
        region: &str,
        id: &str,
        description: Option<&str>,
        client_token: Option<&str>,
        created_at: OffsetDateTime,
    ) -> Result<Prompt, StoreError> {
        if let Some(original) = self.version_by_token(account, region, id, client_token).await? {
            return Ok(original);
        }
        let created = format_ts(created_at)?;
        // Taking the number locks the prompt row until commit (PostgreSQL) or holds the
        // write lock (SQLite), so concurrent snapshots get distinct numbers.
        const BUMP: &str = "UPDATE prompts SET last_version = last_version + 1 \
                            WHERE account = $1 AND region = $2 AND id = $3 \
                            RETURNING arn, name, description, body, last_version";
        const INSERT: &str = concat!(
            "INSERT INTO prompt_versions (",
            version_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let outcome = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin_write().await?;
                let draft: Option<(String, String, Option<String>, String, i64)> =
                    sqlx::query_as(BUMP).bind(account).bind(region).bind(id).fetch_optional(&mut *tx).await?;
                let Some((arn, name, draft_description, body, n)) = draft else {
                    return Ok(None);
                };
                let description = description.map(str::to_owned).or(draft_description);
                sqlx::query(INSERT)
                    .bind(id)
                    .bind(format!("{arn}:{n}"))
                    .bind(account)
                    .bind(region)
                    .bind(&name)
                    .bind(&description)
                    .bind(n)
                    .bind(&body)
                    .bind(&created)
                    .bind(client_token)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(Some(n))
            }
            .await
        });
        match outcome.map_err(StoreError::from) {
            Ok(Some(n)) => {
                let n = u32::try_from(n).map_err(|_| StoreError::Database(format!("prompt {id}: version {n}")))?;
                self.get_prompt(account, region, id, Some(n)).await
            }
            Ok(None) => Err(StoreError::NotFound),
            // Only the token is unique among a prompt's versions: a concurrent retry won.
            Err(StoreError::Conflict(msg)) => match self.version_by_token(account, region, id, client_token).await? {
                Some(original) => Ok(original),
                None => Err(StoreError::Conflict(msg)),
            },
            Err(e) => Err(e),
        }
    }

    async fn version_by_token(
        &self,
        account: &str,
        region: &str,
        id: &str,
        token: Option<&str>,
    ) -> Result<Option<Prompt>, StoreError> {
        let Some(token) = token else { return Ok(None) };
        const SQL: &str = concat!(
            "SELECT ",
            version_columns!(),
            " FROM prompt_versions WHERE account = $1 AND region = $2 AND prompt_id = $3 AND client_token = $4"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, VersionRow>(SQL)
                .bind(account)
                .bind(region)
                .bind(id)
                .bind(token)
                .fetch_optional(pool)
                .await?
        });
        row.map(VersionRow::into_prompt).transpose()
    }

    /// Deletes one version (`Some(n)`) with its tags, or the whole prompt (`None`): the
    /// DRAFT, every version and all their tags, in one transaction. Returns what was
    /// deleted (the DRAFT for a whole prompt).
    pub async fn delete_prompt(
        &self,
        account: &str,
        region: &str,
        id: &str,
        version: Option<u32>,
    ) -> Result<Prompt, StoreError> {
        const ONE: &str = concat!(
            "DELETE FROM prompt_versions WHERE account = $1 AND region = $2 AND prompt_id = $3 AND version = $4 RETURNING ",
            version_columns!()
        );
        const VERSIONS: &str = concat!(
            "DELETE FROM prompt_versions WHERE account = $1 AND region = $2 AND prompt_id = $3 RETURNING ",
            version_columns!()
        );
        const DRAFT: &str =
            concat!("DELETE FROM prompts WHERE account = $1 AND region = $2 AND id = $3 RETURNING ", draft_columns!());
        const TAGS: &str = "DELETE FROM tags WHERE account = $1 AND arn = $2";
        let deleted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let (versions, draft) = match version {
                Some(n) => {
                    let one = sqlx::query_as::<_, VersionRow>(ONE)
                        .bind(account)
                        .bind(region)
                        .bind(id)
                        .bind(i64::from(n))
                        .fetch_optional(&mut *tx)
                        .await?;
                    (one.into_iter().collect::<Vec<_>>(), None)
                }
                None => {
                    let all = sqlx::query_as::<_, VersionRow>(VERSIONS)
                        .bind(account)
                        .bind(region)
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let draft = sqlx::query_as::<_, DraftRow>(DRAFT)
                        .bind(account)
                        .bind(region)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    (all, draft)
                }
            };
            let arns = versions.iter().map(|v| &v.arn).chain(draft.iter().map(|d| &d.arn));
            for arn in arns {
                sqlx::query(TAGS).bind(account).bind(arn).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            match (version, draft) {
                (None, draft) => draft.map(DraftRow::into_prompt),
                (Some(_), _) => versions.into_iter().next().map(VersionRow::into_prompt),
            }
        });
        deleted.ok_or(StoreError::NotFound)?
    }
}
