-- Control plane, first cut: application inference profiles, tags, invocation logging
-- configuration and hourly usage for cost attribution. Later resources (prompts,
-- provisioned throughput, batch jobs and their leases) come as further numbered files.
--
-- Kept column-for-column identical to ../postgres/0001_control_plane.sql so that one
-- query text serves both dialects; only the integer type name differs. Timestamps are
-- fixed-width UTC ISO-8601 text (sortable as text), JSON is text.

CREATE TABLE app_profiles (
    arn                  TEXT    NOT NULL PRIMARY KEY,
    id                   TEXT    NOT NULL,
    account              TEXT    NOT NULL,
    region               TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    description          TEXT,
    copy_from            TEXT    NOT NULL,
    model_id             TEXT    NOT NULL,
    regions              TEXT    NOT NULL, -- JSON array of destination regions
    status               TEXT    NOT NULL,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    client_request_token TEXT,
    UNIQUE (account, region, id),
    UNIQUE (account, region, name),
    -- NULL tokens never collide (both dialects treat NULLs as distinct).
    UNIQUE (account, region, client_request_token)
);

-- Tags for any taggable resource, keyed by ARN; the account column scopes every lookup.
CREATE TABLE tags (
    account   TEXT NOT NULL,
    arn       TEXT NOT NULL,
    tag_key   TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (account, arn, tag_key)
);
CREATE INDEX tags_by_key ON tags (account, tag_key);

CREATE TABLE logging_configs (
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    config     TEXT NOT NULL, -- the loggingConfig JSON object as the API accepted it
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account, region)
);

-- One row per (account, hour, model, profile, source region); writers add to it.
-- profile_arn is '' for calls without an application profile, because a primary key
-- column cannot be NULL in PostgreSQL.
CREATE TABLE usage_hourly (
    account          TEXT    NOT NULL,
    hour             TEXT    NOT NULL, -- YYYY-MM-DDTHH, UTC
    model_id         TEXT    NOT NULL,
    foundation_model TEXT    NOT NULL,
    profile_arn      TEXT    NOT NULL DEFAULT '',
    source_region    TEXT    NOT NULL,
    invocations      INTEGER NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    throttles        INTEGER NOT NULL,
    errors           INTEGER NOT NULL,
    cost_micros_usd  INTEGER NOT NULL,
    PRIMARY KEY (account, hour, model_id, foundation_model, profile_arn, source_region)
);
CREATE INDEX usage_by_hour ON usage_hourly (account, hour);
