-- Batch inference: model invocation jobs (CreateModelInvocationJob and friends), the
-- answer of each of their records, and async invocations (StartAsyncInvoke).
--
-- Kept column-for-column identical to ../postgres/0005_batch_jobs.sql so that one query
-- text serves both dialects; only the integer type name differs. Timestamps are
-- fixed-width UTC ISO-8601 text (sortable as text).

CREATE TABLE batch_jobs (
    arn                   TEXT    NOT NULL PRIMARY KEY,
    id                    TEXT    NOT NULL,
    account               TEXT    NOT NULL,
    region                TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    model_id              TEXT    NOT NULL,
    role_arn              TEXT    NOT NULL,
    -- inputDataConfig / outputDataConfig / vpcConfig as sent (JSON), echoed by Get.
    input_config          TEXT    NOT NULL,
    output_config         TEXT    NOT NULL,
    vpc_config            TEXT,
    input_s3_uri          TEXT    NOT NULL,
    output_s3_uri         TEXT    NOT NULL,
    invocation_type       TEXT,             -- InvokeModel | Converse | NULL (InvokeModel)
    timeout_hours         INTEGER NOT NULL,
    status                TEXT    NOT NULL,
    message               TEXT,
    submit_time           TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    end_time              TEXT,
    expires_at            TEXT    NOT NULL,
    client_request_token  TEXT,
    total_records         INTEGER,
    processed_records     INTEGER NOT NULL,
    success_records       INTEGER NOT NULL,
    error_records         INTEGER NOT NULL,
    input_tokens          INTEGER NOT NULL,
    output_tokens         INTEGER NOT NULL,
    -- The instance running the job and until when its lease holds: another instance
    -- (or this one after a crash) takes the job over once the lease has run out.
    lease_owner           TEXT,
    lease_until           TEXT,
    UNIQUE (account, region, id),
    UNIQUE (account, region, client_request_token)
);
CREATE INDEX batch_jobs_by_status ON batch_jobs (status);

-- One row per record answered (or refused), written when its answer is known: what a
-- restarted job skips, and what the output file is assembled from, in input order.
CREATE TABLE batch_records (
    job_arn        TEXT    NOT NULL,
    seq            INTEGER NOT NULL,
    file           TEXT    NOT NULL,
    output         TEXT    NOT NULL,
    ok             INTEGER NOT NULL,
    input_tokens   INTEGER NOT NULL,
    output_tokens  INTEGER NOT NULL,
    PRIMARY KEY (job_arn, seq)
);

CREATE TABLE async_invokes (
    arn                   TEXT    NOT NULL PRIMARY KEY,
    id                    TEXT    NOT NULL,
    account               TEXT    NOT NULL,
    region                TEXT    NOT NULL,
    model_id              TEXT    NOT NULL,
    model_arn             TEXT    NOT NULL,
    model_input           TEXT    NOT NULL,
    output_config         TEXT    NOT NULL,
    output_s3_uri         TEXT    NOT NULL,
    status                TEXT    NOT NULL, -- InProgress | Completed | Failed
    failure_message       TEXT,
    submit_time           TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL,
    end_time              TEXT,
    client_request_token  TEXT,
    lease_owner           TEXT,
    lease_until           TEXT,
    UNIQUE (account, region, client_request_token)
);
CREATE INDEX async_invokes_by_status ON async_invokes (status);
