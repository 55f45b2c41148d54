-- Accounts, their sessions, and the server's own secrets.
-- Times are Unix seconds (BIGINT here, INTEGER in SQLite) on both backends, so comparisons and
-- arithmetic read the same in SQL and in Rust.

CREATE TABLE accounts (
    id             TEXT    PRIMARY KEY,
    email          TEXT    UNIQUE,
    password_hash  TEXT,
    -- Lower-case 0x-prefixed hex; one account per wallet.
    wallet_address TEXT    UNIQUE,
    role           TEXT    NOT NULL DEFAULT 'member'
                           CHECK (role IN ('member', 'node_operator', 'admin')),
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    -- Every account can be signed into somehow.
    CHECK (email IS NOT NULL OR wallet_address IS NOT NULL)
);

-- One row per issued refresh token. A sign-in starts a family; each refresh
-- uses one token (used_at) and issues the next in the same family. A token
-- presented after use means it was copied: the family is revoked.
CREATE TABLE refresh_tokens (
    token_hash  TEXT    PRIMARY KEY,
    family_id   TEXT    NOT NULL,
    account_id  TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT,
    user_agent  TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id);

-- Keys generated on first start and shared by every instance on this database
-- (e.g. the access-token signing key).
CREATE TABLE server_secrets (
    name       TEXT    PRIMARY KEY,
    value      BYTEA   NOT NULL,
    created_at BIGINT  NOT NULL
);
