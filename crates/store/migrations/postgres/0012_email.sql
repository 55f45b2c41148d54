-- Email addresses are proved by a link sent to them, and passwords can be
-- reset the same way. An address that looks like an existing one (Unicode
-- confusables, UTS #39 skeletons) is refused as a duplicate.

ALTER TABLE accounts ADD COLUMN email_verified_at BIGINT;
-- The skeleton of `email`; NULL until computed (at start, for older rows).
ALTER TABLE accounts ADD COLUMN email_skeleton TEXT;
CREATE UNIQUE INDEX accounts_email_skeleton ON accounts (email_skeleton);

-- Single-use links sent by email. Only the SHA-256 of a token is stored.
CREATE TABLE email_tokens (
    token_hash TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    -- The address the link was sent to: a link for an address the account
    -- no longer has proves nothing.
    email      TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_tokens_account ON email_tokens (account_id);
