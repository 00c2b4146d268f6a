-- Custom Model Import: import jobs (CreateModelImportJob and friends) and the imported
-- models they register.
--
-- Kept column-for-column identical to ../sqlite/0004_imported_models.sql so that one
-- query text serves both dialects; only the integer type name differs. Timestamps are
-- fixed-width UTC ISO-8601 text (sortable as text).

CREATE TABLE model_import_jobs (
    arn                  TEXT    NOT NULL PRIMARY KEY,
    id                   TEXT    NOT NULL,
    account              TEXT    NOT NULL,
    region               TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    imported_model_name  TEXT    NOT NULL,
    -- Drawn at creation; the model exists (and the job reports it) once Completed.
    imported_model_arn   TEXT    NOT NULL,
    role_arn             TEXT    NOT NULL,
    s3_uri               TEXT    NOT NULL,
    status               TEXT    NOT NULL, -- InProgress | Completed | Failed
    failure_message      TEXT,
    -- The importedModelTags of the request (JSON [[key, value], …]), applied to the
    -- model when it is registered.
    imported_model_tags  TEXT    NOT NULL,
    created_at           TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    end_time             TEXT,
    client_request_token TEXT,
    UNIQUE (account, region, id),
    UNIQUE (account, region, name),
    -- NULL tokens never collide (both dialects treat NULLs as distinct).
    UNIQUE (account, region, client_request_token)
);
-- The job runner looks for unfinished jobs (after a restart, or another instance's).
CREATE INDEX model_import_jobs_by_status ON model_import_jobs (status);

CREATE TABLE imported_models (
    arn                TEXT    NOT NULL PRIMARY KEY,
    id                 TEXT    NOT NULL,
    account            TEXT    NOT NULL,
    region             TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    job_arn            TEXT    NOT NULL,
    job_name           TEXT    NOT NULL,
    s3_uri             TEXT    NOT NULL,
    -- general.architecture of the GGUF (gemma3, llama, …).
    architecture       TEXT    NOT NULL,
    -- 1 when the GGUF carries a chat template.
    instruct_supported BIGINT  NOT NULL,
    -- The copy of the weights, relative to the data directory: the model outlives its
    -- source object, and the data directory may move.
    file               TEXT    NOT NULL,
    size_bytes         BIGINT  NOT NULL,
    created_at         TEXT    NOT NULL,
    UNIQUE (account, region, id),
    UNIQUE (account, region, name)
);
