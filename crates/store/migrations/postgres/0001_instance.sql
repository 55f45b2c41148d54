-- This installation's identity: created once by the first migration run,
-- shown on the status page and kept across restarts and upgrades.
CREATE TABLE instance (
    singleton   SMALLINT    PRIMARY KEY CHECK (singleton = 1),
    instance_id TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
