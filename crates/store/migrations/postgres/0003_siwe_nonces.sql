-- Sign-In With Ethereum nonces: issued by the server, single use, short-lived.
CREATE TABLE siwe_nonces (
    nonce      TEXT    PRIMARY KEY,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT
);
CREATE INDEX siwe_nonces_expiry ON siwe_nonces (expires_at);
