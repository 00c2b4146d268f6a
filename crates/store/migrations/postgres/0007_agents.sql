-- Agents for Amazon Bedrock (bedrock-agent): agents, whose row holds the editable DRAFT,
-- their numbered versions (immutable snapshots taken when an alias is created), action
-- groups (of the DRAFT, and copied into each version), and aliases. Tags of agents and
-- aliases live in the tags table, keyed by ARN.
--
-- The API layer (crates/agents) owns the shapes: each row keeps the members the store
-- never filters on as a JSON document in `body`, given back as it was written.
--
-- Kept column-for-column identical to ../sqlite/0007_agents.sql (only the integer type
-- name differs), so one query text serves both dialects.

CREATE TABLE agents (
    account      TEXT    NOT NULL,
    region       TEXT    NOT NULL,
    id           TEXT    NOT NULL, -- [0-9A-Z]{10}
    arn          TEXT    NOT NULL, -- arn:aws:bedrock:{region}:{account}:agent/{id}
    name         TEXT    NOT NULL,
    status       TEXT    NOT NULL, -- NOT_PREPARED | PREPARING | PREPARED
    body         TEXT    NOT NULL, -- the DRAFT's other members as JSON
    -- The highest version number ever given out: never reused, even after a delete.
    last_version BIGINT NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    prepared_at  TEXT,
    client_token TEXT,
    PRIMARY KEY (account, region, id),
    UNIQUE (arn),
    UNIQUE (account, region, name),
    UNIQUE (account, region, client_token)
);

CREATE TABLE agent_versions (
    account    TEXT    NOT NULL,
    region     TEXT    NOT NULL,
    agent_id   TEXT    NOT NULL,
    version    BIGINT NOT NULL,
    name       TEXT    NOT NULL, -- the agent's name when the snapshot was taken
    body       TEXT    NOT NULL, -- the DRAFT's body when the snapshot was taken
    created_at TEXT    NOT NULL,
    PRIMARY KEY (account, region, agent_id, version),
    FOREIGN KEY (account, region, agent_id) REFERENCES agents (account, region, id)
);

-- agent_version is 'DRAFT' for the editable ones, else a version's number as text.
CREATE TABLE agent_action_groups (
    account       TEXT NOT NULL,
    region        TEXT NOT NULL,
    agent_id      TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    id            TEXT NOT NULL, -- [0-9A-Z]{10}, kept by the copies in versions
    name          TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    client_token  TEXT,
    PRIMARY KEY (account, region, agent_id, agent_version, id),
    UNIQUE (account, region, agent_id, agent_version, name),
    UNIQUE (account, region, agent_id, agent_version, client_token),
    FOREIGN KEY (account, region, agent_id) REFERENCES agents (account, region, id)
);

CREATE TABLE agent_aliases (
    account      TEXT NOT NULL,
    region       TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    id           TEXT NOT NULL, -- [0-9A-Z]{10}
    arn          TEXT NOT NULL, -- arn:aws:bedrock:{region}:{account}:agent-alias/{agent_id}/{id}
    name         TEXT NOT NULL,
    body         TEXT NOT NULL, -- description, routingConfiguration, history, invocation state
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    client_token TEXT,
    PRIMARY KEY (account, region, agent_id, id),
    UNIQUE (arn),
    UNIQUE (account, region, agent_id, name),
    UNIQUE (account, region, agent_id, client_token),
    FOREIGN KEY (account, region, agent_id) REFERENCES agents (account, region, id)
);
