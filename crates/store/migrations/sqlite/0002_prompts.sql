-- Prompt management (bedrock-agent): prompts, whose row holds the editable DRAFT, and
-- their numbered versions, immutable snapshots of the DRAFT. Tags of a prompt and of
-- its versions live in the tags table, keyed by the prompt ARN or the version ARN.
--
-- Kept column-for-column identical to ../postgres/0002_prompts.sql (only the integer type
-- name differs), so one query text serves both dialects.

CREATE TABLE prompts (
    id           TEXT    NOT NULL, -- [0-9A-Z]{10}
    arn          TEXT    NOT NULL, -- arn:aws:bedrock:{region}:{account}:prompt/{id}
    account      TEXT    NOT NULL,
    region       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT,
    body         TEXT    NOT NULL, -- the DRAFT as JSON: {customerEncryptionKeyArn?, defaultVariant?, variants?}
    -- The highest version number ever given out: numbers are never reused, even after
    -- a version is deleted, so an ARN with :N always meant the same snapshot.
    last_version INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    client_token TEXT,
    PRIMARY KEY (account, region, id),
    UNIQUE (arn),
    UNIQUE (account, region, name),
    -- NULL tokens never collide (both dialects treat NULLs as distinct).
    UNIQUE (account, region, client_token)
);

CREATE TABLE prompt_versions (
    account      TEXT    NOT NULL,
    region       TEXT    NOT NULL,
    prompt_id    TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    arn          TEXT    NOT NULL, -- the version's ARN: the prompt's with :{version}
    name         TEXT    NOT NULL, -- the prompt's name when the snapshot was taken
    description  TEXT,
    body         TEXT    NOT NULL, -- the DRAFT's body when the snapshot was taken
    created_at   TEXT    NOT NULL,
    client_token TEXT,
    PRIMARY KEY (account, region, prompt_id, version),
    UNIQUE (arn),
    UNIQUE (account, region, prompt_id, client_token),
    FOREIGN KEY (account, region, prompt_id) REFERENCES prompts (account, region, id)
);
