-- The AI gateway's accounting: one row per request, and the spending
-- limits checked before a request is sent (see src/ai_usage.rs).

CREATE TABLE ai_usage (
    id            TEXT    PRIMARY KEY,
    -- The gateway's id for the request: a retried write is a no-op.
    request_id    TEXT    NOT NULL UNIQUE,
    -- No cascade: an account with usage history cannot be deleted.
    account_id    TEXT    NOT NULL REFERENCES accounts (id),
    -- Keys are revoked, never deleted, so the reference always holds.
    api_key_id    TEXT    REFERENCES api_keys (id),
    -- Who answered, with which model, and the name the caller asked for.
    provider      TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    public_model  TEXT    NOT NULL,
    input_tokens  INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens INTEGER NOT NULL CHECK (output_tokens >= 0),
    -- Billionths of a US dollar; 0 for an answer from the cache.
    cost_nanos    INTEGER NOT NULL CHECK (cost_nanos >= 0),
    cached        BOOLEAN NOT NULL,
    -- 'ok' or 'error'. Validated in code, not by a CHECK: a new status must
    -- not mean rebuilding what grows into the largest table.
    status        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
-- Spend and summaries since a time, per account and per key; cost_nanos
-- makes the budget sums index-only.
CREATE INDEX ai_usage_account_time ON ai_usage (account_id, created_at, cost_nanos);
CREATE INDEX ai_usage_api_key_time ON ai_usage (api_key_id, created_at, cost_nanos)
    WHERE api_key_id IS NOT NULL;

-- Spending limits per account or API key, per UTC day or month.
CREATE TABLE ai_budgets (
    scope_kind  TEXT    NOT NULL CHECK (scope_kind IN ('account', 'api_key')),
    -- An account or API key id, by scope_kind (so no foreign key).
    scope_id    TEXT    NOT NULL,
    period      TEXT    NOT NULL CHECK (period IN ('day', 'month')),
    -- Billionths of a US dollar; 0 allows nothing.
    limit_nanos INTEGER NOT NULL CHECK (limit_nanos >= 0),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (scope_kind, scope_id, period)
);
