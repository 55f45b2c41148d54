-- Telegram users can sign in (the Mini App): accounts get a Telegram user
-- id, and an account with only that is valid. SQLite cannot change a
-- CHECK, so the table is rebuilt, as SQLite's documentation describes
-- (migrations run with foreign keys off: see `Database::migrate`).

CREATE TABLE accounts_rebuilt (
    id                TEXT    PRIMARY KEY,
    email             TEXT    UNIQUE,
    password_hash     TEXT,
    -- Lower-case 0x-prefixed hex; one account per wallet.
    wallet_address    TEXT    UNIQUE,
    role              TEXT    NOT NULL DEFAULT 'member'
                              CHECK (role IN ('member', 'node_operator', 'admin')),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    totp_secret       BLOB,
    totp_enabled_at   INTEGER,
    totp_last_step    INTEGER,
    email_verified_at INTEGER,
    email_skeleton    TEXT,
    handle            TEXT,
    disabled_at       INTEGER,
    -- One account per Telegram user.
    telegram_id       INTEGER UNIQUE,
    -- Every account can be signed into somehow.
    CHECK (email IS NOT NULL OR wallet_address IS NOT NULL OR telegram_id IS NOT NULL)
);
INSERT INTO accounts_rebuilt
    (id, email, password_hash, wallet_address, role, created_at, updated_at, totp_secret,
     totp_enabled_at, totp_last_step, email_verified_at, email_skeleton, handle, disabled_at)
SELECT id, email, password_hash, wallet_address, role, created_at, updated_at, totp_secret,
       totp_enabled_at, totp_last_step, email_verified_at, email_skeleton, handle, disabled_at
FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_rebuilt RENAME TO accounts;
CREATE UNIQUE INDEX accounts_email_skeleton ON accounts (email_skeleton);
CREATE UNIQUE INDEX accounts_handle ON accounts (handle);

-- Launch data used to sign in, kept until it would be refused as stale
-- anyway: each is used once.
CREATE TABLE telegram_init_data (
    hash       TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
