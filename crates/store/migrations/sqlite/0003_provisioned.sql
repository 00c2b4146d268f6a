-- Provisioned throughput (CreateProvisionedModelThroughput and friends).
--
-- Kept column-for-column identical to ../postgres/0003_provisioned.sql so that one query
-- text serves both dialects; only the integer type name differs. Timestamps are
-- fixed-width UTC ISO-8601 text (sortable as text).

CREATE TABLE provisioned_models (
    arn                        TEXT    NOT NULL PRIMARY KEY,
    id                         TEXT    NOT NULL,
    account                    TEXT    NOT NULL,
    region                     TEXT    NOT NULL,
    name                       TEXT    NOT NULL,
    -- The model it serves (foundation-model or custom-model ARN), and the one an
    -- UpdateProvisionedModelThroughput asked for (equal unless Updating).
    model_arn                  TEXT    NOT NULL,
    desired_model_arn          TEXT    NOT NULL,
    foundation_model_arn       TEXT    NOT NULL,
    -- 0 until InService (as Bedrock lists a Creating one), then the desired units.
    model_units                INTEGER NOT NULL,
    desired_model_units        INTEGER NOT NULL,
    status                     TEXT    NOT NULL, -- Creating | InService | Updating | Failed
    failure_message            TEXT,
    commitment_duration        TEXT,             -- OneMonth | SixMonths | NULL (no commitment)
    commitment_expiration_time TEXT,
    -- USD millionths per model unit and hour, fixed when it was bought.
    unit_price_micros          INTEGER NOT NULL,
    created_at                 TEXT    NOT NULL,
    updated_at                 TEXT    NOT NULL,
    -- Hourly charges are accrued up to here; NULL until it is InService. Advanced by
    -- compare-and-set, so instances sharing the store never bill an hour twice.
    billed_until               TEXT,
    client_request_token       TEXT,
    UNIQUE (account, region, id),
    UNIQUE (account, region, name),
    -- NULL tokens never collide (both dialects treat NULLs as distinct).
    UNIQUE (account, region, client_request_token)
);
-- The status driver scans by status on every tick.
CREATE INDEX provisioned_by_status ON provisioned_models (status);
