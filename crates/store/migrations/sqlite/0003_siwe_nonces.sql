-- Sign-In With Ethereum nonces: issued by the server, single use, short-lived.
CREATE TABLE siwe_nonces (
    nonce      TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX siwe_nonces_expiry ON siwe_nonces (expires_at);
