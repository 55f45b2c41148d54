-- Credentials that cannot be turned against their owner.

-- An API key does what its scopes allow (space-separated: ai, read, submit,
-- node) and nothing after it expires.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'ai read';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;

-- A nonce is good only for the site (`host[:port]`) it was issued for.
ALTER TABLE siwe_nonces ADD COLUMN domain TEXT NOT NULL DEFAULT '';

-- When each session (a refresh-token family) last proved who it is: at
-- sign-in, and again with a password, TOTP code or wallet signature before
-- operations that change credentials or where value goes.
CREATE TABLE session_proofs (
    session_id TEXT    PRIMARY KEY,
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    proved_at  INTEGER NOT NULL
);
CREATE INDEX session_proofs_account ON session_proofs (account_id);
