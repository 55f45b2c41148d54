-- One-time codes that stand in for an authenticator code, stored as the
-- SHA-256 of the code (80 random bits each: no slow hash needed).
CREATE TABLE totp_recovery_codes (
    account_id TEXT   NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  TEXT   NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (account_id, code_hash)
);
